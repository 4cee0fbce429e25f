"""CPU seconds and peak RSS of a process, from /proc (Linux)."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime


def memory_kib(pid: int, key: str) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def peak_rss_mb(pid: int) -> float:
    return memory_kib(pid, "VmHWM") / 1024


def rss_mb(pid: int) -> float:
    return memory_kib(pid, "VmRSS") / 1024


def rss_file_mb(pid: int) -> float:
    """Resident file-backed pages: mapped code such as chDB's engine library, not data."""
    return memory_kib(pid, "RssFile") / 1024


def children(pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True, check=False).stdout
    return [int(p) for p in out.split()]


def cmdline(pid: int) -> str:
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        return f.read().replace(b"\0", b" ").decode(errors="replace")


@dataclass
class Tracked:
    name: str
    pid: int
    cpu_start: float = 0.0

    def start(self) -> None:
        self.cpu_start = cpu_seconds(self.pid)

    def cpu_used(self) -> float:
        return cpu_seconds(self.pid) - self.cpu_start
