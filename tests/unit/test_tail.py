"""logstream tail's filters and its two renderings (the command runs against the stack in
tests/e2e/test_topics_docs.py)."""

from __future__ import annotations

import orjson

from logstream.tail import Filter, render
from tests.fixtures import README_EXAMPLE

ACTION = {"actionId": "a", "userId": "ABC123XYZ", "type": "VIEW"}


def test_filters_by_key_and_by_type_in_any_case() -> None:
    assert Filter().keeps(None, "not json")
    assert Filter(user="ABC123XYZ").keeps(b"ABC123XYZ", ACTION)
    assert not Filter(user="ABC123XYZ").keeps(b"other", ACTION)
    assert Filter(type="view").keeps(b"k", ACTION) and not Filter(type="CLICK").keeps(b"k", ACTION)
    # a raw log passes when any of its actions has the type
    assert Filter(type="navigate").keeps(b"k", README_EXAMPLE)
    assert not Filter(type="SCROLL").keeps(b"k", README_EXAMPLE)
    assert not Filter(type="VIEW").keeps(b"k", "unparseable bytes")


def test_renders_key_partition_offset_and_headers() -> None:
    record = {"topic": "logstream.actions.v1", "partition": 2, "offset": 7, "timestamp": 1, "key": "ABC123XYZ",
              "headers": {"logstream.schema": "logstream.actions/1"}, "value": ACTION}
    assert render(record, as_json=False) == ("logstream.actions.v1 partition=2 offset=7 key=ABC123XYZ "
                                             "logstream.schema=logstream.actions/1\n  " + orjson.dumps(ACTION).decode())
    assert orjson.loads(render(record, as_json=True)) == record
