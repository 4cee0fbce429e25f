"""Ports handed out for local processes: free, outside the kernel's ephemeral range, never twice."""

from __future__ import annotations

import socket
from pathlib import Path

from embedded.ports import EPHEMERAL_RANGE, free_port


def test_ports_are_bindable_outside_the_ephemeral_range_of_their_residue_and_never_twice() -> None:
    low, high = map(int, Path(EPHEMERAL_RANGE).read_text().split())
    handed = [free_port(residue=1, modulus=3) for _ in range(200)]
    assert len(set(handed)) == 200
    assert all(not low <= port <= high and port % 3 == 1 for port in handed)
    with socket.socket() as service:
        service.bind(("127.0.0.1", handed[-1]))  # what the process it was handed to does

