"""The tree viewer: HTML content from a real trace, the CLI, and a headless-Chromium check that the
page loads offline without errors, shows every node and reveals a node's text on click."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from helpers import TableReward, step_responder
from typer.testing import CliRunner

from o1agent import Reasoner
from o1agent.cli import app
from o1agent.errors import ConfigError
from o1agent.policies import ScriptedPolicy
from o1agent.schema import Trace
from o1agent.viz import render_html, tree_payload

SCRIPT = {
    "0": ["Bad start\nwrong idea", "Good start\nmultiply 3 by 4"],
    "0.0": ["Dead end\nnonsense </script><b>x</b>"],
    "0.1": ["Finish\n3*4 = 12\nFinal answer: 12"],
}
TABLE = {"Bad": 0.6, "Good": 0.55, "Dead": 0.1, "Finish": 0.9}
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture()
def trace_file(tmp_path: Path) -> tuple[Path, object]:
    r = Reasoner(
        model=ScriptedPolicy(step_responder(SCRIPT)),
        strategy="dfs",
        strategy_config={"k": 2, "threshold": 0.5, "greedy_first": False},
        reward=TableReward(TABLE),
    )
    result = r.solve("How many sheep? 3 pens of 4")
    path = result.trace.write_jsonl(tmp_path / "trace.jsonl")
    return path, result


def test_payload_has_tree_path_and_backtracks(trace_file):
    path, result = trace_file
    data = tree_payload(Trace.read_jsonl(path))
    assert set(data["nodes"]) == set(result.tree.nodes)
    assert data["path"] == ["0.1", "0.1.0"] and data["answer"] == "12"
    assert data["backtracks"] == {"0.1": ["0.0"]}
    assert data["strategy"] == "dfs"
    assert data["nodes"]["0"]["children"] == ["0.0", "0.1"]
    assert data["nodes"]["0.1"]["children"] == ["0.1.0", "0.1.1"]


def test_html_is_self_contained_and_escapes_node_text(trace_file):
    path, _ = trace_file
    page = render_html(Trace.read_jsonl(path))
    assert "http://" not in page and "https://" not in page and "<link" not in page and " src=" not in page
    assert "</script><b>" not in page  # node text cannot close the data element


def test_unknown_run_and_empty_trace_are_clear_errors(trace_file, tmp_path):
    path, _ = trace_file
    with pytest.raises(ConfigError, match="not in the trace"):
        render_html(Trace.read_jsonl(path), "nope")
    with pytest.raises(ConfigError, match="no events"):
        render_html(Trace())


def test_cli_writes_the_file(trace_file, tmp_path):
    path, _ = trace_file
    out = tmp_path / "out" / "tree.html"
    res = CliRunner().invoke(app, ["viz", str(path), "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert out.read_text().startswith("<!doctype html>")
    bad = CliRunner().invoke(app, ["viz", str(tmp_path / "missing.jsonl")])
    assert bad.exit_code == 2


@pytest.mark.slow
def test_viewer_in_headless_chromium(trace_file, tmp_path):
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(chromium).exists():
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed (apt-get install chromium) and CI is set")
        pytest.skip("chromium not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    path, result = trace_file
    html_path = tmp_path / "tree.html"
    assert CliRunner().invoke(app, ["viz", str(path), "-o", str(html_path)]).exit_code == 0
    errors: list[str] = []
    remote: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on(
                "request",
                lambda r: remote.append(r.url) if not r.url.startswith(("file:", "data:")) else None,
            )
            page.goto(html_path.as_uri())
            page.wait_for_selector(".node")
            assert page.locator(".node").count() == len(result.tree)
            assert page.locator(".node.chosen").count() == 2
            assert page.locator(".node[data-id='0.1'] .badge.bt").inner_text() == "↩ from 0.0"
            assert "pruned" in (page.locator(".node[data-id='0.0.0']").get_attribute("class") or "")
            assert "Final answer: 12" not in page.locator("#details").inner_text()
            page.locator(".node[data-id='0.1.0']").click()
            details = page.locator("#details").inner_text()
            assert "Final answer: 12" in details and "Node 0.1.0 (chosen path)" in details
            assert "score 0.9" in details
            page.locator(".node[data-id='0.0.0']").click()
            assert "</script><b>x</b>" in page.locator("#details").inner_text()  # shown as text, not HTML
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "viz-tree.png"), full_page=True)
        finally:
            browser.close()
    assert errors == []
    assert remote == []
