"""What o1agent writes out is valid JSON and clean text: the one home of that rule.

Model output is arbitrary text and arbitrary numbers. Two things in it break JSON writers:

* lone surrogates (U+D800–U+DFFF without a partner) — a byte-level decoder or a client's
  ``"\\ud800"`` escape yields them; UTF-8 cannot encode them, so ``model_dump_json``, Starlette's
  ``JSONResponse`` and any UTF-8 file write raise. ``clean_text`` joins valid pairs and replaces
  the rest with U+FFFD;
* NaN and infinities — ``json.dumps`` writes a bare ``NaN``, which no JSON parser accepts.
  ``json_safe`` turns them into ``null``. (A grader's NaN score is also refused where it is made,
  ``Verdict``: this is the last line, for every other float.)

``json_safe`` / ``dumps`` are what results, trace files and the server's bodies and SSE events go
through. ``strip_controls`` removes control characters from text shown as an answer.

What this is not: a validator of content (``parsing.usable_answer`` decides what is an answer) or
a place that changes data inside a run — it shapes what is written out.
"""

from __future__ import annotations

import json
import math
from typing import Any

from pydantic import BaseModel

# C0 controls except tab and newline, DEL and the C1 controls: never part of an answer.
_CONTROLS = dict.fromkeys([*range(0x00, 0x09), *range(0x0B, 0x20), *range(0x7F, 0xA0)])


def clean_text(text: str) -> str:
    """``text`` encodable as UTF-8: surrogate pairs joined, lone surrogates replaced by U+FFFD."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        # UTF-16 with surrogatepass keeps every code unit; decoding it back joins the valid
        # pairs and replaces what is left alone.
        return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")


def strip_controls(text: str) -> str:
    """``text`` without control characters (tab and newline are kept) and lone surrogates."""
    return clean_text(text).translate(_CONTROLS)


def json_safe(value: Any) -> Any:
    """``value`` (pydantic models, dicts, lists, scalars) as plain data every JSON writer accepts:
    strings through ``clean_text``, NaN and infinities as ``None``, models dumped in JSON mode."""
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, bool) or value is None or isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, BaseModel):
        return json_safe(value.model_dump(mode="json"))
    if isinstance(value, dict):
        return {json_safe(k) if isinstance(k, str) else k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    try:  # numpy scalars and other numbers (llama.cpp's logprobs are numpy float32)
        number = float(value)
    except (TypeError, ValueError):
        return value
    return number if math.isfinite(number) else None


def dumps(value: Any, **kwargs: Any) -> str:
    """``json.dumps`` of ``json_safe(value)``; never writes ``NaN``, never holds a lone surrogate."""
    return json.dumps(json_safe(value), allow_nan=False, **kwargs)
