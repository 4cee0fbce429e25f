"""Driver errors are classified once: limits are 400s that say what to change; the rest is 503."""

from __future__ import annotations

from clickhouse_connect.driver.exceptions import DatabaseError, OperationalError, ProgrammingError

from query_api.errors import ClickHouseUnavailableError, QueryTimeoutError, ResultTooLargeError
from query_api.store import classify


def test_limits_and_outages_map_to_their_problems() -> None:
    too_large = classify(DatabaseError("Code: 396. DB::Exception: Limit for result exceeded", code=396))
    assert isinstance(too_large, ResultTooLargeError) and too_large.status == 400
    assert "narrow the range" in too_large.detail
    timeout = classify(DatabaseError("Code: 159. DB::Exception: Timeout exceeded", code=159))
    assert isinstance(timeout, QueryTimeoutError) and timeout.status == 503
    for error in (OperationalError("connection refused"), ProgrammingError("The client has been closed"),
                  DatabaseError("Code: 60. Unknown table", code=60)):
        unavailable = classify(error)
        assert isinstance(unavailable, ClickHouseUnavailableError) and unavailable.status == 503
        assert unavailable.headers == {"Retry-After": "1"}
