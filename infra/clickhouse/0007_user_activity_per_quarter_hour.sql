-- Which users acted in each UTC quarter hour, and with which action types (bit 0 CLICK, 1 VIEW,
-- 2 NAVIGATE): GET /v1/stats/retention reads this instead of every action when its steps are plain
-- types (query_api/retention.py). Day, week and month periods in any zone start on a quarter hour
-- (every UTC offset since 2000 is a multiple of 15 minutes), so each row falls in one period.
-- Exact without merges: a (quarter, user) seen in several parts gives the same periods and types
-- to the query's min and distinct-set aggregates as the merged row would.
CREATE TABLE IF NOT EXISTS user_activity_per_quarter_hour
(
    quarter DateTime('UTC'),
    user_id String,
    types   SimpleAggregateFunction(groupBitOr, UInt8),
    actions SimpleAggregateFunction(sum, UInt64)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(quarter)
ORDER BY (quarter, user_id);

CREATE MATERIALIZED VIEW IF NOT EXISTS user_activity_per_quarter_hour_mv TO user_activity_per_quarter_hour AS
SELECT toStartOfFifteenMinutes(time) AS quarter, user_id,
       groupBitOr(toUInt8(multiIf(type = 'CLICK', 1, type = 'VIEW', 2, type = 'NAVIGATE', 4, 0))) AS types,
       count() AS actions
FROM actions
GROUP BY quarter, user_id;

-- Backfill what `actions` held before this migration, only into an empty table (see 0002).
INSERT INTO user_activity_per_quarter_hour
SELECT toStartOfFifteenMinutes(time) AS quarter, user_id,
       groupBitOr(toUInt8(multiIf(type = 'CLICK', 1, type = 'VIEW', 2, type = 'NAVIGATE', 4, 0))) AS types,
       count() AS actions
FROM actions
WHERE (SELECT count() FROM user_activity_per_quarter_hour) = 0
GROUP BY quarter, user_id;
