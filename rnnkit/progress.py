"""How long work tells the user where it is: one reporter, supplied by the caller.

The library never prints. Functions that take long (train, predict, evaluate, sweep) accept a
:class:`Reporter` and tell it what happens: a line of news (:meth:`Reporter.note`), the end of a
training epoch (:meth:`Reporter.epoch`), or the progress of a loop over rows, windows or trials
(:meth:`Reporter.task`). The base class ignores everything, which is what a library call gets by
default. The command line supplies :class:`ConsoleReporter`: on a terminal, progress bars on
stderr; otherwise (a log file, a scheduler, CI) one plain line per epoch and a progress line at
most every ``every`` seconds, so a long job never looks dead.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import IO, Any

PLAIN_EVERY = 5.0  # seconds between two progress lines in a log
BAR_EVERY = 0.2  # seconds between two redraws of a bar on a terminal
BAR_WIDTH = 24


class Task:
    """Progress of one loop: call :meth:`advance` as items are done, :meth:`close` at the end."""

    def advance(self, count: int = 1) -> None:
        """``count`` more items are done."""

    def close(self) -> None:
        """The loop has ended (also when it failed)."""

    def __enter__(self) -> Task:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class Reporter:
    """Receives progress from long work and shows none of it (the library's default)."""

    bars = False  # whether a terminal shows live bars (then training draws Keras's own)

    def note(self, text: str) -> None:
        """A line of news: a warning, who a cluster still waits for."""

    def run_folder(self, path: Path) -> None:
        """Training will write (or continues) this run folder; said before the data is read."""

    def epoch(self, epoch: int, epochs: int, logs: dict[str, float], seconds: float) -> None:
        """Training finished ``epoch`` (1-based) of ``epochs`` with these losses and metrics."""

    def task(self, what: str, total: int | None = None, unit: str = "rows") -> Task:
        """A loop over ``total`` items (None: unknown), named ``what`` ("predict", "evaluate")."""
        return Task()

    def labelled(self, label: str) -> Reporter:
        """A reporter whose lines start with ``label`` (each sweep trial's training)."""
        return self


def epoch_line(epoch: int, epochs: int, logs: dict[str, float], seconds: float, eta: float | None) -> str:
    """``epoch 3/40: loss 0.0812, mae 0.2201, val_loss 0.0901, val_mae 0.231; 2.1 s, ETA 1m 14s``."""
    values = ", ".join(f"{key} {value:.4g}" for key, value in logs.items())
    timing = f"{seconds:.1f} s" + (f", ETA {duration(eta)}" if eta is not None else "")
    return f"epoch {epoch}/{epochs}: {values}; {timing}"


def duration(seconds: float) -> str:
    """``42 s``, ``3m 05s``, ``2h 04m``."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60}m {seconds % 60:02d}s"
    return f"{seconds // 3600}h {seconds % 3600 // 60:02d}m"


class ConsoleReporter(Reporter):
    """Progress on a stream (stderr by default): bars on a terminal, plain lines otherwise.

    Args:
        stream: where to write.
        bars: draw live bars; default: whether ``stream`` is a terminal.
        every: seconds between two plain progress lines.
        prefix: put before every line of news.
    """

    def __init__(
        self, stream: IO[str] | None = None, *, bars: bool | None = None, every: float = PLAIN_EVERY, prefix: str = "rnnkit: "
    ) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.bars = _is_terminal(self.stream) if bars is None else bars
        self.every = every
        self.prefix = prefix
        self.label = ""  # put before epoch lines, e.g. "trial 3: "
        self._clock: tuple[int, float] | None = None  # (epochs done before the first one seen, when it began)

    def labelled(self, label: str) -> ConsoleReporter:
        """A reporter on the same stream whose epoch lines and news start with ``label``."""
        other = ConsoleReporter(self.stream, bars=self.bars, every=self.every, prefix=f"{self.prefix}{label}: ")
        other.label = f"{label}: "
        return other

    def note(self, text: str) -> None:
        self._write(f"{self.prefix}{text}\n")

    def run_folder(self, path: Path) -> None:
        self.note(f"run folder {path}")

    def epoch(self, epoch: int, epochs: int, logs: dict[str, float], seconds: float) -> None:
        if self.bars:
            return  # Keras's bar has shown the epoch
        now = time.monotonic()
        if self._clock is None:  # a resumed run starts late: the ETA counts from the first epoch seen
            self._clock = (epoch - 1, now - seconds)
        before, began = self._clock
        eta = (now - began) / (epoch - before) * (epochs - epoch) if epoch < epochs else None
        self._write(self.label + epoch_line(epoch, epochs, logs, seconds, eta) + "\n")

    def task(self, what: str, total: int | None = None, unit: str = "rows") -> Task:
        return _ConsoleTask(self, what, total, unit)

    def _write(self, text: str) -> None:
        try:
            self.stream.write(text)
            self.stream.flush()
        except (OSError, ValueError):  # a closed or full stderr must not end the work
            pass


class _ConsoleTask(Task):
    def __init__(self, reporter: ConsoleReporter, what: str, total: int | None, unit: str) -> None:
        self.reporter = reporter
        self.what = what
        self.total = total
        self.unit = unit
        self.done = 0
        self.started = time.monotonic()
        self.shown = self.started
        self.closed = False

    def advance(self, count: int = 1) -> None:
        self.done += count
        now = time.monotonic()
        wait = BAR_EVERY if self.reporter.bars else self.reporter.every
        if now - self.shown >= wait:
            self.shown = now
            self._show(final=False)

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self.reporter.bars or time.monotonic() - self.started >= self.reporter.every:
            self._show(final=True)  # a loop that took long ends with its total; a quick one says nothing

    def _show(self, final: bool) -> None:
        elapsed = max(time.monotonic() - self.started, 1e-9)
        rate = self.done / elapsed
        if self.total:
            share = min(self.done / self.total, 1.0)
            count = f"{self.done:,} of {self.total:,} {self.unit} ({share:.0%})"
        else:
            share, count = None, f"{self.done:,} {self.unit}"
        eta = (self.total - self.done) / rate if self.total and rate > 0 and not final else None
        if rate >= 1 or not self.done:
            speed = f"{rate:,.0f} {self.unit}/s"
        else:  # slow items (sweep trials): time per item reads better than 0 per second
            speed = f"{duration(1 / rate)} per {self.unit.removesuffix('s')}"
        tail = speed + (f", ETA {duration(eta)}" if eta is not None else "")
        if final:
            tail += f", {duration(elapsed)}"
        if self.reporter.bars:
            bar = "" if share is None else "[" + "=" * int(share * BAR_WIDTH) + " " * (BAR_WIDTH - int(share * BAR_WIDTH)) + "] "
            self.reporter._write(f"\r{self.what}: {bar}{count}, {tail}\033[K" + ("\n" if final else ""))
        else:
            self.reporter._write(f"{self.what}: {count}, {tail}\n")


def _is_terminal(stream) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
