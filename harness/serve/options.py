"""What `harness serve` serves and how it may be reached, checked before any model is loaded.

Every check here is about a user's input (model arguments, address, key), so each failure is one
`UserError` line, and it comes before the slow model load so that a mistake costs no waiting.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, field
from pathlib import Path

from harness.errors import UserError
from harness.registry import ResolvedModel, resolve_model

LOOPBACK_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost"}


@dataclass(frozen=True)
class ServeOptions:
    """Everything a server engine needs; `api_key` is held here only, never printed (`__repr__` hides it)."""

    base: ResolvedModel
    variants: tuple[ResolvedModel, ...]
    host: str = "127.0.0.1"
    port: int = 8000
    api_key: str | None = field(default=None, repr=False)
    max_body_bytes: int = 1 << 20
    max_tokens_limit: int = 4096
    max_logprobs: int = 20
    max_n: int = 16
    dtype: str = "auto"
    device: str = "auto"
    shutdown_timeout: float = 10.0

    @property
    def served(self) -> tuple[ResolvedModel, ...]:
        """The base first, then each variant; their `name`s are what `/v1/models` lists."""
        return (self.base, *self.variants)


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and localhost: addresses no other machine can reach."""
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def read_api_key(api_key: str | None, api_key_env: str | None) -> str | None:
    """The key from `--api-key` or from the environment variable `--api-key-env` names."""
    if api_key is not None and api_key_env is not None:
        raise UserError("give --api-key or --api-key-env, not both")
    if api_key_env is not None:
        api_key = os.environ.get(api_key_env)
        if not api_key:
            raise UserError(f"--api-key-env {api_key_env}: that environment variable is not set or empty")
    if api_key is not None and not api_key.strip():
        raise UserError("--api-key is empty")
    return api_key


def _base_name(model: ResolvedModel) -> str:
    """A name for the bare base weights under a variant: the catalogue base key, else the folder or hub id."""
    if model.entry is not None and model.entry.is_variant and model.entry.base:
        return Path(model.entry.base).name if Path(model.entry.base).is_dir() else model.entry.base
    return Path(model.path).name if Path(model.path).is_dir() else model.path


def _same_weights(a: str, b: str) -> bool:
    if Path(a).is_dir() and Path(b).is_dir():
        return Path(a).resolve() == Path(b).resolve()
    return a == b


def served_models(model_arg: str, variant_args: list[str]) -> tuple[ResolvedModel, tuple[ResolvedModel, ...]]:
    """(base, variants): the base weights under their own name plus every adapter, all on one base.

    `--model` may itself be an adapter (folder or BASE+NAME): then its base is served too, and the
    adapter becomes the first variant, so both engines serve the same names."""
    first = resolve_model(model_arg)
    resolved = [first] + [resolve_model(v) for v in variant_args]
    if first.adapter:
        base = ResolvedModel(name=_base_name(first), path=first.path, revision=first.revision,
                             trust_remote_code=first.trust_remote_code)
    else:
        base = first
    variants = [m for m in resolved if m.adapter]
    for arg, m in zip([model_arg, *variant_args], resolved, strict=True):
        if m is not first and not m.adapter:
            raise UserError(f"variant '{arg}' is not a LoRA adapter (no adapter_config.json / registered adapter)")
        if not _same_weights(m.path, base.path):
            raise UserError(f"variant '{arg}' is an adapter of '{m.path}', not of the served base '{base.path}'")
    names = [base.name] + [v.name for v in variants]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise UserError(f"two served models would share the name '{dupes[0]}'; rename an adapter folder")
    return base, tuple(variants)


def build_options(
    model: str,
    variants: list[str],
    host: str,
    port: int,
    api_key: str | None,
    api_key_env: str | None,
    **limits: object,
) -> ServeOptions:
    """Check the address and the key first (cheap), then resolve the models."""
    key = read_api_key(api_key, api_key_env)
    if not is_loopback(host) and key is None:
        raise UserError(f"--host {host} is reachable from other machines: give --api-key-env VAR (or --api-key)")
    if not 0 <= port <= 65535:
        raise UserError(f"--port {port}: not a TCP port")
    for name in ("max_body_bytes", "max_tokens_limit", "max_logprobs"):
        if name in limits and int(limits[name]) < 1:  # type: ignore[call-overload]
            raise UserError(f"--{name.replace('_', '-')} must be at least 1")
    base, served_variants = served_models(model, variants)
    return ServeOptions(base=base, variants=served_variants, host=host, port=port, api_key=key, **limits)  # type: ignore[arg-type]
