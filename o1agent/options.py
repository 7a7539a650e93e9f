"""``key=value`` options from the command line: one parser, one rule for what a value means.

``parse_key_values("k=3,name=abc")`` → ``{"k": 3, "name": "abc"}``. Used by ``--set`` (strategy
config, ``o1agent solve`` and ``o1agent eval``) and ``--config`` (dataset config, ``o1agent eval``),
so the same text means the same thing everywhere:

* items are separated by commas, and a repeatable option's values are read in order (a later key
  wins); commas inside brackets, braces or double quotes do not separate (``weights=[0.5,0.5]``);
* a value is JSON when it parses as JSON (``3`` → 3, ``0.5``, ``true`` / ``false`` → bool,
  ``null`` → None, ``[1,2]``, ``"quoted text"``), else the text itself with surrounding
  whitespace removed (``abc`` → "abc", ``True`` → "True": the consumer's own validation decides);
* an item without ``=`` or with an empty key is a ``ConfigError`` that names the item and the
  option.

What this is not: validation of the keys or values (the strategy, dataset or config model that
receives the dict does that).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from .errors import ConfigError

_OPEN = {"[": "]", "{": "}"}


def split_items(text: str) -> list[str]:
    """``text`` split at the commas that are outside brackets, braces and double quotes."""
    parts: list[str] = []
    closers: list[str] = []
    quoted = False
    current: list[str] = []
    prev = ""
    for ch in text:
        if quoted:
            if ch == '"' and prev != "\\":
                quoted = False
        elif ch == '"':
            quoted = True
        elif ch in _OPEN:
            closers.append(_OPEN[ch])
        elif closers and ch == closers[-1]:
            closers.pop()
        elif ch == "," and not closers:
            parts.append("".join(current))
            current = []
            prev = ch
            continue
        current.append(ch)
        prev = ch
    parts.append("".join(current))
    return parts


def coerce_value(text: str) -> Any:
    """The one value rule: JSON when ``text`` parses as JSON, else ``text`` stripped."""
    value = text.strip()
    try:
        return json.loads(value)
    except json.JSONDecodeError:
        return value


def parse_key_values(items: str | Iterable[str] | None, *, option: str = "options") -> dict[str, Any]:
    """``key=value[,key=value]`` text (or a list of such texts, e.g. a repeated ``--set``) → dict.

    ``option`` names the flag in error messages (``"--set"``, ``"--config"``).
    """
    if items is None:
        return {}
    texts = [items] if isinstance(items, str) else list(items)
    out: dict[str, Any] = {}
    for text in texts:
        if not isinstance(text, str):
            raise ConfigError(f"{option} expects key=value text, got {type(text).__name__}")
        for part in split_items(text):
            if not part.strip():
                continue
            key, sep, value = part.partition("=")
            if not sep:
                raise ConfigError(f"{option} expects key=value[,key=value], got {part.strip()!r}")
            if not key.strip():
                raise ConfigError(f"{option} item {part.strip()!r} has no key before '='")
            out[key.strip()] = coerce_value(value)
    return out
