"""The protocol card: what produced a run's numbers (protocol, model identity, engine, versions, cost),
and the run key that ties a run folder to its settings."""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import harness
from harness.runner.config import RunConfig
from harness.suite.prompt import digest
from harness.suite.spec import SuiteSpec


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def base_protocol(spec: SuiteSpec, split: str, shots: int, method: str, config: RunConfig) -> dict[str, Any]:
    """The protocol fields every method shares (each method adds its own)."""
    return {
        "suite": spec.name,
        "suite_definition": spec.definition_hash,
        "split": split,
        "shots": shots,
        "method": method,
        "chat_template": config.chat_template,
    }


ENGINE_KEY = ("backend", "dtype")  # what of the engine can change results; batch size cannot


def run_settings(protocol: dict[str, Any], identity: dict[str, Any], backend_info: dict[str, Any]) -> dict[str, Any]:
    """The settings a run folder's records belong to, flat and named so that a refusal can say which
    differ: the protocol, the model's identity and the engine (backend, dtype). Batch size, device and
    prefix caching are left out on purpose: they change speed, not answers, and resuming with a
    smaller batch is the usual fix after running out of memory."""
    settings = {f"protocol.{k}": v for k, v in protocol.items()}
    settings.update({f"model.{k}": v for k, v in identity.items()})
    settings.update({f"engine.{k}": backend_info.get(k) for k in ENGINE_KEY})
    return settings


def run_key(settings: dict[str, Any]) -> str:
    """A short digest of `run_settings`: the same settings give the same key."""
    return digest([json.dumps(settings, sort_keys=True, ensure_ascii=False, default=str)])


def build_card(
    config: RunConfig,
    spec: SuiteSpec,
    protocol: dict[str, Any],
    identity: dict[str, Any],
    backend_info: dict[str, Any],
    backend: Any,
    started: float,
) -> dict[str, Any]:
    """The protocol card of a finished run: what produced its numbers, and at what cost."""
    stats = backend.stats
    return {
        "harness_version": harness.__version__,
        "protocol": protocol,
        "protocol_id": digest([repr(sorted(protocol.items()))]),
        "model": identity,
        "backend": backend_info,
        "suite": {"name": spec.name, "title": spec.title, "language": spec.language},
        "data_dir": str(config.data_dir) if config.data_dir else (spec.hub or None),
        "finished_at": now(),
        "seconds": round(time.time() - started, 3),
        # prompt tokens, tokens the model computed and the backend's own token counts (vLLM: its prefix-cache hits);
        # the rest of a backend's accounting (the openai backend: requests, retries, cost) beside them
        "tokens": {"prompt": stats.prompt_tokens, "computed": stats.computed_tokens, **stats.extra.get("tokens", {})},
        **{k: v for k, v in stats.extra.items() if k != "tokens"},
        "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(config).items()},
    }
