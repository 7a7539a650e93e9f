"""Loaded by a child Python process whose PYTHONPATH starts with this folder and tests/: no
network but loopback there either (see tests/offline.py)."""

import offline

offline.install(lookups=True)
