"""``make reliability`` (benchmarks/reliability/run.py): gathering, resuming and marking failures
with stand-in parts, then the short version CI runs, for real, with its figures checked."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from o1agent.config import GenerationConfig

REPO = Path(__file__).resolve().parent.parent


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("reliability_run", REPO / "benchmarks/reliability/run.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules["reliability_run"] = mod
    spec.loader.exec_module(mod)
    return mod


run = _load()


def _fake(tmp: Path, name: str, body: str) -> str:
    script = tmp / f"{name}.py"
    script.write_text(body)
    return str(script)  # absolute: HERE / script is the script itself


def test_figures_takes_the_last_name_value_lines() -> None:
    text = "noise: not a figure line?\ncrashes: 3\nsome prose here\ncrashes: 0\n  hangs: 1\nBad Line: x\n"
    assert run.figures(text) == {"noise": "not a figure line?", "crashes": "0", "hangs": "1"}


def test_a_part_is_gathered_then_kept_on_the_next_run(tmp_path: Path, monkeypatch, capsys) -> None:
    counter = tmp_path / "count"
    script = _fake(
        tmp_path,
        "ok",
        f"from pathlib import Path\np = Path({str(counter)!r})\n"
        "p.write_text(str(int(p.read_text()) + 1 if p.exists() else 1))\nprint('alpha: 1')\nprint('beta: 2 of 3')\n",
    )
    monkeypatch.setattr(run, "PARTS", {"ok": run.Part(script, ("--x",), (), ("alpha", "beta"))})
    out = tmp_path / "out"
    assert run.main(["--out", str(out)]) == 0
    # The fake ignores its arguments; what matters is that the recorded command carries them.
    assert "--x" in (out / "ok.txt").read_text().splitlines()[0]
    assert run.main(["--out", str(out)]) == 0
    assert counter.read_text() == "1"  # the second run kept the first run's output
    summary = (out / "summary.txt").read_text()
    assert "alpha: 1\nbeta: 2 of 3\n" in summary
    assert run.main(["--out", str(out), "--fresh"]) == 0
    assert counter.read_text() == "2"
    # Short and full are different commands: the full output is not reused for --short.
    assert run.main(["--out", str(out), "--short"]) == 0
    assert counter.read_text() == "3"
    capsys.readouterr()


def test_a_failing_part_is_marked_not_guessed_and_rerun_next_time(
    tmp_path: Path, monkeypatch, capsys
) -> None:
    bad = _fake(tmp_path, "bad", "import sys\nprint('alpha: 5')\nsys.exit(3)\n")
    quiet = _fake(tmp_path, "quiet", "print('nothing to see')\n")
    good = _fake(tmp_path, "good", "print('gamma: 7')\n")
    monkeypatch.setattr(
        run,
        "PARTS",
        {
            "bad": run.Part(bad, (), (), ("alpha",)),
            "quiet": run.Part(quiet, (), (), ("alpha",)),
            "good": run.Part(good, (), (), ("gamma",)),
        },
    )
    out = tmp_path / "out"
    assert run.main(["--out", str(out)]) == 1
    printed = capsys.readouterr().out
    assert "bad: FAILED (exit 3" in printed
    assert "alpha: 5" not in printed  # a failed part's figures are not reported
    assert "quiet: FAILED (no alpha in its output" in printed
    assert "gamma: 7" in printed  # the parts after a failure still ran
    assert "# exit: 3" in (out / "bad.txt").read_text()
    assert run._header(out / "bad.txt")["exit"] == "3"
    # A failed part is not kept: the next run tries it again.
    (tmp_path / "bad.py").write_text("print('alpha: 6')\n")
    assert run.main(["--out", str(out), "--parts", "bad"]) == 0
    assert "alpha: 6" in capsys.readouterr().out


def test_a_part_past_its_timeout_is_marked_with_what_it_printed(tmp_path: Path, monkeypatch, capsys) -> None:
    slow = _fake(tmp_path, "slow", "import time\nprint('alpha: 1', flush=True)\ntime.sleep(30)\n")
    monkeypatch.setattr(run, "PARTS", {"slow": run.Part(slow, (), (), ("alpha",))})
    out = tmp_path / "out"
    assert run.main(["--out", str(out), "--timeout", "2"]) == 1
    assert "slow: FAILED (exit 124" in capsys.readouterr().out
    assert "timed out after 2 s" in (out / "slow.txt").read_text()


def test_unknown_parts_are_refused_by_name(capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        run.main(["--parts", "fuzz,nope"])
    assert exc.value.code == 2
    assert "unknown part(s) nope" in capsys.readouterr().err


@pytest.mark.slow
def test_make_reliability_short_prints_every_figure(tmp_path: Path) -> None:
    """The short version CI runs: every part for real (embedded model, llama_cpp.server behind the
    fault proxy, SQLite and PostgreSQL, bubblewrap, o1agent serve), and the figures hold."""
    proc = subprocess.run(
        [sys.executable, str(REPO / "benchmarks/reliability/run.py"), "--short", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=1500,
        cwd=REPO,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
    got = run.figures(proc.stdout)
    assert got["fuzz_runs"] == "300"
    assert got["crashes"] == got["hangs"] == got["empty_answers"] == got["unserialisable"] == "0", got
    assert got["fault_runs"] == "4"
    assert got["errors_without_partial"] == "0" and got["accounting_mismatches"] == "0", got
    assert int(got["max_overshoot_tokens"]) <= GenerationConfig().step_tokens, got
    assert got["lost_nodes_sqlite"] == got["lost_nodes_postgres"] == "0", got
    contained, _, attempts = got["escapes_contained"].partition("/")
    assert contained == attempts and int(attempts) >= 20, got
    assert got["load_requests"] == got["load_ok"] == "10", got
