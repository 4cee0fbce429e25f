"""Progress for long runs: one live line on a terminal, a line every few seconds otherwise."""

from __future__ import annotations

import sys
import time


class Progress:
    def __init__(self, enabled: bool = True, every_s: float = 3.0):
        self.enabled = enabled
        self.tty = sys.stderr.isatty()
        self.every_s = every_s
        self._last = 0.0

    def __call__(self, message: str) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if self.tty:
            sys.stderr.write(f"\r\x1b[2K{message}")
            sys.stderr.flush()
        elif now - self._last >= self.every_s:
            sys.stderr.write(message + "\n")
            self._last = now

    def done(self, message: str) -> None:
        if self.enabled:
            sys.stderr.write(("\r\x1b[2K" if self.tty else "") + message + "\n")
            self._last = 0.0
