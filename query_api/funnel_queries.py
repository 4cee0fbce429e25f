"""SQL for GET /v1/stats/funnel: one statement, one pass over the raw rows of the range.

Per entity (user or session) the matching actions are sorted by (time, action_id) and folded
(arrayFold) into the conversion the API reports; then entities are counted per step (and period).

strict: the fold keeps, for each step i, the latest-starting conversion that has reached step i
(its first action's position, and the times of its steps). An action matching step i extends the
conversion held for step i-1 when that one started later than the one held for step i and the
action is within the window of its start. Steps are updated from the state before the action, so
one action never serves two steps of one conversion.

any: the fold keeps, per step, the time of its latest action so far; at each action, the steps
whose latest action lies within the window before it are the steps entered in that window; the
first action (in order) with the most such steps gives the conversion, its times sorted.

The fold's text varies only with `order`; the number of steps, the window and the range are
server-side parameters; the step conditions come from query_api/steps.py.
"""

from __future__ import annotations

# Matching actions in [start, end): time (epoch ms), action_id (breaks ties), a bitmask of steps matched.
EVENTS = """
SELECT {entity} AS entity, toUnixTimestamp64Milli(time) AS t, action_id, {mask} AS mask
FROM actions
WHERE type IN {{types:Array(String)}} AND time >= {{start:DateTime64(3, 'UTC')}} AND time < {{end:DateTime64(3, 'UTC')}}
"""

STRICT_FOLD = """
arrayFold((acc, e, pos) -> arrayMap(i -> multiIf(
        i = 1 AND bitTest(e.3, 0), (toUInt64(pos), [e.1]),
        i > 1 AND bitTest(e.3, i - 1) AND acc[i - 1].1 > acc[i].1 AND e.1 - acc[i - 1].2[1] <= {window:Int64},
            (acc[i - 1].1, arrayPushBack(acc[i - 1].2, e.1)),
        acc[i]), range(1, {steps:UInt8} + 1)),
    events, arrayEnumerate(events),
    CAST(arrayWithConstant({steps:UInt8}, (0, [])), 'Array(Tuple(UInt64, Array(Int64)))'))
"""
STRICT_CHAIN = "arrayFilter(x -> x.1 > 0, {fold})[-1].2"

ANY_FOLD = """
arrayFold((acc, e) -> (
        arrayMap((j, last) -> if(bitTest(e.3, j - 1), e.1, last), range(1, {steps:UInt8} + 1), acc.1),
        if(arrayCount((j, last) -> if(bitTest(e.3, j - 1), e.1, last) >= e.1 - {window:Int64},
                      range(1, {steps:UInt8} + 1), acc.1) > length(acc.2),
           arraySort(arrayFilter(x -> x >= e.1 - {window:Int64},
                                 arrayMap((j, last) -> if(bitTest(e.3, j - 1), e.1, last),
                                          range(1, {steps:UInt8} + 1), acc.1))),
           acc.2)),
    events,
    CAST((arrayWithConstant({steps:UInt8}, -1), []), 'Tuple(Array(Int64), Array(Int64))')).2
"""

# One row per entity that entered step 1: the times of the steps of its conversion.
CHAINS = """
SELECT {chain} AS chain FROM (
    SELECT arraySort(groupArray((t, action_id, mask))) AS events
    FROM ({events}) WHERE mask != 0 GROUP BY entity
)
"""

# Per step (and period of the conversion's first step): entities, and the nearest-rank median and
# 90th percentile of the time from the previous step (the smallest time at least 50 % / 90 % of
# the entities took no longer than).
STEP_COUNTS = """
SELECT period, step, entered, gaps[intDiv(length(gaps) + 1, 2)], gaps[intDiv(9 * length(gaps) + 9, 10)] FROM (
    SELECT {period} AS period, step, count() AS entered,
           arraySort(groupArrayIf(chain[step] - chain[step - 1], step > 1)) AS gaps
    FROM ({chains}) ARRAY JOIN arrayEnumerate(chain) AS step
    WHERE length(chain) > 0
    GROUP BY {group_by}
)
"""
WHOLE_RANGE = "toUInt32(0)"
PERIOD = "roundDown(toUInt32(intDiv(chain[1], 1000)), CAST({starts:String}, 'Array(UInt32)'))"
GROUP_BY_STEP = "period, step"
# Every period, and the whole range (grouping(period) = 1 on those rows).
GROUP_BY_PERIOD_AND_STEP = "GROUPING SETS ((period, step), (step))"
