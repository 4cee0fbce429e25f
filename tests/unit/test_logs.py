"""LOGSTREAM_LOG_FORMAT=json: one object per line, with the request's id when there is one."""

from __future__ import annotations

import logging

import orjson
from fastapi import FastAPI
from fastapi.testclient import TestClient

from logstream import logs


def record(message: str, exc: BaseException | None = None) -> logging.LogRecord:
    exc_info = (type(exc), exc, exc.__traceback__) if exc else None
    return logging.LogRecord("logstream.test", logging.WARNING, __file__, 1, message, ("x",), exc_info)


def test_a_line_is_one_json_object() -> None:
    line = logs.JsonFormatter().format(record("a %s\nsecond line"))
    assert "\n" not in line
    parsed = orjson.loads(line)
    assert parsed["level"] == "WARNING" and parsed["logger"] == "logstream.test"
    assert parsed["message"] == "a x\nsecond line"
    assert parsed["time"].endswith("+00:00") and "request_id" not in parsed


def test_the_request_id_and_the_exception_are_fields() -> None:
    token = logs.request_id.set("req-1")
    try:
        try:
            raise ValueError("boom")
        except ValueError as exc:
            parsed = orjson.loads(logs.JsonFormatter().format(record("failed %s", exc)))
    finally:
        logs.request_id.reset(token)
    assert parsed["request_id"] == "req-1"
    assert "ValueError: boom" in parsed["exception"]


def app_seeing_ids() -> FastAPI:
    app = FastAPI()

    @app.get("/id")
    async def seen() -> dict[str, str | None]:
        return {"context": logs.request_id.get(), "outgoing": logs.current_header().get(logs.HEADER)}

    app.add_middleware(logs.RequestIds)
    return app


def test_a_sane_id_is_kept_and_sent_on() -> None:
    with TestClient(app_seeing_ids()) as client:
        answer = client.get("/id", headers={"X-Request-Id": "abc-123:7"})
    assert answer.headers["X-Request-Id"] == "abc-123:7"
    assert answer.json() == {"context": "abc-123:7", "outgoing": "abc-123:7"}


def test_a_missing_or_odd_id_is_replaced_by_a_new_one() -> None:
    with TestClient(app_seeing_ids()) as client:
        made = client.get("/id")
        odd = client.get("/id", headers={"X-Request-Id": "has spaces and {braces}"})
    for answer in (made, odd):
        assert len(answer.headers["X-Request-Id"]) == 32
        assert answer.json()["context"] == answer.headers["X-Request-Id"]
    assert made.headers["X-Request-Id"] != odd.headers["X-Request-Id"]
