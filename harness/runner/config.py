"""What a user asks of one run: the suite, the model, the method and how to run it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

METHODS = ("letter", "choice", "generate")


@dataclass
class RunConfig:
    suite: str
    model: str
    output: Path
    split: str | None = None
    shots: int | None = None
    subjects: list[str] | None = None
    limit: int | None = None
    method: str = "letter"
    backend: str = "hf"
    device: str = "auto"
    dtype: str = "auto"
    batch_size: int | None = None  # None: the backend's own (hf: scoring passes up to 64, generation 16)
    data_dir: Path | None = None
    chat_template: bool = False
    revision: str | None = None
    overwrite: bool = False
    prefix_cache: bool = True
    backend_options: dict[str, Any] = field(default_factory=dict)
    # --method generate (and suites of another kind than multiple_choice)
    max_new_tokens: int | None = None
    samples: int = 1
    temperature: float | None = None
    top_p: float = 1.0
    seed: int = 1234
    cot: bool = False
    code_timeout: float = 10.0
    unsafe_exec: bool = False  # run model-written code even where the sandbox has no isolation
    # `harness score`: outputs made elsewhere, scored with method "score" (no model is loaded)
    predictions: Path | None = None
