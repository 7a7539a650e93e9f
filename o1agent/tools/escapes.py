"""The sandbox escape suite: what model-written code may try, and the host-side check that it failed.

What it is: a list of ``Attempt``s, each a program run through ``o1agent.tools.sandbox`` plus a
check made *outside* the sandbox — the file did not appear on the host, the listener the parent
opened got no connection, the host file's text is not in the output, no process outlived the run —
so an attempt counts as contained on evidence from the host, not on the program's word. It covers
issue 13's cases (the traceback-frame trick against the old audit hook followed by everything else,
``/bin/sh`` through ``subprocess`` and ``ctypes``, the parent's unix sockets, ``sqlite3`` and
``os.mkfifo`` outside the work dir, listing ``/``, the home and the checkout's parents, reading the
repository, ``/etc/passwd`` and ``/root/.bashrc``, loopback network, fork and memory bombs, root)
and a few more (a daemon outliving the run, filling the disk, inherited file descriptors).

``tests/test_sandbox_escapes.py`` runs every attempt against real bwrap;
``benchmarks/reliability/escapes.py`` (or ``python -m o1agent.tools.escapes``) prints one line per
attempt and ``escapes_contained: X/Y`` for the host it runs on. The tests also run some attempts
without bwrap (``unsafe_local``), which shows the checks do catch escapes.

What it is not: proof of safety. An attempt the suite lacks may succeed; a failed escape only
shows that path is closed. Running it writes markers into a temp dir, the checkout and the home
directory *only if* the sandbox lets it (they are removed again), sets one environment variable
in this process while the environment attempt runs, and listens on loopback and a unix socket.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import SandboxUnavailableError
from .sandbox import SANDBOX_UID, SandboxResult, arun_python

# What "/" may hold inside: the interpreter (/python), the library dirs ldd names, proc, dev, tmp.
ALLOWED_ROOT = frozenset({"dev", "proc", "tmp", "python", "lib", "lib32", "lib64", "libx32", "usr"})
SECRET_ENV = "O1AGENT_ESCAPE_SECRET"


class Host:
    """The parent's side of one attempt: a fresh temp dir, a secret file, a unix socket (path and
    abstract), TCP and UDP listeners on loopback and a random token; ``close()`` removes it all."""

    def __init__(self) -> None:
        self.token = uuid.uuid4().hex
        self.env_value = uuid.uuid4().hex  # apart from the token, which the programs' labels carry
        self.dir = Path(tempfile.mkdtemp(prefix="o1agent-escape-"))
        self.secret = self.dir / "secret.txt"
        self.secret.write_text(f"o1agent escape secret {self.token}\n")
        self.repo = Path(__file__).resolve().parents[2]
        self.home = Path.home()
        self.unix_path = str(self.dir / "parent.sock")
        self.abstract = f"\0o1agent-escape-{self.token}"
        self.seen: list[dict[str, list[str]]] = []
        self._listeners: list[socket.socket] = []
        for family, kind, addr in (
            (socket.AF_UNIX, socket.SOCK_STREAM, self.unix_path),
            (socket.AF_UNIX, socket.SOCK_STREAM, self.abstract),
            (socket.AF_INET, socket.SOCK_STREAM, ("127.0.0.1", 0)),
            (socket.AF_INET, socket.SOCK_DGRAM, ("127.0.0.1", 0)),
        ):
            s = socket.socket(family, kind)
            s.bind(addr)
            if kind == socket.SOCK_STREAM:
                s.listen(8)
            s.setblocking(False)
            self._listeners.append(s)
        os.chmod(self.unix_path, 0o777)  # so that only the namespace, not permissions, keeps it out
        self.tcp_port = self._listeners[2].getsockname()[1]
        self.udp_port = self._listeners[3].getsockname()[1]

    def markers(self, name: str) -> list[str]:
        """Host paths that ``name``'s program tries to create: temp dir, checkout, home."""
        leaf = f".o1agent-escape-{name}-{self.token}"
        return [str(self.dir / leaf), str(self.repo / leaf), str(self.home / leaf)]

    def appeared(self, paths: list[str]) -> list[str]:
        found = []
        for p in paths:
            if os.path.lexists(p):
                found.append(f"{p} appeared on the host")
                with contextlib.suppress(OSError):
                    os.remove(p)
        return found

    def connections(self) -> list[str]:
        got = []
        for s in self._listeners:
            try:
                if s.type == socket.SOCK_DGRAM:
                    s.recvfrom(4096)
                else:
                    conn, _ = s.accept()
                    conn.close()
            except (BlockingIOError, OSError):
                continue
            got.append(f"the parent's {s.getsockname()!r} listener got a connection")
        return got

    def processes(self) -> list[int]:
        """Host pids whose command line holds the token (a process the program left behind)."""
        pids = []
        for entry in os.scandir("/proc"):
            if entry.name.isdigit():
                with contextlib.suppress(OSError):
                    if self.token.encode() in Path(entry.path, "cmdline").read_bytes():
                        pids.append(int(entry.name))
        return pids

    @contextlib.contextmanager
    def watch(self) -> Iterator[None]:
        """While the run lasts, record the host's view (``/proc/PID/status`` ids) of every process
        marked with the token, into ``seen``."""
        stop = threading.Event()

        def poll() -> None:
            while not stop.wait(0.02):
                for pid in self.processes():
                    with contextlib.suppress(OSError):
                        rows = Path(f"/proc/{pid}/status").read_text().splitlines()
                        ids = {
                            k: v.split()
                            for k, _, v in (r.partition(":") for r in rows)
                            if k in ("Uid", "Gid")
                        }
                        if len(ids) == 2 and ids not in self.seen:
                            self.seen.append(ids)

        t = threading.Thread(target=poll, name="o1agent-escape-watch", daemon=True)
        t.start()
        try:
            yield
        finally:
            stop.set()
            t.join()

    @contextlib.contextmanager
    def secret_env(self) -> Iterator[None]:
        old = os.environ.get(SECRET_ENV)
        os.environ[SECRET_ENV] = self.env_value
        try:
            yield
        finally:
            if old is None:
                os.environ.pop(SECRET_ENV, None)
            else:
                os.environ[SECRET_ENV] = old

    def close(self) -> None:
        for s in self._listeners:
            s.close()
        for pid in self.processes():
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        shutil.rmtree(self.dir, ignore_errors=True)


# ---- programs -----------------------------------------------------------------------------------

# Every program starts with this: ``attempt`` prints what a try obtained, or how it was refused.
_HEAD = r"""
import json, os, sys
def attempt(label, fn):
    try:
        out = fn()
        print("DONE", label, repr(out)[:4000], flush=True)
    except BaseException as e:
        print("REFUSED", label, type(e).__name__, str(e)[:200], flush=True)
"""

# The trick that switched the old audit hook off: walk from a caught exception's traceback (and the
# current stack) to every frame, and flip the state found there — the hook's "busy" cell, allow_*
# switches. Whatever comes after it must be contained all the same.
_FRAME_WALK = r"""
def _flip(frame):
    n = 0
    while frame is not None:
        for scope in (frame.f_locals, frame.f_globals):
            for val in list(scope.values()):
                if isinstance(val, list) and val and isinstance(val[0], bool):
                    val[0] = True
                    n += 1
                elif isinstance(val, dict):
                    for k in [k for k, v in val.items() if isinstance(v, bool)]:
                        val[k] = True
                        n += 1
        frame = frame.f_back
    return n
try:
    open("/etc/shadow")
except BaseException as _e:
    _tb = _e.__traceback__
    while _tb is not None:
        _flip(_tb.tb_frame)
        _tb = _tb.tb_next
print("FLIPPED", _flip(sys._getframe()), flush=True)
"""


def _lines(path: str) -> list[str]:
    """Distinctive lines of a host file (what its text would show in the output), or []."""
    try:
        text = Path(path).read_text(errors="replace")
    except OSError:
        return []
    return [ln.strip() for ln in text.splitlines() if len(ln.strip()) >= 12][:40]


def _read(
    paths: Callable[[Host], list[str]],
) -> tuple[Callable[[Host], str], Callable[[Host, SandboxResult], list[str]]]:
    def program(h: Host) -> str:
        return "".join(f"attempt({p!r}, lambda: open({p!r}).read())\n" for p in paths(h))

    def leaks(h: Host, r: SandboxResult) -> list[str]:
        return [
            f"{p}: {line!r} is in the output"
            for p in paths(h)
            for line in _lines(p)[:1]
            if any(ln in r.stdout for ln in _lines(p))
        ]

    return program, leaks


def _listing(h: Host, r: SandboxResult) -> dict[str, Any]:
    for line in r.stdout.splitlines():
        if line.startswith("LISTING "):
            return json.loads(line[len("LISTING ") :])
    return {}


def _list_program(paths: Callable[[Host], list[str]]) -> Callable[[Host], str]:
    def program(h: Host) -> str:
        return (
            "out = {}\n"
            f"for p in {paths(h)!r}:\n"
            "    try:\n        out[p] = sorted(os.listdir(p))\n"
            "    except OSError as e:\n        out[p] = type(e).__name__\n"
            "print('LISTING ' + json.dumps(out), flush=True)\n"
        )

    return program


def _list_root_leaks(h: Host, r: SandboxResult) -> list[str]:
    names = _listing(h, r).get("/")
    if not isinstance(names, list):
        return [] if "LISTING" in r.stdout else ["the program did not report its listing of /"]
    extra = sorted(set(names) - ALLOWED_ROOT)
    return [f"/ holds {extra} besides the sandbox's own directories"] if extra else []


def _host_dirs(h: Host) -> list[str]:
    return [str(h.home), str(h.repo), *(str(p) for p in h.repo.parents if str(p) != "/")]


def _list_dirs_leaks(h: Host, r: SandboxResult) -> list[str]:
    got = _listing(h, r)
    out = []
    for p in _host_dirs(h):
        names = got.get(p)
        if isinstance(names, list):
            try:
                shared = sorted(set(names) & set(os.listdir(p)))
            except OSError:
                shared = []
            if shared:
                out.append(f"listing {p} shows the host's {shared[:5]}")
    return out


def _write_program(h: Host, name: str, how: str) -> str:
    # ``how`` creates the path in ``p``; the parent dir is created first, as a determined program would.
    return "".join(
        f"attempt({name + ':' + p!r}, lambda p={p!r}: (os.makedirs(os.path.dirname(p), exist_ok=True), {how}))\n"
        for p in h.markers(name)
    )


def _marker_leaks(name: str) -> Callable[[Host, SandboxResult], list[str]]:
    return lambda h, r: h.appeared(h.markers(name))


def _shell_program(h: Host) -> str:
    m = h.markers("shell")[0]
    cmd = f"id; echo pwned > {m}"
    return (
        "import subprocess\n"
        f"attempt('subprocess /bin/sh', lambda: subprocess.run(['/bin/sh', '-c', {cmd!r}], capture_output=True))\n"
        f"attempt('subprocess sh via PATH', lambda: subprocess.run(['sh', '-c', {cmd!r}], capture_output=True))\n"
        f"attempt('os.system', lambda: os.system({cmd!r}))\n"
        f"attempt('os.execv /bin/sh', lambda: os.execv('/bin/sh', ['sh', '-c', {cmd!r}]))\n"
    )


def _ctypes_program(h: Host) -> str:
    m = h.markers("ctypes")[0]
    cmd = f"id; echo pwned > {m}".encode()
    return (
        "import ctypes\n"
        "libc = ctypes.CDLL(None)\n"
        f"attempt('libc.system', lambda: libc.system({cmd!r}))\n"
        "argv = (ctypes.c_char_p * 4)(b'sh', b'-c', " + repr(cmd) + ", None)\n"
        "attempt('libc.execve /bin/sh', lambda: libc.execve(b'/bin/sh', argv, (ctypes.c_char_p * 1)(None)))\n"
    )


def _exec_leaks(name: str) -> Callable[[Host, SandboxResult], list[str]]:
    def leaks(h: Host, r: SandboxResult) -> list[str]:
        out = h.appeared(h.markers(name)[:1])
        if "uid=" in r.stdout:
            out.append("a shell ran (its `id` output is in the stdout)")
        return out

    return leaks


def _socket_program(h: Host) -> str:
    return (
        "import socket\n"
        "def unix(addr):\n"
        "    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM); s.settimeout(2); s.connect(addr); return 'connected'\n"
        f"attempt('unix socket path', lambda: unix({h.unix_path!r}))\n"
        f"attempt('abstract unix socket', lambda: unix({h.abstract!r}))\n"
    )


def _network_program(h: Host) -> str:
    return (
        "import socket\n"
        f"attempt('tcp 127.0.0.1', lambda: socket.create_connection(('127.0.0.1', {h.tcp_port}), timeout=2))\n"
        "def udp():\n"
        "    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
        f"    return s.sendto(b'x', ('127.0.0.1', {h.udp_port}))\n"
        "attempt('udp 127.0.0.1', udp)\n"
        "attempt('dns', lambda: socket.getaddrinfo('example.com', 80))\n"
    )


def _uid_program(h: Host) -> str:
    # A child marked with the token lives for a second, so that the host can see who it really is.
    return (
        "print('IDS ' + json.dumps({'uid': os.getuid(), 'euid': os.geteuid(), 'gid': os.getgid(), "
        "'egid': os.getegid(), 'groups': os.getgroups()}), flush=True)\n"
        f"pid = os.fork()\nif pid == 0:\n    {_sleeper(h, 1.5)}\n"
        "os.waitpid(pid, 0)\n"
    )


def _uid_leaks(h: Host, r: SandboxResult) -> list[str]:
    line = next((ln for ln in r.stdout.splitlines() if ln.startswith("IDS ")), None)
    if line is None:
        return ["the program did not report its ids"]
    ids = json.loads(line[4:])
    out = [
        f"{k} is {ids[k]}, not {SANDBOX_UID}" for k in ("uid", "euid", "gid", "egid") if ids[k] != SANDBOX_UID
    ]
    if ids["groups"]:
        out.append(f"supplementary groups {ids['groups']}")
    if not h.seen:
        out.append("the host never saw the program's process, so it cannot say who it was")
    for status in h.seen:  # the host's view: real, effective, saved and fs ids
        if "0" in status["Uid"] or "0" in status["Gid"]:
            out.append(f"the program is root on the host (Uid {status['Uid']}, Gid {status['Gid']})")
    return out


def _env_program(h: Host) -> str:
    return (
        "print('ENV', dict(os.environ), flush=True)\n"
        "pids = [p for p in os.listdir('/proc') if p.isdigit()]\n"
        "print('PIDS', len(pids), flush=True)\n"
        "for p in pids:\n"
        "    attempt('environ ' + p, lambda p=p: open('/proc/%s/environ' % p, 'rb').read())\n"
    )


def _env_leaks(h: Host, r: SandboxResult) -> list[str]:
    out = [f"the parent's {SECRET_ENV} reached the program"] if h.env_value in r.stdout else []
    for line in r.stdout.splitlines():
        if line.startswith("PIDS ") and int(line.split()[1]) > 4:
            out.append(f"the program sees {line.split()[1]} processes (the host's, not its own)")
    return out


def _fds_program(h: Host) -> str:
    return (
        "fds = {}\n"
        "for fd in os.listdir('/proc/self/fd'):\n"
        "    try:\n        fds[fd] = os.readlink('/proc/self/fd/' + fd)\n"
        "    except OSError:\n        pass  # the listing's own descriptor, closed by now\n"
        "print('FDS ' + json.dumps(fds), flush=True)\n"
    )


def _fds_leaks(h: Host, r: SandboxResult) -> list[str]:
    line = next((ln for ln in r.stdout.splitlines() if ln.startswith("FDS ")), None)
    if line is None:
        return ["the program did not report its file descriptors"]
    fds = json.loads(line[4:])
    # 0-2 are /dev/null or pipes; anything else open is the parent's.
    odd = {fd: t for fd, t in fds.items() if int(fd) > 2}
    return [f"inherited file descriptors {odd}"] if odd else []


def _sleeper(h: Host, seconds: float = 60) -> str:
    # A child that outlives its parent unless something kills it; the token marks it on the host.
    return (
        f"os.execv(sys.executable, [sys.executable, '-c', 'import time; time.sleep({seconds})', {h.token!r}])"
    )


def _fork_bomb_program(h: Host) -> str:
    return (
        "n, refused = 0, None\n"
        "while n < 2000:\n"
        "    try:\n        pid = os.fork()\n"
        "    except OSError as e:\n        refused = e.errno\n        break\n"
        "    if pid == 0:\n"
        f"        try:\n            {_sleeper(h)}\n        finally:\n            os._exit(0)\n"
        "    n += 1\n"
        "print('FORKED', n, 'REFUSED', refused, flush=True)\n"
    )


def _fork_bomb_leaks(max_procs: int) -> Callable[[Host, SandboxResult], list[str]]:
    def leaks(h: Host, r: SandboxResult) -> list[str]:
        out = []
        line = next((ln for ln in r.stdout.splitlines() if ln.startswith("FORKED ")), None)
        if line is not None and int(line.split()[1]) > max_procs:
            out.append(f"{line.split()[1]} processes forked (limit {max_procs})")
        if line is None and not r.timed_out:
            out.append(f"the bomb did not report ({r.error})")
        return out + _left_behind(h)

    return leaks


def _left_behind(h: Host) -> list[str]:
    for _ in range(20):  # the kernel tears a pid namespace down asynchronously
        pids = h.processes()
        if not pids:
            return []
        time.sleep(0.05)
    return [f"processes {pids} outlived the run"]


def _daemon_program(h: Host, then: str) -> str:
    return (
        "if os.fork() == 0:\n"
        "    os.setsid()\n"
        "    if os.fork() == 0:\n"
        f"        {_sleeper(h)}\n"
        "    os._exit(0)\n"
        "import time\ntime.sleep(0.3)\n"
        f"{then}\n"
    )


def _memory_program(h: Host) -> str:
    return (
        "attempt('bytearray 4 GiB', lambda: len(bytearray(4 << 30)))\n"
        "def grow():\n"
        "    a = []\n"
        "    while len(a) < 1024:\n"
        "        a.append(b' ' * (1 << 20))\n"
        "    return len(a)\n"
        "attempt('grow to 1 GiB', grow)\n"
    )


def _memory_leaks(h: Host, r: SandboxResult) -> list[str]:
    return [f"allocated past the limit: {ln}" for ln in r.stdout.splitlines() if ln.startswith("DONE")]


def _disk_program(h: Host) -> str:
    return (
        "def fill():\n"
        "    n = 0\n"
        "    while n < 1024:\n"
        "        with open('fill%d' % n, 'wb') as f:\n"
        "            f.write(b'x' * (1 << 20))\n"
        "        n += 1\n"
        "    return n\n"
        "attempt('fill the working dir', fill)\n"
        "print('FILES', len([f for f in os.listdir('.') if f.startswith('fill')]), flush=True)\n"
    )


def _disk_leaks(disk_mb: int) -> Callable[[Host, SandboxResult], list[str]]:
    def leaks(h: Host, r: SandboxResult) -> list[str]:
        line = next((ln for ln in r.stdout.splitlines() if ln.startswith("FILES ")), None)
        if line is None:
            return [f"the program did not report ({r.error})"]
        n = int(line.split()[1])
        return [f"wrote {n} MiB into a {disk_mb} MiB working dir"] if n > disk_mb else []

    return leaks


@dataclass(frozen=True)
class Attempt:
    """One escape attempt: ``program(host)`` is the code run in the sandbox (after ``_HEAD``),
    ``leaks(host, result)`` lists the host-side evidence of an escape ([] = contained), and
    ``options`` are the sandbox limits it runs under."""

    name: str
    what: str
    program: Callable[[Host], str]
    leaks: Callable[[Host, SandboxResult], list[str]]
    options: dict[str, Any] = field(default_factory=dict)
    secret_env: bool = False
    runs_to_end: bool = True  # the program must print END: a program that broke early tried nothing


def _attempts() -> list[Attempt]:
    passwd = _read(lambda h: ["/etc/passwd", "/proc/1/root/etc/passwd", "/proc/self/root/etc/passwd"])
    bashrc = _read(lambda h: ["/root/.bashrc", str(h.home / ".bashrc")])
    repo = _read(lambda h: [str(h.repo / "pyproject.toml"), str(h.repo / "o1agent" / "__init__.py")])
    secret = _read(lambda h: [str(h.secret)])
    access = [
        Attempt("read_etc_passwd", "read /etc/passwd (directly and through /proc/*/root)", *passwd),
        Attempt("read_root_bashrc", "read /root/.bashrc and the home's .bashrc", *bashrc),
        Attempt("read_repository", "read the checkout's pyproject.toml and o1agent/__init__.py", *repo),
        Attempt("read_host_file", "read a file the parent just wrote, by its host path", *secret),
        Attempt(
            "list_root",
            "list / (only the sandbox's own directories may show)",
            _list_program(lambda h: ["/"]),
            _list_root_leaks,
        ),
        Attempt(
            "list_home_and_parents",
            "list the home dir, the checkout and every dir above it",
            _list_program(_host_dirs),
            _list_dirs_leaks,
        ),
        Attempt(
            "write_outside",
            "write files in the temp dir, the checkout and the home dir",
            lambda h: _write_program(h, "write", "open(p, 'w').write('pwned')"),
            _marker_leaks("write"),
        ),
        Attempt(
            "sqlite_outside",
            "create an sqlite3 database outside the work dir",
            lambda h: (
                "import sqlite3\n"
                + _write_program(
                    h, "sqlite", "sqlite3.connect(p).execute('create table t(x)').connection.commit()"
                )
            ),
            _marker_leaks("sqlite"),
        ),
        Attempt(
            "mkfifo_outside",
            "os.mkfifo outside the work dir",
            lambda h: _write_program(h, "fifo", "os.mkfifo(p)"),
            _marker_leaks("fifo"),
        ),
        Attempt(
            "unix_socket",
            "connect to the parent's unix socket (path and abstract)",
            _socket_program,
            lambda h, r: h.connections(),
        ),
        Attempt(
            "network_loopback",
            "TCP and UDP to loopback ports the parent listens on, DNS",
            _network_program,
            lambda h, r: h.connections(),
        ),
        Attempt(
            "uid",
            "run as root (uid, gid, groups and the host uid behind them must be 65534)",
            _uid_program,
            _uid_leaks,
        ),
        Attempt(
            "parent_env_and_processes",
            "see the parent's environment or processes",
            _env_program,
            _env_leaks,
            secret_env=True,
        ),
        Attempt("inherited_fds", "find a file descriptor of the parent's", _fds_program, _fds_leaks),
        # Last of the access attempts: a successful exec would end the combined program.
        Attempt(
            "subprocess_shell",
            "run /bin/sh through subprocess, os.system and os.execv",
            _shell_program,
            _exec_leaks("shell"),
        ),
        Attempt(
            "ctypes_libc",
            "call libc system() and execve() through ctypes",
            _ctypes_program,
            _exec_leaks("ctypes"),
        ),
    ]

    def combined_program(h: Host) -> str:
        return _FRAME_WALK + "".join(a.program(h) for a in access)

    def combined_leaks(h: Host, r: SandboxResult) -> list[str]:
        return [f"{a.name}: {e}" for a in access for e in a.leaks(h, r)]

    resources = [
        Attempt(
            "fork_bomb",
            "fork until refused, every child sleeping (max_procs=8)",
            _fork_bomb_program,
            _fork_bomb_leaks(8),
            {"max_procs": 8, "timeout": 10, "cpu_seconds": 10},
        ),
        Attempt(
            "memory_bomb",
            "allocate 4 GiB at once, then grow to 1 GiB (memory_mb=128)",
            _memory_program,
            _memory_leaks,
            {"memory_mb": 128, "timeout": 10},
        ),
        Attempt(
            "disk_fill",
            "fill the working dir with 1 MiB files (disk_mb=8)",
            _disk_program,
            _disk_leaks(8),
            {"disk_mb": 8, "max_file_mb": 4, "timeout": 10},
        ),
        Attempt(
            "daemon_outlives_exit",
            "leave a setsid daemon behind and exit 0",
            lambda h: _daemon_program(h, "print('bye')"),
            lambda h, r: _left_behind(h),
        ),
        Attempt(
            "daemon_outlives_timeout",
            "leave a setsid daemon behind and spin past the timeout",
            lambda h: _daemon_program(h, "while True: pass"),
            lambda h, r: _left_behind(h) + ([] if r.timed_out else ["the run did not time out"]),
            {"timeout": 2, "cpu_seconds": 30},
            runs_to_end=False,
        ),
    ]
    frame = Attempt(
        "frame_bypass_then_all",
        "flip every frame's state from a caught exception's traceback (the old hook's bypass), then every access attempt",
        combined_program,
        combined_leaks,
        secret_env=True,
    )
    return [frame, *access, *resources]


ATTEMPTS: list[Attempt] = _attempts()


@dataclass
class Outcome:
    """What one attempt did: ``contained`` when the host saw no evidence of an escape."""

    name: str
    contained: bool
    evidence: list[str]
    result: SandboxResult


async def arun_attempt(attempt: Attempt, **sandbox: Any) -> Outcome:
    """Run one attempt in a fresh ``Host``; ``sandbox`` overrides its limits (``unsafe_local=True``...)."""
    host = Host()
    try:
        opts = {"timeout": 10.0, "cpu_seconds": 5.0, **attempt.options, **sandbox}
        program = _HEAD + attempt.program(host) + "print('END', flush=True)\n"
        with host.watch(), host.secret_env() if attempt.secret_env else contextlib.nullcontext():
            result = await arun_python(program, **opts)
        evidence = attempt.leaks(host, result)
        if attempt.runs_to_end and "END" not in result.stdout.splitlines():
            evidence.append(f"the program did not run to its end ({result.error}), so it may not have tried")
        return Outcome(attempt.name, not evidence, evidence, result)
    finally:
        host.close()


async def arun_suite(names: list[str] | None = None, **sandbox: Any) -> list[Outcome]:
    """Every attempt (or those named), one after the other."""
    chosen = [a for a in ATTEMPTS if names is None or a.name in names]
    return [await arun_attempt(a, **sandbox) for a in chosen]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run the sandbox escape suite on this host.")
    parser.add_argument("names", nargs="*", help="attempts to run (default: all)")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.names) - {a.name for a in ATTEMPTS})
    if unknown:
        parser.error(f"unknown attempts {unknown}; choose from {[a.name for a in ATTEMPTS]}")
    try:
        outcomes = asyncio.run(arun_suite(args.names or None))
    except SandboxUnavailableError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for o in outcomes:
        status = "contained" if o.contained else "ESCAPED: " + "; ".join(o.evidence)
        print(f"{o.name}: {status} ({o.result.seconds:.2f} s)")
    print(f"escapes_contained: {sum(o.contained for o in outcomes)}/{len(outcomes)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
