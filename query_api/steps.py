"""Steps of funnels and retention: `TYPE[:condition[;condition...]]`, parsed and matched in SQL.

A condition is `key=value` (the string property `key` equals `value`) or `key^=prefix` (it starts
with `prefix`). Values are compared as sent (case-sensitive, after JSON unescaping); a property
that is missing or not a string never matches; values must not be empty. In a value, `\\;` is a
`;` and `\\\\` a backslash. Types are CLICK, VIEW, NAVIGATE in any case. Examples:
`NAVIGATE:pageTo=inventory`, `VIEW:viewedId^=item-1`, `NAVIGATE:pageFrom=home;pageTo=cart`.

The SQL text of a condition comes from the closed templates below; the type, keys and values are
server-side parameters named after the step's position.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

from logstream.contract import ActionType
from query_api.errors import InvalidStepError

STEP_MAX_LENGTH = 512
MAX_CONDITIONS = 4
KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")

# JSONExtractString also renders numbers and booleans as text: the type check keeps them out.
IS_STRING = "JSONType(properties, {{{key}:String}}) = 'String'"
EXACT = IS_STRING + " AND JSONExtractString(properties, {{{key}:String}}) = {{{value}:String}}"
PREFIX = IS_STRING + " AND startsWith(JSONExtractString(properties, {{{key}:String}}), {{{value}:String}})"
TYPE = "type = {{{type}:String}}"
# The contract's required string properties have columns of their own (0006_action_property_columns.sql):
# (type, key) -> column. Always strings there, so no type check and no JSON to parse.
PROPERTY_COLUMNS = {("NAVIGATE", "pageFrom"): "page_from", ("NAVIGATE", "pageTo"): "page_to",
                    ("VIEW", "viewedId"): "viewed_id"}
COLUMN_EXACT = "{column} = {{{value}:String}}"
COLUMN_PREFIX = "startsWith({column}, {{{value}:String}})"


@dataclass(frozen=True, slots=True)
class Condition:
    key: str
    operator: Literal["=", "^="]
    value: str


@dataclass(frozen=True, slots=True)
class Step:
    text: str
    type: str
    conditions: tuple[Condition, ...] = ()

    def sql(self, name: str, parameters: dict[str, Any]) -> str:
        """A boolean SQL expression: this step matches the row. Parameters are named `{name}_...`."""
        parameters[f"{name}_type"] = self.type
        clauses = [TYPE.format(type=f"{name}_type")]
        for index, condition in enumerate(self.conditions):
            key, value = f"{name}_k{index}", f"{name}_v{index}"
            parameters[value] = condition.value
            column = PROPERTY_COLUMNS.get((self.type, condition.key))
            if column is not None:
                template = COLUMN_EXACT if condition.operator == "=" else COLUMN_PREFIX
                clauses.append(template.format(column=column, value=value))
            else:
                parameters[key] = condition.key
                clauses.append((EXACT if condition.operator == "=" else PREFIX).format(key=key, value=value))
        return "(" + " AND ".join(clauses) + ")"


def _split_conditions(text: str, fail: Any) -> list[str]:
    """Split on unescaped `;`, undoing the `\\;` and `\\\\` escapes."""
    parts, current, chars = [], [], iter(text)
    for char in chars:
        if char == "\\":
            escaped = next(chars, None)
            if escaped not in (";", "\\"):
                fail("a backslash in a value must be followed by ; or \\ (\\; is a ;, \\\\ a backslash)")
            current.append(escaped)
        elif char == ";":
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return parts


def parse_step(parameter: str, text: str) -> Step:
    """One step; a bad one is an InvalidStepError naming the parameter (with its position) and why."""

    def fail(message: str) -> None:
        raise InvalidStepError(parameter, text, message)

    if len(text) > STEP_MAX_LENGTH:
        fail(f"longer than {STEP_MAX_LENGTH} characters")
    kind, colon, rest = text.partition(":")
    kind = kind.strip().upper()
    if kind not in ActionType.__members__:
        fail(f"unknown type {kind[:32]!r}: a step starts with CLICK, VIEW or NAVIGATE")
    if not colon:
        return Step(text, kind)
    conditions = []
    for part in _split_conditions(rest, fail):
        match = re.match(r"([^=^]*)(\^=|=)(.*)", part, re.DOTALL)
        if match is None:
            fail(f"condition {part[:32]!r} is not key=value or key^=prefix")
            raise AssertionError  # unreachable: fail raises
        key, operator, value = match.groups()
        if not KEY.fullmatch(key):
            fail(f"property name {key[:32]!r} must be letters, digits or _ (at most 64), not starting with a digit")
        if value == "":
            fail(f"the value of {key} is empty")
        conditions.append(Condition(key, "=" if operator == "=" else "^=", value))
    if len(conditions) > MAX_CONDITIONS:
        fail(f"at most {MAX_CONDITIONS} conditions per step")
    return Step(text, kind, tuple(conditions))


def parse_optional_step(parameter: str, text: str | None) -> Step | None:
    """None (any action) for an absent or empty parameter."""
    return parse_step(parameter, text) if text else None
