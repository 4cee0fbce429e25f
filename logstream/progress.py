"""Progress of long-running commands: a bar on a terminal, a line every few seconds otherwise."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    def __init__(self, total: int, what: str, *, stream: TextIO | None = None, width: int = 30,
                 line_every_s: float = 5.0):
        self.total, self.what, self.width = max(total, 1), what, width
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.line_every_s = line_every_s
        self.started = time.perf_counter()
        self._last_line = 0.0

    def __call__(self, done: int, note: str = "") -> None:
        """`note`: more figures for the line (e.g. rows written)."""
        elapsed = time.perf_counter() - self.started
        fraction = min(done / self.total, 1.0)
        rate = done / elapsed if elapsed > 0 else 0.0
        eta = f", ETA {(self.total - done) / rate:.0f} s" if rate and done < self.total else ""
        text = (f"{self.what}: {done:,}/{self.total:,} ({fraction:.0%}){note and ', ' + note} "
                f"{elapsed:.1f} s, {rate:,.0f}/s{eta}")
        if self.tty:
            filled = int(fraction * self.width)
            self.stream.write(f"\r[{'#' * filled}{'.' * (self.width - filled)}] {text}")
            if done >= self.total:
                self.stream.write("\n")
        elif done >= self.total or elapsed - self._last_line >= self.line_every_s:
            self.stream.write(text + "\n")
            self._last_line = elapsed
        self.stream.flush()
