"""What a transformers model's `forward` accepts and whether its key/value cache can be shared.

The transformers backend scores a group's common prompt prefix once and runs each prompt's remainder on top of a
copy of that prefix's cache; it also asks `forward` for the logits of a few positions only (`logits_to_keep`).
Both are only right for models that work the way transformers' own decoders do. Remote-code models do not:
ChatGLM2/3's `forward` has a fixed signature (an unknown keyword is a TypeError) and returns a legacy tuple of
sequence-first tensors, not a `Cache`; sparse-attention (DeepSeek-V3.2, GLM-5) and compressed-attention
(DeepSeek-V4) layers choose their keys differently when a prompt runs in two pieces, so a shared prefix would not
reproduce whole-prompt scoring. So the backend looks before it leaps:

- `forward_params` reads the signature (of the base model under a peft wrapper);
- `probe` runs one two-token forward and names the cache class and its layer classes; the prefix cache stays on
  only for plain full-attention layers (`DynamicLayer`), sliding-window layers (`DynamicSlidingWindowLayer`) for
  prefixes that fit in the window (nothing of the prefix dropped yet), and the recurrent state of linear-attention
  layers (`LinearAttentionLayer`: Qwen3-Next, Qwen3.5), which after the prefix is exactly where each row goes on;
- `share` copies a one-row prefix cache into an n-row one without touching the original: key/value layers get
  expanded views (their `update` concatenates into new tensors), recurrent layers get real copies (their
  `update_*_state` writes in place).
"""

from __future__ import annotations

import copy
import inspect
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ModelCaps:
    """What the backend may ask of this model.

    `prefix_cache` is None when a shared prefix is safe, else the reason it is not; `window` is the smallest
    sliding window among the cache's layers (a longer prefix is scored whole); `generate_cache` is False for
    models whose cache transformers' `generate` cannot drive (legacy tuples), which then generate without one.
    """

    logits_to_keep: bool
    use_cache: bool
    prefix_cache: str | None
    window: int | None = None
    generate_cache: bool = True
    cache: str = "none"
    layers: tuple[str, ...] = field(default_factory=tuple)

    def describe(self, wanted: bool) -> str:
        """The card's `prefix_cache` field: on, or off with the reason."""
        if not wanted:
            return "off (--no-prefix-cache)"
        if self.prefix_cache is not None:
            return f"off ({self.prefix_cache})"
        if self.window is not None:
            return f"on (sliding window {self.window}: a longer shared prefix is scored whole)"
        return "on"


def _base(model: Any) -> Any:
    """The transformers model under a peft wrapper (whose own forward passes **kwargs through)."""
    get = getattr(model, "get_base_model", None)
    return get() if callable(get) else model


def forward_params(model: Any) -> tuple[set[str], bool]:
    """(named parameters of `forward`, whether it takes **kwargs)."""
    params = inspect.signature(_base(model).forward).parameters
    names = {n for n, p in params.items() if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)}
    return names, any(p.kind == p.VAR_KEYWORD for p in params.values())


def _layer_kinds() -> dict[type, str]:
    from transformers.cache_utils import DynamicLayer, DynamicSlidingWindowLayer, LinearAttentionLayer

    return {DynamicLayer: "full", DynamicSlidingWindowLayer: "sliding", LinearAttentionLayer: "recurrent"}


def classify_cache(cache: Any) -> tuple[str | None, int | None, str, tuple[str, ...]]:
    """(why a prefix of this cache cannot be shared or None, smallest sliding window, cache class, layer classes)."""
    from transformers.cache_utils import Cache

    name = type(cache).__name__
    if cache is None:
        return "the model returns no cache", None, "none", ()
    if isinstance(cache, tuple | list):
        return "legacy tuple cache (the model's own past_key_values format)", None, name, ()
    if not isinstance(cache, Cache):
        return f"unknown cache type {name}", None, name, ()
    layers = tuple(type(layer).__name__ for layer in cache.layers)
    kinds = _layer_kinds()
    unknown = sorted({type(layer).__name__ for layer in cache.layers if type(layer) not in kinds})
    if unknown or not cache.layers:
        what = ", ".join(unknown) or "no layers"
        return (f"{name} with {what} layers: not a plain key/value history or recurrent state (sparse or "
                "compressed attention)"), None, name, layers
    windows = [int(layer.sliding_window) for layer in cache.layers if kinds[type(layer)] == "sliding"]
    return None, min(windows) if windows else None, name, layers


def probe(model: Any, device: str, token_id: int) -> ModelCaps:
    """Read `forward`'s signature and run a two-token forward to see which cache the model returns."""
    import torch

    names, var_kw = forward_params(model)
    use_cache = "use_cache" in names or var_kw
    keep = "logits_to_keep" in names
    if not use_cache:
        return ModelCaps(keep, False, "forward takes no use_cache", generate_cache=False)
    kwargs: dict[str, Any] = {"use_cache": True}
    if keep:
        kwargs["logits_to_keep"] = 1
    try:
        with torch.inference_mode():
            out = model(input_ids=torch.tensor([[token_id, token_id]], device=device), **kwargs)
    except Exception as exc:  # noqa: BLE001 - any failure here only means: do not rely on the cache
        first = (str(exc).splitlines() or [""])[0][:120]
        return ModelCaps(keep, use_cache, f"probe forward failed: {exc.__class__.__name__}: {first}",
                         generate_cache=False)
    cache = getattr(out, "past_key_values", None)
    reason, window, name, layers = classify_cache(cache)
    legacy = cache is None or isinstance(cache, tuple | list)
    return ModelCaps(keep, use_cache, reason, window, generate_cache=not legacy, cache=name, layers=layers)


def share(cache: Any, n: int) -> Any:
    """A cache of `n` rows that all start from the one-row prefix `cache`; `cache` itself is left as it was.

    Only for caches `classify_cache` accepts: each layer is a shallow copy whose keys/values are expanded views,
    and `update` replaces them with new tensors rather than writing into them.
    """
    kinds = _layer_kinds()
    out = copy.copy(cache)
    out.layers = []
    for layer in cache.layers:
        new = copy.copy(layer)
        if kinds[type(layer)] == "recurrent":
            for name in ("conv_states", "recurrent_states"):
                states = getattr(layer, name)
                setattr(new, name, {i: None if t is None else t.repeat(n, *[1] * (t.dim() - 1))
                                    for i, t in states.items()})
            for name in ("is_conv_states_initialized", "is_recurrent_states_initialized", "has_previous_state",
                         "conv_kernel_size"):
                setattr(new, name, dict(getattr(layer, name)))
        else:
            new.keys = layer.keys.expand(n, *layer.keys.shape[1:])
            new.values = layer.values.expand(n, *layer.values.shape[1:])
        out.layers.append(new)
    return out
