"""Child processes that never outlive their parent."""

from __future__ import annotations

import ctypes
import signal
import subprocess
from typing import Any

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    # Linux: the kernel signals the child when its parent dies, even by SIGKILL. SIGKILL, not SIGTERM:
    # a stream worker treats SIGTERM as "drain first", and with its parent gone nobody would wait for
    # that drain or stop the broker after it; a worker stuck retrying would outlive the stack.
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def child_popen(command: list[str], **kwargs: Any) -> subprocess.Popen[bytes]:
    """Start a child in its own session (a terminal's Ctrl-C reaches only the parent, which then
    stops the children in order) that is terminated if the parent dies."""
    return subprocess.Popen(command, start_new_session=True, preexec_fn=_die_with_parent, **kwargs)  # noqa: PLW1509


def stop(process: subprocess.Popen[bytes], timeout: float) -> int:
    """SIGTERM, wait up to `timeout`, then SIGKILL."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.returncode
