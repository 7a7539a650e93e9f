"""``run_python``: run untrusted, model-written Python in a contained subprocess.

What it is: a best-effort, dependency-free sandbox for the short programs a reasoning model writes
(arithmetic, a loop, a HumanEval function and its tests). Each run gets a fresh ``python -I``
process in a temporary working directory that is deleted afterwards, and layered limits:

1. **OS layers** (probed once; ``SandboxResult.isolation`` lists those that applied):

   * ``netns`` / ``pidns`` — ``unshare --net --pid --fork --kill-child --mount-proc`` (with
     ``--user --map-root-user`` when not root): no network interfaces at all, a private process
     table (the parent and its environment are invisible in ``/proc``), and killing the launcher
     kills every process the program started.
   * ``cgroup-pids`` — a fresh pids cgroup with ``pids.max = max_procs``: contains fork bombs even
     for root (``RLIMIT_NPROC`` does not apply to uid 0, and the interpreter here lives under
     ``/root`` so dropping to another uid is not an option).
   * ``rlimits`` — address space (``memory_mb``), CPU seconds, file size, open files, no core
     dumps; ``RLIMIT_NPROC`` too when not root.

2. **In-process layer** (``audit``): a ``sys.addaudithook`` prelude installed before the program
   runs refuses socket creation and DNS, writes outside the working directory, reads outside the
   interpreter's own paths and a few system directories, process creation (fork/exec/spawn/
   subprocess, unless ``allow_processes=True``), signals to other process groups, ``ctypes`` and
   ``gc`` introspection (the ways to tamper with the hook). A refused operation raises
   ``PermissionError("sandbox: ...")`` inside the program, so the caller gets a clear error.

3. **Parent side**: a minimal environment (no parent variables), a wall-clock timeout after which
   the whole process tree is killed, and stdout/stderr capped at ``max_output`` bytes each.

What it is not: a security boundary against a determined attacker. Audit hooks are not a sandbox
(PEP 578 says so) and the filesystem is not namespaced — a program that loads its own native code
could write where root can. Run hostile code in a container or VM; this module is for keeping a
model's honest mistakes (infinite loops, memory blow-ups, stray writes) from hurting the host.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from ..errors import ConfigError

logger = logging.getLogger(__name__)

# Read access the program keeps besides its working directory and the interpreter's sys.path.
_DEFAULT_READ_ROOTS = (
    "/usr",
    "/lib",
    "/lib64",
    "/bin",
    "/etc/localtime",
    "/etc/ssl",
    "/etc/mime.types",
    "/dev/null",
    "/dev/zero",
    "/dev/urandom",
    "/dev/random",
    "/proc/self",
    "/proc/thread-self",
    "/proc/cpuinfo",
    "/proc/meminfo",
    "/sys/devices/system/cpu",
)


class SandboxResult(BaseModel):
    """What one sandboxed run did. ``ok`` is true only for a clean exit with status 0."""

    ok: bool
    stdout: str = ""
    stderr: str = ""
    error: str | None = Field(default=None, description="one line saying why the run failed, if it did")
    exit_code: int | None = None
    seconds: float = 0.0
    timed_out: bool = False
    truncated: bool = Field(default=False, description="stdout or stderr exceeded max_output and was cut")
    isolation: list[str] = Field(default_factory=list, description="the containment layers that applied")


# ---- the prelude: runs inside the child before the program ------------------------------------

_PRELUDE = r"""
import sys, os, json, resource
_cfg = json.loads(sys.argv[1])
if _cfg["cgroup"]:
    try:
        with open(os.path.join(_cfg["cgroup"], "cgroup.procs"), "w") as _f:
            _f.write("0")
    except OSError as _e:
        sys.stderr.write("sandbox: could not join the pids cgroup: %s\n" % _e)
        os._exit(70)
def _lim(res, val):
    try:
        soft, hard = resource.getrlimit(res)
        hard_new = val if hard == resource.RLIM_INFINITY else min(val, hard)
        resource.setrlimit(res, (min(val, hard_new), hard_new))
    except (ValueError, OSError):
        pass
_lim(resource.RLIMIT_CORE, 0)
_lim(resource.RLIMIT_FSIZE, _cfg["max_file_bytes"])
_lim(resource.RLIMIT_NOFILE, 64)
if _cfg["memory_bytes"]:
    _lim(resource.RLIMIT_AS, _cfg["memory_bytes"])
if _cfg["cpu_seconds"]:
    import signal as _signal
    def _on_xcpu(signum, frame, _n=_cfg["cpu_seconds"]):
        sys.stderr.write("\nsandbox: CPU time limit exceeded (%s s)\n" % _n)
        sys.stderr.flush()
        os._exit(152)
    _signal.signal(_signal.SIGXCPU, _on_xcpu)
    try:
        resource.setrlimit(resource.RLIMIT_CPU, (_cfg["cpu_seconds"], _cfg["cpu_seconds"] + 1))
    except (ValueError, OSError):
        pass
if _cfg["nproc"]:
    _lim(resource.RLIMIT_NPROC, _cfg["nproc"])

def _install(cfg):
    import os.path as _p
    work = _p.realpath(cfg["workdir"])
    reads = tuple(_p.realpath(r) for r in cfg["read_roots"] if r) + (work,)
    allow_proc = bool(cfg["allow_processes"])
    busy = [False]
    _WRITE = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
    _realpath, _join, _getcwd, _fspath = _p.realpath, _p.join, os.getcwd, os.fspath

    def under(path, roots):
        for r in roots:
            if path == r or path.startswith(r.rstrip("/") + "/"):
                return True
        return False

    def resolve(path):
        path = _fspath(path)
        if isinstance(path, bytes):
            path = path.decode("utf-8", "surrogateescape")
        return _realpath(_join(_getcwd(), path))

    def deny(what):
        raise PermissionError("sandbox: " + what)

    def check_write(path, what):
        if isinstance(path, int) or path is None:
            return
        real = resolve(path)
        if not under(real, (work,)):
            deny("%s outside the working directory is not allowed: %s" % (what, real))

    # Loading a library is allowed (numpy imports ctypes); using it to reach native code is not.
    _NATIVE = ("ctypes.dlsym", "ctypes.dlsym/handle", "ctypes.call_function", "ctypes.cdata",
               "ctypes.cdata/buffer", "ctypes.string_at", "ctypes.wstring_at", "ctypes.addressof",
               "ctypes.set_errno", "ctypes.seh_exception")

    def hook(event, args):
        if busy[0]:
            return
        busy[0] = True
        try:
            if event == "open":
                path, mode, flags = args
                if isinstance(path, int) or path is None:
                    return
                writing = (mode is not None and any(c in mode for c in "wax+")) or bool((flags or 0) & _WRITE)
                real = resolve(path)
                if writing and not under(real, (work,)):
                    deny("writing outside the working directory is not allowed: " + real)
                if not writing and not under(real, reads):
                    deny("reading %s is not allowed" % real)
            elif event in ("os.remove", "os.rmdir", "os.mkdir", "os.chmod", "os.chown", "os.utime",
                           "os.truncate", "os.chflags", "os.lchflags", "os.lchmod", "os.setxattr",
                           "os.removexattr", "shutil.rmtree"):
                check_write(args[0], event)
            elif event in ("os.rename", "os.link", "os.symlink"):
                check_write(args[0] if event == "os.rename" else None, event)
                check_write(args[1], event)
            elif event.startswith("socket."):
                deny("network access is disabled (%s)" % event)
            elif event in ("os.system", "os.exec", "os.posix_spawn", "os.spawn", "subprocess.Popen",
                           "os.fork", "os.forkpty", "pty.spawn", "os.startfile"):
                if not allow_proc:
                    deny("starting processes is disabled (%s)" % event)
            elif event == "os.kill":
                if args[0] <= 0 or args[0] == 1:
                    deny("signalling other process groups is not allowed")
            elif event == "os.killpg":
                deny("signalling other process groups is not allowed")
            elif event in _NATIVE or event in ("gc.get_objects", "gc.get_referrers",
                                                           "gc.get_referents", "sys._current_frames",
                                                           "sys.setprofile", "sys.settrace"):
                deny("%s is disabled" % event)
            elif event == "object.__setattr__" and args[1] in ("__code__", "__closure__", "__globals__"):
                deny("changing %s is disabled" % args[1])
        finally:
            busy[0] = False

    sys.addaudithook(hook)

_install(_cfg)
del _install, _lim
_src = open("main.py", encoding="utf-8").read()
_echo = _cfg["echo_last_expr"]
del _cfg
sys.argv = ["main.py"]
def _run(src, echo):
    import ast, traceback
    try:
        tree = ast.parse(src, "main.py")
        if echo and tree.body and isinstance(tree.body[-1], ast.Expr):
            last = tree.body[-1]
            tmp = ast.Assign([ast.Name("_sandbox_last", ast.Store())], last.value)
            ref = ast.Name("_sandbox_last", ast.Load())
            guard = ast.If(ast.Compare(ref, [ast.IsNot()], [ast.Constant(None)]),
                           [ast.Expr(ast.Call(ast.Name("print", ast.Load()), [ref], []))], [])
            tree.body[-1:] = [tmp, guard]
            ast.fix_missing_locations(tree)
        code = compile(tree, "main.py", "exec")
    except SyntaxError:
        traceback.print_exc(limit=0)
        sys.exit(1)
    g = {"__name__": "__main__", "__file__": "main.py", "__builtins__": __builtins__}
    try:
        exec(code, g)
    except SystemExit:
        raise
    except BaseException as e:
        tb = e.__traceback__
        tb = tb.tb_next if tb is not None else tb
        traceback.print_exception(type(e), e, tb)
        sys.stderr.flush()
        os._exit(1)
_run(_src, _echo)
"""


# ---- probing what the host supports ------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def _unshare_prefix() -> tuple[str, ...]:
    """The ``unshare`` argv prefix that works here (tried once per process), or ``()``."""
    exe = shutil.which("unshare")
    if exe is None or not sys.platform.startswith("linux"):
        return ()
    user = () if os.geteuid() == 0 else ("--user", "--map-root-user")
    candidates = [
        (exe, *user, "--net", "--pid", "--fork", "--kill-child", "--mount-proc"),
        (exe, *user, "--net"),
    ]
    for argv in candidates:
        try:
            proc = subprocess.run(
                [*argv, "true"], capture_output=True, timeout=10, env={"PATH": "/usr/bin:/bin"}
            )
        except (OSError, subprocess.SubprocessError):
            continue
        if proc.returncode == 0:
            return tuple(argv)
    return ()


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


def isolation_available() -> list[str]:
    """The OS containment layers this host supports (what ``SandboxResult.isolation`` will list)."""
    layers = []
    prefix = _unshare_prefix()
    if "--net" in prefix:
        layers.append("netns")
    if "--pid" in prefix:
        layers.append("pidns")
    if _cgroup_parent() is not None:
        layers.append("cgroup-pids")
    layers += ["rlimits", "audit"]
    return layers


def _python_read_roots() -> list[str]:
    roots = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        with contextlib.suppress(KeyError):
            roots.add(sysconfig.get_paths()[key])
    roots.update(p for p in sys.path if p and os.path.isabs(p))
    return sorted(roots)


def _kill_cgroup(cg: Path) -> None:
    # A fork bomb may still be forking: kill until the cgroup is empty, then remove it.
    for _ in range(50):
        try:
            pids = [int(x) for x in (cg / "cgroup.procs").read_text().split()]
        except OSError:
            break
        if not pids:
            break
        for pid in pids:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.02)
    for _ in range(50):
        try:
            cg.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError:
            time.sleep(0.02)
    logger.warning("could not remove sandbox cgroup %s", cg)


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
    # unshare reports a child killed by a signal in its own words ("unshare: ..."): the program's
    # lines come first; a bare unshare line means a signal (the hard CPU limit, a crash).
    own = "\n".join(ln for ln in stderr.splitlines() if not ln.startswith("unshare: "))
    if own.strip() != stderr.strip() and not own.strip():
        return f"killed by a signal (CPU limit {cpu_seconds} s or memory limit {memory_mb} MB, or a crash)"
    stderr = own
    last = _last_line(stderr)
    if "MemoryError" in last or (last == "" and code == -signal.SIGSEGV and memory_mb):
        return f"memory limit exceeded ({memory_mb} MB): {last or 'killed'}"
    if code in (-signal.SIGXCPU, 128 + signal.SIGXCPU) or (
        cpu_seconds and code in (-signal.SIGKILL, 137) and not last
    ):
        return f"CPU time limit exceeded ({cpu_seconds} s)"
    if "sandbox:" in last:
        return last[last.index("sandbox:") :]
    if last:
        return last
    if code is not None and code < 0:
        return f"killed by signal {signal.Signals(-code).name}"
    return f"exited with status {code}"


def _check_args(timeout: float, cpu_seconds: float | None, memory_mb: int | None, max_procs: int) -> None:
    if not timeout or timeout <= 0:
        raise ConfigError(f"sandbox timeout must be a positive number of seconds, got {timeout!r}")
    if cpu_seconds is not None and cpu_seconds <= 0:
        raise ConfigError(f"cpu_seconds must be positive or None, got {cpu_seconds!r}")
    if memory_mb is not None and memory_mb < 32:
        raise ConfigError(f"memory_mb must be at least 32 (the interpreter needs it), got {memory_mb!r}")
    if max_procs < 1:
        raise ConfigError(f"max_procs must be >= 1, got {max_procs!r}")


async def arun_python(
    code: str,
    *,
    timeout: float = 5.0,
    cpu_seconds: float | None = 5.0,
    memory_mb: int | None = 256,
    max_procs: int = 16,
    max_file_mb: int = 16,
    max_output: int = 64 * 1024,
    stdin: str | None = None,
    files: dict[str, str] | None = None,
    allow_processes: bool = False,
    allow_read: list[str] | None = None,
    echo_last_expr: bool = False,
    python: str | None = None,
) -> SandboxResult:
    """Run ``code`` in a fresh sandboxed interpreter and report what happened. Never raises for
    anything the program does; raises ``ConfigError`` only for invalid limits.

    ``files`` are written into the working directory first (name → text). ``echo_last_expr``
    prints the value of a trailing expression statement, as a REPL would (models often end with
    ``x`` instead of ``print(x)``).
    """
    _check_args(timeout, cpu_seconds, memory_mb, max_procs)
    if not isinstance(code, str):
        raise ConfigError(f"code must be a string, got {type(code).__name__}")
    t0 = time.perf_counter()
    workdir = Path(tempfile.mkdtemp(prefix="o1agent-sandbox-"))
    cg: Path | None = None
    layers: list[str] = []
    try:
        (workdir / "main.py").write_text(code, encoding="utf-8")
        for name, text in (files or {}).items():
            target = (workdir / name).resolve()
            if workdir.resolve() not in target.parents:
                raise ConfigError(f"sandbox file name must stay inside the working directory: {name!r}")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
        parent = _cgroup_parent()
        if parent is not None:
            cg = parent / f"o1agent-{os.getpid()}-{uuid.uuid4().hex[:8]}"
            try:
                cg.mkdir()
                # +1: the interpreter itself is one of the processes counted.
                (cg / "pids.max").write_text(str(max_procs + 1))
                layers.append("cgroup-pids")
            except OSError as exc:
                logger.debug("pids cgroup unavailable: %s", exc)
                with contextlib.suppress(OSError):
                    cg.rmdir()
                cg = None
        prefix = _unshare_prefix()
        layers[:0] = [name for flag, name in (("--net", "netns"), ("--pid", "pidns")) if flag in prefix]
        layers += ["rlimits", "audit"]
        cfg: dict[str, Any] = {
            "workdir": str(workdir),
            "cgroup": str(cg) if cg else "",
            "memory_bytes": int(memory_mb * 1024 * 1024) if memory_mb else 0,
            "cpu_seconds": int(max(1, round(cpu_seconds))) if cpu_seconds else 0,
            "max_file_bytes": int(max_file_mb * 1024 * 1024),
            # RLIMIT_NPROC counts every process of the uid and is ignored for root: use it only
            # when not root and no cgroup does the job.
            "nproc": 0 if (os.geteuid() == 0 or cg) else max_procs + _user_process_count(),
            "allow_processes": allow_processes,
            "read_roots": [*_DEFAULT_READ_ROOTS, *_python_read_roots(), *(allow_read or [])],
            "echo_last_expr": echo_last_expr,
        }
        exe = python or sys.executable
        argv = [*prefix, exe, "-I", "-B", "-c", _PRELUDE, json.dumps(cfg)]
        env = {
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "HOME": str(workdir),
            "TMPDIR": str(workdir),
            "LANG": "C.UTF-8",
            "PYTHONIOENCODING": "utf-8",
            # Thread pools of numeric libraries reserve address space per thread; one is enough.
            "OPENBLAS_NUM_THREADS": "1",
            "OMP_NUM_THREADS": "1",
            "MKL_NUM_THREADS": "1",
        }
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                cwd=str(workdir),
                env=env,
                start_new_session=True,
            )
        except OSError as exc:
            return SandboxResult(
                ok=False,
                error=f"could not start the sandbox interpreter: {exc}",
                seconds=time.perf_counter() - t0,
                isolation=layers,
            )
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
        code_ = proc.returncode
        stdout = out.decode("utf-8", "replace")
        stderr = err.decode("utf-8", "replace")
        ok = code_ == 0 and not timed_out
        error: str | None = None
        if timed_out:
            error = f"timed out after {timeout:g} s (wall clock); the process tree was killed"
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
        if cg is not None:
            await asyncio.to_thread(_kill_cgroup, cg)
        shutil.rmtree(workdir, ignore_errors=True)


def _kill_tree(pid: int, cg: Path | None) -> None:
    # The launcher leads its own session; with a pid namespace, killing it (--kill-child) takes
    # the namespace's init and so every process inside down with it.
    for kill in (lambda: os.killpg(pid, signal.SIGKILL), lambda: os.kill(pid, signal.SIGKILL)):
        with contextlib.suppress(OSError):
            kill()
    if cg is not None:
        _kill_cgroup_procs(cg)


def _kill_cgroup_procs(cg: Path) -> None:
    try:
        pids = [int(x) for x in (cg / "cgroup.procs").read_text().split()]
    except OSError:
        return
    for p in pids:
        with contextlib.suppress(OSError):
            os.kill(p, signal.SIGKILL)


def _user_process_count() -> int:
    uid = os.getuid()
    n = 0
    with contextlib.suppress(OSError):
        for entry in os.scandir("/proc"):
            if entry.name.isdigit():
                with contextlib.suppress(OSError):
                    if entry.stat().st_uid == uid:
                        n += len(os.listdir(f"/proc/{entry.name}/task"))
    return n


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
