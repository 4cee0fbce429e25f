"""Seed 004 (Django REST framework): POST /logs/ with ONE log object: 201 with no body; refused with
400 {"container_errors": {field: [messages]}, "action_errors": [{field: [messages]}, ...]} listing every
problem the contract finds (action_errors has an entry per refused action, in order, as 004's had)."""

from __future__ import annotations

import re
from typing import Any

from fastapi import Request
from starlette.responses import Response

from logstream import shapes
from logstream.compat import SeedError, in_shape
from logstream.contract import InvalidLogError, Problem
from producer_api.compat.ingest import describe, store, validate

ACTION_PATH = re.compile(r"^actions\[(\d+)\]\.?(.*)$")
# Django REST framework's wording, where the contract's problem has a DRF equivalent.
MESSAGES = {"missing_field": "This field is required.", "missing_property": "This field is required.",
            "empty": "This field may not be blank.", "too_long": "Ensure this field has no more than 256 characters.",
            "invalid_time": "Datetime has wrong format. Use one of these formats instead: "
                            "YYYY-MM-DDThh:mm[:ss[.uuuuuu]][+HH:MM|-HH:MM|Z]."}
# DRF's nested list accepted an empty one: `"actions": []` is a valid log with nothing to store.
NO_ACTIONS = ("actions", "empty")


def message(problem: Problem) -> str:
    if problem.code == "empty" and problem.path == "actions":
        return "This list may not be empty."
    return MESSAGES.get(problem.code, problem.message)


def errors(problems: list[Problem]) -> dict[str, Any]:
    container: dict[str, list[str]] = {}
    actions: dict[int, dict[str, Any]] = {}
    for problem in problems:
        match = ACTION_PATH.match(problem.path)
        if match is None:
            container.setdefault(problem.path or "non_field_errors", []).append(message(problem))
            continue
        node = actions.setdefault(int(match[1]), {})
        *parents, leaf = match[2].split(".") if match[2] else ["non_field_errors"]
        for part in parents:
            node = node.setdefault(part, {})
        node.setdefault(leaf, []).append(message(problem))
    return {"container_errors": container, "action_errors": [actions[i] for i in sorted(actions)]}


@in_shape(shapes.seed004)
async def submit(request: Request, document: dict[str, Any]) -> Response:
    """201 (no body, as 004's) once every action is queryable; `"actions": []` stores nothing."""
    try:
        logs = validate(request, document)
    except InvalidLogError as exc:
        problems = [p for p in exc.problems if (p.path, p.code) != NO_ACTIONS]
        if not problems:
            return Response(status_code=201)
        raise SeedError(shapes.seed004, 400, "invalid_logs", describe(problems), body=errors(problems)) from None
    await store(request, logs, [document])
    return Response(status_code=201)
