"""The ``o1agent`` command line (typer + rich).

``o1agent solve "question"`` streams each step as the search produces it — title, score, time,
backtracks and revisions — then prints the answer and a usage line. ``--set key=value`` is read by
``o1agent.options.parse_key_values``, the parser every command shares. Other command groups
(``eval``, ``serve``, ``viz``, ``train``) live in their own modules and register themselves here
through ``register(app)``; a group whose optional dependencies are missing is simply absent.
"""

from __future__ import annotations

import importlib
import logging
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.text import Text

from .errors import ConfigError, O1AgentError, RunError, UserError
from .options import parse_key_values

app = typer.Typer(
    add_completion=False, no_args_is_help=True, help="o1-style slow thinking for any language model."
)
console = Console(stderr=False, highlight=False)
err_console = Console(stderr=True, highlight=False)


@app.callback()
def main() -> None:
    """o1-style slow thinking for any language model."""


def _score_style(score: float | None) -> str:
    if score is None:
        return "dim"
    return "green" if score >= 0.7 else "yellow" if score >= 0.4 else "red"


class LiveSteps:
    """Renders the custom event stream of a run as it happens."""

    def __init__(self, console: Console, *, show_all: bool = True) -> None:
        self.console = console
        self.t0 = time.perf_counter()
        self.show_all = show_all

    def __call__(self, ev: dict[str, Any]) -> None:
        kind = ev.get("kind")
        t = time.perf_counter() - self.t0
        node = ev.get("node_id") or ""
        depth = int(ev.get("depth") or 0)
        indent = "  " * max(0, depth - 1)
        if kind == "start":
            strat = ev.get("data", {}).get("strategy", "")
            model = ev.get("data", {}).get("model", "")
            self.console.print(f"[bold]Thinking[/] with {strat} on {model} …", style="cyan")
        elif kind == "decompose":
            goals = ev.get("data", {}).get("subgoals") or []
            if goals:
                self.console.print("[bold]Plan:[/] " + " · ".join(goals))
        elif kind in ("propose", "revise"):
            title = ev.get("title") or ""
            text = (ev.get("text") or "").strip().replace("\n", " ")
            label = "revised" if kind == "revise" else "step"
            line = Text(
                f"{indent}{label} {node} ", style="bold blue" if kind == "propose" else "bold magenta"
            )
            line.append(title or text[:100])
            if title and text:
                body = text[len(title) :].strip() if text.startswith(title) else text
                if body:
                    line.append(f" — {body[:140]}", style="default")
            if ev.get("answer") is not None and ev.get("status") == "terminal":
                line.append(f"  ⇒ {ev['answer']}", style="bold")
            line.append(f"  [{t:.1f}s]", style="dim")
            self.console.print(line)
        elif kind == "tool":
            data = ev.get("data", {})
            self.console.print(
                f"{indent}  🔧 {data.get('tool')}({data.get('input', '')}) → {data.get('output', '')}",
                style="cyan",
            )
        elif kind == "verify":
            score = (ev.get("scores") or {}).get("score")
            s = "n/a" if score is None else f"{score:.2f}"
            self.console.print(Text(f"{indent}  score {node}: {s}", style=_score_style(score)))
        elif kind == "backtrack":
            self.console.print(
                f"{indent}↩ backtrack from {ev.get('data', {}).get('from')} to {node}", style="yellow"
            )
        elif kind == "prune":
            self.console.print(f"{indent}  ✂ pruned {node}", style="dim")
        elif kind == "budget":
            self.console.print(
                f"budget spent ({ev.get('data', {}).get('exhausted_by')}): answering with the best so far",
                style="yellow",
            )


@app.command()
def solve(
    question: Annotated[str, typer.Argument(help="The question to solve.")],
    model: Annotated[
        str, typer.Option(help="'embedded', a .gguf path, or a LiteLLM model string.")
    ] = "embedded",
    api_base: Annotated[str | None, typer.Option(help="Base URL of an OpenAI-compatible server.")] = None,
    api_key: Annotated[
        str | None, typer.Option(envvar="O1AGENT_API_KEY", help="API key for the backend.")
    ] = None,
    chat_template: Annotated[
        str | None,
        typer.Option(
            help="LiteLLM backends: the served model's chat template, to continue steps exactly on "
            "/v1/completions ('embedded', a .gguf path, a tokenizer folder, a cached HF repo id or Jinja text)."
        ),
    ] = None,
    backend_mode: Annotated[
        str | None,
        typer.Option(help="LiteLLM backends: how steps continue: auto, completions, prefill or fold."),
    ] = None,
    strategy: Annotated[
        str,
        typer.Option(
            help="Search strategy (greedy, dfs, best_of_n, beam, mcts, revision, hybrid, deepconf, adaptive_sc, "
            "adaptive, particle, verified_vote)."
        ),
    ] = "dfs",
    reward: Annotated[
        str,
        typer.Option(
            help="Reward: a name ('judge', 'arith', 'arith+confidence', 'none', ...) or 'prm:PATH' for a trained PRM."
        ),
    ] = "judge",
    prompts: Annotated[str, typer.Option(help="Prompt style name or a folder of templates.")] = "g1",
    max_tokens: Annotated[int | None, typer.Option(help="Token budget (prompt + completion).")] = 4000,
    max_nodes: Annotated[int | None, typer.Option(help="Node budget.")] = 64,
    max_seconds: Annotated[float | None, typer.Option(help="Wall-clock budget.")] = None,
    max_dollars: Annotated[float | None, typer.Option(help="Dollar budget (LiteLLM cost).")] = None,
    seed: Annotated[int, typer.Option(help="Seed: same seed + same model → same tree.")] = 0,
    width: Annotated[int | None, typer.Option(help="Beam width (beam, hybrid).")] = None,
    expand: Annotated[int | None, typer.Option(help="Candidates per expansion (k).")] = None,
    n: Annotated[
        int | None, typer.Option(help="Number of samples (best_of_n, deepconf, verified_vote).")
    ] = None,
    simulations: Annotated[int | None, typer.Option(help="MCTS simulations.")] = None,
    rounds: Annotated[int | None, typer.Option(help="Revision rounds (revision, hybrid).")] = None,
    max_depth: Annotated[int | None, typer.Option(help="Maximum steps on a path.")] = None,
    set_: Annotated[
        list[str] | None, typer.Option("--set", help="Extra strategy config, key=value[,key=value].")
    ] = None,
    tools: Annotated[str | None, typer.Option(help="Comma-separated tools (calculator, python).")] = None,
    mcp: Annotated[
        list[str] | None,
        typer.Option(
            help="An MCP server whose tools the steps may call: a command ('python server.py', stdio) or an http(s) URL. Repeatable."
        ),
    ] = None,
    unsafe_local: Annotated[
        bool,
        typer.Option(
            help="Where bwrap is missing, run the python tool as a plain local process: not contained."
        ),
    ] = False,
    decompose: Annotated[bool, typer.Option(help="Ask for sub-goals first.")] = False,
    trace: Annotated[Path | None, typer.Option(help="Write the trace (JSONL) here.")] = None,
    json_out: Annotated[
        bool, typer.Option("--json", help="Print the result as JSON (no live steps).")
    ] = False,
    show_tree: Annotated[bool, typer.Option(help="Print the final search tree.")] = False,
    checkpoint: Annotated[Path | None, typer.Option(help="SQLite checkpoint file (durable runs).")] = None,
    resume: Annotated[str | None, typer.Option(help="Resume the run with this thread id.")] = None,
    verbose: Annotated[bool, typer.Option("-v", "--verbose", help="Log debug output.")] = False,
) -> None:
    """Solve a question with slow thinking, streaming each step live."""
    logging.basicConfig(level=logging.DEBUG if verbose else logging.WARNING)
    if not json_out:
        console.print(f"[dim]o1agent: loading {model} …[/]")
    try:
        from .reasoner import Reasoner
        from .schema import Budget

        config: dict[str, Any] = {}
        for key, val in (
            ("width", width),
            ("k", expand),
            ("n", n),
            ("simulations", simulations),
            ("rounds", rounds),
            ("max_depth", max_depth),
        ):
            if val is not None:
                config[key] = val
        config.update(parse_key_values(set_, option="--set"))
        budget = Budget(
            max_tokens=max_tokens, max_nodes=max_nodes, max_seconds=max_seconds, max_dollars=max_dollars
        )
        kwargs: dict[str, Any] = {}
        backend = {"chat_template": chat_template, "mode": backend_mode}
        if any(v is not None for v in backend.values()):
            if "/" not in model or model.endswith(".gguf") or model.startswith("local:"):
                raise ConfigError(
                    "--chat-template and --backend-mode are for LiteLLM models ('provider/model')"
                )
            kwargs["policy_kwargs"] = {k: v for k, v in backend.items() if v is not None}
        names: list[Any] = [t.strip() for t in (tools or "").split(",") if t.strip()]
        if unsafe_local:
            from .tools.registry import python_tool

            names = [python_tool(unsafe_local=True) if t == "python" else t for t in names]
        if names or mcp:
            kwargs["tools"] = tool_specs(names, mcp)
        reasoner_kwargs: dict[str, Any] = dict(
            model=model,
            api_base=api_base,
            api_key=api_key,
            strategy=strategy,
            strategy_config=config or None,
            reward=reward,
            prompts=prompts,
            budget=budget,
            seed=seed,
            decompose=decompose,
            **kwargs,
        )
        on_event = None if json_out else LiveSteps(console)
        if checkpoint is not None or resume is not None:
            # Durable run: async SQLite saver (a sync SqliteSaver cannot serve an async graph);
            # an unfinished thread is continued, not restarted.
            import asyncio
            import uuid

            from .integrations.checkpoint import arun_durable

            thread_id = resume or uuid.uuid4().hex[:12]
            if not json_out:
                console.print(
                    f"[dim]checkpoints: {checkpoint or 'runs.sqlite'} · thread {thread_id} (--resume {thread_id})[/]"
                )
            result = asyncio.run(
                arun_durable(
                    question,
                    store=checkpoint or Path("runs.sqlite"),
                    thread_id=thread_id,
                    on_event=on_event,
                    **reasoner_kwargs,
                )
            )
        else:
            result = Reasoner(**reasoner_kwargs).solve(question, on_event=on_event)
    except UserError as exc:
        err_console.print(f"[bold red]error:[/] {exc}")
        raise typer.Exit(2) from None
    except RunError as exc:
        err_console.print(f"[bold red]run failed:[/] {exc}")
        if exc.partial is not None:
            from .chat import answer_or_why

            err_console.print(f"best answer so far: {answer_or_why(exc.partial)}")
            if trace:
                exc.partial.trace.write_jsonl(trace)
        raise typer.Exit(1) from None
    except O1AgentError as exc:
        err_console.print(f"[bold red]error:[/] {exc}")
        raise typer.Exit(1) from None
    if trace:
        result.trace.write_jsonl(trace)
    if json_out:
        sys.stdout.write(result.to_json(indent=2) + "\n")
        return
    if show_tree:
        print_tree(result)
    u = result.usage
    score = "n/a" if result.score is None else f"{result.score:.2f}"
    if result.answer is None:
        console.print(Text("No answer: ", style="bold yellow") + Text(str(result.no_answer_reason)))
    else:
        console.print(Text("Answer: ", style="bold green") + Text(result.answer, style="bold"))
    exhausted = f" · budget spent ({result.exhausted_by})" if result.budget_exhausted else ""
    console.print(
        f"[dim]score {score} · {u.total_tokens} tokens ({u.prompt_tokens} prompt, {u.reused_tokens} reused, "
        f"{u.completion_tokens} completion) · {u.nodes} nodes · {u.calls} calls · ${u.dollars:.4f} · "
        f"{result.seconds:.1f}s · {result.strategy}{exhausted}[/]"
    )
    if result.allocation:
        a = result.allocation
        spent = ", ".join(f"{k} {a[k]}" for k in ("samples", "rounds", "difficulty") if a.get(k) is not None)
        console.print(f"[dim]allocation: {spent} · stopped: {a.get('stop')}[/]")


def tool_specs(names: list[Any], mcp: list[str] | None) -> list[Any]:
    """The tools of ``--tools`` (built-in names or tools) plus those of each ``--mcp SERVER``
    (loaded now, so a server that does not start fails before any model loads: ``MCPError``)."""
    specs = list(names)
    if mcp:
        from .tools.mcp import mcp_tools

        specs.extend(mcp_tools(*mcp))
    return specs


def print_tree(result: Any) -> None:
    from rich.tree import Tree as RichTree

    tree = result.tree
    chosen = {n.id for n in result.best_path}

    def label(nid: str) -> Text:
        n = tree.get(nid)
        if nid == tree.root_id:
            return Text(f"question: {n.step.text[:80]}", style="bold")
        s = "·" if n.score is None else f"{n.score:.2f}"
        t = Text(f"{nid} [{s}] ", style=_score_style(n.score))
        t.append((n.step.title or n.step.text)[:70].replace("\n", " "), style="bold" if nid in chosen else "")
        if n.step.is_final:
            t.append(f" ⇒ {n.step.answer}", style="bold")
        if n.status in ("pruned", "revised", "failed"):
            t.append(f" ({n.status})", style="dim")
        elif n.status == "duplicate":
            t.append(f" (duplicate of {n.duplicate_of})", style="dim")
        if nid in chosen:
            t.append(" ★", style="green")
        return t

    rt = RichTree(label(tree.root_id))

    def add(parent: Any, nid: str) -> None:
        for c in tree.get(nid).children:
            if c in tree.nodes:
                add(parent.add(label(c)), c)

    add(rt, tree.root_id)
    console.print(rt)


# Command groups in other modules register themselves; missing optional deps just hide them.
for _mod in ("o1agent.evaluation.cli", "o1agent.server", "o1agent.viz", "o1agent.learn.cli"):
    try:
        importlib.import_module(_mod).register(app)
    except ImportError as _exc:  # the module or its optional dependency is not installed
        logging.getLogger(__name__).debug("CLI group %s unavailable: %s", _mod, _exc)


if __name__ == "__main__":  # pragma: no cover
    app()
