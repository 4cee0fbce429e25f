"""What every benchmark needs: output, percentiles, a description of the machine."""

from __future__ import annotations

import math
import os
import platform
import sys
from pathlib import Path
from typing import Any


def say(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def percentile(values: list[float], q: int) -> float:
    """Nearest rank: the smallest value with at least q % of the values at or below it."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)] if ordered else 0.0


def machine() -> dict[str, Any]:
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.processor())
    memory_kb = next((int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                      if line.startswith("MemTotal")), 0)
    import chdb

    return {"cpu": model, "cores": os.cpu_count(), "memory_gb": round(memory_kb / 1024 / 1024, 1),
            "platform": platform.platform(), "python": platform.python_version(), "chdb": chdb.__version__,
            "load_average": os.getloadavg()}
