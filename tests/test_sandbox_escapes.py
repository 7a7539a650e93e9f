"""The escape suite against real bwrap: every attempt of ``o1agent.tools.escapes`` (issue 13's
cases and a few more) must be contained, judged by evidence on the host — the marker file is not
there, the listener got no connection, the host file's text is not in the output, no process
outlived the run, the host sees uid 65534.

Two controls show the checks can fail: the same attempts without bwrap (``unsafe_local``) are
caught escaping, and the unprivileged path (bwrap run by a non-root caller, in a user namespace)
is contained too."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from o1agent.tools import sandbox
from o1agent.tools.escapes import ATTEMPTS, arun_attempt, arun_suite

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("attempt", ATTEMPTS, ids=lambda a: a.name)
async def test_escape_is_contained(attempt) -> None:
    outcome = await arun_attempt(attempt)
    assert outcome.contained, (
        f"{attempt.name} ({attempt.what}) escaped: {outcome.evidence}\n"
        f"stdout: {outcome.result.stdout[-3000:]}\nstderr: {outcome.result.stderr[-1000:]}"
    )
    assert "bwrap" in outcome.result.isolation


def test_the_suite_covers_the_issue() -> None:
    names = {a.name for a in ATTEMPTS}
    assert {
        "frame_bypass_then_all", "subprocess_shell", "ctypes_libc", "unix_socket", "sqlite_outside",
        "mkfifo_outside", "list_root", "list_home_and_parents", "read_repository", "read_etc_passwd",
        "read_root_bashrc", "write_outside", "network_loopback", "fork_bomb", "memory_bomb", "uid",
    } <= names  # fmt: skip


async def test_without_bwrap_the_checks_catch_the_escapes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The control: the same programs as a plain local process (unsafe_local) do get out, and the
    # host-side checks say so. Only attempts that are harmless when they succeed.
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(sandbox, "_warned", set())
    names = [
        "read_host_file",
        "read_repository",
        "write_outside",
        "unix_socket",
        "network_loopback",
        "list_root",
    ]
    if os.geteuid() == 0:
        names.append("uid")
    outcomes = await arun_suite(names, unsafe_local=True)
    assert [o.name for o in outcomes] == [a.name for a in ATTEMPTS if a.name in names]
    escaped = {o.name: o.evidence for o in outcomes if not o.contained}
    assert set(escaped) == set(names), escaped
    assert any("appeared on the host" in e for e in escaped["write_outside"])
    assert any("listener got a connection" in e for e in escaped["network_loopback"])


@pytest.mark.slow
def test_a_caller_that_is_not_root_is_contained_in_a_user_namespace(tmp_path: Path) -> None:
    """bwrap run by uid 65534 (no privileges: a user namespace maps the sandbox's 65534 to it, and
    no pids cgroup can be made, so RLIMIT_NPROC bounds the fork bomb). The tests' interpreter lives
    under /root, so o1agent runs as nobody on the system python with the venv's packages."""
    system = "/usr/bin/python3"
    setpriv = shutil.which("setpriv")
    if os.geteuid() != 0 or setpriv is None or not os.path.exists(system):
        pytest.skip("needs root (to become nobody), setpriv and /usr/bin/python3")
    ver = subprocess.run(
        [system, "-c", "import sys; print(sys.version_info[:2])"], capture_output=True, text=True
    )
    if ver.stdout.strip() != str(sys.version_info[:2]):
        pytest.skip("the system python is another version than the one the venv's packages are built for")
    site = next(p for p in sys.path if p.endswith("site-packages"))
    home = tmp_path / "home"
    home.mkdir()
    os.chown(home, 65534, 65534)
    names = ["uid", "read_host_file", "write_outside", "list_root", "network_loopback", "unix_socket", "fork_bomb",
             "daemon_outlives_exit", "inherited_fds"]  # fmt: skip
    proc = subprocess.run(
        [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", system, "-m", "o1agent.tools.escapes", *names],
        capture_output=True,
        text=True,
        timeout=300,
        cwd="/",
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": f"{REPO}:{site}", "HOME": str(home),
             "LITELLM_LOCAL_MODEL_COST_MAP": "True", "HF_HUB_OFFLINE": "1"},
    )  # fmt: skip
    if proc.returncode == 2 and "cannot create the sandbox here" in proc.stderr:
        pytest.skip(f"unprivileged user namespaces are not allowed here: {proc.stderr[-300:]}")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.splitlines()[-1] == f"escapes_contained: {len(names)}/{len(names)}", proc.stdout
