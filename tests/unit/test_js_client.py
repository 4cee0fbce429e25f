"""The browser client's own unit tests (clients/js: node:test), its type check, and the check that the
scripts logstream serves (producer_api/static) are what its sources build to, each under 5 KB gzipped."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

JS = Path(__file__).resolve().parents[2] / "clients" / "js"


def npm(*args: str) -> subprocess.CompletedProcess[str]:
    npm_path = shutil.which("npm")
    assert npm_path, "npm (Node.js 20+) is needed to test clients/js"
    return subprocess.run([npm_path, *args], cwd=JS, capture_output=True, text=True, timeout=240)


def test_the_js_client_passes_its_unit_tests_and_the_served_build_is_fresh() -> None:
    installed = npm("ci", "--no-audit", "--no-fund")
    assert installed.returncode == 0, installed.stdout + installed.stderr
    tested = npm("test")
    assert tested.returncode == 0, tested.stdout[-4000:] + tested.stderr[-4000:]
    assert "pass 0" not in tested.stdout and "fail 0" in tested.stdout, tested.stdout[-2000:]  # tap or spec
