"""What a metric says about one output."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Scored:
    """The answer read from an output (`extracted`, None when there is none), whether it is right, a
    graded score in [0, 1] (`correct` means a perfect one), and the metric's own numbers."""

    extracted: Any
    correct: bool
    score: float
    values: dict[str, Any] = field(default_factory=dict)
