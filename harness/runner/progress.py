"""A progress bar with an ETA on stderr (rich), silent when disabled."""

from __future__ import annotations

from collections.abc import Callable


class Progress:
    """`with Progress(on, total, already, label) as advance: advance(n)`."""

    def __init__(self, enabled: bool, total: int, already: int, label: str) -> None:
        self.enabled, self.total, self.already, self.label = enabled, total, already, label

    def __enter__(self) -> Callable[[int], None]:
        if not self.enabled:
            return lambda n: None
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )
        from rich.progress import Progress as Bar

        self._bar = Bar(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            transient=False,
        )
        self._bar.start()
        task = self._bar.add_task(self.label, total=self.total, completed=self.already)
        if self.already:
            self._bar.console.print(f"resuming: {self.already} of {self.total} questions already scored")
        return lambda n: self._bar.advance(task, n)

    def __exit__(self, *exc: object) -> None:
        if self.enabled:
            self._bar.stop()
