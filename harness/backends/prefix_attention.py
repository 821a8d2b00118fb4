"""Attention over a shared prefix without copying it for every row (the transformers backend, on CPU).

Scoring a group's questions continues every row from the same prefix key/value cache. Handing
transformers that cache expanded to the batch makes each layer concatenate it with the new keys — one
copy of the whole prefix per row — and, since the mask then is no longer plain causal, repeat the
key/value heads for grouped-query attention: a second, larger copy. On a CPU those copies cost about
as much as the attention itself. Here each layer's attention is computed in two parts instead and
merged exactly through the two parts' log-sum-exps, both computed by torch's fused CPU attention kernel
(the one `sdpa` runs):

- every query of every row against the ONE prefix copy: all rows' queries stacked under their
  key/value head, one kernel call, no copy of the prefix;
- each row's queries against its own earlier tokens (causal), as usual.

It is registered with transformers' attention interface under `NAME` and behaves as `sdpa` for every
call that does not pass `shared_prefix` (prefix computation, generation). It is used only where it is
exact and pays: architectures listed in `PLAIN_ATTENTION` that route attention through that interface, with
full (not sliding-window) attention in every layer, on a CPU (on a GPU the copies are cheap next to the fused kernels).
"""

from __future__ import annotations

from typing import Any

NAME = "harness_shared_prefix"
# Architectures whose attention is the plain kind this module reproduces (queries, keys and values of one head
# size, no soft-capping, sinks or extra terms passed to the attention function), each checked by
# `harness models check` (prefix path: shared prefix == whole prompts). Multi-head latent attention (MiniCPM3,
# GLM-4.7-Flash: values narrower than queries) and anything not listed keep the expanded cache.
PLAIN_ATTENTION = frozenset({
    "llama", "qwen2", "qwen3", "qwen3_moe", "ernie4_5", "ernie4_5_moe", "glm", "glm4", "glm4_moe",
    "hunyuan_v1_dense", "hunyuan_v1_moe", "seed_oss",
})


def _flash(query: Any, key: Any, value: Any, causal: bool, scale: float) -> tuple[Any, Any]:
    """(output, log-sum-exp of the scores) from torch's fused CPU attention kernel, the one `sdpa` runs."""
    import torch

    return torch.ops.aten._scaled_dot_product_flash_attention_for_cpu(query, key, value, 0.0, causal, scale=scale)


def _attention(module: Any, query: Any, key: Any, value: Any, attention_mask: Any, scaling: float | None = None,
               dropout: float = 0.0, shared_prefix: Any = None, **kwargs: Any) -> tuple[Any, None]:
    import torch
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    if shared_prefix is None:
        return sdpa_attention_forward(module, query, key, value, attention_mask, scaling=scaling, dropout=dropout,
                                      **kwargs)
    kp, vp = shared_prefix[module.layer_idx]  # [1, Hkv, P, D], the one copy
    b, h, s, d = query.shape
    hkv = kp.shape[1]
    g = h // hkv
    scale = scaling if scaling is not None else d ** -0.5
    # prefix part: every row's queries stacked under their key/value head (query head j*g+i reads head j)
    qp = query.reshape(b, hkv, g * s, d).transpose(0, 1).reshape(1, hkv, b * g * s, d)
    out_p, lse_p = _flash(qp, kp, vp, False, scale)
    out_p = out_p.reshape(hkv, b, g * s, d).transpose(0, 1).reshape(b, h, s, d)
    lse_p = lse_p.reshape(hkv, b, g * s).transpose(0, 1).reshape(b, h, s)
    # own part: each row's queries against its own keys, causal (a row's few keys, repeated per query head)
    out_o, lse_o = _flash(query, key.repeat_interleave(g, dim=1), value.repeat_interleave(g, dim=1), True, scale)
    # the softmax over [prefix ; own] from the two parts' log-sum-exps
    lse = torch.logaddexp(lse_p, lse_o)
    out = out_p * (lse_p - lse).exp_().unsqueeze(-1) + out_o * (lse_o - lse).exp_().unsqueeze(-1)
    return out.transpose(1, 2).contiguous(), None  # [B, S, H, D], as sdpa returns it


def enable(model: Any, device: str) -> bool:
    """Switch `model` (or the base of a PEFT model) to the shared-prefix attention when it is exact and pays."""
    if not device.startswith("cpu"):
        return False
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    config = getattr(base, "config", None)
    if config is None or not getattr(type(base), "_supports_attention_backend", False):
        return False
    if getattr(config, "model_type", None) not in PLAIN_ATTENTION:
        return False
    if getattr(config, "_attn_implementation", None) != "sdpa":
        return False
    import torch

    if not hasattr(torch.ops.aten, "_scaled_dot_product_flash_attention_for_cpu"):
        return False
    layer_types = getattr(config, "layer_types", None) or []
    if any(t != "full_attention" for t in layer_types) or getattr(config, "use_sliding_window", False):
        return False
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

    AttentionInterface.register(NAME, _attention)
    AttentionMaskInterface.register(NAME, sdpa_mask)  # every other call builds the masks sdpa would
    try:
        base.set_attn_implementation(NAME)
    except (ValueError, ImportError, AttributeError):
        return False
    return getattr(config, "_attn_implementation", None) == NAME


def prefix_inputs(prefix_kv: list[tuple[Any, Any]], prefix_len: int, width: int, device: str) -> dict[str, Any]:
    """The forward keyword arguments that continue rows of `width` tokens from the one prefix copy: the copy
    itself and explicit positions (every row starts right after the prefix; rows are right-padded)."""
    import torch

    positions = torch.arange(prefix_len, prefix_len + width, device=device).unsqueeze(0)
    return {"shared_prefix": prefix_kv, "position_ids": positions}
