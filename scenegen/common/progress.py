"""Progress of long work: a bar on a terminal, plain lines everywhere else.

`scenegen train > log` must not be silent for twenty minutes, and a bar redrawn into a file is
noise. So a Progress draws a rich bar when its stream is a terminal; otherwise it writes one line
when it starts, one at most every `interval` seconds while it runs and one when it ends, each
with the count, the caller's info (loss, PSNR, Gaussians, ...), the time spent and the time left:

    train: 1200/6000 (20%)  loss 0.0312  psnr 27.14  N 123456  3.4 it/s  4m10s spent, 23m30s left
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator
from typing import IO, TypeVar

T = TypeVar("T")

INTERVAL = 5.0  # seconds between two progress lines in a log


def duration(seconds: float) -> str:
    """12s, 4m10s, 1h02m."""
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


class Progress:
    """with Progress("train", total=6000) as p: ... p.update(completed=step, info="loss 0.03").

    `total` None counts without a bar (e.g. while the amount of work is not known yet);
    `enabled` False shows nothing. `stream` defaults to stdout, checked for a terminal."""

    def __init__(self, description: str, total: int | None = None, *, completed: int = 0, enabled: bool = True,
                 stream: IO[str] | None = None, interval: float = INTERVAL):
        self.description, self.total, self.completed, self.info = description, total, completed, ""
        self.enabled, self.interval = enabled, interval
        self.stream = stream
        self._bar = self._task = None
        self._started = self._last_line = 0.0
        self._start_count = completed

    # -- life cycle ----------------------------------------------------------------------------
    def __enter__(self) -> "Progress":
        if not self.enabled:
            return self
        stream = self.stream if self.stream is not None else sys.stdout
        self.stream = stream
        self._started = time.perf_counter()
        self._start_count = self.completed
        if _is_terminal(stream):
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn
            from rich.progress import Progress as RichProgress

            self._bar = RichProgress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                     TextColumn("{task.fields[info]}"), TimeElapsedColumn(), TimeRemainingColumn(),
                                     console=Console(file=stream))
            self._bar.__enter__()
            self._task = self._bar.add_task(self.description, total=self.total, completed=self.completed, info=self.info)
        else:
            self._line(started=True)
            self._last_line = self._started
        return self

    def __exit__(self, kind, value, tb) -> None:
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.__exit__(kind, value, tb)
            self._bar = None
        elif kind is None:
            self._line(done=True)

    # -- updates -------------------------------------------------------------------------------
    def update(self, completed: int | None = None, *, advance: int = 0, info: str | None = None,
               description: str | None = None, total: int | None | type(...) = ...) -> None:
        """Set the count (or advance it), the info text, the description or the total; a line goes
        out when the description changes or `interval` seconds passed since the last one."""
        if completed is not None:
            self.completed = int(completed)
        self.completed += advance
        if info is not None:
            self.info = info
        renamed = description is not None and description != self.description
        if description is not None:
            self.description = description
        if total is not ...:
            self.total = total
        if renamed:  # a new phase: its rate starts again
            self._started, self._start_count = time.perf_counter(), self.completed
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.update(self._task, completed=self.completed, info=self.info, description=self.description,
                             total=self.total)
            return
        now = time.perf_counter()
        if renamed or now - self._last_line >= self.interval:
            self._line(started=renamed)
            self._last_line = now

    def advance(self, steps: int = 1) -> None:
        self.update(advance=steps)

    # -- lines ---------------------------------------------------------------------------------
    def _line(self, started: bool = False, done: bool = False) -> None:
        spent = time.perf_counter() - self._started
        parts = []
        if self.total:
            parts.append(f"{self.completed}/{self.total} ({100 * self.completed / self.total:.0f}%)")
        elif self.completed or not started:
            parts.append(str(self.completed))
        if self.info:
            parts.append(self.info)
        if done:
            parts.append(f"done in {duration(spent)}")
        elif not started:
            timing = f"{duration(spent)} spent"
            counted = self.completed - self._start_count
            if self.total and counted > 0:
                left = (self.total - self.completed) * spent / counted
                timing += f", {duration(left)} left"
            parts.append(timing)
        print(f"{self.description}: {'  '.join(parts)}".rstrip(), file=self.stream, flush=True)


def track(items: Iterable[T], description: str, total: int | None = None, *, enabled: bool = True,
          stream: IO[str] | None = None, interval: float = INTERVAL) -> Iterator[T]:
    """`items` one by one, with a Progress counting them (total: len(items) when it has one)."""
    if total is None and hasattr(items, "__len__"):
        total = len(items)
    with Progress(description, total, enabled=enabled, stream=stream, interval=interval) as bar:
        for item in items:
            yield item
            bar.advance()


def _is_terminal(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


__all__ = ["Progress", "track", "duration", "INTERVAL"]
