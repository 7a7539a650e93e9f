"""Prompt templates: one Jinja file per graph node and style, rendered into chat messages.

A template renders to text split by marker lines ``<<system>>``, ``<<user>>`` and
``<<assistant>>``. What follows ``<<assistant>>`` is the *assistant prefix*: text the model
continues from. Keeping earlier steps in that prefix makes a child's prompt a strict extension of
its parent's, which is what lets llama.cpp reuse the parent's KV cache.

Styles ship in ``prompts/`` at the repo root (and inside the wheel): ``g1`` (titled steps,
re-examination), ``thinking`` (analysis, hypothesis, verification, correction) and ``stepwise``
(g1 with one operation per step, so a chain's intermediate results are steps a PRM can score;
only its ``propose`` differs). A user passes
a style name or a folder of their own; a node template missing from a user folder falls back to
``g1`` (logged), so a folder may override only what it needs.
"""

from __future__ import annotations

import logging
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2

from .errors import PromptError
from .policies.base import Message

logger = logging.getLogger(__name__)

NODE_TEMPLATES = ("decompose", "propose", "verify", "revise", "critique", "finalize")
_MARKER = re.compile(r"^<<(system|user|assistant)>>[ \t]*$", re.MULTILINE)


def prompts_root() -> Path:
    """Folder holding the shipped styles: the repo's ``prompts/`` or the wheel's copy."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "_data" / "prompts", here.parent / "prompts"):
        if (candidate / "g1").is_dir():
            return candidate
    raise PromptError("the shipped prompts/ folder was not found next to the o1agent package")


def available_styles() -> list[str]:
    return sorted(p.name for p in prompts_root().iterdir() if p.is_dir())


class PromptSet:
    """The templates of one style. ``render(node, **vars)`` gives ``(messages, assistant_prefix)``."""

    def __init__(self, style: str | Path = "g1") -> None:
        if not isinstance(style, str | Path):
            raise PromptError(f"prompts must be a style name or a folder, got {type(style).__name__}")
        path = Path(style)
        if not path.is_dir():
            if isinstance(style, Path) or "/" in str(style):
                raise PromptError(f"prompt folder not found: {style}")
            path = prompts_root() / style
            if not path.is_dir():
                raise PromptError(
                    f"unknown prompt style {style!r}: choose one of {available_styles()} or pass a folder"
                )
        self.name = path.name
        self.folder = path
        default = prompts_root() / "g1"
        self._env = jinja2.Environment(
            loader=jinja2.ChoiceLoader(
                [jinja2.FileSystemLoader(str(path)), jinja2.FileSystemLoader(str(default))]
            ),
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=False,
            undefined=jinja2.StrictUndefined,
            autoescape=False,
        )
        for node in NODE_TEMPLATES:
            if not (path / f"{node}.md.j2").exists():
                logger.info("prompt style %s has no %s template; using g1's", self.name, node)

    def render(self, node: str, **variables: Any) -> tuple[list[Message], str]:
        try:
            template = self._env.get_template(f"{node}.md.j2")
            text = template.render(**variables)
        except jinja2.TemplateNotFound:
            raise PromptError(f"prompt template {node}.md.j2 not found in {self.folder} or g1") from None
        except jinja2.TemplateError as exc:
            raise PromptError(f"prompt template {self.name}/{node}.md.j2 failed to render: {exc}") from None
        return split_messages(text, where=f"{self.name}/{node}")


def split_messages(text: str, *, where: str = "template") -> tuple[list[Message], str]:
    """Split rendered template text on ``<<role>>`` markers into messages + assistant prefix."""
    parts = _MARKER.split(text)
    if len(parts) < 3:
        raise PromptError(f"{where}: a template needs at least a <<user>> marker")
    messages: list[Message] = []
    prefix = ""
    # parts = [before, role1, body1, role2, body2, ...]
    for role, body in zip(parts[1::2], parts[2::2], strict=True):
        if role == "assistant":
            prefix = body.lstrip("\n")
            # Whitespace at the end of a prefix ("Step 2: ") tokenises badly; the model adds it.
            prefix = prefix.rstrip(" \n") if prefix.strip() else ""
        else:
            messages.append(Message(role=role, content=body.strip("\n")))
    if not any(m.role == "user" for m in messages):
        raise PromptError(f"{where}: the template rendered no <<user>> message")
    return messages, prefix


@lru_cache(maxsize=16)
def load_prompts(style: str | Path = "g1") -> PromptSet:
    """A cached ``PromptSet`` (templates are read once per style or folder)."""
    return PromptSet(style)
