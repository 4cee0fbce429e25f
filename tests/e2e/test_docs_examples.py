"""Every curl example of the README and docs/, run as written (with curl, in a shell) against `logstream up`:
each answers with the status its comment shows (`HTTP/1.1 202`, `"status":400`), or a 2xx."""

from __future__ import annotations

import re
import shlex
import subprocess
from pathlib import Path

import httpx
import orjson

from tests.fixtures import README_EXAMPLE
from tests.support import Stack, wait_until

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BASES = ("http://127.0.0.1:8000", "http://localhost:8000")
EXAMPLE_CURSOR = "WzE1Mzk5..."  # the docs' shortened cursor; a real one is put in its place


def curl_examples(document: Path) -> list[tuple[str, int | None]]:
    """(command, status its comment shows) of each curl command in the document's bash blocks."""
    examples: list[tuple[str, int | None]] = []
    for block in re.findall(r"```bash\n(.*?)```", document.read_text(), flags=re.S):
        lines = block.splitlines()
        index = 0
        while index < len(lines):
            if not lines[index].startswith("curl "):
                index += 1
                continue
            command = lines[index]
            while not complete(command):
                index += 1
                command += "\n" + lines[index]
            index += 1
            shown = []
            while index < len(lines) and lines[index].startswith("#"):
                shown.append(lines[index])
                index += 1
            examples.append((command, status_shown("\n".join(shown))))
    return examples


def complete(command: str) -> bool:
    if command.endswith("\\"):
        return False
    try:
        shlex.split(command, comments=True)
    except ValueError:  # an open quote: the command goes on
        return False
    return True


def status_shown(comment: str) -> int | None:
    found = re.search(r"HTTP/1\.1 (\d{3})|\"status\":(\d{3})", comment)
    return int(found.group(1) or found.group(2)) if found else None


EXAMPLES = [(document.name, command, status) for document in DOCUMENTS for command, status in curl_examples(document)]


def test_the_docs_have_their_examples() -> None:
    names = {name for name, _, _ in EXAMPLES}
    assert {"README.md", "api.md", "security.md"} <= names
    assert len(EXAMPLES) >= 20


def test_every_curl_example_runs_as_documented(stack: Stack, tmp_path: Path) -> None:
    (tmp_path / "log.json").write_bytes(orjson.dumps(README_EXAMPLE))
    env = {"PATH": "/usr/bin:/bin", "LOGSTREAM_WRITE_KEYS": "w" * 24, "LOGSTREAM_READ_KEYS": "r" * 24}
    writes = [e for e in EXAMPLES if " -d " in e[1]]
    reads = [e for e in EXAMPLES if " -d " not in e[1]]
    failures = [failure for example in writes if (failure := run(example, stack, tmp_path, env, None))]

    def first_page() -> dict | None:
        page = httpx.get(f"{stack.base_url}/v1/actions", params={"userId": "ABC123XYZ", "limit": 1}, timeout=10).json()
        return page if page["nextCursor"] else None

    cursor = wait_until(first_page, timeout=60, what="the examples' actions")["nextCursor"]
    failures += [failure for example in reads if (failure := run(example, stack, tmp_path, env, cursor))]
    assert not failures, "\n\n".join(failures)


def run(example: tuple[str, str, int | None], stack: Stack, cwd: Path, env: dict[str, str],
        cursor: str | None) -> str | None:
    """None if the example answered as documented, else what went wrong."""
    name, command, status = example
    runnable = command
    for base in BASES:
        runnable = runnable.replace(base, stack.base_url)
    if cursor:
        runnable = runnable.replace(EXAMPLE_CURSOR, cursor)
    runnable = runnable.replace("curl ", "curl --max-time 60 --write-out '%{stderr}HTTP_STATUS=%{http_code}\\n' ", 1)
    result = subprocess.run(["bash", "-c", runnable], cwd=cwd, env=env, capture_output=True, text=True, timeout=90)
    answered = re.search(r"HTTP_STATUS=(\d{3})", result.stderr)
    code = int(answered.group(1)) if answered else None
    expected_ok = code == status if status is not None else code is not None and 200 <= code < 300
    if result.returncode == 0 and expected_ok:
        return None
    return f"{name}: {command}\n-> exit {result.returncode}, status {code} (expected {status or '2xx'}):\n" \
           f"{result.stdout[-500:]}{result.stderr[-500:]}"
