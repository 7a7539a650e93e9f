"""Chat backends at parity: the embedded model served by ``llama_cpp.server`` through LiteLLM vs in-process.

Runs ``examples/tools_lift.py``'s ``products`` items (2 terms of 1–2 digits, seed 0) with its
``greedy`` and ``greedy+calc`` configs twice: on the embedded SmolLM2 in-process (llama.cpp), and on
the same GGUF served by ``llama_cpp.server`` on loopback (``tests/llama_server.py``), reached as
``openai/<alias>`` through ``LiteLLMPolicy`` — which, with ``chat_template="embedded"``, continues
each step on ``/v1/completions`` with the model's own template (``mode="completions"``). Gold
answers only score, after the solve.

    python benchmarks/litellm_parity.py --n 50 [--configs greedy,greedy+calc]

Per config it prints both accuracies with 95 % Wilson intervals, how many items got the same
answer on both, and mean tokens per item; the last lines are ``items`` and
``litellm_over_embedded_accuracy_<config>`` (served accuracy ÷ in-process accuracy, ``name: value``).
``parity(n, ...)`` is the same as a function (the slow test calls it on a few items).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))  # the loopback server helper lives there

from llama_server import LlamaServer  # noqa: E402

from o1agent.evaluation.stats import wilson_interval  # noqa: E402
from o1agent.policies.litellm import LiteLLMPolicy  # noqa: E402


def tools_lift() -> Any:
    """``examples/tools_lift.py`` as a module (the configs, the items, the scoring)."""
    if "tools_lift" in sys.modules:
        return sys.modules["tools_lift"]
    spec = importlib.util.spec_from_file_location("tools_lift", REPO / "examples" / "tools_lift.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules["tools_lift"] = mod  # dataclasses resolve annotations through sys.modules
    spec.loader.exec_module(mod)
    return mod


@dataclass
class Side:
    correct: int
    n: int
    tokens: float
    seconds: float

    @property
    def accuracy(self) -> float:
        return self.correct / self.n if self.n else 0.0

    @property
    def interval(self) -> tuple[float, float]:
        return wilson_interval(self.correct, self.n)


@dataclass
class ConfigParity:
    config: str
    embedded: Side
    served: Side
    same_answers: int

    @property
    def ratio(self) -> float:
        return self.served.accuracy / self.embedded.accuracy if self.embedded.accuracy else float("nan")


def _side(rows: list[dict[str, Any]]) -> Side:
    n = len(rows)
    return Side(
        correct=sum(1 for r in rows if r["correct"]),
        n=n,
        tokens=sum(r["tokens"] for r in rows) / max(1, n),
        seconds=sum(r["seconds"] for r in rows) / max(1, n),
    )


def parity(
    n: int,
    *,
    configs: tuple[str, ...] = ("greedy", "greedy+calc"),
    seed: int = 0,
    base_url: str | None = None,
    alias: str = "smollm2",
    embedded: Any = None,
) -> list[ConfigParity]:
    """Both backends on the first ``n`` products items for each config. Starts a
    ``llama_cpp.server`` unless ``base_url`` names one serving the embedded GGUF as ``alias``;
    ``embedded`` is the in-process policy (default: a fresh ``LlamaCppPolicy``)."""
    if base_url is None:
        with LlamaServer(alias=alias, n_threads=2) as server:
            return parity(
                n, configs=configs, seed=seed, base_url=server.base_url, alias=alias, embedded=embedded
            )
    tl = tools_lift()
    if embedded is None:
        from o1agent.policies.llamacpp import LlamaCppPolicy

        embedded = LlamaCppPolicy("embedded", n_threads=2)
    # logprobs=False: the graph's greedy configs use none, and llama_cpp.server computes them in
    # Python per token (5x slower); end of turn is then told from a stop by counting tokens.
    # A long read timeout: the server decodes one request at a time, and on a busy machine a
    # timed-out request keeps it busy while the retry waits behind it.
    served = LiteLLMPolicy(
        f"openai/{alias}", api_base=base_url, chat_template="embedded", logprobs=False, timeout=600
    )
    out = []
    with tempfile.TemporaryDirectory(prefix="o1agent-parity-") as tmp:
        for config in configs:
            local = asyncio.run(
                tl.run(
                    ["products"],
                    [config],
                    n=n,
                    seed=seed,
                    jsonl=Path(tmp) / f"e-{config}.jsonl",
                    policy=embedded,
                )
            )
            remote = asyncio.run(
                tl.run(
                    ["products"],
                    [config],
                    n=n,
                    seed=seed,
                    jsonl=Path(tmp) / f"s-{config}.jsonl",
                    policy=served,
                )
            )
            same = sum(1 for a, b in zip(local, remote, strict=True) if a["answer"] == b["answer"])
            out.append(ConfigParity(config, _side(local), _side(remote), same))
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=50, help="products items (default 50)")
    p.add_argument("--configs", default="greedy,greedy+calc")
    p.add_argument("--api-base", default=None, help="a running llama_cpp.server (else one is started)")
    args = p.parse_args(argv)
    t0 = time.perf_counter()
    configs = tuple(c.strip() for c in args.configs.split(",") if c.strip())
    results = parity(args.n, configs=configs, base_url=args.api_base)
    for r in results:
        for label, side in (
            ("embedded (in-process)", r.embedded),
            ("llama_cpp.server via LiteLLM", r.served),
        ):
            lo, hi = side.interval
            print(
                f"{r.config:<12} {label:<30} {side.correct}/{side.n} = {side.accuracy:.0%} "
                f"[{lo:.0%}–{hi:.0%}] · {side.tokens:.0f} tok/item · {side.seconds:.1f} s/item"
            )
        print(f"{r.config:<12} same answer on both: {r.same_answers}/{r.embedded.n}")
    print(f"seconds: {time.perf_counter() - t0:.0f}")
    print(f"items: {args.n}")
    for r in results:
        print(f"litellm_over_embedded_accuracy_{r.config.replace('+', '_')}: {r.ratio:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
