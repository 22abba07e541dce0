"""A Rich progress bar for long verbs: runs done, throughput and time remaining, on stderr.

Quiet (``--quiet``, or stderr not a terminal) prints nothing, so scripts and logs stay clean.
"""

from __future__ import annotations

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text


class ThroughputColumn(ProgressColumn):
    """Runs per second over the task's life so far."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        if speed is None:
            return Text("– runs/s", style="progress.data.speed")
        return Text(f"{speed:,.0f} runs/s", style="progress.data.speed")


class RunProgress:
    """Progress of an ensemble, counted in runs (a :class:`~policylab.explore.session.ProgressSink`)."""

    def __init__(self, console: Console | None = None, quiet: bool = False) -> None:
        self.console = console or Console(stderr=True)
        self.quiet = quiet or not self.console.is_terminal
        self.bar: Progress | None = None
        self.task = None

    def start(self, total: int, done: int, label: str) -> None:
        if self.quiet:
            return
        self.bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), ThroughputColumn(),
                            TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(), console=self.console,
                            transient=False)
        self.bar.start()
        self.task = self.bar.add_task(label, total=total, completed=done)

    def advance(self, runs: int) -> None:
        if self.bar is not None:
            self.bar.advance(self.task, runs)  # type: ignore[arg-type]

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()
            self.bar = None

    def __enter__(self) -> RunProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
