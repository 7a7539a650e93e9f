"""Export a trained checkpoint (LoRA merged) to a GGUF file that ``LlamaCppPolicy`` runs.

llama.cpp's ``convert_hf_to_gguf.py`` is not in any installed wheel, so this writes the file with
the ``gguf`` package directly. It works for the llama-architecture models this package trains
(SmolLM2 and its fine-tunes): the metadata and tokenizer key/values are copied verbatim from the
original GGUF (``embedded_model_path()`` by default, via ``gguf.GGUFReader``), and every tensor is
replaced by the trained weight, renamed HF → GGUF and converted to f16 or q8_0 (1-D norms stay
f32, as llama.cpp expects).

Q/K permutation: llama.cpp's converter reorders the rows of ``q_proj``/``k_proj`` for llama models
(rotary halves interleaved per head); transformers undoes it when loading a GGUF. We apply the
same permutation on the way out, so a round trip of the base model reproduces the original
tensors (checked in the tests).

Not supported: other architectures, vocab changes, tied/untied embedding changes.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel

# ExportError is defined with every other error in o1agent.errors; importable from here too.
from ..errors import ExportError as ExportError
from .model import load_model, resolve_checkpoint

OutType = Literal["f16", "q8_0", "f32"]


class ExportReport(BaseModel):
    output: str
    checkpoint: str
    out_type: str
    tensors: int
    bytes: int
    seconds: float


def permute_qk(w: Any, n_head: int) -> Any:
    """llama.cpp's row permutation of a Q or K projection (numpy, shape ``(n_head*d, in)``)."""
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def gguf_name_map(n_layers: int) -> dict[str, str]:
    """GGUF tensor name → HF parameter name for a llama model."""
    m = {
        "token_embd.weight": "model.embed_tokens.weight",
        "output_norm.weight": "model.norm.weight",
        "output.weight": "lm_head.weight",
    }
    per = {
        "attn_norm": "input_layernorm",
        "ffn_norm": "post_attention_layernorm",
        "attn_q": "self_attn.q_proj",
        "attn_k": "self_attn.k_proj",
        "attn_v": "self_attn.v_proj",
        "attn_output": "self_attn.o_proj",
        "ffn_gate": "mlp.gate_proj",
        "ffn_up": "mlp.up_proj",
        "ffn_down": "mlp.down_proj",
    }
    for i in range(n_layers):
        for g, h in per.items():
            m[f"blk.{i}.{g}.weight"] = f"model.layers.{i}.{h}.weight"
    return m


def _check(reader: Any, config: Any) -> None:
    f = reader.fields

    def val(key: str) -> Any:
        return f[key].contents() if key in f else None

    arch = val("general.architecture")
    if arch != "llama" or getattr(config, "model_type", None) != "llama":
        raise ExportError(
            f"only llama-architecture models export (template {arch!r}, model {config.model_type!r})"
        )
    pairs = {
        "llama.embedding_length": config.hidden_size,
        "llama.block_count": config.num_hidden_layers,
        "llama.attention.head_count": config.num_attention_heads,
        "llama.attention.head_count_kv": config.num_key_value_heads,
        "llama.feed_forward_length": config.intermediate_size,
    }
    for key, want in pairs.items():
        if val(key) != want:
            raise ExportError(f"template GGUF {key}={val(key)} but the model has {want}: wrong template file")


def export_gguf(
    checkpoint: str | Path,
    output: str | Path,
    *,
    out_type: OutType = "f16",
    template: str | Path | None = None,
    name: str | None = None,
) -> ExportReport:
    """Merge ``checkpoint`` (adapter or full model) and write ``output`` as GGUF."""
    import gguf
    import numpy as np

    t0 = time.perf_counter()
    if out_type not in ("f16", "q8_0", "f32"):
        raise ExportError(f"unsupported GGUF type {out_type!r}: use f16, q8_0 or f32")
    if template is None:
        from ..policies.llamacpp import embedded_model_path

        template = embedded_model_path()
    ckpt = resolve_checkpoint(checkpoint)
    model = load_model(ckpt, merge=True)
    cfg = model.config
    reader = gguf.GGUFReader(str(template))
    _check(reader, cfg)
    state = {k: v.detach().float().numpy() for k, v in model.state_dict().items()}
    names = gguf_name_map(cfg.num_hidden_layers)

    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.with_name(output.name + ".partial")
    writer = gguf.GGUFWriter(str(tmp), arch="llama")
    ftype = {
        "f16": gguf.LlamaFileType.MOSTLY_F16,
        "q8_0": gguf.LlamaFileType.MOSTLY_Q8_0,
        "f32": gguf.LlamaFileType.ALL_F32,
    }[out_type]
    for field in reader.fields.values():
        # GGUF.* are header fields the writer produces; the architecture key is added by the writer.
        if field.name.startswith("GGUF.") or field.name in ("general.architecture", "general.file_type"):
            continue
        vtype = field.types[0]
        sub = field.types[1] if vtype == gguf.GGUFValueType.ARRAY and len(field.types) > 1 else None
        value = field.contents()
        if field.name == "general.name" and name:
            value = name
        writer.add_key_value(field.name, value, vtype, sub_type=sub)
    writer.add_file_type(int(ftype))

    n_head, n_kv = cfg.num_attention_heads, cfg.num_key_value_heads
    total = 0
    for t in reader.tensors:
        hf = names.get(t.name)
        if hf is None or hf not in state:
            raise ExportError(f"template tensor {t.name} has no counterpart ({hf}) in the trained model")
        w = state[hf]
        if t.name.endswith("attn_q.weight"):
            w = permute_qk(w, n_head)
        elif t.name.endswith("attn_k.weight"):
            w = permute_qk(w, n_kv)
        if w.ndim == 1 or out_type == "f32":
            writer.add_tensor(t.name, np.ascontiguousarray(w, dtype=np.float32))
        elif out_type == "f16":
            writer.add_tensor(t.name, np.ascontiguousarray(w, dtype=np.float16))
        else:
            q = gguf.quants.quantize(
                np.ascontiguousarray(w, dtype=np.float32), gguf.GGMLQuantizationType.Q8_0
            )
            writer.add_tensor(t.name, q, raw_dtype=gguf.GGMLQuantizationType.Q8_0)
        total += 1
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    tmp.replace(output)
    return ExportReport(
        output=str(output),
        checkpoint=str(ckpt),
        out_type=out_type,
        tensors=total,
        bytes=output.stat().st_size,
        seconds=time.perf_counter() - t0,
    )
