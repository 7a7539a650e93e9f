"""``run_python``: run untrusted, model-written Python inside a bubblewrap sandbox.

What it is: the one place o1agent executes code it did not write (the ``python`` tool, ``CodeTests``
and so HumanEval grading). Each run is a fresh interpreter started by ``bwrap`` (Debian package
``bubblewrap``) in new mount, pid, network, IPC, UTS and cgroup namespaces:

* **Filesystem**: a read-only root that holds only the interpreter (bound at ``/python``), its
  standard library (its ``site-packages`` hidden), the shared libraries they link (found with
  ``ldd``), a private ``/proc`` and ``/dev``, and ``/tmp``: a size-capped tmpfs that is the working
  directory and disappears with the run. Nothing else of the host exists inside — not the
  repository, the home directory, ``/etc``, ``/root`` or any unix socket. Model-written code gets the
  standard library only; a caller may name installed packages to expose read-only
  (``packages=("numpy",)``).
* **Identity**: uid/gid 65534 with no capabilities and ``no_new_privs``. As root, bwrap runs without
  a user namespace (which would map the sandbox's uid to the caller's, root) and the prelude drops
  to 65534 on the host before the program is read; otherwise a user namespace maps 65534 to the
  caller's own uid.
* **Network**: an empty network namespace (no interface but a down loopback): no TCP/UDP, and no
  abstract unix sockets of the host.
* **Processes**: a pids cgroup with ``pids.max`` (or ``RLIMIT_NPROC`` where no cgroup can be made),
  a private pid namespace killed with its launcher (``--die-with-parent``), a new session (no
  terminal injection); rlimits on address space, CPU seconds, file size, open files, core dumps;
  a wall-clock timeout after which the whole tree is killed; stdout/stderr capped.

Where ``bwrap`` is missing or cannot create namespaces, every entry point raises
``SandboxUnavailableError`` (naming ``apt-get install bubblewrap``), unless the caller passes
``unsafe_local=True``: the program then runs as a plain local subprocess with the rlimits, the
pids cgroup and the timeout only, and a warning is logged.

What it is not: a defence against kernel exploits (no seccomp filter; as root, the sandbox can
still create user namespaces of its own), a memory bound for the whole tree (``memory_mb`` is per
process: at most ``max_procs`` × ``memory_mb``), or anything at all under ``unsafe_local``. It runs
nothing of its own inside the sandbox besides the prelude, which sets limits and drops privileges
before the program is read; no in-process hook is part of the containment.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import importlib.util
import json
import logging
import marshal
import os
import posixpath
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from ..errors import ConfigError, SandboxUnavailableError

logger = logging.getLogger(__name__)

SANDBOX_UID = 65534  # "nobody" on Debian and most distributions
SANDBOX_GID = 65534
SANDBOX_WORKDIR = "/tmp"
_PREFIX = "/python"  # where the interpreter's prefix is bound inside
_SITE = "/python/site"  # where packages named by the caller are bound inside
_INSTALL_HINT = "apt-get install bubblewrap"


class SandboxResult(BaseModel):
    """What one sandboxed run did. ``ok`` is true only for a clean exit with status 0;
    ``exit_code`` is None when the program never started (the sandbox failed to start)."""

    ok: bool
    stdout: str = ""
    stderr: str = ""
    error: str | None = Field(default=None, description="one line saying why the run failed, if it did")
    exit_code: int | None = None
    seconds: float = 0.0
    timed_out: bool = False
    truncated: bool = Field(default=False, description="stdout or stderr exceeded max_output and was cut")
    isolation: list[str] = Field(default_factory=list, description="the containment layers that applied")


# ---- the prelude: the only code of ours that runs inside, before the program ----------------------

# argv: payload fd, "started" fd. Order matters: privileges are dropped before the payload's files
# are written (so they belong to the sandbox user) and before the program is even compiled. Only
# built-in modules are imported up front (marshal, not json: json pulls in re and enum, 20+ ms).
_PRELUDE = r"""
import os, sys, marshal, resource
with os.fdopen(int(sys.argv[1]), "rb") as _f:
    _cfg = marshal.loads(_f.read())
if _cfg["uid"] is not None and os.getuid() != _cfg["uid"]:
    os.setgroups([])
    os.setgid(_cfg["gid"])
    os.setuid(_cfg["uid"])
    if 0 in (os.getuid(), os.geteuid(), os.getgid(), os.getegid()):
        sys.stderr.write("sandbox: could not drop root\n")
        os._exit(70)
for _name, _text in _cfg["files"].items():
    if os.path.dirname(_name):
        os.makedirs(os.path.dirname(_name), exist_ok=True)
    with open(_name, "w", encoding="utf-8") as _f:
        _f.write(_text)
def _lim(res, val):
    soft, hard = resource.getrlimit(res)
    val = val if hard == resource.RLIM_INFINITY else min(val, hard)
    resource.setrlimit(res, (val, val))
_lim(resource.RLIMIT_CORE, 0)
_lim(resource.RLIMIT_FSIZE, _cfg["max_file_bytes"])
_lim(resource.RLIMIT_NOFILE, 64)
if _cfg["memory_bytes"]:
    _lim(resource.RLIMIT_AS, _cfg["memory_bytes"])
if _cfg["nproc"]:
    _lim(resource.RLIMIT_NPROC, _cfg["nproc"])
if _cfg["cpu_seconds"]:
    import _signal  # the C module: signal.py would import enum
    def _on_xcpu(signum, frame, _n=_cfg["cpu_seconds"]):
        sys.stderr.write("\nsandbox: CPU time limit exceeded (%s s)\n" % _n)
        sys.stderr.flush()
        os._exit(152)
    _signal.signal(_signal.SIGXCPU, _on_xcpu)
    resource.setrlimit(resource.RLIMIT_CPU, (_cfg["cpu_seconds"], _cfg["cpu_seconds"] + 1))
os.write(int(sys.argv[2]), b"1")
os.close(int(sys.argv[2]))
sys.path[:0] = _cfg["sys_path"]
_src = _cfg["files"]["main.py"]
_echo = _cfg["echo_last_expr"]
del _cfg, _lim, _f, marshal, resource
sys.argv = ["main.py"]
def _run(src, echo):
    try:
        if echo:
            import ast
            tree = ast.parse(src, "main.py")
            if tree.body and isinstance(tree.body[-1], ast.Expr):
                last = tree.body[-1]
                tmp = ast.Assign([ast.Name("_sandbox_last", ast.Store())], last.value)
                ref = ast.Name("_sandbox_last", ast.Load())
                guard = ast.If(ast.Compare(ref, [ast.IsNot()], [ast.Constant(None)]),
                               [ast.Expr(ast.Call(ast.Name("print", ast.Load()), [ref], []))], [])
                tree.body[-1:] = [tmp, guard]
                ast.fix_missing_locations(tree)
            code = compile(tree, "main.py", "exec")
        else:
            code = compile(src, "main.py", "exec")
    except SyntaxError:
        import traceback
        traceback.print_exc(limit=0)
        sys.exit(1)
    g = {"__name__": "__main__", "__file__": "main.py", "__builtins__": __builtins__}
    try:
        exec(code, g)
    except SystemExit:
        raise
    except BaseException as e:
        import traceback
        tb = e.__traceback__
        tb = tb.tb_next if tb is not None else tb
        traceback.print_exception(type(e), e, tb)
        sys.stderr.flush()
        os._exit(1)
_run(_src, _echo)
"""

# Run on the host (as the caller) once per interpreter, to learn where its stdlib lives.
_LAYOUT_PROBE = (
    "import json, sys, sysconfig\n"
    "print(json.dumps({'prefix': sys.prefix, 'exec_prefix': sys.exec_prefix, 'path': sys.path,"
    " 'site': [sysconfig.get_path('purelib'), sysconfig.get_path('platlib')]}))"
)


# ---- what the sandbox holds ---------------------------------------------------------------------


@dataclass(frozen=True)
class _Mounts:
    """Read-only binds (host source, sandbox destination), directories masked by an empty
    read-only tmpfs, symlinks (target, sandbox path), library directories and extra sys.path."""

    binds: tuple[tuple[str, str], ...] = ()
    hide: tuple[str, ...] = ()
    links: tuple[tuple[str, str], ...] = ()
    lib_dirs: tuple[str, ...] = ()
    sys_path: tuple[str, ...] = ()

    def __add__(self, other: _Mounts) -> _Mounts:
        def uniq(a: tuple[Any, ...], b: tuple[Any, ...]) -> tuple[Any, ...]:
            return tuple(dict.fromkeys(a + b))

        return _Mounts(
            uniq(self.binds, other.binds),
            uniq(self.hide, other.hide),
            uniq(self.links, other.links),
            uniq(self.lib_dirs, other.lib_dirs),
            uniq(self.sys_path, other.sys_path),
        )


def _default_python() -> str:
    # The base interpreter, not the venv's launcher: run with -S it needs nothing of the venv,
    # and the venv's site-packages must not be visible anyway.
    return getattr(sys, "_base_executable", None) or sys.executable


def _resolve_python(python: str | None) -> str:
    exe = os.path.realpath(shutil.which(python) or python) if python else os.path.realpath(_default_python())
    if not (os.path.isfile(exe) and os.access(exe, os.X_OK)):
        raise ConfigError(f"sandbox interpreter {python or exe!r} is not an executable file")
    return exe


# Extension modules for a display or a terminal, which the sandbox has not: their libraries (X11,
# Tk, ncurses, readline: half of all) are not bound, so they fail to import. Each bind costs bwrap
# about a millisecond.
_HEADLESS = re.compile(r"^(_tkinter|_curses|_curses_panel|readline)\.")
_LDD_LINE = re.compile(r"^\s*(?:\S+\s+=>\s+)?(/\S+)\s+\(0x[0-9a-f]+\)\s*$")


def _shared_libraries(files: Sequence[str]) -> list[str]:
    """Every shared library ``files`` load (ldd's resolution, the dynamic loader included)."""
    ldd = shutil.which("ldd")
    if ldd is None or not files:
        return []
    out = subprocess.run([ldd, *files], capture_output=True, text=True, timeout=60).stdout
    found = {m.group(1) for line in out.splitlines() if (m := _LDD_LINE.match(line))}
    return sorted(p for p in found if os.path.exists(p))


def _system_libraries(files: Sequence[str], keep_under: Sequence[str]) -> _Mounts:
    """Binds for the shared libraries of ``files`` that do not already lie under ``keep_under``
    (those travel with their package), at their host paths. Without ldd, the library dirs whole."""
    if shutil.which("ldd") is None:
        dirs = tuple(d for d in ("/lib", "/lib64", "/usr/lib", "/usr/lib64") if os.path.isdir(d))
        return _Mounts(binds=tuple((d, d) for d in dirs), lib_dirs=dirs)
    libs = [p for p in _shared_libraries(files) if not any(_under(p, k) for k in keep_under)]
    # glibc dlopens libgcc_s for thread exit and cancellation; ldd cannot see that.
    for lib in list(libs):
        if posixpath.basename(lib).startswith("libc.so"):
            gcc_s = posixpath.join(posixpath.dirname(lib), "libgcc_s.so.1")
            if os.path.exists(gcc_s):
                libs.append(gcc_s)
    libs = sorted(set(libs))
    return _Mounts(
        binds=tuple((p, p) for p in libs),
        lib_dirs=tuple(dict.fromkeys(posixpath.dirname(p) for p in libs)),
    )


def _under(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


@functools.lru_cache(maxsize=8)
def _interpreter_mounts(exe: str) -> tuple[str, _Mounts]:
    """(the interpreter's path inside, the binds it needs): its prefix relocated to ``/python``
    (executable, stdlib, lib-dynload, libpython), its site-packages hidden, its libraries."""
    try:
        proc = subprocess.run(
            [exe, "-I", "-S", "-c", _LAYOUT_PROBE], capture_output=True, text=True, timeout=60, env={}
        )
        info = json.loads(proc.stdout)
    except (OSError, subprocess.SubprocessError, ValueError) as exc:
        raise ConfigError(f"cannot inspect the sandbox interpreter {exe}: {exc}") from None
    prefixes = [os.path.realpath(info["prefix"]), os.path.realpath(info["exec_prefix"])]

    def inside(host: str) -> str:
        for p in prefixes:
            if _under(host, p):
                return posixpath.normpath(_PREFIX + "/" + os.path.relpath(host, p))
        return host

    exe_in = (
        inside(exe) if any(_under(exe, p) for p in prefixes) else f"{_PREFIX}/bin/{posixpath.basename(exe)}"
    )
    binds = [(exe, exe_in)]
    dynload: list[str] = [exe]
    bound: list[str] = []
    for entry in info["path"]:
        real = os.path.realpath(entry)
        if entry and os.path.exists(real):
            if not any(_under(real, b) for b in bound):  # lib-dynload usually lies in the stdlib dir
                binds.append((real, inside(real)))
                bound.append(real)
            if os.path.isdir(real):  # lib-dynload is flat; the stdlib dir holds no extension module
                dynload += sorted(str(p) for p in Path(real).glob("*.so") if not _HEADLESS.match(p.name))
    hide = tuple(
        inside(os.path.realpath(s))
        for s in dict.fromkeys(info["site"])
        if s
        and os.path.isdir(s)
        and any(_under(os.path.realpath(s), os.path.realpath(e)) for e in info["path"] if e)
    )
    libs = _system_libraries(dynload, keep_under=[])
    # Libraries of the interpreter's own prefix (libpython) move with it.
    lib_binds = tuple((src, inside(dst)) for src, dst in libs.binds)
    lib_dirs = tuple(dict.fromkeys(inside(d) for d in libs.lib_dirs))
    bin_dir = posixpath.dirname(exe_in)
    links = tuple(
        (posixpath.basename(exe_in), f"{bin_dir}/{name}")
        for name in ("python3", "python")
        if name != posixpath.basename(exe_in)
    )
    return exe_in, _Mounts(binds=tuple(binds) + lib_binds, hide=hide, links=links, lib_dirs=lib_dirs)


@functools.lru_cache(maxsize=32)
def _package_mounts(names: tuple[str, ...]) -> _Mounts:
    """Binds for installed top-level packages the caller asked for, under ``/python/site``: the
    package, its ``.libs`` folder (auditwheel's bundled libraries), its dist-info (for
    ``importlib.metadata``) and the system libraries its extension modules load."""
    binds: list[tuple[str, str]] = []
    trees: list[str] = []
    for name in names:
        if not name.isidentifier():
            raise ConfigError(f"sandbox package names are top-level module names, got {name!r}")
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            spec = None
        if spec is None or (
            spec.origin in (None, "built-in", "frozen") and not spec.submodule_search_locations
        ):
            raise ConfigError(
                f"sandbox package {name!r} is not installed here (or is built in: nothing to bind)"
            )
        sources = list(spec.submodule_search_locations or []) or [spec.origin or ""]
        for src in sources:
            src = os.path.realpath(src)
            parent = posixpath.dirname(src)
            binds.append((src, f"{_SITE}/{posixpath.basename(src)}"))
            trees.append(src)
            norm = re.sub(r"[-_.]+", "_", name).lower()
            for sib in sorted(os.listdir(parent)):
                low = sib.lower()
                if low == f"{name.lower()}.libs" or (
                    low.endswith(".dist-info") and re.sub(r"[-_.]+", "_", low.split("-")[0]) == norm
                ):
                    path = posixpath.join(parent, sib)
                    binds.append((path, f"{_SITE}/{sib}"))
                    trees.append(path)
    so_files = [str(p) for t in trees if os.path.isdir(t) for p in Path(t).rglob("*.so*") if p.is_file()]
    so_files += [t for t in trees if os.path.isfile(t) and ".so" in t]
    return _Mounts(binds=tuple(binds), sys_path=(_SITE,)) + _system_libraries(so_files, keep_under=trees)


def _bwrap_argv(
    bwrap: str, mounts: _Mounts, exe_in: str, *, as_root: bool, disk_bytes: int, env: dict[str, str]
) -> list[str]:
    argv = [bwrap, "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try"]
    argv += ["--die-with-parent", "--new-session", "--hostname", "sandbox", "--clearenv"]
    if as_root:
        # No user namespace: bwrap would map the sandbox's uid to its caller's, and that is root.
        # The prelude keeps only what it needs to drop to 65534 on the host, then drops it.
        argv += ["--cap-drop", "ALL", "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
    else:
        argv += ["--unshare-user", "--uid", str(SANDBOX_UID), "--gid", str(SANDBOX_GID), "--disable-userns"]
    made: set[str] = set()
    for src, dst in mounts.binds:
        argv += ["--ro-bind", src, dst]
    for d in mounts.hide:
        argv += ["--tmpfs", d, "--remount-ro", d]
    for target, link in mounts.links:
        argv += ["--symlink", target, link]
    dests = {dst for _, dst in mounts.binds} | set(mounts.hide)
    for dst in [d for _, d in mounts.binds] + [link for _, link in mounts.links]:
        parent = posixpath.dirname(dst)
        while parent not in ("/", "") and parent not in dests:
            made.add(parent)
            parent = posixpath.dirname(parent)
    for d in sorted(made):
        # bwrap makes the directories leading to a bind 0700 and root's: the sandbox user must pass.
        argv += ["--chmod", "0755", d]
    argv += ["--proc", "/proc", "--dev", "/dev"]
    argv += ["--size", str(disk_bytes), "--tmpfs", SANDBOX_WORKDIR, "--chmod", "1777", SANDBOX_WORKDIR]
    argv += ["--chdir", SANDBOX_WORKDIR, "--remount-ro", "/"]
    for key, val in env.items():
        argv += ["--setenv", key, val]
    return [*argv, "--", exe_in]


def _sandbox_env(home: str, lib_dirs: Sequence[str]) -> dict[str, str]:
    env = {
        "PATH": f"{_PREFIX}/bin",
        "HOME": home,
        "TMPDIR": home,
        "LANG": "C.UTF-8",
        "TZ": "UTC",
        # Thread pools of numeric libraries reserve address space per thread; one is enough.
        "OPENBLAS_NUM_THREADS": "1",
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
    }
    if lib_dirs:
        env["LD_LIBRARY_PATH"] = ":".join(lib_dirs)
    return env


_BWRAP_LAYERS = ["bwrap", "mount-ns", "pid-ns", "net-ns", "ipc-ns", "uts-ns", f"uid-{SANDBOX_UID}"]


@functools.lru_cache(maxsize=8)
def _bwrap_problem(bwrap: str, exe: str, as_root: bool) -> str | None:
    """Why the sandbox cannot run here (bwrap's own words), or None: one real run, once."""
    exe_in, mounts = _interpreter_mounts(exe)
    env = _sandbox_env(SANDBOX_WORKDIR, mounts.lib_dirs)
    argv = _bwrap_argv(bwrap, mounts, exe_in, as_root=as_root, disk_bytes=1 << 20, env=env)
    try:
        proc = subprocess.run(
            [*argv, "-I", "-S", "-B", "-c", "import encodings"], capture_output=True, timeout=60
        )
    except (OSError, subprocess.SubprocessError) as exc:
        return f"{bwrap} could not be run: {exc}"
    if proc.returncode != 0:
        why = (
            " ".join(proc.stderr.decode("utf-8", "replace").split())[-400:]
            or f"exit status {proc.returncode}"
        )
        return f"{bwrap} cannot create the sandbox here ({why})"
    return None


_warned: set[str] = set()
_warn_lock = threading.Lock()


def _sandbox_mode(python: str | None, unsafe_local: bool) -> tuple[str | None, str]:
    """(bwrap's path or None for an unsafe local run, the interpreter). Raises
    ``SandboxUnavailableError`` when there is no sandbox and the caller did not opt out."""
    exe = _resolve_python(python)
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        problem = "bwrap (bubblewrap) is not installed"
    elif not sys.platform.startswith("linux"):
        problem = "bwrap needs Linux"
    else:
        _interpreter_mounts(exe)  # a bad interpreter is a ConfigError, not a missing sandbox
        problem = _bwrap_problem(os.path.realpath(bwrap), exe, os.geteuid() == 0)
    if problem is None:
        return bwrap, exe
    if not unsafe_local:
        raise SandboxUnavailableError(
            f"{problem}: model-written code cannot be contained. Install it ({_INSTALL_HINT}), "
            "or pass unsafe_local=True (--unsafe-local) to run such code as a plain local process."
        )
    with _warn_lock:
        if problem not in _warned:
            _warned.add(problem)
            logger.warning(
                "unsafe_local=True: %s, so model-written code runs as a plain local process with only "
                "rlimits and a timeout (it can read and write your files and reach the network); "
                "install bubblewrap (%s) to contain it",
                problem,
                _INSTALL_HINT,
            )
    return None, exe


def _layers(bwrap: str | None) -> list[str]:
    layers = list(_BWRAP_LAYERS) if bwrap else ["unsafe-local"]
    if bwrap and os.geteuid() != 0:
        layers.insert(1, "user-ns")
    layers.append("cgroup-pids" if _cgroup_parent() is not None else "rlimit-nproc")
    return [*layers, "rlimits", "timeout"]


def check_sandbox(*, unsafe_local: bool = False, python: str | None = None) -> list[str]:
    """The containment layers a run gets here (as ``SandboxResult.isolation`` lists them), checked
    by one real sandboxed run the first time. Raises ``SandboxUnavailableError`` where bwrap is
    missing or cannot create namespaces, unless ``unsafe_local=True`` (then a warning is logged
    and the list starts with ``"unsafe-local"``)."""
    bwrap, _ = _sandbox_mode(python, unsafe_local)
    return _layers(bwrap)


# ---- the pids cgroup ----------------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def _cgroup_parent() -> Path | None:
    """A pids-cgroup directory we can create children in (v1 ``pids`` hierarchy or v2), or None."""
    for base in (Path("/sys/fs/cgroup/pids"), Path("/sys/fs/cgroup/unified"), Path("/sys/fs/cgroup")):
        probe = base / f"o1agent-probe-{os.getpid()}"
        try:
            probe.mkdir()
        except OSError:
            continue
        try:
            if (probe / "pids.max").exists():
                (probe / "pids.max").write_text("4")
                return base
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                probe.rmdir()
    return None


def _make_cgroup(max_pids: int) -> Path | None:
    parent = _cgroup_parent()
    if parent is None:
        return None
    cg = parent / f"o1agent-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    try:
        cg.mkdir()
        (cg / "pids.max").write_text(str(max_pids))
        return cg
    except OSError as exc:
        logger.debug("pids cgroup unavailable: %s", exc)
        with contextlib.suppress(OSError):
            cg.rmdir()
        return None


def _kill_cgroup_procs(cg: Path) -> bool:
    """SIGKILL every process in ``cg``; False once it is empty (or gone)."""
    try:
        pids = [int(x) for x in (cg / "cgroup.procs").read_text().split()]
    except OSError:
        return False
    for pid in pids:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
    return bool(pids)


def _remove_cgroup(cg: Path) -> None:
    # A fork bomb may still be forking, and a pid namespace dies asynchronously: kill until the
    # cgroup is empty (polling fast at first: usually it empties within a few ms), then remove it.
    for i in range(60):
        if not _kill_cgroup_procs(cg):
            break
        time.sleep(0.002 if i < 20 else 0.05)
    for i in range(60):
        try:
            cg.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError:
            time.sleep(0.002 if i < 20 else 0.05)
    logger.warning("could not remove sandbox cgroup %s", cg)


def _nproc_limit(max_procs: int, userns: bool, uid: int) -> int:
    """RLIMIT_NPROC that lets the program start ``max_procs`` processes. The kernel counts the uid's
    processes: since Linux 5.14 within the user namespace (the sandbox's own, where the interpreter
    and bwrap's init already are), before that, and without a user namespace, on the whole host."""
    release = tuple(int(x) for x in re.findall(r"\d+", os.uname().release)[:2])
    if userns and release >= (5, 14):
        return max_procs + 2
    return max_procs + _uid_process_count(uid)


def _uid_process_count(uid: int) -> int:
    n = 0
    with contextlib.suppress(OSError):
        for entry in os.scandir("/proc"):
            if entry.name.isdigit():
                with contextlib.suppress(OSError):
                    if entry.stat().st_uid == uid:
                        n += len(os.listdir(f"/proc/{entry.name}/task"))
    return n


# ---- running ------------------------------------------------------------------------------------


async def _read_capped(stream: asyncio.StreamReader | None, cap: int) -> tuple[bytes, bool]:
    if stream is None:
        return b"", False
    buf = bytearray()
    cut = False
    while True:
        chunk = await stream.read(65536)
        if not chunk:
            break
        room = cap - len(buf)
        if room > 0:
            buf += chunk[:room]
        if len(chunk) > max(room, 0):
            cut = True  # keep draining so the child never blocks on a full pipe
    return bytes(buf), cut


def _last_line(text: str) -> str:
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1] if lines else ""


def _describe_failure(
    code: int | None, stderr: str, *, cpu_seconds: float | None, memory_mb: int | None
) -> str:
    last = _last_line(stderr)
    # A signal: negative from a direct child, 128 + n through bwrap (which reports it as a status).
    sig = (
        -code
        if code is not None and code < 0
        else (code - 128 if code is not None and 128 < code < 160 else None)
    )
    if "MemoryError" in last or (not last and sig == signal.SIGSEGV and memory_mb):
        return f"memory limit exceeded ({memory_mb} MB): {last or 'killed'}"
    if sig == signal.SIGXCPU or (cpu_seconds and sig == signal.SIGKILL and not last):
        return f"CPU time limit exceeded ({cpu_seconds} s)"
    if "sandbox:" in last:
        return last[last.index("sandbox:") :]
    if last:
        return last
    if sig is not None:
        with contextlib.suppress(ValueError):
            return f"killed by signal {signal.Signals(sig).name}"
    return f"exited with status {code}"


def _check_args(
    timeout: float, cpu_seconds: float | None, memory_mb: int | None, max_procs: int, disk_mb: int
) -> None:
    if not timeout or timeout <= 0:
        raise ConfigError(f"sandbox timeout must be a positive number of seconds, got {timeout!r}")
    if cpu_seconds is not None and cpu_seconds <= 0:
        raise ConfigError(f"cpu_seconds must be positive or None, got {cpu_seconds!r}")
    if memory_mb is not None and memory_mb < 32:
        raise ConfigError(f"memory_mb must be at least 32 (the interpreter needs it), got {memory_mb!r}")
    if max_procs < 1:
        raise ConfigError(f"max_procs must be >= 1, got {max_procs!r}")
    if disk_mb < 1:
        raise ConfigError(f"disk_mb must be >= 1, got {disk_mb!r}")


def _check_files(files: dict[str, str] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, text in (files or {}).items():
        norm = posixpath.normpath(name)
        if not name or posixpath.isabs(name) or norm.startswith(".."):
            raise ConfigError(f"sandbox file name must stay inside the working directory: {name!r}")
        if norm == "main.py":
            raise ConfigError("sandbox file name 'main.py' is taken: it holds the program itself")
        out[norm] = text
    return out


def _kill_tree(pid: int, cg: Path | None) -> None:
    # The launcher leads its own session; with a pid namespace, killing it (bwrap, with
    # --die-with-parent inside) takes the namespace's init and so every process inside down with it.
    for kill in (lambda: os.killpg(pid, signal.SIGKILL), lambda: os.kill(pid, signal.SIGKILL)):
        with contextlib.suppress(OSError):
            kill()
    if cg is not None:
        _kill_cgroup_procs(cg)


async def arun_python(
    code: str,
    *,
    timeout: float = 5.0,
    cpu_seconds: float | None = 5.0,
    memory_mb: int | None = 256,
    max_procs: int = 16,
    max_file_mb: int = 16,
    disk_mb: int = 64,
    max_output: int = 64 * 1024,
    stdin: str | None = None,
    files: dict[str, str] | None = None,
    packages: Sequence[str] = (),
    echo_last_expr: bool = False,
    python: str | None = None,
    unsafe_local: bool = False,
) -> SandboxResult:
    """Run ``code`` in a fresh sandboxed interpreter and report what happened (see the module
    docstring). Never raises for anything the program does; raises ``ConfigError`` for invalid
    limits and ``SandboxUnavailableError`` where bwrap cannot run, unless ``unsafe_local=True``.

    ``files`` are written into the working directory first (name → text); ``packages`` names
    installed top-level packages to expose read-only (``("numpy",)``; their own dependencies must
    be named too); ``python`` picks another interpreter (default: the one running o1agent, without
    its site-packages). ``memory_mb`` bounds each process's address space, ``disk_mb`` the working
    directory, ``max_procs`` the processes the program may start. ``echo_last_expr`` prints the
    value of a trailing expression statement, as a REPL would (models often end with ``x``).
    """
    _check_args(timeout, cpu_seconds, memory_mb, max_procs, disk_mb)
    if not isinstance(code, str):
        raise ConfigError(f"code must be a string, got {type(code).__name__}")
    all_files = {"main.py": code, **_check_files(files)}
    # First call: one probe run and an ldd pass (~0.5 s); keep them off the event loop.
    bwrap, exe = await asyncio.to_thread(_sandbox_mode, python, unsafe_local)
    pkgs = tuple(dict.fromkeys(packages))
    mounts = await asyncio.to_thread(_package_mounts, pkgs) if pkgs else _Mounts()
    as_root = os.geteuid() == 0
    t0 = time.perf_counter()
    layers = _layers(bwrap)
    workdir: str | None = None
    # bwrap's monitor and the namespace's init are in the cgroup too, beside the interpreter.
    cg = _make_cgroup(max_procs + (3 if bwrap else 1))
    if cg is None and "cgroup-pids" in layers:
        layers[layers.index("cgroup-pids")] = "rlimit-nproc"
    payload = tempfile.TemporaryFile()  # noqa: SIM115 (closed once the child has it, and in finally)
    started_r, started_w = os.pipe()
    try:
        if bwrap:
            exe_in, base = _interpreter_mounts(exe)
            mounts = base + mounts
            env = _sandbox_env(SANDBOX_WORKDIR, mounts.lib_dirs)
            argv = _bwrap_argv(bwrap, mounts, exe_in, as_root=as_root, disk_bytes=disk_mb << 20, env=env)
            cwd, run_env, uid = None, {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}, SANDBOX_UID
            sys_path = list(mounts.sys_path)
            proc_uid = SANDBOX_UID if as_root else os.getuid()
        else:
            workdir = tempfile.mkdtemp(prefix="o1agent-sandbox-")
            argv, cwd, run_env, uid = [exe], workdir, _sandbox_env(workdir, ()), None
            run_env["PATH"] = "/usr/local/bin:/usr/bin:/bin"
            sys_path = sorted({posixpath.dirname(src) for src, dst in mounts.binds if dst.startswith(_SITE)})
            proc_uid = os.getuid()
        # RLIMIT_NPROC is only the fallback where no cgroup could be made (root ignores it).
        nproc = (
            0
            if cg is not None or proc_uid == 0
            else _nproc_limit(max_procs, bool(bwrap) and not as_root, proc_uid)
        )
        cfg: dict[str, Any] = {
            "uid": uid,
            "gid": SANDBOX_GID,
            "files": all_files,
            "sys_path": sys_path,
            "memory_bytes": int(memory_mb * 1024 * 1024) if memory_mb else 0,
            "cpu_seconds": int(max(1, round(cpu_seconds))) if cpu_seconds else 0,
            "max_file_bytes": int(max_file_mb * 1024 * 1024),
            "nproc": nproc,
            "echo_last_expr": echo_last_expr,
        }
        payload.write(marshal.dumps(cfg))
        payload.flush()
        payload.seek(0)
        argv = [*argv, "-I", "-S", "-B", "-c", _PRELUDE, str(payload.fileno()), str(started_w)]
        if cg is not None:
            # Join the cgroup before bwrap starts, so that every process of the run is counted.
            argv = ["/bin/sh", "-c", 'echo $$ > "$0" && exec "$@"', str(cg / "cgroup.procs"), *argv]
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                cwd=cwd,
                env=run_env,
                start_new_session=True,
                pass_fds=(payload.fileno(), started_w),
            )
        except OSError as exc:
            return SandboxResult(
                ok=False,
                error=f"could not start the sandbox: {exc}",
                seconds=time.perf_counter() - t0,
                isolation=layers,
            )
        finally:
            os.close(started_w)
            started_w = -1
            payload.close()
        if stdin is not None and proc.stdin is not None:
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                proc.stdin.write(stdin.encode("utf-8"))
                await proc.stdin.drain()
            proc.stdin.close()
        readers = asyncio.gather(_read_capped(proc.stdout, max_output), _read_capped(proc.stderr, max_output))
        timed_out = False
        try:
            (out, cut_out), (err, cut_err) = await asyncio.wait_for(asyncio.shield(readers), timeout)
            await asyncio.wait_for(proc.wait(), max(0.5, timeout - (time.perf_counter() - t0)))
        except TimeoutError:
            timed_out = True
            _kill_tree(proc.pid, cg)
            try:
                (out, cut_out), (err, cut_err) = await asyncio.wait_for(readers, 5.0)
            except TimeoutError:
                out, err, cut_out, cut_err = b"", b"", True, True
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(proc.wait(), 5.0)
        except asyncio.CancelledError:
            _kill_tree(proc.pid, cg)
            raise
        started = _was_started(started_r)
        code_ = proc.returncode if started else None
        stdout = out.decode("utf-8", "replace")
        stderr = err.decode("utf-8", "replace")
        ok = code_ == 0 and not timed_out
        error: str | None = None
        if timed_out:
            error = f"timed out after {timeout:g} s (wall clock); the process tree was killed"
        elif not started:
            error = f"the sandbox did not start: {_last_line(stderr) or f'exit status {proc.returncode}'}"
        elif not ok:
            error = _describe_failure(code_, stderr, cpu_seconds=cpu_seconds, memory_mb=memory_mb)
        return SandboxResult(
            ok=ok,
            stdout=stdout,
            stderr=stderr,
            error=error,
            exit_code=code_,
            seconds=time.perf_counter() - t0,
            timed_out=timed_out,
            truncated=cut_out or cut_err,
            isolation=layers,
        )
    finally:
        os.close(started_r)
        if started_w >= 0:
            os.close(started_w)
        payload.close()
        if cg is not None:
            await asyncio.to_thread(_remove_cgroup, cg)
        if workdir is not None:
            shutil.rmtree(workdir, ignore_errors=True)


def _was_started(fd: int) -> bool:
    os.set_blocking(fd, False)
    try:
        return os.read(fd, 1) == b"1"
    except BlockingIOError:
        return False


def run_python(code: str, **kwargs: Any) -> SandboxResult:
    """Synchronous ``arun_python`` (same arguments). Safe to call from inside a running loop:
    it then runs the sandbox on a helper thread."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(arun_python(code, **kwargs))
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["r"] = asyncio.run(arun_python(code, **kwargs))
        except BaseException as exc:
            box["e"] = exc

    t = threading.Thread(target=target, name="o1agent-sandbox")
    t.start()
    t.join()
    if "e" in box:
        raise box["e"]
    return box["r"]
