"""Locate the data folders that ship with the package (suites, adapters, report and site templates).

In a wheel they live in `harness/_data/<name>`; in an editable install or a checkout they are the
top-level folders beside the package. Code never guesses a path on its own: it asks here.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def data_dir(name: str) -> Path:
    """Return the shipped folder `name` (suites, adapters, reports or leaderboard)."""
    for candidate in (_PACKAGE / "_data" / name, _PACKAGE.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"harness is installed without its '{name}' folder")


def harness_home() -> Path:
    """Where the harness keeps user state (registered variants, baselines): $HARNESS_HOME or ~/.cache/harness."""
    import os

    home = Path(os.environ.get("HARNESS_HOME") or Path.home() / ".cache" / "harness")
    return home
