"""Results: the run folder (per-question records, aggregate scores, protocol card) and resuming."""

from harness.results.store import RunStore, load_run

__all__ = ["RunStore", "load_run"]
