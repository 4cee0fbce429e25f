"""The limits of one log's shape: part of the contract (logstream.contract applies them, and its fast
path asks the same function), each with its own problem code."""

from __future__ import annotations

from typing import Any

MAX_ACTIONS_PER_LOG = 1000  # too_many_actions
MAX_PROPERTIES = 1000  # too_many_properties: values in one action's properties, nested ones included
MAX_DEPTH = 8  # too_deep: levels of objects/arrays in properties, properties itself being the first
MAX_STRING_LENGTH = 8192  # too_long: characters of any string in properties, keys included


def properties_problem(properties: dict[Any, Any]) -> tuple[str, str, str] | None:
    """The first limit that an action's properties exceed, as (code, message, path below properties),
    or None. One definition for the contract and its fast path; only what can exceed is measured."""
    if len(properties) <= MAX_PROPERTIES:  # the usual case first: flat, short values
        for key, value in properties.items():
            kind = type(value)
            if type(key) is not str or len(key) > MAX_STRING_LENGTH:
                break
            if kind is str:
                if len(value) > MAX_STRING_LENGTH:
                    break
            elif kind is float:
                if value - value != 0:
                    break
            elif kind is not int and kind is not bool and value is not None:
                break  # nested (or unusual): the walk below decides
        else:
            return None
    return _walk(properties)


def _walk(properties: dict[Any, Any]) -> tuple[str, str, str] | None:
    count = 0
    pending: list[tuple[Any, str, int]] = [(properties, "", 1)]
    while pending:
        container, path, depth = pending.pop()
        if depth > MAX_DEPTH:
            return "too_deep", f"properties may nest at most {MAX_DEPTH} levels of objects and arrays", path
        count += len(container)
        if count > MAX_PROPERTIES:
            return ("too_many_properties", f"properties may hold at most {MAX_PROPERTIES} values "
                    "(counting the members of nested objects and the items of arrays)", "")
        is_object = isinstance(container, dict)
        for key, value in container.items() if is_object else enumerate(container):
            if is_object and isinstance(key, str) and len(key) > MAX_STRING_LENGTH:
                return "too_long", f"a key may have at most {MAX_STRING_LENGTH} characters", path
            if isinstance(value, str):
                if len(value) > MAX_STRING_LENGTH:
                    return "too_long", f"a string may have at most {MAX_STRING_LENGTH} characters", _below(path, key)
            elif isinstance(value, dict | list):
                pending.append((value, _below(path, key), depth + 1))
            elif isinstance(value, float) and value - value != 0:
                # inf or nan (1e999 parses to inf): JSON has no such number, it would be stored as null
                return "number_out_of_range", "a number must be finite", _below(path, key)
    return None


def _below(path: str, key: Any) -> str:
    return f"{path}[{key}]" if isinstance(key, int) else f"{path}.{key}"
