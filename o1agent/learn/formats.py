"""Search traces as other trainers' datasets: verl, OpenRLHF and TRL (``o1agent train export``).

For when one machine is not enough: the rows ``o1agent.learn.data`` builds from traces (verified
solutions, step-level preferences, Math-Shepherd step labels, RL prompts with gold answers) are
written in the dataset schemas those projects document, so their trainers — on a GPU cluster,
over Ray, with vLLM rollouts — read them unchanged. Every schema below is cited from the
project's own docs or dataset code (commits read: verl ``b178a3c`` / PyPI verl 0.9.1, OpenRLHF
``3c3be62`` / PyPI openrlhf 0.11.2, TRL ``f2cd577`` / PyPI trl 1.16).

**verl** (parquet; ``docs/preparation/prepare_data.rst``, ``verl/utils/dataset/README.md``):

* ``rl.parquet`` — what ``RLHFDataset`` (``verl/utils/dataset/rl_dataset.py``) reads for PPO/GRPO:
  ``data_source``, ``prompt`` (chat messages, the tokenizer's chat template is applied by verl),
  ``ability``, ``reward_model`` ``{style: "rule", ground_truth}``, ``extra_info`` (split, index,
  question, the search's pass rate on it). Grade with ``o1agent/learn/cluster_reward.py``
  (``custom_reward_function.path``, function ``compute_score``).
* ``sft.parquet`` — ``messages`` (system, user, assistant), what ``MultiTurnSFTDataset``
  (``verl/utils/dataset/multiturn_sft_dataset.py``, ``messages_key`` default ``"messages"``) reads;
  the prompt/response ``SFTDataset`` is gone from verl 0.9. verl documents no preference or
  stepwise-label dataset for its trainers (``RMDataset`` is unused by them), so none is written.

**OpenRLHF** (JSONL, ``--data.dataset FILE``; README "Prepare Datasets", ``openrlhf/datasets/``):

* ``sft.jsonl`` — ``input`` (messages) + ``output`` (the assistant message), ``SFTDataset``'s
  ``preprocess_data`` with ``--data.input_key input --data.output_key output --data.apply_chat_template``.
* ``preference.jsonl`` — ``prompt``, ``chosen``, ``rejected``, ``margin`` as plain text (a step-level
  pair continues an assistant turn mid-way, which a chat template cannot express):
  ``RewardDataset``'s ``preprocess_data`` without ``apply_chat_template``, for ``train_rm`` and
  ``train_dpo`` (``--data.prompt_key prompt --data.chosen_key chosen --data.rejected_key rejected``).
* ``prm.jsonl`` — ``input`` (question then each step followed by the placeholder ``ки``) and
  ``value`` (``"+"``/``"-"`` per step), the Math-Shepherd layout of ``ProcessRewardDataset``
  (``openrlhf/datasets/process_reward_dataset.py``, ``--placeholder_token ки --reward_tokens + -``).
  OpenRLHF removed ``train_prm`` in 0.10.0 (commit ``6a981c8``): this is for OpenRLHF ≤ 0.9.x.
* ``prompts.jsonl`` — ``input`` (messages) + ``label`` (gold), ``PromptDataset`` for
  ``train_ppo_ray`` with ``--data.label_key label``, graded by ``cluster_reward.py``'s
  ``reward_func(queries, prompts, labels)`` (``--reward.remote_url PATH``).

**TRL** (JSONL; ``docs/source/dataset_formats.md``):

* ``sft.jsonl`` — conversational prompt-completion (``prompt`` messages, ``completion`` the
  assistant message), ``SFTTrainer``.
* ``dpo.jsonl`` — standard preference (``prompt``, ``chosen``, ``rejected`` text; step-level, as above),
  ``DPOTrainer``.
* ``prm.jsonl`` — stepwise supervision (``prompt``, ``completions``, ``labels`` bools),
  ``trl.experimental.prm.PRMTrainer``.
* ``grpo.jsonl`` — conversational prompt-only (``prompt`` messages) plus ``answer``, which
  ``GRPOTrainer`` passes to reward functions such as ``o1agent.learn.data.answer_reward()``.

Where a question's gold answer is known (``--gold``, or an eval folder's ``items.jsonl``), its final
steps are re-graded against it first (``data.grade_with_gold``): traces of a search whose reward
was a judge then still give only correct solutions and gold-grounded step labels.

Text fields are rendered with one chat template (default: the embedded SmolLM2's, ChatML); message
fields carry no template, so another model's tokenizer renders them its own way. Every file gets
a line in ``manifest.json`` with its row count and what reads it.

Not here: building the rows (``o1agent.learn.data``), running any trainer, GGUF export
(``o1agent.learn.export``).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel

from ..errors import MissingGoldError, NoTracesError, UnknownExportFormatError
from ..policies.chat_template import ChatTemplate
from ..schema import Tree
from .data import Renderer, grade_with_gold, load_trees, preference_pairs, prm_paths, sft_rows, step_values

logger = logging.getLogger(__name__)

Format = Literal["verl", "openrlhf", "trl"]
Kind = Literal["sft", "preference", "prm", "rl"]
FORMATS: tuple[str, ...] = ("verl", "openrlhf", "trl")
KINDS: tuple[str, ...] = ("sft", "preference", "prm", "rl")
#: What each format has a documented dataset for (verl: RL and SFT only, see the docstring).
SUPPORTED: dict[str, tuple[str, ...]] = {
    "verl": ("sft", "rl"),
    "openrlhf": KINDS,
    "trl": KINDS,
}
#: OpenRLHF ≤ 0.9's PRM placeholder and label tokens (``train_prm_mistral.sh``; Math-Shepherd's).
OPENRLHF_PLACEHOLDER = "ки"


class ExportedFile(BaseModel):
    kind: str
    path: str
    rows: int
    reader: str


class DatasetExport(BaseModel):
    """What ``export_dataset`` wrote."""

    format: str
    output: str
    runs: int
    questions: int
    files: list[ExportedFile]
    skipped: dict[str, str]


# ---- inputs --------------------------------------------------------------------------------------


def resolve_sources(sources: Iterable[str | Path]) -> tuple[list[Path], list[Path]]:
    """``(trace paths, gold files)`` for the paths given: an ``o1agent eval`` output folder (it has
    ``items.jsonl`` and ``traces/``) contributes both; anything else is a trace file or folder."""
    traces: list[Path] = []
    gold: list[Path] = []
    for src in sources:
        path = Path(src)
        if path.is_dir() and (path / "items.jsonl").is_file() and (path / "traces").is_dir():
            traces.append(path / "traces")
            gold.append(path / "items.jsonl")
        else:
            traces.append(path)
    return traces, gold


def load_gold(paths: Iterable[str | Path]) -> dict[str, str]:
    """``question -> gold answer`` from JSONL files: ``o1agent eval``'s ``items.jsonl`` (``gold``),
    a ``jsonl:`` eval dataset or reasoning-gym items (``answer``). ``gold`` wins over ``answer``
    because eval rows also carry the model's ``answer``."""
    out: dict[str, str] = {}
    for p in paths:
        path = Path(p)
        if not path.is_file():
            raise MissingGoldError(f"no gold file at {path}")
        with path.open(encoding="utf-8") as fh:
            for i, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise MissingGoldError(f"{path}:{i} is not JSON: {exc}") from None
                key = "gold" if "gold" in row else "answer"
                if not isinstance(row, dict) or "question" not in row or row.get(key) is None:
                    raise MissingGoldError(f"{path}:{i} has no 'question' with a 'gold' or 'answer'")
                out[str(row["question"])] = str(row[key])
    return out


# ---- rows per format -----------------------------------------------------------------------------


def _questions(trees: Sequence[tuple[str, Tree]]) -> dict[str, list[Tree]]:
    by_q: dict[str, list[Tree]] = {}
    for _, tree in trees:
        by_q.setdefault(tree.root.step.text, []).append(tree)
    return dict(sorted(by_q.items()))


def _pass_rate(trees: list[Tree], threshold: float) -> float | None:
    graded = [step_values(t, threshold).get(t.root_id) for t in trees]
    found = [g for g in graded if g is not None]
    if not found:
        return None
    return sum(g[0] * g[2] for g in found) / sum(g[2] for g in found)


def _rl_rows(
    trees: Sequence[tuple[str, Tree]], gold: dict[str, str], renderer: Renderer, threshold: float
) -> list[dict[str, Any]]:
    """One row per question with a gold answer: the first-step messages, gold, search pass rate."""
    rows = []
    for question, ts in _questions(trees).items():
        if question not in gold:
            continue
        messages, _ = renderer.parts(question, [])
        rows.append(
            {
                "question": question,
                "messages": messages,
                "gold": gold[question],
                "pass_rate": _pass_rate(ts, threshold),
            }
        )
    return rows


def _numbered(steps: list[str]) -> list[str]:
    # "Step k: " as the policy's own solutions read (the propose prompt labels each step so).
    return [f"Step {i}: {s}" for i, s in enumerate(steps, 1)]


def _verl(kind: str, rows: list[Any], data_source: str, ability: str) -> list[dict[str, Any]]:
    if kind == "sft":
        return [{"messages": r.messages} for r in rows]
    return [
        {
            "data_source": data_source,
            "prompt": r["messages"],
            "ability": ability,
            "reward_model": {"style": "rule", "ground_truth": r["gold"]},
            "extra_info": {
                "split": "train",
                "index": i,
                "question": r["question"],
                # -1 when the search graded no rollout of this question (parquet wants one type).
                "search_pass_rate": -1.0 if r["pass_rate"] is None else r["pass_rate"],
            },
        }
        for i, r in enumerate(rows)
    ]


def _openrlhf(kind: str, rows: list[Any]) -> list[dict[str, Any]]:
    if kind == "sft":
        return [{"input": r.messages[:-1], "output": [r.messages[-1]]} for r in rows]
    if kind == "preference":
        return [
            {
                "prompt": p.prompt,
                "chosen": p.chosen,
                "rejected": p.rejected,
                "margin": p.chosen_value - p.rejected_value,
            }
            for p in rows
        ]
    if kind == "prm":
        return [
            {
                "input": p.problem
                + " "
                + "\n".join(f"{s} {OPENRLHF_PLACEHOLDER}" for s in _numbered(p.steps)),
                "value": ["+" if h else "-" for h in p.hard],
            }
            for p in rows
        ]
    return [{"input": r["messages"], "label": r["gold"]} for r in rows]


def _trl(kind: str, rows: list[Any]) -> list[dict[str, Any]]:
    if kind == "sft":
        return [{"prompt": r.messages[:-1], "completion": [r.messages[-1]]} for r in rows]
    if kind == "preference":
        return [{"prompt": p.prompt, "chosen": p.chosen, "rejected": p.rejected} for p in rows]
    if kind == "prm":
        return [
            {"prompt": p.problem, "completions": _numbered(p.steps), "labels": [bool(h) for h in p.hard]}
            for p in rows
        ]
    return [{"prompt": r["messages"], "answer": r["gold"]} for r in rows]


_FILES = {
    "verl": {"sft": "sft.parquet", "rl": "rl.parquet"},
    "openrlhf": {
        "sft": "sft.jsonl",
        "preference": "preference.jsonl",
        "prm": "prm.jsonl",
        "rl": "prompts.jsonl",
    },
    "trl": {"sft": "sft.jsonl", "preference": "dpo.jsonl", "prm": "prm.jsonl", "rl": "grpo.jsonl"},
}
_READERS = {
    ("verl", "sft"): "verl MultiTurnSFTDataset (data.messages_key=messages)",
    ("verl", "rl"): "verl RLHFDataset (data.prompt_key=prompt); reward: cluster_reward.py compute_score",
    (
        "openrlhf",
        "sft",
    ): "openrlhf train_sft --data.input_key input --data.output_key output --data.apply_chat_template",
    ("openrlhf", "preference"): "openrlhf train_rm / train_dpo --data.prompt_key prompt "
    "--data.chosen_key chosen --data.rejected_key rejected (no chat template: text)",
    ("openrlhf", "prm"): "openrlhf<=0.9 train_prm --input_key input --label_key value "
    "--placeholder_token ки --reward_tokens + -",
    ("openrlhf", "rl"): "openrlhf train_ppo_ray --data.input_key input --data.label_key label "
    "--data.apply_chat_template --reward.remote_url cluster_reward.py",
    ("trl", "sft"): "trl SFTTrainer (conversational prompt-completion)",
    ("trl", "preference"): "trl DPOTrainer (standard preference)",
    ("trl", "prm"): "trl.experimental.prm PRMTrainer (stepwise supervision)",
    ("trl", "rl"): "trl GRPOTrainer (conversational prompt-only; 'answer' goes to reward functions)",
}


def _write(path: Path, rows: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".partial")
    if path.suffix == ".parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.Table.from_pylist(rows), tmp)
    else:
        with tmp.open("w", encoding="utf-8") as fh:
            for r in rows:
                fh.write(json.dumps(r, ensure_ascii=False) + "\n")
    tmp.replace(path)


# ---- the export ----------------------------------------------------------------------------------


def export_dataset(
    sources: Sequence[str | Path],
    output: str | Path,
    *,
    format: str,
    kinds: Sequence[str] | None = None,
    gold: Sequence[str | Path] = (),
    chat_template: str | Path | ChatTemplate = "embedded",
    prompts: str = "g1",
    threshold: float = 1.0,
    margin: float = 0.5,
    data_source: str = "o1agent",
    ability: str = "reasoning",
) -> DatasetExport:
    """Write the traces in ``sources`` as ``format``'s datasets under ``output``.

    ``kinds`` (default: every kind the format documents) picks among ``sft``, ``preference``,
    ``prm`` and ``rl``. RL rows need gold answers: from ``gold`` files or an ``o1agent eval``
    folder among ``sources``; asking for ``rl`` without any is a ``MissingGoldError``. A kind
    with no rows (e.g. no verified solution for SFT) is skipped and named in ``skipped``.
    """
    if format not in FORMATS:
        raise UnknownExportFormatError(
            f"unknown export format {format!r}: use one of {', '.join(FORMATS)} (or gguf)"
        )
    wanted = list(kinds) if kinds else list(SUPPORTED[format])
    bad = [k for k in wanted if k not in SUPPORTED[format]]
    if bad:
        raise UnknownExportFormatError(
            f"{format} has no documented dataset for {', '.join(bad)}: it takes {', '.join(SUPPORTED[format])}"
        )
    trace_paths, gold_paths = resolve_sources(sources)
    trees = load_trees(trace_paths)
    if not trees:
        raise NoTracesError(
            f"no search run in {', '.join(map(str, trace_paths))}: the trace files are empty or hold "
            "only single-node runs"
        )
    answers = load_gold([*gold_paths, *gold])
    # With gold known, "verified" means correct, whatever the search's own reward said.
    trees = grade_with_gold(trees, answers)
    template = ChatTemplate.load(chat_template)
    renderer = Renderer(prompts, template.source)
    by_kind: dict[str, Any] = {}
    if "rl" in wanted:
        rl = _rl_rows(trees, answers, renderer, threshold)
        if not rl:
            where = "the gold files given" if answers else "no gold file"
            raise MissingGoldError(
                f"RL rows need a gold answer per question, and {where} answers none of the "
                f"{len(_questions(trees))} traced questions: pass --gold FILE (an eval run's items.jsonl "
                "or JSONL with question + answer), export an eval folder, or leave rl out (--what)"
            )
        by_kind["rl"] = rl
    ctx = {"prompts": prompts, "chat_template": template.source, "threshold": threshold}
    if "sft" in wanted:
        by_kind["sft"] = sft_rows(trees, eos=template.eos_token, **ctx)
    if "preference" in wanted:
        by_kind["preference"] = preference_pairs(trees, margin=margin, eos=template.eos_token, **ctx)
    if "prm" in wanted:
        by_kind["prm"] = prm_paths(trees, threshold=threshold)

    out = Path(output)
    files: list[ExportedFile] = []
    skipped: dict[str, str] = {}
    for kind in KINDS:
        if kind not in by_kind:
            continue
        rows = by_kind[kind]
        if not rows:
            skipped[kind] = "no rows (nothing verified or no sibling pair above the margin)"
            logger.info("export %s: no %s rows; skipped", format, kind)
            continue
        if format == "verl":
            data = _verl(kind, rows, data_source, ability)
        elif format == "openrlhf":
            data = _openrlhf(kind, rows)
        else:
            data = _trl(kind, rows)
        # Two runs of one question often find the same sibling pair: a trainer should see it once.
        unique = {json.dumps(r, sort_keys=True, ensure_ascii=False): r for r in data}
        data = list(unique.values())
        path = out / _FILES[format][kind]
        _write(path, data)
        files.append(ExportedFile(kind=kind, path=str(path), rows=len(data), reader=_READERS[(format, kind)]))
    report = DatasetExport(
        format=format,
        output=str(out),
        runs=len(trees),
        questions=len(_questions(trees)),
        files=files,
        skipped=skipped,
    )
    out.mkdir(parents=True, exist_ok=True)
    (out / "manifest.json").write_text(report.model_dump_json(indent=2) + "\n", encoding="utf-8")
    return report
