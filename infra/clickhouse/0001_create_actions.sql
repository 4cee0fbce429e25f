-- One row per action. The raw Kafka topic is the source of truth; this table is a projection
-- of it that `logstream replay` can rebuild.
--
-- Sort key (type, time, action_id): analysts filter by a time range and usually by type. With
-- only three types first, every (type, time range) is one contiguous run of granules, and a
-- time range alone is three runs. action_id last makes the order total, as pagination needs.
-- Users and sessions are found through bloom-filter skip indexes; Kafka offsets through a
-- min-max index (the sink's dedup looks up the tail of a partition after a restart).
CREATE TABLE IF NOT EXISTS actions
(
    action_id       UUID,
    event_id        UUID,
    user_id         String,
    session_id      String,
    type            LowCardinality(String),
    time            DateTime64(3, 'UTC'),
    time_offset     LowCardinality(String) COMMENT 'UTC offset the time was sent with: Z or +HH:MM',
    properties      String COMMENT 'JSON object, as sent',
    received_at     DateTime64(3, 'UTC'),
    kafka_topic     LowCardinality(String),
    kafka_partition UInt32,
    kafka_offset    UInt64,
    inserted_at     DateTime64(3, 'UTC') DEFAULT now64(3),
    INDEX idx_user_id user_id TYPE bloom_filter(0.01) GRANULARITY 4,
    INDEX idx_session_id session_id TYPE bloom_filter(0.01) GRANULARITY 4,
    INDEX idx_kafka_offset kafka_offset TYPE minmax GRANULARITY 1
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(time)
ORDER BY (type, time, action_id);
