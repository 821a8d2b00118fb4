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

A scoring pass is PACKED: its rows' tokens are laid end to end as one sequence without padding
(`packed_inputs`), so the matrix products, most of the work, run on one tall matrix of real tokens —
on a CPU a pass of a few short rows multiplies matrices too thin to run at the cores' rate, and padding
rows to a common width is work thrown away. Only the causal part needs rows apart: it gathers each row's
tokens into a few padded blocks of similar lengths (`Packing.parts`, cut by the same plan as passes) and
scatters the results back.

It is registered with transformers' attention interface under `NAME` and behaves as `sdpa` for every
call that does not pass `shared_prefix` (prefix computation, generation). It is used only where it is
exact and pays: architectures listed in `PLAIN_ATTENTION` that route attention through that interface, with
full (not sliding-window) attention in every layer, on a CPU (on a GPU the copies are cheap next to the fused kernels).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from harness.backends.plan import bucket

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


# The causal part's blocks are cut by `plan.bucket` on that part's own cost: 1 per padded query-key pair, 1 per
# padded token (gathered and scattered), and per kernel call (dispatch, threads) about as much as this many pairs.
_CALL_COST = 4096.0
# While a packed pass runs, transformers builds no mask: it would be a full sequence x sequence block mask
# the shared-prefix attention never reads.
_PACKED: ContextVar[bool] = ContextVar("harness_packed_pass", default=False)


@dataclass
class Packing:
    """Where each row of a packed pass lies: for every block of the causal part, the packed positions gathered
    into its padded `[rows, width]` layout (pads repeat a row's last token: right of every real token, so under
    the causal mask no real query sees them), and which padded slots are real and where they go back."""

    prefix: list[tuple[Any, Any]]  # each layer's (keys, values) of the one prefix copy, [1, Hkv, P, D]
    parts: list[tuple[Any, Any, Any]]  # (gather [rows, width], real slots in rows*width, their packed positions)

    def __getitem__(self, layer: int) -> tuple[Any, Any]:
        return self.prefix[layer]


def packed_inputs(prefix_kv: list[tuple[Any, Any]], prefix_len: int, lengths: Sequence[int],
                  device: str) -> tuple[list[int], dict[str, Any]]:
    """(where each row starts in the packed sequence, the forward keyword arguments of a packed pass): rows of
    `lengths` tokens laid end to end, each continuing the one prefix copy from position `prefix_len`."""
    import torch

    starts = [0]
    for n in lengths[:-1]:
        starts.append(starts[-1] + n)
    order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
    blocks = bucket([lengths[i] for i in order], [1] * len(order), len(order), 0, 1.0, _CALL_COST)
    parts = []
    for block in blocks:
        rows = [order[k] for k in block]
        width = lengths[rows[0]]
        gather = [[starts[r] + min(j, lengths[r] - 1) for j in range(width)] for r in rows]
        real = [k * width + j for k, r in enumerate(rows) for j in range(lengths[r])]
        dest = [starts[r] + j for r in rows for j in range(lengths[r])]
        parts.append(tuple(torch.tensor(x, device=device) for x in (gather, real, dest)))
    positions = torch.tensor([[prefix_len + j for n in lengths for j in range(n)]], device=device)
    packing = Packing(prefix_kv, parts)
    return starts, {"shared_prefix": packing, "position_ids": positions}


@contextmanager
def packed_pass() -> Iterator[None]:
    """Within the block transformers builds no attention mask (a packed pass's attention reads none)."""
    token = _PACKED.set(True)
    try:
        yield
    finally:
        _PACKED.reset(token)


def _mask(*args: Any, **kwargs: Any) -> Any:
    from transformers.masking_utils import sdpa_mask

    return None if _PACKED.get() else sdpa_mask(*args, **kwargs)


def _rows(tokens: Any, gather: Any, repeat: int) -> Any:
    """Packed `[N, heads, D]` gathered into padded rows `[rows, heads * repeat, width, D]`."""
    rows, width = gather.shape
    out = tokens.index_select(0, gather.reshape(-1)).view(rows, width, tokens.shape[1], tokens.shape[2])
    out = out.transpose(1, 2)
    return out.repeat_interleave(repeat, dim=1) if repeat > 1 else out


def _causal_part(query: Any, key: Any, value: Any, packing: Packing, g: int, scale: float) -> tuple[Any, Any]:
    """Each packed row's queries against its own earlier keys: per block, gather rows into `[rows, H, width, D]`,
    run the causal kernel, scatter the real slots back. Returns (output [H, N, D], log-sum-exp [H, N])."""
    h, n, d = query.shape[1], query.shape[2], query.shape[3]
    q_tok, k_tok, v_tok = (t[0].transpose(0, 1) for t in (query, key, value))  # [N, heads, D] views
    out = query.new_empty((n, h, d))
    lse = query.new_empty((n, h))
    for gather, real, dest in packing.parts:
        q, k, v = (_rows(t, gather, repeat) for t, repeat in ((q_tok, 1), (k_tok, g), (v_tok, g)))
        o, ls = _flash(q, k, v, True, scale)  # [rows, H, width, D], [rows, H, width]
        slots = gather.numel()
        out.index_copy_(0, dest, o.transpose(1, 2).reshape(slots, h, d).index_select(0, real))
        lse.index_copy_(0, dest, ls.transpose(1, 2).reshape(slots, h).index_select(0, real))
    return out.transpose(0, 1), lse.transpose(0, 1)


def _attention(module: Any, query: Any, key: Any, value: Any, attention_mask: Any, scaling: float | None = None,
               dropout: float = 0.0, shared_prefix: Any = None, **kwargs: Any) -> tuple[Any, None]:
    import torch
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    if shared_prefix is None:
        return sdpa_attention_forward(module, query, key, value, attention_mask, scaling=scaling, dropout=dropout,
                                      **kwargs)
    kp, vp = shared_prefix[module.layer_idx]  # [1, Hkv, P, D], the one copy
    _, h, n, d = query.shape  # one packed sequence of every row's tokens
    hkv = kp.shape[1]
    g = h // hkv
    scale = scaling if scaling is not None else d ** -0.5
    # prefix part: every query stacked under its key/value head (query head j*g+i reads head j), one kernel call
    out_p, lse_p = _flash(query.reshape(1, hkv, g * n, d), kp, vp, False, scale)
    out_p, lse_p = out_p.reshape(1, h, n, d), lse_p.reshape(1, h, n)
    # own part: each row's queries against its own earlier keys, causal
    out_o, lse_o = _causal_part(query, key, value, shared_prefix, g, scale)
    out_o, lse_o = out_o.unsqueeze(0), lse_o.unsqueeze(0)
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
    from transformers.masking_utils import AttentionMaskInterface

    AttentionInterface.register(NAME, _attention)
    AttentionMaskInterface.register(NAME, _mask)  # outside packed passes, the masks sdpa would get
    try:
        base.set_attn_implementation(NAME)
    except (ValueError, ImportError, AttributeError):
        return False
    return getattr(config, "_attn_implementation", None) == NAME
