"""GET /v1/actions/export: every action matching the /v1/actions filters, streamed as NDJSON or
CSV in time order, with memory that does not grow with the number of rows.

ClickHouse formats each row (the same fields and time rendering as /v1/actions) and the rows
stream through in blocks. A global ORDER BY would sort the whole result in memory first (in the
embedded engine, in this process), so the range is cut into time windows of about
EXPORT_WINDOW_ROWS actions, planned from the per-minute counts, and each window is one sorted
query: memory is bounded by one window, whatever the export's size.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from starlette.responses import StreamingResponse

from logstream.contract import EARLIEST_TIME, LATEST_TIME
from query_api import metrics
from query_api.deps import PROBLEMS, FilterDep, SettingsDep, StoreDep
from query_api.errors import ResultTooLargeError
from query_api.filters import ActionFilter
from query_api.queries import ARRIVAL_ORDER, ch_time, where
from query_api.rollups import answerable_by_rollups

router = APIRouter(tags=["actions"])

EXPORT_WINDOW_ROWS = 20_000
EXPORT_BLOCK_ROWS = 8192

# The time as it was sent: UTC shifted by the stored offset, milliseconds only when not zero.
TIME_TEXT = (
    "concat(formatDateTime(time + toIntervalMinute(if(time_offset = 'Z', 0, "
    "if(substring(time_offset, 1, 1) = '-', -1, 1) * (toInt32(substring(time_offset, 2, 2)) * 60 "
    "+ toInt32(substring(time_offset, 5, 2))))), '%Y-%m-%dT%H:%i:%S', 'UTC'), "
    "if(toUnixTimestamp64Milli(time) % 1000 = 0, '', "
    "concat('.', leftPad(toString(toUnixTimestamp64Milli(time) % 1000), 3, '0'))), time_offset)"
)
LINES = {
    "ndjson": ("concat('{\"actionId\":\"', toString(action_id), '\",\"eventId\":\"', toString(event_id), "
               "'\",\"userId\":', toJSONString(user_id), ',\"sessionId\":', toJSONString(session_id), "
               "',\"type\":\"', toString(type), '\",\"time\":\"', " + TIME_TEXT + ", "
               "'\",\"properties\":', properties, '}\\n')"),
    "csv": ("formatRow('CSV', toString(action_id), toString(event_id), user_id, session_id, toString(type), "
            + TIME_TEXT + ", properties)"),
}
CSV_HEADER = b"actionId,eventId,userId,sessionId,type,time,properties\n"
MEDIA_TYPES = {"ndjson": "application/x-ndjson", "csv": "text/csv; charset=utf-8"}

EXPORT_ROWS = ("SELECT {line} FROM actions WHERE {where} AND time >= {{window_lo:DateTime64(3, 'UTC')}} "
               "AND time < {{window_hi:DateTime64(3, 'UTC')}} ORDER BY " + ARRIVAL_ORDER)
# Windows of about {window_rows} actions: (first minute, actions from there to the next window).
WINDOWS = """
SELECT min(minute), sum(n) FROM (
    SELECT minute, n, sum(n) OVER (ORDER BY minute ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS through
    FROM ({per_minute})
) GROUP BY intDiv(through - n, {{window_rows:UInt64}}) ORDER BY 1"""
# An upper bound per minute from the rollup (the range's edge minutes count whole)...
PER_MINUTE_ROLLUP = ("SELECT minute, sum(actions) AS n FROM actions_per_minute "
                     "WHERE {where} GROUP BY minute")
# ... or the exact count, when a user or session filter rules the rollup out.
PER_MINUTE_RAW = "SELECT toStartOfMinute(time) AS minute, count() AS n FROM actions WHERE {where} GROUP BY minute"
ROLLUP_CLAUSES = {
    "types": "type IN {types:Array(String)}",
    "start": "minute >= toStartOfMinute({start:DateTime64(3, 'UTC')})",
    "end": "minute < {end:DateTime64(3, 'UTC')}",
}


def windows_query(action_filter: ActionFilter) -> tuple[str, dict[str, Any]]:
    if not answerable_by_rollups(action_filter):
        condition, parameters = where(action_filter, None)
        per_minute = PER_MINUTE_RAW.format(where=condition)
    else:
        parameters = {}
        clauses = []
        if action_filter.types:
            parameters["types"] = list(action_filter.types)
            clauses.append(ROLLUP_CLAUSES["types"])
        for name, value in (("start", action_filter.start), ("end", action_filter.end)):
            if value is not None:
                parameters[name] = ch_time(value)
                clauses.append(ROLLUP_CLAUSES[name])
        per_minute = PER_MINUTE_ROLLUP.format(where=" AND ".join(clauses) or "1")
    parameters["window_rows"] = EXPORT_WINDOW_ROWS
    return WINDOWS.format(per_minute=per_minute), parameters


def window_statements(action_filter: ActionFilter, boundaries: list[Any], file_format: str) -> list[tuple[str, dict]]:
    """One statement per window: the filter's whole range cut at `boundaries` (none: one window)."""
    condition, parameters = where(action_filter, None)
    sql = EXPORT_ROWS.format(line=LINES[file_format], where=condition)
    lows = [action_filter.start or EARLIEST_TIME, *boundaries]
    highs = [*boundaries, action_filter.end or LATEST_TIME]
    return [(sql, {**parameters, "window_lo": ch_time(low), "window_hi": ch_time(high)})
            for low, high in zip(lows, highs, strict=True)]


NDJSON_EXAMPLE = ('{"actionId":"0b8f8b8e-6a8e-5c1e-9d0e-3f9a1c2b4d5e","eventId":"4c0c6d0e-1f2a-4b3c-8d4e-5f6a7b8c9d0e",'
                  '"userId":"ABC123XYZ","sessionId":"XYZ456ABC","type":"CLICK","time":"2018-10-18T21:37:28-06:00",'
                  '"properties":{"locationX":52,"locationY":11}}\n')
CSV_EXAMPLE = (CSV_HEADER.decode() + '"0b8f8b8e-6a8e-5c1e-9d0e-3f9a1c2b4d5e","4c0c6d0e-1f2a-4b3c-8d4e-5f6a7b8c9d0e",'
               '"ABC123XYZ","XYZ456ABC","CLICK","2018-10-18T21:37:28-06:00","{""locationX"":52,""locationY"":11}"\n')


@router.get("/v1/actions/export", summary="Every matching action, streamed as NDJSON or CSV",
            response_class=StreamingResponse,
            responses={200: {"content": {"application/x-ndjson": {"example": NDJSON_EXAMPLE},
                                         "text/csv": {"example": CSV_EXAMPLE}}}, **PROBLEMS})
async def export_actions(
    store: StoreDep, settings: SettingsDep, action_filter: FilterDep,
    format: Annotated[Literal["ndjson", "csv"], Query(description="ndjson: one /v1/actions object per line; "
                                                                  "csv: a header, then one row per action")] = "ndjson",
) -> StreamingResponse:
    """The /v1/actions filters, no limit: ordered by time (ties in arrival order), times as sent, streamed.
    Up to LOGSTREAM_QUERY_EXPORT_MAX_ROWS rows (more is a 400 before anything is sent). An error
    after the first bytes ends the response without its final chunk, so it cannot pass for a
    complete file."""
    plan = await store.rows(*windows_query(action_filter), max_rows=settings.query_export_max_rows)
    total = sum(count for _, count in plan)
    if total > settings.query_export_max_rows:
        raise ResultTooLargeError(f"about {total:,} actions match, more than the {settings.query_export_max_rows:,} "
                                  "an export may hold (LOGSTREAM_QUERY_EXPORT_MAX_ROWS): narrow the range or filters")
    # the windows cover the whole range whatever the plan counts: a rollup a feed behind the rows
    # (or with nothing yet) makes them uneven, never short of a row
    statements = window_statements(action_filter, [start for start, _ in plan[1:]], format)
    limits = {"max_execution_time": settings.query_export_max_execution_s, "max_block_size": EXPORT_BLOCK_ROWS,
              "max_result_rows": settings.query_export_max_rows, "result_overflow_mode": "throw"}

    def body() -> Any:
        metrics.EXPORTS_IN_PROGRESS.inc()
        try:
            if format == "csv":
                yield CSV_HEADER
            yield from store.stream(statements, limits)
        finally:
            metrics.EXPORTS_IN_PROGRESS.dec()

    return StreamingResponse(body(), media_type=MEDIA_TYPES[format],
                             headers={"Content-Disposition": f'attachment; filename="actions.{format}"'})
