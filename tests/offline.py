"""No network but loopback, for the tests and for servers they start.

``install()`` replaces ``socket.connect``/``connect_ex`` so anything but 127.0.0.0/8, ::1 or a
Unix socket fails loudly (``RuntimeError``, also written to stderr) instead of silently depending
on the internet, which these machines do not have. ``conftest.py`` installs it in the test
process; ``tests/offline_site/sitecustomize.py`` installs it in a child Python process whose
``PYTHONPATH`` starts with that folder and this one (the ``langgraph dev`` test does).

A test helper, not library code.
"""

from __future__ import annotations

import ipaddress
import socket
import sys

BLOCKED = "blocked by tests/offline.py"

_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex


def _allowed(address: object) -> bool:
    if not isinstance(address, tuple) or not address:
        return True  # AF_UNIX paths and the like are local by construction
    host = address[0]
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _refuse(call: str, address: object) -> None:
    message = f"tests may not reach the network: {call}({address!r}) {BLOCKED}"
    sys.stderr.write(message + "\n")
    raise RuntimeError(message)


def _guarded_connect(self: socket.socket, address: object) -> None:
    if not _allowed(address):
        _refuse("connect", address)
    return _real_connect(self, address)  # type: ignore[arg-type]


def _guarded_connect_ex(self: socket.socket, address: object) -> int:
    if not _allowed(address):
        _refuse("connect_ex", address)
    return _real_connect_ex(self, address)  # type: ignore[arg-type]


_real_getaddrinfo = socket.getaddrinfo


def _guarded_getaddrinfo(host: object, *args: object, **kwargs: object) -> object:
    # A name lookup is where reaching out starts (and, without DNS, where it fails quietly).
    if isinstance(host, bytes):
        host = host.decode()
    if host is not None and not _allowed((host,)):
        _refuse("getaddrinfo", host)
    return _real_getaddrinfo(host, *args, **kwargs)  # type: ignore[arg-type]


def install(*, lookups: bool = False) -> None:
    """Guard connections; with ``lookups`` also name lookups of anything but loopback (for child
    servers: the test process itself keeps lookups, which some tests expect to fail on their own)."""
    socket.socket.connect = _guarded_connect  # type: ignore[method-assign]
    socket.socket.connect_ex = _guarded_connect_ex  # type: ignore[method-assign]
    if lookups:
        socket.getaddrinfo = _guarded_getaddrinfo  # type: ignore[assignment]
