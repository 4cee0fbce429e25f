"""The README stays short and points at docs/; docs/configuration.md covers every setting; every relative
link in the docs resolves; the README's set-up commands are the Makefile's."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from embedded.supervisor import UpSettings
from logstream.settings import ENV_PREFIX, LoggingSettings

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()
DOCS = sorted((ROOT / "docs").glob("*.md"))
CONFIGURATION = (ROOT / "docs" / "configuration.md").read_text()


def test_every_setting_is_documented() -> None:
    names = {ENV_PREFIX + n.upper() for cls in (UpSettings, LoggingSettings) for n in cls.model_fields}
    documented = set(re.findall(r"`(LOGSTREAM_[A-Z_]+)`", CONFIGURATION))
    assert names - documented == set()
    assert documented - names == set()


def test_the_two_commands() -> None:
    assert "make run" in README and "make test" in README
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^run: .*\n\t\$\(BIN\)/logstream up$", makefile, re.M)
    assert re.search(r"^test: .*\n(\t.*\n)*\t\$\(BIN\)/lint-imports\n", makefile, re.M)
    assert "make test-kafka" in README
    assert re.search(r"^test-kafka: .*\n\t\$\(BIN\)/pytest -m kafka$", makefile, re.M)
    ci = [line for line in (ROOT / ".ci" / "run").read_text().splitlines() if line.startswith("make ")]
    assert ci == ["make test", "make test-kafka"]


def test_the_readme_fits_on_a_few_screens() -> None:
    assert len(README.encode()) <= 10 * 1024
    assert "```mermaid" in README


@pytest.mark.parametrize("document", [ROOT / "README.md", *DOCS], ids=lambda p: p.name)
def test_every_relative_link_resolves(document: Path) -> None:
    for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", document.read_text()):
        if not re.match(r"[a-z]+:", target):
            assert (document.parent / target).exists(), f"{document.name} links to {target}"
