"""Steps of funnels and retention, and the funnel's window: parsed, or refused with the problem
that names what is wrong."""

from __future__ import annotations

import pytest

from query_api.errors import InvalidStepError, TooManyStepsError, WindowOutOfRangeError
from query_api.funnels import parse_steps, parse_window
from query_api.steps import Condition, Step, parse_step


def test_a_step_is_a_type_with_conditions() -> None:
    assert parse_step("steps[1]", "view") == Step("view", "VIEW")
    assert parse_step("steps[1]", "NAVIGATE:pageTo=inventory;pageFrom^=ho") == Step(
        "NAVIGATE:pageTo=inventory;pageFrom^=ho", "NAVIGATE",
        (Condition("pageTo", "=", "inventory"), Condition("pageFrom", "^=", "ho")))
    escaped = parse_step("start", "NAVIGATE:pageTo=a\\;b\\\\c=d")
    assert escaped.conditions == (Condition("pageTo", "=", "a;b\\c=d"),)


def test_conditions_render_parameters_not_text() -> None:
    parameters: dict = {}
    sql = parse_step("steps[2]", "CLICK:note^=x' OR 1=1 --").sql("s1", parameters)
    assert "OR 1=1" not in sql and "note" not in sql
    assert parameters == {"s1_type": "CLICK", "s1_k0": "note", "s1_v0": "x' OR 1=1 --"}
    column: dict = {}
    assert "page_to = {s2_v0:String}" in parse_step("steps[3]", "NAVIGATE:pageTo=inventory").sql("s2", column)
    assert column == {"s2_type": "NAVIGATE", "s2_v0": "inventory"}


@pytest.mark.parametrize(("text", "says"), [
    ("JUMP", "unknown type"), ("VIEW:", "not key=value"), ("VIEW:viewedId", "not key=value"),
    ("VIEW:1d=x", "property name"), ("VIEW:viewedId=", "is empty"), ("VIEW:a=b\\c", "backslash"),
    ("VIEW:a=1;b=2;c=3;d=4;e=5", "at most 4"), ("VIEW:a=" + "x" * 600, "longer than"),
])
def test_a_bad_step_names_its_position_and_why(text: str, says: str) -> None:
    with pytest.raises(InvalidStepError) as caught:
        parse_step("steps[3]", text)
    assert caught.value.detail.startswith("steps[3]: ") and says in caught.value.detail
    assert caught.value.errors is not None
    assert caught.value.errors[0]["path"] == "steps[3]" and caught.value.errors[0]["code"] == "invalid_step"


def test_at_most_ten_steps() -> None:
    assert len(parse_steps(["VIEW"] * 10)) == 10
    with pytest.raises(TooManyStepsError):
        parse_steps(["VIEW"] * 11)
    with pytest.raises(InvalidStepError) as caught:
        parse_steps(["VIEW", "CLICK", "TAP"])
    assert caught.value.errors[0]["path"] == "steps[3]"


@pytest.mark.parametrize(("text", "seconds"), [("1", 1), ("90s", 90), ("30m", 1800), ("12h", 43200),
                                               ("14d", 14 * 86400), ("90d", 90 * 86400), ("7776000", 7776000)])
def test_windows(text: str, seconds: int) -> None:
    assert parse_window(text) == seconds


@pytest.mark.parametrize("text", ["0", "0s", "91d", "7776001", "1w", "1.5h", "-1", "", "1 day"])
def test_windows_out_of_range(text: str) -> None:
    with pytest.raises(WindowOutOfRangeError):
        parse_window(text)
