"""The sandbox's escape suite: each attempt is contained, reported as a clear error, and the
parent keeps running. Limits are low and timeouts short so a failure cannot hurt the machine."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import pytest

from o1agent.errors import ConfigError
from o1agent.tools.sandbox import SandboxResult, arun_python, isolation_available, run_python


def test_runs_code_and_captures_output() -> None:
    r = run_python("print(37*48+12)")
    assert r.ok and r.stdout == "1788\n" and r.error is None and r.exit_code == 0
    assert not r.timed_out and r.seconds < 5


def test_echo_last_expression_and_stdin() -> None:
    assert run_python("x = 6\nx * 7", echo_last_expr=True).stdout.strip() == "42"
    assert run_python("x = 6\nx * 7").stdout == ""  # off by default: a program prints what it wants
    assert run_python("import sys; print(sys.stdin.read().upper())", stdin="abc").stdout.strip() == "ABC"


def test_program_errors_are_one_clear_line() -> None:
    r = run_python("1/0")
    assert not r.ok and r.error == "ZeroDivisionError: division by zero"
    assert "main.py" in r.stderr  # the traceback points at the program, not at the prelude
    r = run_python("def f(:\n")
    assert not r.ok and r.error.startswith("SyntaxError")


def test_socket_is_refused() -> None:
    r = run_python("import socket\ns = socket.socket()\ns.connect(('1.1.1.1', 80))", timeout=5)
    assert not r.ok and "network access is disabled" in r.error


def test_no_network_even_below_the_audit_hook() -> None:
    # _socket directly still goes through the audit event; the namespace is the second wall.
    r = run_python("import _socket\ns = _socket.socket()\nprint('made')")
    assert not r.ok and "network" in r.error
    if "netns" in isolation_available():
        # /proc/self/net/dev lists the interfaces of the process's own network namespace.
        r = run_python(
            "print(sorted(ln.split(':')[0].strip() for ln in open('/proc/self/net/dev').readlines()[2:]))"
        )
        assert r.ok and r.stdout.strip() == "['lo']", (r.stdout, r.error)


@pytest.mark.parametrize("target", ["/tmp/o1agent_escape_marker", "HOME", "../o1agent_escape_marker"])
def test_writes_outside_the_working_dir_are_refused(target: str) -> None:
    # The parent's home, expanded here: inside the sandbox HOME is the working directory.
    if target == "HOME":
        target = str(Path.home() / "o1agent_escape_marker")
    r = run_python(f"open({target!r}, 'w').write('escaped')")
    assert not r.ok and "writing outside the working directory" in r.error
    if not target.startswith(".."):
        assert not Path(target).exists()


def test_other_filesystem_changes_outside_are_refused(tmp_path: Path) -> None:
    victim = tmp_path / "keep.txt"
    victim.write_text("keep")
    for code in (
        f"import os; os.remove({str(victim)!r})",
        f"import os; os.rename({str(victim)!r}, 'stolen.txt')",
        f"import shutil; shutil.rmtree({str(tmp_path)!r})",
        f"import os; os.chmod({str(victim)!r}, 0o777)",
    ):
        r = run_python(code)
        assert not r.ok and "sandbox:" in r.error, (code, r.error)
    assert victim.read_text() == "keep"


def test_working_dir_is_writable_and_removed_afterwards() -> None:
    r = run_python(
        "import os\nopen('a.txt', 'w').write('hi')\nprint(os.getcwd())\nprint(open('a.txt').read())"
    )
    assert r.ok
    cwd, text = r.stdout.split()
    assert text == "hi" and not Path(cwd).exists()


def test_files_are_provided_and_names_checked() -> None:
    assert run_python("print(open('data/x.txt').read())", files={"data/x.txt": "42"}).stdout.strip() == "42"
    with pytest.raises(ConfigError):
        run_python("pass", files={"../evil.txt": "x"})


def test_parent_environment_is_invisible(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("O1AGENT_TEST_SECRET", "hunter2")
    r = run_python(
        "import os\nprint(os.environ.get('O1AGENT_TEST_SECRET'))\n"
        "print(sorted(os.environ))\n"
        "try:\n    print(open(f'/proc/{os.getppid()}/environ').read())\nexcept OSError as e:\n    print('denied', e)"
    )
    assert r.ok, r.error
    assert "hunter2" not in r.stdout and "O1AGENT_TEST_SECRET" not in r.stdout
    assert r.stdout.splitlines()[0] == "None"


def test_reading_private_files_is_refused() -> None:
    r = run_python("print(open('/etc/shadow').read())")
    assert not r.ok and "reading /etc/shadow is not allowed" in r.error


def test_process_creation_is_refused_by_default() -> None:
    for code in (
        "import os\nwhile True:\n    os.fork()",
        "import subprocess; subprocess.run(['true'])",
        "import os; os.system('true')",
    ):
        r = run_python(code)
        assert not r.ok and "starting processes is disabled" in r.error, r.error


def test_fork_bomb_is_contained_when_processes_are_allowed() -> None:
    layers = isolation_available()
    if os.geteuid() == 0 and "cgroup-pids" not in layers and "pidns" not in layers:
        pytest.skip("root without a pids cgroup or pid namespace: nothing can bound a fork bomb here")
    t0 = time.monotonic()
    r = run_python(
        "import os\nn = 0\nwhile True:\n    try:\n        os.fork()\n        n += 1\n"
        "    except OSError as e:\n        print('refused', e.errno)\n        break",
        allow_processes=True,
        max_procs=8,
        timeout=5,
        cpu_seconds=5,
    )
    assert time.monotonic() - t0 < 15
    assert "refused 11" in r.stdout or r.timed_out  # EAGAIN from the pids limit, or killed
    # The host is fine: a fresh run works at once.
    assert run_python("print('alive')").stdout.strip() == "alive"


def test_memory_bombs_hit_the_limit() -> None:
    for code in ("x = bytearray(10**10)", "a = []\nwhile True:\n    a.append(' ' * 10**6)"):
        r = run_python(code, memory_mb=128, timeout=10)
        assert not r.ok and "memory limit exceeded (128 MB)" in r.error, r.error


def test_infinite_loop_is_killed_by_the_wall_clock() -> None:
    t0 = time.monotonic()
    r = run_python("while True:\n    pass", timeout=1.5, cpu_seconds=30)
    assert r.timed_out and not r.ok and "timed out after 1.5 s" in r.error
    assert time.monotonic() - t0 < 8


def test_cpu_limit_stops_a_busy_program() -> None:
    r = run_python("while True:\n    pass", timeout=20, cpu_seconds=1)
    assert not r.ok and not r.timed_out and "CPU time limit" in r.error, r.error


def test_output_is_capped() -> None:
    r = run_python("print('x' * 10**6)", max_output=1000)
    assert r.ok and r.truncated and len(r.stdout) == 1000


def test_tampering_with_the_hook_is_refused() -> None:
    for code in (
        "import gc; gc.get_objects()",
        "import ctypes; ctypes.CDLL(None).getpid()",
        "import sys; sys.settrace(None)",
    ):
        r = run_python(code)
        assert not r.ok and "disabled" in r.error, (code, r.error)


def test_numpy_imports_under_the_default_limits() -> None:
    pytest.importorskip("numpy")
    r = run_python("import numpy as np\nprint(int(np.arange(10).sum()))")
    assert r.ok and r.stdout.strip() == "45", r.error


async def test_async_runs_concurrently_and_sync_works_inside_a_loop() -> None:
    rs = await asyncio.gather(*(arun_python(f"print({i} * 2)") for i in range(3)))
    assert [r.stdout.strip() for r in rs] == ["0", "2", "4"]
    r = run_python("print('from a thread')")  # a running loop: run_python must not deadlock
    assert isinstance(r, SandboxResult) and r.ok


def test_bad_limits_are_config_errors() -> None:
    for kwargs in ({"timeout": 0}, {"memory_mb": 1}, {"max_procs": 0}, {"cpu_seconds": -1}):
        with pytest.raises(ConfigError):
            run_python("pass", **kwargs)


def test_isolation_layers_are_reported() -> None:
    r = run_python("pass")
    assert {"rlimits", "audit"} <= set(r.isolation)
    assert set(r.isolation) <= set(isolation_available())
