"""Progress of long-running commands (seed-data, the benchmarks), on stderr: one live line on a
terminal, a line every few seconds otherwise."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO


class Progress:
    """`progress(text)` shows where a run is; `progress.done(text)` ends a step with a line that stays;
    `progress.counter(total, what)` is a callback for counts, drawn as a bar on a terminal."""

    def __init__(self, *, enabled: bool = True, stream: TextIO | None = None, every_s: float = 3.0,
                 width: int = 30):
        self.enabled, self.every_s, self.width = enabled, every_s, width
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self._last = 0.0

    def __call__(self, message: str) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if self.tty:
            self.stream.write(f"\r\x1b[2K{message}")
            self.stream.flush()
        elif now - self._last >= self.every_s:
            self.stream.write(message + "\n")
            self.stream.flush()
            self._last = now

    def done(self, message: str) -> None:
        if self.enabled:
            self.stream.write(("\r\x1b[2K" if self.tty else "") + message + "\n")
            self.stream.flush()
            self._last = 0.0

    def counter(self, total: int, what: str) -> Callable[..., None]:
        """A callback taking how many of `total` are done: count, share, elapsed time and rate."""
        total, started = max(total, 1), time.perf_counter()

        def count(done: int, note: str = "") -> None:
            """`note`: more figures for the line (e.g. rows written)."""
            elapsed = time.perf_counter() - started
            fraction = min(done / total, 1.0)
            rate = done / elapsed if elapsed > 0 else 0.0
            eta = f", ETA {(total - done) / rate:.0f} s" if rate and done < total else ""
            text = (f"{what}: {done:,}/{total:,} ({fraction:.0%}){note and ', ' + note} "
                    f"{elapsed:.1f} s, {rate:,.0f}/s{eta}")
            if self.tty:
                filled = int(fraction * self.width)
                text = f"[{'#' * filled}{'.' * (self.width - filled)}] {text}"
            (self.done if done >= total else self)(text)

        return count
