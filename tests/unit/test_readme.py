"""The README's configuration table covers every setting, and its set-up commands are the Makefile's."""

from __future__ import annotations

import re
from pathlib import Path

from logstream.settings import ENV_PREFIX, LoggingSettings
from logstream.supervisor import UpSettings

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def test_every_setting_is_documented() -> None:
    names = {ENV_PREFIX + n.upper() for cls in (UpSettings, LoggingSettings) for n in cls.model_fields}
    documented = set(re.findall(r"`(LOGSTREAM_[A-Z_]+)`", README))
    assert names - documented == set()
    assert documented - names == set()


def test_the_two_commands() -> None:
    assert "make run" in README and "make test" in README
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^run: .*\n\t\$\(BIN\)/logstream up$", makefile, re.M)
    assert "make test-kafka" in README
    assert re.search(r"^test-kafka: .*\n\t\$\(BIN\)/pytest -m kafka$", makefile, re.M)
    ci = [line for line in (ROOT / ".ci" / "run").read_text().splitlines() if line.startswith("make ")]
    assert ci == ["make test", "make test-kafka"]
