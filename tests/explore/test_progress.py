"""The progress bar of long verbs: runs done, throughput and time remaining; silent when quiet."""

from __future__ import annotations

import io

from rich.console import Console

from policylab.explore.progress import RunProgress


def _console() -> tuple[Console, io.StringIO]:
    buffer = io.StringIO()
    return Console(file=buffer, force_terminal=True, width=140, color_system=None), buffer


def test_progress_shows_runs_done_throughput_and_eta():
    console, buffer = _console()
    with RunProgress(console) as progress:
        progress.start(1000, 200, "model → run x")
        progress.advance(300)
    text = buffer.getvalue()
    assert "model → run x" in text and "500/1000" in text and "runs/s" in text and "eta" in text


def test_quiet_progress_prints_nothing():
    console, buffer = _console()
    with RunProgress(console, quiet=True) as progress:
        progress.start(10, 0, "x")
        progress.advance(10)
    assert buffer.getvalue() == ""
