"""The model registry: the catalogue of Chinese models, registered fine-tuned variants, and `--model` resolution."""

from harness.registry.catalogue import ModelEntry, load_catalogue
from harness.registry.resolve import ResolvedModel, resolve_model

__all__ = ["ModelEntry", "ResolvedModel", "load_catalogue", "resolve_model"]
