"""Each reference service's error body, in one place per seed (both the write routes in the producer
and the read routes in the query API answer through these). See COMPATIBILITY.md."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

NO_DATA_RECEIVED = "No data received"


def seed000(status: int, code: str, detail: str) -> Any:
    """000 documents one error body for everything."""
    return {"status": "failed"}


def seed001_write(status: int, code: str, detail: str) -> Any:
    return {"error": NO_DATA_RECEIVED if code in ("invalid_json", "invalid_unicode") else detail}


def seed001_read(status: int, code: str, detail: str) -> Any:
    """001's read errors carry their message in `status`: {"status": "parameter(s) must be provided"}."""
    return {"status": detail}


def seed002(status: int, code: str, detail: str) -> Any:
    """002's errorCode is the reason phrase ("Bad request" as its README writes it)."""
    return {"success": False, "errorCode": "Bad request" if status == 400 else HTTPStatus(status).phrase}


# 003's codes are its own (MISSING_USERID, ...); logstream's codes that reach it are mapped or upper-cased.
SEED003_CODES = {"invalid_json": "NO_LOGS_PROVIDED", "invalid_unicode": "NO_LOGS_PROVIDED",
                 "invalid_parameter": "INVALID_TIME_FORMAT"}


def seed003(status: int, code: str, detail: str) -> Any:
    return {"success": False, "code": SEED003_CODES.get(code, code.upper())}


def seed004(status: int, code: str, detail: str) -> Any:
    """004 (Django REST framework) reports errors per field; what is not a field's is non_field_errors."""
    return {"container_errors": {"non_field_errors": [detail]}, "action_errors": []}
