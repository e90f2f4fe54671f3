# SPDX-License-Identifier: GPL-2.0-or-later
"""A one-line progress bar: units done, megapixels per second, time left.

On a terminal the line is redrawn in place; in a log file (not a TTY) a line is printed every
``LOG_EVERY_S`` seconds and at the end, so batch-system logs stay short.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

LOG_EVERY_S = 30.0
WIDTH = 24


def format_duration(seconds: float) -> str:
    if seconds != seconds or seconds == float("inf"):  # NaN / unknown
        return "--:--"
    seconds = round(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


class Progress:
    def __init__(
        self, units: int, megapixels: float, stream: TextIO | None = None, enabled: bool = True
    ) -> None:
        self.total_units, self.total_mpix = units, megapixels
        self.done_units, self.done_mpix, self.failed = 0, 0.0, 0
        self.stream = stream or sys.stderr
        self.enabled = enabled and units > 0
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.start = time.perf_counter()
        self._last_log = 0.0
        if self.enabled:
            self._draw(force=True)

    @property
    def rate(self) -> float:
        """Megapixels per second since the start (the units' core pixels)."""
        elapsed = time.perf_counter() - self.start
        return self.done_mpix / elapsed if elapsed > 0 else 0.0

    def line(self) -> str:
        share = self.done_units / self.total_units if self.total_units else 1.0
        filled = round(WIDTH * share)
        rate = self.rate
        left = (self.total_mpix - self.done_mpix) / rate if rate > 0 else float("nan")
        failed = f", {self.failed} failed" if self.failed else ""
        digits = 0 if self.total_mpix >= 100 else 2
        return (
            f"[{'#' * filled}{'.' * (WIDTH - filled)}] {self.done_units}/{self.total_units} units{failed} | "
            f"{self.done_mpix:,.{digits}f}/{self.total_mpix:,.{digits}f} MPix | {rate:.2f} MPix/s | "
            f"ETA {format_duration(left)}"
        )

    def _draw(self, force: bool = False) -> None:
        now = time.perf_counter()
        if self.tty:
            self.stream.write("\r" + self.line() + "\033[K")  # clear what a longer line left
            self.stream.flush()
        elif force or now - self._last_log >= LOG_EVERY_S:
            self.stream.write(self.line() + "\n")
            self.stream.flush()
            self._last_log = now

    def update(self, megapixels: float, ok: bool) -> None:
        self.done_units += 1
        self.done_mpix += megapixels
        self.failed += 0 if ok else 1
        if self.enabled:
            self._draw(force=self.done_units == self.total_units)

    def message(self, text: str) -> None:
        """A line above the bar (a failed unit, a warning)."""
        if not self.enabled:
            return
        if self.tty:
            self.stream.write("\r\033[K" + text + "\n")
            self._draw(force=True)
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.enabled and self.tty:
            self.stream.write("\n")
            self.stream.flush()
