"""How a group's questions are cut into forward passes: length-bucketed, so little of a pass is padding.

A pass runs `rows × width` tokens (width = its longest row) and each of them attends to the group's
cached prefix; rows shorter than the width are padding. Sorting a group's questions by length and
cutting the sorted list into fixed-size batches still pads a short question to a long one's width
when the two land in the same batch. `bucket` instead picks, among all ways of cutting the sorted list
into runs of at most `max_rows` rows, the one with the least estimated cost (an exact dynamic program,
O(questions × max_rows) per group):

    cost(pass) = rows × width × (1 + attention × (prefix + width / 2)) + pass_cost

in units of one token through the model's matrix products: `attention` is what attending to one more
key costs relative to that (from the model's shapes), `pass_cost` the fixed cost of a forward pass
(kernel launches, reading the weights once) in the same units. The plan depends only on the token
counts, never on what a resumed run has done, so resumed and uninterrupted runs run the same passes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

# What a forward pass costs beyond its tokens, per layer (Python dispatch, kernel launches, reading the
# layer's weights once, the attention mask), and the matrix-product rate a pass's tokens run at; their
# ratio turns the fixed cost into tokens' worth for a given model size. Rough figures: on a CPU a pass
# of a small model is worth a few dozen tokens, on a GPU a 7B model's pass a few hundred, a 0.5B model's
# thousands; the plan needs only the order of magnitude.
FIXED_SECONDS_PER_LAYER = {"cpu": 2e-3, "cuda": 2e-4}
FLOPS = {"cpu": 1.3e11, "cuda": 4e14}


def common_prefix(rows: Sequence[Sequence[int]]) -> int:
    """Length of the longest token prefix all rows share (a group's few-shot prefix, computed once)."""
    first = rows[0]
    n = min(len(r) for r in rows)
    for other in rows[1:]:
        i = 0
        limit = min(n, len(other))
        while i < limit and other[i] == first[i]:
            i += 1
        n = i
        if n == 0:
            break
    return n


def _shapes(config: Any) -> tuple[int, int, int] | None:
    """(layers, matrix-product weights per layer, query width) from a model config, or None if unreadable."""
    hidden = int(getattr(config, "hidden_size", 0) or 0)
    layers = int(getattr(config, "num_hidden_layers", 0) or 0)
    if not hidden or not layers:
        return None
    heads = int(getattr(config, "num_attention_heads", 0) or 1)
    head_dim = int(getattr(config, "head_dim", 0) or hidden // heads)
    kv = int(getattr(config, "num_key_value_heads", 0) or heads) * head_dim
    inter = int(getattr(config, "intermediate_size", 0) or 4 * hidden)
    per_layer = 2 * hidden * heads * head_dim + 2 * hidden * kv + 3 * hidden * inter  # q, o; k, v; gated MLP
    return layers, per_layer, heads * head_dim


def costs(config: Any, device: str) -> tuple[float, float]:
    """(attention, pass_cost) for `bucket`: what one more attended key and one forward pass cost, in units of
    one token through the model's matrix products. A config without the usual fields gets (0, 32)."""
    shapes = _shapes(config)
    if shapes is None:
        return 0.0, 32.0
    layers, per_layer, q_width = shapes
    kind = "cuda" if device.startswith("cuda") else "cpu"
    token_seconds = 2 * layers * per_layer / FLOPS[kind]
    return 2 * q_width / per_layer, layers * FIXED_SECONDS_PER_LAYER[kind] / token_seconds


def bucket(
    widths: Sequence[int], rows: Sequence[int], max_rows: int, prefix: int, attention: float, pass_cost: float
) -> list[list[int]]:
    """Cut items (questions: `widths[i]` tokens to run in each of `rows[i]` rows) into passes of at most
    `max_rows` rows with the least estimated cost. Returns lists of item indices, longest items first;
    within a pass items keep the order longest first (ties by index)."""
    order = sorted(range(len(widths)), key=lambda i: (-widths[i], i))
    n = len(order)
    best = [0.0] + [float("inf")] * n  # best[j]: cost of the first j items (in `order`)
    cut = [0] * (n + 1)
    for j in range(1, n + 1):
        count = 0
        for i in range(j, 0, -1):  # the last pass holds order[i-1 .. j-1]; its width is order[i-1]'s
            count += rows[order[i - 1]]
            if count > max_rows and i < j:
                break
            width = widths[order[i - 1]]
            cost = best[i - 1] + count * width * (1 + attention * (prefix + width / 2)) + pass_cost
            if cost < best[j]:
                best[j], cut[j] = cost, i - 1
    passes: list[list[int]] = []
    j = n
    while j > 0:
        passes.append(order[cut[j]:j])
        j = cut[j]
    return passes[::-1]


def pack(widths: Sequence[int], rows: Sequence[int], max_rows: int, max_tokens: int) -> list[list[int]]:
    """Cut items into PACKED passes (rows laid end to end, no padding: the shared-prefix attention's passes), longest
    first, each as full as `max_rows` rows and `max_tokens` tokens allow: a packed pass costs its real tokens only,
    so fewer, taller passes are cheaper (on a CPU a thin matrix product runs well below the cores' rate)."""
    order = sorted(range(len(widths)), key=lambda i: (-widths[i], i))
    passes: list[list[int]] = []
    count = tokens = 0
    for i in order:
        need = rows[i] * widths[i]
        if passes and passes[-1] and count + rows[i] <= max_rows and tokens + need <= max_tokens:
            passes[-1].append(i)
            count, tokens = count + rows[i], tokens + need
        else:
            passes.append([i])
            count, tokens = rows[i], need
    return passes


def group_footprint(rows: Sequence[Sequence[int]], block: int) -> int:
    """KV-cache tokens a group of prompts holds once all are computed with prefix caching: the shared prefix's
    blocks once, then each prompt's remaining tokens (from the last whole shared block) in blocks of its own."""
    shared = (common_prefix(rows) // block) * block if len(rows) > 1 else 0
    return shared + sum(-(-(len(r) - shared) // block) * block for r in rows)


def chunk_groups(footprints: Sequence[int], budget: int | None, fallback: int = 16) -> list[list[int]]:
    """Consecutive groups cut into engine calls whose footprints add up to at most `budget` tokens (a group
    larger than the budget goes alone), so that no group's cached prefix is evicted before its last
    request has run; `fallback` groups per call when the cache size is unknown."""
    n = len(footprints)
    if budget is None:
        return [list(range(i, min(i + fallback, n))) for i in range(0, n, fallback)]
    calls: list[list[int]] = []
    used = 0
    for i, need in enumerate(footprints):
        if calls and calls[-1] and used + need <= budget:
            calls[-1].append(i)
            used += need
        else:
            calls.append([i])
            used = need
    return calls
