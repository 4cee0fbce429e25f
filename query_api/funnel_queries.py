"""SQL for GET /v1/stats/funnel: one statement, one pass over the raw rows of the range.

Per entity (user or session) the matching actions become one sorted array of Int64, each the
action's time (epoch ms) times 1024 plus the bitmask of the steps it matches (at most 10), and the
entity's conversion is computed with whole-array functions (arrayMap, arrayFill: no per-action
lambda state); entities are then counted per step (and period). Actions at the same millisecond
are simultaneous, so their order among themselves never matters.

strict: for each step i, `at{i}[p]` is the position of the latest first-step action that starts a
conversion reaching step i with actions up to position p (0: none), `from{i}[p]` its time. A
step-i action at q extends the conversion held for step i-1 at the end of the previous
millisecond (`before...`: a step is strictly later than the previous one) if it is within the
window of that conversion's start. Those starts only grow with q, so the latest extending action
holds the latest start (arrayFill carries it forward). The entity's highest step is the last i
with a start at the end; its times are its start's, then for each next step the first position
where that start reached it.

any: `last{j}[p]` is the time of the latest action matching step j up to position p; at p the
steps entered are those whose latest action is within the window before p's time; the first
millisecond with the most steps gives the conversion (the state at its last action), its times
sorted.

What varies in the text is the number of steps (1 to 10, repeated templates) and `order`; the
window, range and step conditions are server-side parameters (conditions: query_api/steps.py).
"""

from __future__ import annotations

# Matching actions in [start, end): the entity, and time (epoch ms) * 1024 + the bitmask of steps matched.
EVENTS = """
SELECT {entity} AS entity, toUnixTimestamp64Milli(time) * 1024 + {mask} AS event
FROM actions
WHERE type IN {{types:Array(String)}} AND time >= {{start:DateTime64(3, 'UTC')}} AND time < {{end:DateTime64(3, 'UTC')}}
"""

# One row per entity that entered step 1: the times of the steps of its conversion. Each entity's
# sorted actions, then one SELECT layer per group of columns below: a layer's columns are computed
# once and read by the next (as aliases of one SELECT, each would be re-expanded wherever it is
# used, and planning the query alone grew exponentially with the steps); a layer keeps only the
# columns later ones read.
SORTED = """
SELECT arrayMap(e -> intDiv(e, 1024), events) AS times, arrayMap(e -> e % 1024, events) AS masks FROM (
    SELECT arraySort(groupArray(event)) AS events FROM ({events}) WHERE event % 1024 != 0 GROUP BY entity
)"""
LAYER = "SELECT {kept}, {columns} FROM ({inner})"
CHAINS = "SELECT {chain} AS chain FROM ({layers})"

FRESH = "arrayMap((t, u) -> t != u, times, arrayPushFront(arrayPopBack(times), 0)) AS fresh"
STRICT_FIRST = """
    arrayFill(x -> x > 0, arrayMap((m, p) -> if(bitTest(m, 0), p, 0), masks, arrayEnumerate(masks))) AS at1,
    arrayFill(x -> x > 0, arrayMap((m, t) -> if(bitTest(m, 0), t, 0), masks, times)) AS from1"""
STRICT_BEFORE = """
    arrayFill((x, f) -> f, arrayPushFront(arrayPopBack(at{previous}), 0), fresh) AS before_at{step},
    arrayFill((x, f) -> f, arrayPushFront(arrayPopBack(from{previous}), 0), fresh) AS before_from{step}"""
STRICT_EXTENDS = """
    arrayMap((m, p, f, t) -> if(bitTest(m, {bit}) AND p > 0 AND t - f <= {{window:Int64}}, p, 0), masks,
             before_at{step}, before_from{step}, times) AS extends{step}"""
STRICT_NEXT = """
    arrayFill(x -> x > 0, extends{step}) AS at{step},
    arrayFill(x -> x > 0, arrayMap((e, f) -> if(e > 0, f, 0), extends{step}, before_from{step})) AS from{step}"""
STRICT_REACHED = "{reached} AS reached"
STRICT_LEVEL = "(at{step}[-1] > 0)"
STRICT_STARTED = "multiIf({starts}, 0) AS started"
STRICT_START = "reached = {step}, at{step}[-1]"
STRICT_STEP_TIME = "arrayFirst((t, a) -> a = started, times, at{step})"
STRICT_CHAIN = "arraySlice([times[started]{times}], 1, reached)"

ANY_LAST = "arrayFill(x -> x > 0, arrayMap((m, t) -> if(bitTest(m, {bit}), t, 0), masks, times)) AS last{step}"
ANY_ENTERED = "arrayMap((t, {lasts}) -> {entered}, times, {lasts_ordered}) AS entered"
ANY_ENTERED_STEP = "(l{step} >= t - {{window:Int64}})"
ANY_REACHED = "arrayMax(entered) AS reached"
ANY_BEST = "times[arrayFirstIndex(n -> n = reached, entered)] AS best"
ANY_ENDING = "arrayLastIndex(t -> t = best, times) AS ending"
ANY_CHAIN = "arraySort(arrayFilter(x -> x >= best - {{window:Int64}}, [{lasts_at_end}]))"

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
# Every period, and the whole range (period 0 on those rows: a period starts after 1970).
GROUP_BY_PERIOD_AND_STEP = "GROUPING SETS ((period, step), (step))"


def layered(events: str, layers: list[tuple[list[str], str]]) -> str:
    """The sorted actions of each entity, then each layer: the columns it keeps from the one
    before, and its own (`expr AS name, ...`)."""
    inner = SORTED.format(events=events)
    for kept, columns in layers:
        inner = LAYER.format(kept=", ".join(kept), columns=columns, inner=inner)
    return inner


def strict_chains(events: str, steps: int) -> str:
    """Per entity, the times of its strict conversion over `steps` steps."""
    kept = ["times", "masks"]
    layers = [(kept, FRESH + "," + STRICT_FIRST)]
    kept = [*kept, "fresh", "at1"]
    for step in range(2, steps + 1):
        layers.append(([*kept, f"from{step - 1}"], ",".join([
            STRICT_BEFORE.format(step=step, previous=step - 1), STRICT_EXTENDS.format(step=step, bit=step - 1),
            STRICT_NEXT.format(step=step)])))
        kept = [*kept, f"at{step}"]
    ats = [f"at{i}" for i in range(1, steps + 1)]
    layers.append((["times", *ats], STRICT_REACHED.format(
        reached=" + ".join(STRICT_LEVEL.format(step=i) for i in range(1, steps + 1)))))
    layers.append((["times", *ats, "reached"], STRICT_STARTED.format(
        starts=", ".join(STRICT_START.format(step=i) for i in range(steps, 0, -1)))))
    times = "".join(", " + STRICT_STEP_TIME.format(step=i) for i in range(2, steps + 1))
    return CHAINS.format(chain=STRICT_CHAIN.format(times=times), layers=layered(events, layers))


def any_chains(events: str, steps: int) -> str:
    """Per entity, the times of its any-order conversion over `steps` steps."""
    numbers = range(1, steps + 1)
    lasts = [f"last{i}" for i in numbers]
    entered = ANY_ENTERED.format(lasts=", ".join(f"l{i}" for i in numbers),
                                 entered=" + ".join(ANY_ENTERED_STEP.format(step=i) for i in numbers),
                                 lasts_ordered=", ".join(lasts))
    layers = [(["times"], ", ".join(ANY_LAST.format(bit=i - 1, step=i) for i in numbers)),
              (["times", *lasts], entered), (["times", *lasts, "entered"], ANY_REACHED),
              (["times", *lasts, "entered", "reached"], ANY_BEST), (["times", *lasts, "best"], ANY_ENDING)]
    chain = ANY_CHAIN.format(lasts_at_end=", ".join(f"last{i}[ending]" for i in numbers))
    return CHAINS.format(chain=chain, layers=layered(events, layers))
