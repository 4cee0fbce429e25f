-- Exact distinct users and sessions per UTC quarter hour and type, and for all types (type = ''),
-- as uniqExact states: GET /v1/stats/summary merges them for the parts of its range that whole
-- days do not cover (a live page's ranges end "now", mid-day), so that only the minutes at its
-- edges are read from `actions`. States merge into the exact count of the union, as in
-- totals_per_day (0002); queries re-aggregate, no FINAL.
CREATE TABLE IF NOT EXISTS uniques_per_quarter_hour
(
    type     LowCardinality(String) COMMENT 'an action type, or empty for all types',
    quarter  DateTime('UTC'),
    users    AggregateFunction(uniqExact, String),
    sessions AggregateFunction(uniqExact, String)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(quarter)
ORDER BY (type, quarter)
SETTINGS index_granularity = 64;

CREATE MATERIALIZED VIEW IF NOT EXISTS uniques_per_quarter_hour_mv TO uniques_per_quarter_hour AS
SELECT scope AS type, toStartOfFifteenMinutes(time) AS quarter,
       uniqExactState(user_id) AS users, uniqExactState(session_id) AS sessions
FROM actions
ARRAY JOIN [toString(type), ''] AS scope
GROUP BY scope, quarter;

-- Backfill what `actions` held before this migration, only into an empty table (see 0002).
INSERT INTO uniques_per_quarter_hour
SELECT scope AS type, toStartOfFifteenMinutes(time) AS quarter,
       uniqExactState(user_id) AS users, uniqExactState(session_id) AS sessions
FROM actions
ARRAY JOIN [toString(type), ''] AS scope
WHERE (SELECT count() FROM uniques_per_quarter_hour) = 0
GROUP BY scope, quarter;
