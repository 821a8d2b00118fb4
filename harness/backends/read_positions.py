"""The last decoder layer computed only where a log-probability is read (the transformers backend's scoring).

A scoring pass reads the logits of a few positions per row (`logits_to_keep`: the answer position for
`letter`, the continuation's positions for `choice`), yet every layer runs its matrix products for every
position. In the layers below the last one that is needed: their outputs are the keys and values the read
positions attend to. In the LAST layer it is not: a position's output there feeds only its own logits.
So the last layer's position-wise modules after attention — the output projection and the MLP (about 80%
of a layer's matrix products, 1/num_layers of the model's) — run on the read positions alone, and the other
positions get zeros, which nothing reads. Keys and values, and attention itself, are untouched.

The output head is the same story one step later: `logits_to_keep` is one list of positions for the whole
batch, the union of every row's reads, so a pass of 64 rows with one read each asks the head for 64 x 64
vocabulary-sized vectors (on a 152k vocabulary and a 7B model, ~4 TFLOP a pass) of which 64 are read. The
head too computes each row's own reads only.

Installed only where the shape is the usual one (`model.model.layers`, as many as `num_hidden_layers`, the
last with `self_attn.o_proj` and `mlp`); a module whose output is not one tensor shaped like its input
(some MoE blocks return router logits beside it) is left alone from its first call on.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


class ReadPositions:
    """Wraps the last layer's output projection and MLP, and the output head; `only(...)` restricts them."""

    def __init__(self, layer: list[Any], head: Any = None) -> None:
        self._keep: dict[str, tuple[Any, Any]] | None = None
        modules = [(m, "layer") for m in layer] + ([(head, "head")] if head is not None else [])
        self.active = [True] * len(modules)
        for i, (module, where) in enumerate(modules):
            self._wrap(i, module, where)

    def _wrap(self, i: int, module: Any, where: str) -> None:
        original = module.forward

        def forward(x: Any, *args: Any, **kwargs: Any) -> Any:
            if self._keep is None or not self.active[i] or args or kwargs or getattr(x, "dim", lambda: 0)() != 3:
                return original(x, *args, **kwargs)
            rows, positions = self._keep[where]
            part = original(x[rows, positions].unsqueeze(0))  # the read (row, position) pairs as one row
            if not hasattr(part, "shape") or part.dim() != 3 or part.shape[:2] != (1, rows.numel()):
                self.active[i] = False  # not a plain position-wise module: compute it whole, now and from now on
                return original(x)
            out = part.new_zeros((x.shape[0], x.shape[1], part.shape[2]))
            out[rows, positions] = part[0]
            return out

        module.forward = forward

    @contextmanager
    def only(self, rows: Any, positions: Any, kept: Any) -> Iterator[None]:
        """Within the block, the wrapped modules compute only each row's own reads, given as 1-D index tensors:
        read k is row `rows[k]` at input position `positions[k]`, which is `kept[k]` in `logits_to_keep`."""
        self._keep = {"layer": (rows, positions), "head": (rows, kept)}
        try:
            yield
        finally:
            self._keep = None


def install(model: Any, head: bool = True) -> ReadPositions | None:
    """Wrap `model`'s (or its peft base's) last decoder layer, and its output head when `head` (the forward takes
    `logits_to_keep`, so the head sees the kept positions only), or None when the layout is not the usual one."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    config = getattr(base, "config", None)
    layers = getattr(getattr(base, "model", None), "layers", None)
    n = getattr(config, "num_hidden_layers", None)
    if layers is None or not n or len(layers) != n:  # extra layers (multi-token prediction) or another layout
        return None
    last = layers[-1]
    o_proj = getattr(getattr(last, "self_attn", None), "o_proj", None)
    mlp = getattr(last, "mlp", None)
    if o_proj is None or mlp is None:
        return None
    get_head = getattr(base, "get_output_embeddings", None)
    return ReadPositions([o_proj, mlp], get_head() if head and callable(get_head) else None)
