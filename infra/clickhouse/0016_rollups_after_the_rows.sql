-- The rollups that only summaries and analytics read are filled after the rows are queryable.
--
-- Read-your-writes answers once a batch's rows are in `actions` (the stream's stored watermark),
-- and the insert into `actions` ran every view: eight of its ten took most of a one-log write
-- (docs/BENCHMARKS.md, issue 13). Those eight now read `actions_rollup_feed`, a table that stores
-- nothing: the stream inserts a batch's rows there once the watermark has answered, and waits for
-- that insert before the batch is acked (stream/rollup_feed.py). Two views stay on `actions`,
-- because reads that must see a write at once use them: actions_per_minute (the export's windows)
-- and user_sessions (a session's rows are read through its users).
--
-- `rollups_fed` keeps the highest offset fed per partition, in the same insert as the rollups, so
-- a batch Kafka delivers again after a crash feeds exactly the rows stored but not yet fed.
-- Like 0015, this migration expects the stream to be stopped.
CREATE TABLE IF NOT EXISTS actions_rollup_feed
(
    user_id         String,
    session_id      String,
    user_number     UInt32,
    session_number  UInt32,
    type            LowCardinality(String),
    time            DateTime64(3, 'UTC'),
    properties      String,
    kafka_topic     LowCardinality(String),
    kafka_partition UInt32,
    kafka_offset    UInt64
)
ENGINE = Null;

CREATE TABLE IF NOT EXISTS rollups_fed
(
    kafka_topic     LowCardinality(String),
    kafka_partition UInt32,
    fed_offset      SimpleAggregateFunction(max, UInt64)
)
ENGINE = AggregatingMergeTree
ORDER BY (kafka_topic, kafka_partition);

CREATE MATERIALIZED VIEW IF NOT EXISTS rollups_fed_mv TO rollups_fed AS
SELECT kafka_topic, kafka_partition, max(kafka_offset) AS fed_offset
FROM actions_rollup_feed
GROUP BY kafka_topic, kafka_partition;

-- Everything stored so far is in the rollups already.
INSERT INTO rollups_fed
SELECT kafka_topic, kafka_partition, max(kafka_offset) AS fed_offset FROM actions GROUP BY kafka_topic, kafka_partition;

DROP VIEW IF EXISTS actions_per_quarter_hour_mv;

CREATE MATERIALIZED VIEW IF NOT EXISTS actions_per_quarter_hour_mv TO actions_per_quarter_hour AS
SELECT type, toStartOfFifteenMinutes(time) AS quarter, count() AS actions, min(time) AS first_time,
       max(time) AS last_time
FROM actions_rollup_feed
GROUP BY type, quarter;

DROP VIEW IF EXISTS totals_per_day_mv;

CREATE MATERIALIZED VIEW IF NOT EXISTS totals_per_day_mv TO totals_per_day AS
SELECT scope AS type, toDate(time) AS day, count() AS actions, min(time) AS first_time, max(time) AS last_time,
       groupBitmapState(user_number) AS users, groupBitmapState(session_number) AS sessions
FROM actions_rollup_feed
ARRAY JOIN [toString(type), ''] AS scope
GROUP BY scope, day;

DROP VIEW IF EXISTS totals_all_time_mv;

CREATE MATERIALIZED VIEW IF NOT EXISTS totals_all_time_mv TO totals_all_time AS
SELECT scope AS type, count() AS actions, min(time) AS first_time, max(time) AS last_time,
       groupBitmapState(user_number) AS users, groupBitmapState(session_number) AS sessions
FROM actions_rollup_feed
ARRAY JOIN [toString(type), ''] AS scope
GROUP BY scope;

DROP VIEW IF EXISTS sessions_per_day_mv;

CREATE MATERIALIZED VIEW IF NOT EXISTS sessions_per_day_mv TO sessions_per_day AS
SELECT type, toDate(time) AS day, user_id, session_id, count() AS actions
FROM actions_rollup_feed
GROUP BY type, day, user_id, session_id;

DROP VIEW IF EXISTS property_values_per_day_mv;

CREATE MATERIALIZED VIEW IF NOT EXISTS property_values_per_day_mv TO property_values_per_day AS
SELECT pair.1 AS dimension, toDate(time) AS day, pair.2 AS value, count() AS actions
FROM actions_rollup_feed
ARRAY JOIN if(type = 'NAVIGATE',
              [('pageFrom', JSONExtractString(properties, 'pageFrom')), ('pageTo', JSONExtractString(properties, 'pageTo'))],
              [('viewedId', JSONExtractString(properties, 'viewedId'))]) AS pair
WHERE type IN ('NAVIGATE', 'VIEW')
GROUP BY dimension, day, value;

DROP VIEW IF EXISTS navigation_per_day_mv;

CREATE MATERIALIZED VIEW IF NOT EXISTS navigation_per_day_mv TO navigation_per_day AS
SELECT toDate(time) AS day, JSONExtractString(properties, 'pageFrom') AS page_from,
       JSONExtractString(properties, 'pageTo') AS page_to, count() AS actions
FROM actions_rollup_feed
WHERE type = 'NAVIGATE'
GROUP BY day, page_from, page_to;

DROP VIEW IF EXISTS user_activity_per_quarter_hour_mv;

CREATE MATERIALIZED VIEW IF NOT EXISTS user_activity_per_quarter_hour_mv TO user_activity_per_quarter_hour AS
SELECT toStartOfFifteenMinutes(time) AS quarter, user_id,
       groupBitOr(toUInt8(multiIf(type = 'CLICK', 1, type = 'VIEW', 2, type = 'NAVIGATE', 4, 0))) AS types,
       count() AS actions
FROM actions_rollup_feed
GROUP BY quarter, user_id;

DROP VIEW IF EXISTS uniques_per_quarter_hour_mv;

CREATE MATERIALIZED VIEW IF NOT EXISTS uniques_per_quarter_hour_mv TO uniques_per_quarter_hour AS
SELECT scope AS type, toStartOfFifteenMinutes(time) AS quarter,
       groupBitmapState(user_number) AS users, groupBitmapState(session_number) AS sessions
FROM actions_rollup_feed
ARRAY JOIN [toString(type), ''] AS scope
GROUP BY scope, quarter;
