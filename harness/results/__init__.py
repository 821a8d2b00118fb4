"""Results: the per-question record, the run folder (writing, resuming, reading) and finding runs."""

from harness.results.record import Record
from harness.results.run import Run, load_run
from harness.results.store import RunStore

__all__ = ["Record", "Run", "RunStore", "load_run"]
