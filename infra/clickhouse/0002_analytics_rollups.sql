-- Rollups and projections for the analyst queries (query_api/stats.py, sessions.py).
--
-- The raw `actions` table stays the source of truth. Every rollup below is fed by a materialized
-- view on `actions`, so it sees exactly the rows inserted into `actions`: the stream's sink
-- deduplicates re-delivered records BEFORE it inserts, hence replays and retries reach neither
-- the raw table nor the rollups twice. Rollups are aggregates that combine exactly (sum, min,
-- max, uniqExact states): queries always re-aggregate (GROUP BY, -Merge), never rely on
-- background merges having happened, and never use FINAL.
--
-- Run this migration before the writers start (`logstream up` and the compose file do): the
-- backfills at the end copy what `actions` already holds; rows inserted while they run could be
-- counted twice or missed.

-- Counts per UTC minute and type (minute buckets; partial quarter hours at range edges).
CREATE TABLE IF NOT EXISTS actions_per_minute
(
    type       LowCardinality(String),
    minute     DateTime('UTC'),
    actions    SimpleAggregateFunction(sum, UInt64),
    first_time SimpleAggregateFunction(min, DateTime64(3, 'UTC')),
    last_time  SimpleAggregateFunction(max, DateTime64(3, 'UTC'))
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(minute)
ORDER BY (type, minute);

CREATE MATERIALIZED VIEW IF NOT EXISTS actions_per_minute_mv TO actions_per_minute AS
SELECT type, toStartOfMinute(time) AS minute, count() AS actions, min(time) AS first_time, max(time) AS last_time
FROM actions
GROUP BY type, minute;

-- Counts per UTC quarter hour and type. Since 2000 every zone's UTC offset is a multiple of
-- 15 minutes, so hour, day, week and month buckets in any zone are unions of quarter hours.
CREATE TABLE IF NOT EXISTS actions_per_quarter_hour
(
    type       LowCardinality(String),
    quarter    DateTime('UTC'),
    actions    SimpleAggregateFunction(sum, UInt64),
    first_time SimpleAggregateFunction(min, DateTime64(3, 'UTC')),
    last_time  SimpleAggregateFunction(max, DateTime64(3, 'UTC'))
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(quarter)
ORDER BY (type, quarter);

CREATE MATERIALIZED VIEW IF NOT EXISTS actions_per_quarter_hour_mv TO actions_per_quarter_hour AS
SELECT type, toStartOfFifteenMinutes(time) AS quarter, count() AS actions, min(time) AS first_time,
       max(time) AS last_time
FROM actions
GROUP BY type, quarter;

-- Per UTC day and type, and for all types (type = ''): actions, first and last time, and the
-- exact distinct users and sessions as uniqExact states (states merge into the exact count of the
-- union of their sets). Small granules: a query reads the states of the days it asks for only.
CREATE TABLE IF NOT EXISTS totals_per_day
(
    type       LowCardinality(String) COMMENT 'an action type, or empty for all types',
    day        Date,
    actions    SimpleAggregateFunction(sum, UInt64),
    first_time SimpleAggregateFunction(min, DateTime64(3, 'UTC')),
    last_time  SimpleAggregateFunction(max, DateTime64(3, 'UTC')),
    users      AggregateFunction(uniqExact, String),
    sessions   AggregateFunction(uniqExact, String)
)
ENGINE = AggregatingMergeTree
ORDER BY (type, day)
SETTINGS index_granularity = 16;

CREATE MATERIALIZED VIEW IF NOT EXISTS totals_per_day_mv TO totals_per_day AS
SELECT scope AS type, toDate(time) AS day, count() AS actions, min(time) AS first_time, max(time) AS last_time,
       uniqExactState(user_id) AS users, uniqExactState(session_id) AS sessions
FROM actions
ARRAY JOIN [toString(type), ''] AS scope
GROUP BY scope, day;

-- The same over all time: a handful of rows once merged, so the summary of everything reads a
-- few states instead of one per day.
CREATE TABLE IF NOT EXISTS totals_all_time
(
    type       LowCardinality(String) COMMENT 'an action type, or empty for all types',
    actions    SimpleAggregateFunction(sum, UInt64),
    first_time SimpleAggregateFunction(min, DateTime64(3, 'UTC')),
    last_time  SimpleAggregateFunction(max, DateTime64(3, 'UTC')),
    users      AggregateFunction(uniqExact, String),
    sessions   AggregateFunction(uniqExact, String)
)
ENGINE = AggregatingMergeTree
ORDER BY type
SETTINGS index_granularity = 1;

CREATE MATERIALIZED VIEW IF NOT EXISTS totals_all_time_mv TO totals_all_time AS
SELECT scope AS type, count() AS actions, min(time) AS first_time, max(time) AS last_time,
       uniqExactState(user_id) AS users, uniqExactState(session_id) AS sessions
FROM actions
ARRAY JOIN [toString(type), ''] AS scope
GROUP BY scope;

-- Actions per user session per UTC day and type: top users and top sessions (one table, two
-- GROUP BYs; a session rarely spans days, so it is about as small as either would be alone).
CREATE TABLE IF NOT EXISTS sessions_per_day
(
    type       LowCardinality(String),
    day        Date,
    user_id    String,
    session_id String,
    actions    SimpleAggregateFunction(sum, UInt64)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(day)
ORDER BY (type, day, user_id, session_id);

CREATE MATERIALIZED VIEW IF NOT EXISTS sessions_per_day_mv TO sessions_per_day AS
SELECT type, toDate(time) AS day, user_id, session_id, count() AS actions
FROM actions
GROUP BY type, day, user_id, session_id;

-- Actions per property value per UTC day: NAVIGATE's pageFrom and pageTo, VIEW's viewedId.
CREATE TABLE IF NOT EXISTS property_values_per_day
(
    dimension LowCardinality(String),
    day       Date,
    value     String,
    actions   SimpleAggregateFunction(sum, UInt64)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(day)
ORDER BY (dimension, day, value);

CREATE MATERIALIZED VIEW IF NOT EXISTS property_values_per_day_mv TO property_values_per_day AS
SELECT pair.1 AS dimension, toDate(time) AS day, pair.2 AS value, count() AS actions
FROM actions
ARRAY JOIN if(type = 'NAVIGATE',
              [('pageFrom', JSONExtractString(properties, 'pageFrom')), ('pageTo', JSONExtractString(properties, 'pageTo'))],
              [('viewedId', JSONExtractString(properties, 'viewedId'))]) AS pair
WHERE type IN ('NAVIGATE', 'VIEW')
GROUP BY dimension, day, value;

-- NAVIGATE transitions (pageFrom -> pageTo) per UTC day.
CREATE TABLE IF NOT EXISTS navigation_per_day
(
    day       Date,
    page_from String,
    page_to   String,
    actions   SimpleAggregateFunction(sum, UInt64)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(day)
ORDER BY (day, page_from, page_to);

CREATE MATERIALIZED VIEW IF NOT EXISTS navigation_per_day_mv TO navigation_per_day AS
SELECT toDate(time) AS day, JSONExtractString(properties, 'pageFrom') AS page_from,
       JSONExtractString(properties, 'pageTo') AS page_to, count() AS actions
FROM actions
WHERE type = 'NAVIGATE'
GROUP BY day, page_from, page_to;

-- One row per (user, session) once merged: first and last time, counts (a user's sessions).
CREATE TABLE IF NOT EXISTS user_sessions
(
    user_id    String,
    session_id String,
    first_time SimpleAggregateFunction(min, DateTime64(3, 'UTC')),
    last_time  SimpleAggregateFunction(max, DateTime64(3, 'UTC')),
    actions    SimpleAggregateFunction(sum, UInt64),
    clicks     SimpleAggregateFunction(sum, UInt64),
    views      SimpleAggregateFunction(sum, UInt64),
    navigates  SimpleAggregateFunction(sum, UInt64)
)
ENGINE = AggregatingMergeTree
ORDER BY (user_id, session_id);

CREATE MATERIALIZED VIEW IF NOT EXISTS user_sessions_mv TO user_sessions AS
SELECT user_id, session_id, min(time) AS first_time, max(time) AS last_time, count() AS actions,
       countIf(type = 'CLICK') AS clicks, countIf(type = 'VIEW') AS views, countIf(type = 'NAVIGATE') AS navigates
FROM actions
GROUP BY user_id, session_id;

-- A user's actions stored contiguously (the read API's columns, sorted by user, then time), in
-- the same parts as the raw rows: one user's timeline reads a few granules instead of one granule
-- per action. A session's actions are close in time already: the bloom filter on session_id
-- finds them in a few granules, and a second projection would cost every insert more than it saves.
ALTER TABLE actions ADD PROJECTION IF NOT EXISTS rows_by_user
(
    SELECT action_id, event_id, user_id, session_id, type, time, time_offset, properties
    ORDER BY user_id, time
);

-- Backfills: what `actions` held before this migration (the views above see new inserts only).
-- Each runs only into an empty rollup, so a migration retried after a failure counts nothing twice.
ALTER TABLE actions MATERIALIZE PROJECTION rows_by_user SETTINGS mutations_sync = 1;

INSERT INTO actions_per_minute
SELECT type, toStartOfMinute(time) AS minute, count() AS actions, min(time) AS first_time, max(time) AS last_time
FROM actions
WHERE (SELECT count() FROM actions_per_minute) = 0
GROUP BY type, minute;

INSERT INTO actions_per_quarter_hour
SELECT type, toStartOfFifteenMinutes(time) AS quarter, count() AS actions, min(time) AS first_time,
       max(time) AS last_time
FROM actions
WHERE (SELECT count() FROM actions_per_quarter_hour) = 0
GROUP BY type, quarter;

INSERT INTO totals_per_day
SELECT scope AS type, toDate(time) AS day, count() AS actions, min(time) AS first_time, max(time) AS last_time,
       uniqExactState(user_id) AS users, uniqExactState(session_id) AS sessions
FROM actions
ARRAY JOIN [toString(type), ''] AS scope
WHERE (SELECT count() FROM totals_per_day) = 0
GROUP BY scope, day;

INSERT INTO totals_all_time
SELECT scope AS type, count() AS actions, min(time) AS first_time, max(time) AS last_time,
       uniqExactState(user_id) AS users, uniqExactState(session_id) AS sessions
FROM actions
ARRAY JOIN [toString(type), ''] AS scope
WHERE (SELECT count() FROM totals_all_time) = 0
GROUP BY scope;

INSERT INTO sessions_per_day
SELECT type, toDate(time) AS day, user_id, session_id, count() AS actions
FROM actions
WHERE (SELECT count() FROM sessions_per_day) = 0
GROUP BY type, day, user_id, session_id;

INSERT INTO property_values_per_day
SELECT pair.1 AS dimension, toDate(time) AS day, pair.2 AS value, count() AS actions
FROM actions
ARRAY JOIN if(type = 'NAVIGATE',
              [('pageFrom', JSONExtractString(properties, 'pageFrom')), ('pageTo', JSONExtractString(properties, 'pageTo'))],
              [('viewedId', JSONExtractString(properties, 'viewedId'))]) AS pair
WHERE (SELECT count() FROM property_values_per_day) = 0 AND type IN ('NAVIGATE', 'VIEW')
GROUP BY dimension, day, value;

INSERT INTO navigation_per_day
SELECT toDate(time) AS day, JSONExtractString(properties, 'pageFrom') AS page_from,
       JSONExtractString(properties, 'pageTo') AS page_to, count() AS actions
FROM actions
WHERE (SELECT count() FROM navigation_per_day) = 0 AND type = 'NAVIGATE'
GROUP BY day, page_from, page_to;

INSERT INTO user_sessions
SELECT user_id, session_id, min(time) AS first_time, max(time) AS last_time, count() AS actions,
       countIf(type = 'CLICK') AS clicks, countIf(type = 'VIEW') AS views, countIf(type = 'NAVIGATE') AS navigates
FROM actions
WHERE (SELECT count() FROM user_sessions) = 0
GROUP BY user_id, session_id;
