"""The search-tree viewer: ``o1agent viz TRACE.jsonl -o tree.html``.

Writes one self-contained HTML file (inline CSS and JS, the data inline as JSON; no CDN, no
network) that shows a run's search tree: nodes coloured by score (red → green, grey = unscored),
the chosen path highlighted, backtrack targets and revisions marked, pruned/failed nodes dimmed.
Clicking a node shows its prompt, output, tool calls, scores, critique, tokens and time.

Input is a trace written by ``Result.trace.write_jsonl`` / ``o1agent solve --trace``; the tree is
rebuilt with ``Trace.tree(run_id)`` and the chosen path read from the ``finalize`` event. This
module renders; it does not run searches or serve pages.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Annotated, Any

import typer

from .errors import ConfigError
from .sanitize import dumps
from .schema import Trace

_CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:0;display:flex;height:100vh;color:#222}
#tree{flex:3;overflow:auto;padding:12px 16px;border-right:1px solid #ccc}
#details{flex:2;overflow:auto;padding:12px 16px;background:#fafafa}
h1{font-size:16px;margin:0 0 4px} .meta{color:#555;margin-bottom:10px}
ul{list-style:none;margin:0;padding-left:22px;border-left:1px dotted #bbb} ul.root{padding-left:0;border:0}
li{margin:3px 0}
.node{display:inline-block;padding:2px 8px;border-radius:6px;cursor:pointer;border:2px solid transparent;max-width:60em}
.node:hover{outline:1px solid #333} .node.selected{outline:2px solid #000}
.node.chosen{border-color:#0a58ca;font-weight:600} .node.pruned,.node.failed{opacity:.55;text-decoration:line-through}
.node.revised{opacity:.7;font-style:italic}
.badge{font-size:11px;border-radius:4px;padding:0 4px;margin-left:4px;background:#fff;border:1px solid #999;font-weight:400}
.badge.bt{border-color:#d97706;color:#d97706} .badge.rev{border-color:#7c3aed;color:#7c3aed}
.badge.ans{border-color:#15803d;color:#15803d}
pre{white-space:pre-wrap;word-break:break-word;background:#fff;border:1px solid #ddd;padding:6px;max-height:22em;overflow:auto}
dt{font-weight:600;margin-top:6px} .legend span{display:inline-block;width:14px;height:14px;vertical-align:middle}
"""

_JS = r"""
(function(){
  const D = JSON.parse(document.getElementById('o1-data').textContent);
  const nodes = D.nodes, chosen = new Set(D.path), bt = D.backtracks;
  function colour(s){
    if (s === null || s === undefined) return '#e5e7eb';
    const h = Math.round(Math.max(0, Math.min(1, s)) * 120);
    return 'hsl(' + h + ',70%,78%)';
  }
  function el(tag, cls, text){ const e = document.createElement(tag); if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text; return e; }
  function label(n){
    if (n.id === D.root_id) return 'Question: ' + n.step.text.slice(0, 120);
    const t = (n.step.title || n.step.text || n.step.raw || '').split('\n')[0].slice(0, 90);
    const s = n.score === null || n.score === undefined ? '·' : n.score.toFixed(2);
    return n.id + ' [' + s + '] ' + t;
  }
  function build(id){
    const n = nodes[id]; const li = el('li');
    const box = el('span', 'node ' + n.status + (chosen.has(id) ? ' chosen' : ''), label(n));
    box.dataset.id = id; box.style.background = colour(n.score);
    if (n.step.is_final && n.step.answer !== null) box.appendChild(el('span', 'badge ans', '⇒ ' + n.step.answer));
    if (bt[id]) box.appendChild(el('span', 'badge bt', '↩ from ' + bt[id].join(', ')));
    if (n.revised_from) box.appendChild(el('span', 'badge rev', '✎ revises ' + n.revised_from));
    if (n.status === 'revised') box.appendChild(el('span', 'badge rev', 'revised'));
    box.addEventListener('click', function(){ show(id, box); });
    li.appendChild(box);
    const kids = (n.children || []).filter(function(c){ return nodes[c]; });
    if (kids.length){ const ul = el('ul'); kids.forEach(function(c){ ul.appendChild(build(c)); }); li.appendChild(ul); }
    return li;
  }
  function field(dl, name, value, pre){
    if (value === null || value === undefined || value === '') return;
    dl.appendChild(el('dt', '', name));
    const dd = el('dd'); dd.appendChild(el(pre ? 'pre' : 'span', '', String(value))); dl.appendChild(dd);
  }
  function show(id, box){
    document.querySelectorAll('.node.selected').forEach(function(e){ e.classList.remove('selected'); });
    box.classList.add('selected');
    const n = nodes[id], d = document.getElementById('details'); d.innerHTML = '';
    d.appendChild(el('h1', '', 'Node ' + id + (chosen.has(id) ? ' (chosen path)' : '')));
    const dl = el('dl'); d.appendChild(dl);
    field(dl, 'Status', n.status);
    field(dl, 'Scores', 'score ' + n.score + ' · step ' + n.step_score + ' · outcome ' + n.outcome_score);
    field(dl, 'Answer', n.step.answer);
    field(dl, 'Output', n.raw_output || n.step.raw || n.step.text, true);
    field(dl, 'Critique', n.critique, true);
    if (n.revised_from) field(dl, 'Revises', n.revised_from);
    if (bt[id]) field(dl, 'Backtracked here from', bt[id].join(', '));
    (n.step.tool_calls || []).forEach(function(t, i){
      field(dl, 'Tool call ' + (i + 1), t.name + '(' + JSON.stringify(t.arguments) + ') → ' + (t.output ?? t.error ?? ''), true);
    });
    field(dl, 'Tokens', 'prompt ' + n.prompt_tokens + ' · completion ' + n.completion_tokens + ' · reused ' + n.reused_tokens);
    field(dl, 'Time', (n.seconds || 0).toFixed(3) + ' s');
    field(dl, 'Seed', n.seed);
    field(dl, 'Prompt', n.prompt, true);
  }
  const root = el('ul', 'root'); root.appendChild(build(D.root_id));
  document.getElementById('tree').appendChild(root);
})();
"""


def tree_payload(trace: Trace, run_id: str | None = None) -> dict[str, Any]:
    """The viewer's data for one run: nodes, chosen path, backtracks, summary."""
    run_ids = trace.run_ids()
    if not run_ids:
        raise ConfigError("the trace has no events")
    if run_id is None:
        run_id = run_ids[-1]
    elif run_id not in run_ids:
        raise ConfigError(f"run {run_id!r} is not in the trace; it has {run_ids}")
    events = [e for e in trace.events if e.run_id == run_id]
    tree = trace.tree(run_id)
    path: list[str] = []
    answer: str | None = None
    backtracks: dict[str, list[str]] = {}
    start: dict[str, Any] = {}
    for e in events:
        if e.kind == "finalize":
            path = list(e.data.get("path") or [])
            answer = e.data.get("answer")
        elif e.kind == "backtrack" and e.node_id is not None:
            backtracks.setdefault(e.node_id, []).append(str(e.data.get("from")))
        elif e.kind == "start":
            start = dict(e.data)
    return {
        "run_id": run_id,
        "root_id": tree.root_id,
        "question": tree.root.step.text if tree.nodes else "",
        "answer": answer,
        "strategy": start.get("strategy"),
        "model": start.get("model"),
        "path": path,
        "backtracks": backtracks,
        "nodes": _linked(tree),
    }


def _linked(tree: Any) -> dict[str, Any]:
    # Trace events carry each new node but not every parent's updated ``children`` list, so a
    # tree rebuilt from a trace is linked here by ``parent_id``, in creation (id) order.
    nodes = {nid: n.model_dump(mode="json") for nid, n in tree.nodes.items()}
    kids: dict[str, list[str]] = {}
    for nid, n in nodes.items():
        if n["parent_id"] in nodes:
            kids.setdefault(n["parent_id"], []).append(nid)
    for nid, n in nodes.items():
        known = [c for c in n["children"] if c in nodes]
        extra = sorted(
            (c for c in kids.get(nid, []) if c not in known), key=lambda c: int(c.rsplit(".", 1)[1])
        )
        n["children"] = known + extra
    return nodes


def render_html(trace: Trace, run_id: str | None = None) -> str:
    """A self-contained HTML page for one run of ``trace`` (the last run by default)."""
    data = tree_payload(trace, run_id)
    # "</" would end the script element early; JSON allows escaping the slash.
    blob = dumps(data).replace("</", "<\\/")
    title = f"o1agent tree · {data['run_id']}"
    summary = (
        f"{len(data['nodes'])} nodes · strategy {data['strategy'] or '?'} · model {data['model'] or '?'} · "
        + (f"answer {data['answer']!r}" if data["answer"] is not None else "no answer")
    )
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>"
        f"<div id='tree'><h1>{html.escape(data['question'][:200])}</h1>"
        f"<div class='meta'>{html.escape(summary)}</div>"
        "<div class='meta legend'>score: <span style='background:hsl(0,70%,78%)'></span> 0 "
        "<span style='background:hsl(60,70%,78%)'></span> 0.5 <span style='background:hsl(120,70%,78%)'></span> 1 "
        "<span style='background:#e5e7eb'></span> unscored · blue border = chosen path</div></div>"
        "<div id='details'><h1>Click a node</h1><p>to see its prompt, output, scores, tokens and time.</p></div>"
        f"<script type='application/json' id='o1-data'>{blob}</script>"
        f"<script>{_JS}</script></body></html>"
    )


def write_html(trace_path: str | Path, out: str | Path, run_id: str | None = None) -> Path:
    trace_path = Path(trace_path)
    if not trace_path.exists():
        raise ConfigError(f"trace file not found: {trace_path}")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render_html(Trace.read_jsonl(trace_path), run_id), encoding="utf-8")
    return out


def register(app: typer.Typer) -> None:
    """Add ``o1agent viz`` to the CLI."""

    @app.command()
    def viz(
        trace: Annotated[Path, typer.Argument(help="Trace file (JSONL) from 'o1agent solve --trace'.")],
        output: Annotated[Path, typer.Option("-o", "--output", help="HTML file to write.")] = Path(
            "tree.html"
        ),
        run_id: Annotated[
            str | None, typer.Option(help="Run to show (default: the last in the file).")
        ] = None,
    ) -> None:
        """Write a self-contained HTML viewer of a run's search tree."""
        try:
            path = write_html(trace, output, run_id)
        except ConfigError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from None
        typer.echo(f"wrote {path}")
