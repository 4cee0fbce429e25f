"""The query API's errors: one root, one rendering (logstream.problems)."""

from __future__ import annotations

from logstream.problems import ProblemError


class QueryError(ProblemError):
    pass


class InvalidParameterError(QueryError):
    status, code, title = 400, "invalid_parameter", "Invalid query parameter"

    def __init__(self, parameter: str, message: str):
        super().__init__(f"{parameter}: {message}",
                         errors=[{"path": parameter, "code": "invalid_parameter", "message": message}])


class InvalidCursorError(QueryError):
    status, code, title = 400, "invalid_cursor", "The cursor is not one this API issued"


class TooManyBucketsError(QueryError):
    status, code, title = 400, "too_many_buckets", "Too many time-series buckets"


class ResultTooLargeError(QueryError):
    status, code, title = 400, "result_too_large", "The answer is larger than the configured limits"


class NotFoundError(QueryError):
    status, code, title = 404, "not_found", "Not found"


class ClickHouseUnavailableError(QueryError):
    status, code, title = 503, "clickhouse_unavailable", "ClickHouse is unavailable"


class QueryTimeoutError(QueryError):
    status, code, title = 503, "query_timeout", "The query took longer than allowed"


class InvalidStepError(QueryError):
    status, code, title = 400, "invalid_step", "A step is not in the step syntax"

    def __init__(self, parameter: str, text: str, message: str):
        super().__init__(f"{parameter}: {text[:80]!r}: {message}",
                         errors=[{"path": parameter, "code": "invalid_step", "message": message}])


class TooManyStepsError(QueryError):
    status, code, title = 400, "too_many_steps", "Too many funnel steps"


class WindowOutOfRangeError(QueryError):
    status, code, title = 400, "window_out_of_range", "The conversion window is out of range"


class DepthOutOfRangeError(QueryError):
    status, code, title = 400, "depth_out_of_range", "The path depth is out of range"


class TooManyPeriodsError(QueryError):
    status, code, title = 400, "too_many_periods", "Too many periods"
