"""The ingest bench's report names the broker its figures were measured on."""

from __future__ import annotations

import pytest

from bench.ingest import render, started_broker


@pytest.mark.parametrize(("env", "broker"), [({}, "tansu"), ({"LOGSTREAM_BROKER": "apache"}, "apache"),
                                             ({"LOGSTREAM_EMBEDDED_BROKER": "false"}, None)])
def test_the_report_names_the_broker_up_started(monkeypatch: pytest.MonkeyPatch, env: dict[str, str],
                                                broker: str | None) -> None:
    for name in ("LOGSTREAM_BROKER", "LOGSTREAM_EMBEDDED_BROKER"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert started_broker() == broker
    first_line = render({"broker": broker, "figures": {}, "targets": {}}).splitlines()[0]
    assert first_line == (f"broker: {broker}" if broker else
                          "broker: none started by up (--url, or LOGSTREAM_EMBEDDED_BROKER=false)")
