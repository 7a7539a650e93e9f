"""A throwaway PostgreSQL cluster on a free loopback port, for tests and ``benchmarks/reliability``.

``running_postgres()`` runs ``initdb`` in a temp folder (as the ``postgres`` account when run as
root: initdb refuses root), starts it with ``pg_ctl`` on 127.0.0.1 (``fsync=off``: a test
cluster), yields its URL (``postgresql://postgres@127.0.0.1:PORT/postgres``) and removes it all
afterwards. ``pg_bindir()`` finds the binaries (Debian's ``/usr/lib/postgresql/*/bin`` or PATH);
``None`` means PostgreSQL is not installed (``make sysdeps`` installs it).

This is a test helper, not library code; the ``postgres_url`` fixture in ``conftest.py`` uses it.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path


def pg_bindir() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


@contextlib.contextmanager
def running_postgres() -> Iterator[str]:
    bindir = pg_bindir()
    if bindir is None:
        raise RuntimeError("PostgreSQL binaries not found (apt-get install postgresql, or make sysdeps)")
    base = Path(tempfile.mkdtemp(prefix="o1agent-pg-"))
    data = base / "data"
    as_user: list[str] = []
    if os.geteuid() == 0:  # initdb refuses to run as root: use the package's postgres account
        shutil.chown(base, "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    subprocess.run(
        [*as_user, str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8"],
        check=True,
        capture_output=True,
    )
    opts = f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c fsync=off"
    pg_ctl = str(bindir / "pg_ctl")
    subprocess.run(
        [*as_user, pg_ctl, "-D", str(data), "-o", opts, "-l", str(base / "log"), "-w", "-t", "60", "start"],
        check=True,
        capture_output=True,
    )
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*as_user, pg_ctl, "-D", str(data), "-m", "immediate", "stop"], capture_output=True)
        shutil.rmtree(base, ignore_errors=True)
