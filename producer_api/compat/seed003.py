"""Seed 003 (Flask + MongoDB): POST /logs/ with an ARRAY of logs, all or nothing, refused with the
first failure's code in 003's order: {"success":false,"code":"MISSING_USERID"}.

Each check asks the contract's own field types (logstream.contract), so nothing 003 accepts is
outside the contract, and 003's defects are gone: any UTC offset is a valid time, `locationX: 0` a
valid location. The whole contract runs last, as the authority.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from fastapi import Request
from pydantic import StrictStr, TypeAdapter, ValidationError
from starlette.responses import Response

from logstream import shapes
from logstream.compat import SeedError, in_shape
from logstream.contract import InvalidLogError, Number, Problem, SentTime, validate_logs
from logstream.responses import JSONBytesResponse
from producer_api.compat.ingest import describe, is_identifier, latest_time, store

SUCCESS = {"success": True}  # the answer, and its example
TIME: TypeAdapter[Any] = TypeAdapter(SentTime)
NUMBER: TypeAdapter[Any] = TypeAdapter(Number)
TEXT: TypeAdapter[Any] = TypeAdapter(StrictStr)
PROPERTIES = {
    "CLICK": (("locationX", NUMBER, "MISSING_LOCATION_X_VALUE"), ("locationY", NUMBER, "MISSING_LOCATION_Y_VALUE")),
    "VIEW": (("viewedId", TEXT, "MISSING_VIEWEDID_VALUE"),),
    "NAVIGATE": (("pageFrom", TEXT, "MISSING_PAGEFROM_VALUE"), ("pageTo", TEXT, "MISSING_PAGETO_VALUE")),
}
# If the contract refuses what the checks above let through, the closest code for its first problem,
# by the last name in the problem's path.
BY_FIELD = {"userId": "MISSING_USERID", "sessionId": "MISSING_SESSIONID", "actions": "MISSING_ACTIONS",
            "properties": "MISSING_PROPERTIES_VALUE", "time": "INVALID_TIME_FORMAT", "type": "INVALID_ACTION_TYPE",
            **{key: code for checks in PROPERTIES.values() for key, _, code in checks}}


def fits(adapter: TypeAdapter[Any], value: Any) -> bool:
    try:
        adapter.validate_python(value)
    except ValidationError:
        return False
    return True


def action_failure(action: Any) -> str | None:
    if not isinstance(action, dict) or not action:
        return "EMPTY_ACTION"
    kind, properties, time = action.get("type"), action.get("properties"), action.get("time")
    if kind is None or kind == "":
        return "MISSING_TYPE_VALUE"
    if not isinstance(properties, dict) or not properties:
        return "MISSING_PROPERTIES_VALUE"
    if time is None or time == "":
        return "MISSING_TIME_VALUE"
    if not fits(TIME, time):
        return "INVALID_TIME_FORMAT"
    required = PROPERTIES.get(kind.upper()) if isinstance(kind, str) else None
    if required is None:
        return "INVALID_ACTION_TYPE"
    return next((code for key, adapter, code in required if not fits(adapter, properties.get(key))), None)


def closest_code(problem: Problem) -> str:
    last = problem.path.rsplit(".", 1)[-1]
    if re.fullmatch(r"actions\[\d+\]", last):
        return "EMPTY_ACTION"
    return BY_FIELD.get(last, "INVALID_LOG")


def first_failure(document: Any, latest: datetime | None = None) -> tuple[str, str] | None:
    """(003's code, a description) of the first failure, or None if every log is valid."""
    if not isinstance(document, list) or not document:
        return "NO_LOGS_PROVIDED", "the body must be a non-empty array of logs"
    for index, log in enumerate(document):
        where = f"[{index}]"
        if not isinstance(log, dict) or not is_identifier(log.get("userId")):
            return "MISSING_USERID", f"{where}.userId must be a non-empty string"
        if not is_identifier(log.get("sessionId")):
            return "MISSING_SESSIONID", f"{where}.sessionId must be a non-empty string"
        actions = log.get("actions")
        if not isinstance(actions, list) or not actions:
            return "MISSING_ACTIONS", f"{where}.actions must be a non-empty array"
        for position, action in enumerate(actions):
            code = action_failure(action)
            if code:
                return code, f"{where}.actions[{position}]"
    try:
        validate_logs(document, latest=latest)
    except InvalidLogError as exc:
        return closest_code(exc.problems[0]), describe(exc.problems)
    return None


@in_shape(shapes.seed003)
async def submit(request: Request, document: Any) -> Response:
    """200 `{"success":true}` once every action is queryable; nothing is stored if any log is refused."""
    latest = latest_time(request)
    failure = first_failure(document, latest)
    if failure is not None:
        raise SeedError(shapes.seed003, 400, *failure)
    logs = validate_logs(document, latest=latest)
    await store(request, logs, document)
    return JSONBytesResponse(SUCCESS)
