"""The sandbox escape suite on this host, for ``make reliability``: one line per attempt of
``o1agent.tools.escapes`` (contained, or the host-side evidence of the escape), then
``escapes_contained: X/Y``. Exit status 2 where bwrap cannot run (nothing is contained then).

    python benchmarks/reliability/escapes.py [ATTEMPT ...]
"""

from __future__ import annotations

import sys

from o1agent.tools.escapes import main

if __name__ == "__main__":
    sys.exit(main())
