"""Ports for the processes started here (the embedded stack's, a local Kafka cluster's, the tests'
and benchmarks'): free when handed out, and outside the kernel's ephemeral range, so that no client
socket (nor another bind to port 0) can take one before its process binds it."""

from __future__ import annotations

import functools
import random
import socket
from pathlib import Path

EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")
LOWEST = 10_000  # below it, well-known services

_handed_out: set[int] = set()  # two services of one stack given the same port would not both start


@functools.cache
def _candidates(residue: int, modulus: int) -> tuple[int, ...]:
    try:
        low, high = map(int, EPHEMERAL_RANGE.read_text().split())
    except (OSError, ValueError):
        low, high = 32768, 60999  # Linux's default
    return tuple(port for port in range(LOWEST, 65_536) if not low <= port <= high and port % modulus == residue)


def free_port(host: str = "127.0.0.1", *, residue: int = 0, modulus: int = 1) -> int:
    """A port free now, never handed out before by this process; with `modulus`, one that leaves
    `residue` (processes that hand out ports side by side, each its own residue, never collide)."""
    candidates = _candidates(residue, modulus)
    while True:
        port = random.choice(candidates)  # noqa: S311 (a port, not a secret)
        if port in _handed_out:
            continue
        with socket.socket() as probe:
            try:
                probe.bind((host, port))
            except OSError:
                continue
        _handed_out.add(port)
        return port
