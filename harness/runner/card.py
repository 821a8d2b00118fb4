"""The protocol card: what produced a run's numbers (protocol, model identity, engine, versions, cost),
and the run key that ties a run folder to its settings."""

from __future__ import annotations

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


def run_key(protocol: dict[str, Any], identity: dict[str, Any], backend_info: dict[str, Any]) -> str:
    """The settings a run folder's records belong to: protocol, model identity and engine."""
    return digest([repr(sorted(protocol.items())), repr(sorted(identity.items())), backend_info["backend"],
                   str(backend_info.get("dtype")), str(backend_info.get("batch_size"))])


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
        # prompt tokens, tokens the model computed, and what the backend adds (vLLM: its prefix-cache hits)
        "tokens": {"prompt": stats.prompt_tokens, "computed": stats.computed_tokens, **stats.extra},
        "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(config).items()},
    }
