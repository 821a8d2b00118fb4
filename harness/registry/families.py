"""Tiny random-weight models built from each catalogued family's OWN config class.

Why: the catalogue promises architectures (Qwen3, GLM-4.5, DeepSeek-V3, ERNIE 4.5, Hunyuan, MiniCPM3, ...) that
were never run here: only a Qwen2-shaped tiny model was. A real checkpoint cannot be downloaded (no hub), but the
architecture is fully described by transformers' config class for that `model_type`: building one with shrunk
dimensions and random weights runs the same modelling code (attention variant, MoE router, MLA, cache classes) that
a real checkpoint of the family would. This module is the groundwork for `harness models check`.

`TINY` says, per family, which config fields were shrunk and what is kept special; `REMOTE_CODE_ONLY` says why the
families that exist only as remote code on the hub cannot be built offline.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import UserError

# Dimensions every family starts from (a family drops what its config does not take and adds its own).
COMMON: dict[str, Any] = {
    "hidden_size": 64,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "num_key_value_heads": 1,
    "head_dim": 32,
    "intermediate_size": 128,
    "max_position_embeddings": 4096,
}
# A tiny mixture of experts: 4 routed experts, 2 per token, expert width 32.
_MOE = {"moe_intermediate_size": 32, "num_experts_per_tok": 2}
# Multi-head latent attention (DeepSeek-V2/V3, MiniCPM3, GLM-4.7-Flash): low-rank q and kv, split rope/nope heads;
# every query head has its own k/v head (no GQA), so num_key_value_heads = num_attention_heads.
_MLA = {"num_key_value_heads": 2, "q_lora_rank": 32, "kv_lora_rank": 16, "qk_nope_head_dim": 16, "qk_rope_head_dim": 16, "v_head_dim": 16}


# Families whose hub checkpoints are multimodal (vision tower + language model in one config): the tiny model gets
# the same composite layout, and AutoModelForCausalLM loads its language model alone, as it does a real checkpoint.
_TINY_VISION = {"depth": 1, "hidden_size": 32, "num_heads": 2, "intermediate_size": 64, "out_hidden_size": 64}
# Hybrid linear attention (Qwen3-Next, Qwen3.5): one Gated DeltaNet layer and one gated full-attention layer.
_LINEAR = {
    "layer_types": ["linear_attention", "full_attention"],
    "linear_num_key_heads": 2,
    "linear_num_value_heads": 2,
    "linear_key_head_dim": 16,
    "linear_value_head_dim": 16,
}
# DeepSeek Sparse Attention: a lightning indexer that keeps the top-k tokens (k small enough to bite on short prompts).
_DSA = {"index_topk": 8, "index_head_dim": 16, "index_n_heads": 2}


@dataclass(frozen=True)
class TinySpec:
    """How to shrink one family: the config fields set (beyond vocabulary and token ids) and what is special.

    `vision` is set for composite (multimodal) families: the fields go to the text config and `vision` sizes the
    vision tower. `prefix_cache_exact` is False where scoring a suffix on top of a cached prefix does not reproduce
    the full-prompt logits (measured on the tiny model, fp32): sparse / compressed attention chooses its tokens
    differently when it runs incrementally, so the shared-prefix cache must stay off for those families.
    """

    family: str
    fields: dict[str, Any]
    special: str
    vision: dict[str, Any] | None = None
    prefix_cache_exact: bool = True


def _spec(
    family: str,
    special: str,
    drop: tuple[str, ...] = (),
    vision: dict[str, Any] | None = None,
    prefix_cache_exact: bool = True,
    **extra: Any,
) -> TinySpec:
    fields = {k: v for k, v in COMMON.items() if k not in drop}
    fields.update(extra)
    return TinySpec(family, fields, special, vision, prefix_cache_exact)


TINY: dict[str, TinySpec] = {
    s.family: s
    for s in [
        _spec("llama", "plain decoder (RoPE, GQA, SwiGLU); DeepSeek LLM/Coder, Ziya, Anima, LLaMA and their LoRAs"),
        _spec("qwen2", "QKV bias; sliding window off as in the released configs", drop=("head_dim",)),
        _spec("qwen3", "q/k RMSNorm, no QKV bias; thinking/non-thinking chat template"),
        _spec(
            "qwen3_moe", "MoE in every layer: 4 experts, top-2, no shared expert", drop=("head_dim",), num_experts=4, **_MOE
        ),
        _spec(
            "qwen3_next",
            "hybrid: Gated DeltaNet linear attention + gated full attention (one layer each), MoE with shared expert; "
            "linear layers keep a recurrent state, not a KV cache",
            num_experts=4,
            shared_expert_intermediate_size=32,
            layer_types=["linear_attention", "full_attention"],
            linear_num_key_heads=2,
            linear_num_value_heads=2,
            linear_key_head_dim=16,
            linear_value_head_dim=16,
            **_MOE,
        ),
        _spec(
            "qwen3_5",
            "Qwen3.5 dense: multimodal checkpoint (tiny vision tower) whose language model is hybrid Gated DeltaNet + "
            "gated attention; loaded text-only through AutoModelForCausalLM",
            vision=_TINY_VISION,
            **_LINEAR,
        ),
        _spec(
            "qwen3_5_moe",
            "Qwen3.5 MoE: as qwen3_5 with a MoE (4 experts, top-2, shared expert) in every layer",
            drop=("intermediate_size",),
            vision=_TINY_VISION,
            num_experts=4,
            shared_expert_intermediate_size=32,
            **_LINEAR,
            **_MOE,
        ),
        _spec("glm", "GLM-4 '-hf' layout: partial rotary (half of head_dim), QKV bias, fused gate_up"),
        _spec("glm4", "GLM-4-0414: partial rotary, QKV bias, extra post-attention/post-MLP norms"),
        _spec(
            "glm4_moe",
            "GLM-4.5/4.6: first layer dense, then MoE (4 routed + 1 shared expert, sigmoid router), partial rotary",
            drop=("head_dim",),
            n_routed_experts=4,
            n_shared_experts=1,
            first_k_dense_replace=1,
            **_MOE,
        ),
        _spec(
            "glm4_moe_lite",
            "GLM-4.7-Flash: MLA attention + MoE (layer 0 dense, then 4 routed + 1 shared experts)",
            drop=("head_dim",),
            n_routed_experts=4,
            n_shared_experts=1,
            mlp_layer_types=["dense", "sparse"],
            **_MLA,
            **_MOE,
        ),
        _spec(
            "glm_moe_dsa",
            "GLM-5: MLA + DeepSeek Sparse Attention (indexer, top-8 tokens) + MoE (layer 0 dense, 4 routed + 1 shared); "
            "a cached prefix does not reproduce full-prompt logits once the prompt exceeds the top-k",
            prefix_cache_exact=False,
            n_routed_experts=4,
            n_shared_experts=1,
            first_k_dense_replace=1,
            head_dim=16,
            **_MLA,
            **_MOE,
            **_DSA,
        ),
        _spec(
            "deepseek_v3",
            "MLA (low-rank q/kv, rope and nope head parts) + MoE (layer 0 dense, 4 routed experts in 2 groups, "
            "group-limited top-2, 1 shared expert)",
            drop=("head_dim",),
            n_routed_experts=4,
            n_shared_experts=1,
            n_group=2,
            topk_group=1,
            first_k_dense_replace=1,
            **_MLA,
            **_MOE,
        ),
        _spec(
            "deepseek_v32",
            "DeepSeek-V3 MLA + MoE plus DeepSeek Sparse Attention (lightning indexer, top-8 tokens); a cached prefix "
            "does not reproduce full-prompt logits once the prompt exceeds the top-k",
            prefix_cache_exact=False,
            drop=("head_dim",),
            n_routed_experts=4,
            n_shared_experts=1,
            n_group=1,
            topk_group=1,
            first_k_dense_replace=1,
            **_MLA,
            **_MOE,
            **_DSA,
        ),
        _spec(
            "deepseek_v4",
            "compressed sparse attention (rate 4) then heavily compressed attention (rate 16) with an 8-token sliding "
            "window, hash-routed then learned-routed MoE (4 experts, top-2, shared), 2 hyper-connection streams; "
            "a cached prefix does not reproduce full-prompt logits once the prompt passes the compression blocks",
            prefix_cache_exact=False,
            num_key_value_heads=1,
            q_lora_rank=32,
            moe_intermediate_size=32,
            num_experts_per_tok=2,
            n_routed_experts=4,
            n_shared_experts=1,
            o_groups=2,
            o_lora_rank=16,
            index_n_heads=2,
            index_head_dim=16,
            index_topk=8,
            sliding_window=8,
            hc_mult=2,
            layer_types=["compressed_sparse_attention", "heavily_compressed_attention"],
            mlp_layer_types=["hash_moe", "moe"],
            compress_rates={"compressed_sparse_attention": 4, "heavily_compressed_attention": 16},
            drop=("intermediate_size",),
        ),
        _spec("ernie4_5", "plain decoder, tied embeddings, no biases"),
        _spec(
            "ernie4_5_moe",
            "ERNIE 4.5 text MoE: layer 0 dense, layer 1 MoE (4 experts, top-2, 1 shared expert), tied embeddings",
            drop=("head_dim",),
            moe_num_experts=4,
            moe_k=2,
            moe_num_shared_experts=1,
            moe_intermediate_size=32,
            moe_layer_start_index=1,
            moe_layer_end_index=1,
        ),
        _spec("hunyuan_v1_dense", "q/k layer norm after RoPE, dynamic-NTK-alpha RoPE in the released configs"),
        _spec("hunyuan_v1_moe", "Hunyuan-A13B: MoE (4 experts, top-2) with a shared MLP", num_experts=4, moe_topk=2),
        _spec(
            "minicpm3",
            "MLA attention (low-rank q/kv) with muP-style scaling (scale_emb, scale_depth, dim_model_base)",
            drop=("head_dim",),
            **_MLA,
        ),
        _spec("seed_oss", "QKV bias, no output bias; attention/residual dropout 0.1 in the config (off in eval)"),
    ]
}

# Families in the catalogue that exist only as remote code on the hub (or not at all): no config class here.
REMOTE_CODE_ONLY: dict[str, str] = {
    "chatglm": "ChatGLM/ChatGLM2/3 and GLM-4-9B (non -hf) ship modeling_chatglm.py on the hub; no class in transformers",
    "baichuan": "Baichuan-7B/Baichuan2 ship modeling_baichuan.py on the hub; no class in transformers",
    "internlm": "InternLM (v1) ships modeling_internlm.py on the hub; no class in transformers",
    "internlm2": "InternLM2 ships modeling_internlm2.py on the hub (transformers has no internlm2 model_type)",
    "internlm3": "InternLM3 ships modeling_internlm3.py on the hub (not in this transformers version)",
    "moss": "MOSS (CodeGen-based) ships modeling_moss.py on the hub",
    "cpmbee": "CPM-Bee ships its own tokenizer and structured-input model code on the hub",
    "aquila": "Aquila ships modeling_aquila.py on the hub",
    "minicpm": "MiniCPM-2B/MiniCPM4 ship modeling_minicpm.py on the hub (transformers implements minicpm3 only)",
    "minicpmv": "MiniCPM-V ships its own multimodal model code on the hub",
    "glm-130b": "GLM-130B runs on SwissArmyTransformer; its weights are not a transformers checkpoint",
}


def _catalogue_families() -> dict[str, list[str]]:
    """family -> catalogue keys, for entries that have weights (not API-only)."""
    from harness.registry.catalogue import load_catalogue

    out: dict[str, list[str]] = {}
    for entry in load_catalogue().values():
        if entry.is_api or not entry.family or entry.source != "catalogue":
            continue
        out.setdefault(entry.family, []).append(entry.key)
    return out


def _is_native(family: str) -> bool:
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING_NAMES

    return family in CONFIG_MAPPING_NAMES and family not in REMOTE_CODE_ONLY


def native_families() -> list[str]:
    """Families in the catalogue that transformers implements natively (buildable offline), sorted."""
    from harness.registry.catalogue import load_catalogue

    catalogue = load_catalogue()
    native = set()
    for fam, keys in _catalogue_families().items():
        if _is_native(fam) and not any(catalogue[k].trust_remote_code for k in keys):
            native.add(fam)
    return sorted(native)


def family_table() -> list[dict[str, Any]]:
    """One row per catalogued family: status (native | not checkable offline), keys, shrunk fields, what is special,
    and whether a cached prefix reproduces full-prompt logits (None where nothing could be built)."""
    native = set(native_families())
    rows = []
    for fam, keys in sorted(_catalogue_families().items()):
        if fam in native:
            spec = TINY.get(fam)
            rows.append({
                "family": fam, "status": "native", "keys": keys,
                "shrunk": dict(spec.fields) if spec else None,
                "special": spec.special if spec else "no tiny spec yet",
                "prefix_cache_exact": spec.prefix_cache_exact if spec else None,
            })
        else:
            reason = REMOTE_CODE_ONLY.get(fam, "not implemented by the installed transformers")
            rows.append({
                "family": fam, "status": "not checkable offline", "keys": keys, "shrunk": None, "special": reason,
                "prefix_cache_exact": None,
            })
    return rows


def tiny_config(
    family: str, vocab_size: int, eos_token_id: int, pad_token_id: int, overrides: dict[str, Any] | None = None
):
    """The family's own config class (AutoConfig.for_model) with the shrunk fields of `TINY[family]`.

    `overrides` replace or add config fields, e.g. {"use_sliding_window": True, "sliding_window": 16,
    "max_window_layers": 0} for a qwen2 whose window is shorter than a few-shot prefix.
    """
    import inspect

    from transformers import AutoConfig

    if family not in TINY:
        reason = REMOTE_CODE_ONLY.get(family, "no tiny spec for this family in harness/registry/families.py")
        raise UserError(f"cannot build a tiny '{family}' model offline: {reason}")
    spec = TINY[family]
    default = AutoConfig.for_model(family)
    cls = type(default.text_config) if spec.vision is not None else type(default)
    fields = dict(spec.fields, **(overrides or {}))
    unknown = set(fields) - set(inspect.signature(cls.__init__).parameters)
    if unknown:  # a spec naming a field the class ignores would shrink nothing: fail loudly.
        raise ValueError(f"{family}: {cls.__name__} takes no {sorted(unknown)}")
    text = dict(fields, vocab_size=vocab_size, bos_token_id=None, eos_token_id=eos_token_id,
                pad_token_id=pad_token_id)
    if spec.vision is not None:
        return AutoConfig.for_model(family, text_config=text, vision_config=dict(spec.vision))
    return AutoConfig.for_model(family, **text)


def build_tiny(
    family: str,
    out: Path,
    texts: list[str],
    seed: int = 0,
    vocab_size: int = 1000,
    overrides: dict[str, Any] | None = None,
) -> Path:
    """Write a tiny random-weight `family` model and a locally trained tokenizer to `out`; returns `out`.

    The folder loads with AutoModelForCausalLM.from_pretrained (no remote code) and its config.json carries the
    family's real model_type. Composite (multimodal) families are saved whole, as their hub checkpoints are.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoModelForImageTextToText

    from harness.demo.tiny import train_tokenizer

    if family not in TINY:
        tiny_config(family, 0, 0, 0)  # raises the one-line reason
    tokenizer = train_tokenizer(texts, vocab_size)
    config = tiny_config(family, len(tokenizer), tokenizer.eos_token_id, tokenizer.pad_token_id, overrides)
    torch.manual_seed(seed)
    auto = AutoModelForImageTextToText if TINY[family].vision is not None else AutoModelForCausalLM
    model = auto.from_config(config)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out
