"""GET /v1/stats/paths: the most frequent page sequences of sessions, from or to a page. Exact: one
pass over the NAVIGATE rows of the range."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from logstream.responses import JSONBytesResponse
from query_api.deps import FromQuery, StoreDep, ToQuery, example
from query_api.errors import DepthOutOfRangeError, InvalidParameterError
from query_api.funnels import required_range
from query_api.queries import ch_time
from query_api.stats import TOP_MAX_LIMIT

router = APIRouter(tags=["stats"])

MAX_DEPTH = 6
PAGE_MAX_LENGTH = 1024

# A session's pages: the first navigation's pageFrom, then every navigation's pageTo, in order of
# (time, action_id); `at` is the first position of the page asked for. page_from and page_to are
# the properties' columns (0006_action_property_columns.sql). The pages are sorted by their keys,
# only the keys compared (sorting whole (time, id, page, page) tuples took twice as long).
SESSION_PAGES = """
SELECT arraySort((pair, key) -> key, groupArray((page_from, page_to)), groupArray((time, action_id))) AS navigations,
       arrayPushFront(arrayMap(n -> n.2, navigations), navigations[1].1) AS pages,
       indexOf(pages, {page:String}) AS at
FROM actions
WHERE type = 'NAVIGATE' AND time >= {start:DateTime64(3, 'UTC')} AND time < {end:DateTime64(3, 'UTC')}
GROUP BY session_id
HAVING at > 0
"""
PATHS = """
SELECT {path} AS path, count() AS sessions FROM ({pages})
GROUP BY path ORDER BY sessions DESC, path LIMIT {{limit:UInt32}}
"""
FROM_PAGE = "arraySlice(pages, at, {depth:UInt8} + 1)"
TO_PAGE = "arraySlice(pages, greatest(1, toInt64(at) - {depth:UInt8}), least(at, {depth:UInt8} + 1))"

PATHS_EXAMPLE = {"start": None, "end": "checkout", "depth": 2, "paths": [
    {"pages": ["inventory", "cart", "checkout"], "sessions": 412},
    {"pages": ["home", "cart", "checkout"], "sessions": 198},
    {"pages": ["checkout"], "sessions": 41}]}
PageQuery = Annotated[str | None, Query(max_length=PAGE_MAX_LENGTH, examples=["checkout"])]


@router.get("/v1/stats/paths", responses=example(PATHS_EXAMPLE), summary="Most frequent page sequences")
async def get_paths(store: StoreDep, from_: FromQuery = None, to: ToQuery = None,
                    start: Annotated[str | None, Query(max_length=PAGE_MAX_LENGTH,
                                                       description="Paths from this page")] = None,
                    end: Annotated[str | None, Query(max_length=PAGE_MAX_LENGTH,
                                                     description="Paths to this page", examples=["checkout"])] = None,
                    depth: Annotated[int, Query(description="Pages after `start` or before `end`, 1 to 6")] = 3,
                    limit: Annotated[int, Query(ge=1, le=TOP_MAX_LIMIT,
                                                description=f"How many, 1 to {TOP_MAX_LIMIT}")] = 10,
                    ) -> JSONBytesResponse:
    """**A session's pages** are those it navigated through, from its NAVIGATE actions in [from, to)
    in order of time (ties by actionId): the first one's `pageFrom`, then each one's `pageTo`
    (pages are compared as sent; repeats are kept). Sessions are sessionIds. An empty `start` or
    `end` is an absent one.

    **Paths.** With `start=P`: from the session's first visit of P (its first position in the
    pages), P and the next `depth` pages. With `end=P`: the `depth` pages before that first visit,
    then P. A session with fewer pages after (or before) gives a shorter path. Exactly one of
    `start` and `end`; `depth` 1 to 6 (`depth_out_of_range` otherwise).

    **Answer.** The `limit` most frequent paths with the number of sessions that took them, most
    frequent first, ties by the pages (compared page by page, by UTF-8 bytes; a path before its
    own extensions). Each session counts once.
    """
    start, end = start or None, end or None  # an empty parameter is an absent one
    if (start is None) == (end is None):
        raise InvalidParameterError("start", "give exactly one of start (paths from a page) and end (paths to it)")
    if not 1 <= depth <= MAX_DEPTH:
        raise DepthOutOfRangeError(f"depth: {depth} is outside 1 to {MAX_DEPTH}",
                                   errors=[{"path": "depth", "code": "depth_out_of_range",
                                            "message": f"from 1 to {MAX_DEPTH}"}])
    begin, finish = required_range(from_, to)
    parameters: dict[str, Any] = {"page": start if start is not None else end, "depth": depth, "limit": limit,
                                  "start": ch_time(begin), "end": ch_time(finish)}
    sql = PATHS.format(path=FROM_PAGE if start is not None else TO_PAGE, pages=SESSION_PAGES)
    rows = await store.rows(sql, parameters) if begin < finish else []
    return JSONBytesResponse({"start": start, "end": end, "depth": depth,
                              "paths": [{"pages": list(pages), "sessions": n} for pages, n in rows]})
