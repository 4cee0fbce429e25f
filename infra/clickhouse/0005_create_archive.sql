-- The archive: every record of the raw topic, as received, kept for as long as the table is kept
-- (Kafka keeps a hot window; this is the long-term event store, and in the embedded default, whose
-- broker holds records in memory only, what makes the log durable). `logstream replay` rebuilds
-- every projection (actions, the rollups) from it. Written by the stream worker before it lets
-- Faust commit the batch's offsets, once per record (stream/archive.py).
--
-- A broker life: a memory-only broker starts its topics again at offset 0 after a restart (and a
-- topic deleted and created again does the same), so (topic, partition, offset) names a record
-- only together with the topic's id, which the broker gives each topic when it creates it
-- (AdminClient describe_topics): `topic_id` tells the lives apart.
--
-- Sort key (topic_id, topic, partition, offset): a replay reads one partition of one life in
-- offset order, one contiguous run of granules per page; the stream's dedup looks up the tail of a
-- partition. Partitioned by the month the archive received the record (a Kafka timestamp is the
-- producer's to set, any value: months of receipt cannot explode into partitions).
CREATE TABLE IF NOT EXISTS raw_events
(
    topic_id     UUID,
    topic        LowCardinality(String),
    partition    UInt32,
    offset       UInt64 CODEC(Delta, ZSTD(1)),
    timestamp_ms Nullable(Int64) CODEC(Delta, ZSTD(1)) COMMENT 'Kafka timestamp as the stream read it',
    key          Nullable(String) CODEC(ZSTD(3)),
    value        Nullable(String) CODEC(ZSTD(3)) COMMENT 'the record''s bytes, as received',
    headers      Array(Tuple(name String, value String)) CODEC(ZSTD(3)),
    event_id     Nullable(UUID) CODEC(ZSTD(3)) COMMENT 'the eventId its actions carry; NULL if dead-lettered',
    archived_at  DateTime64(3, 'UTC') DEFAULT now64(3) CODEC(Delta, ZSTD(1))
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(archived_at)
ORDER BY (topic_id, topic, partition, offset);

-- Every dead letter the stream sent, as it sent it (the original bytes, the reason and problems),
-- so that `logstream dlq` lists them after the broker lost its topics. One row per refused record
-- and reason: the stream checks what is stored before it inserts (a send retried after a partial
-- failure may send a letter twice to the topic, never here).
CREATE TABLE IF NOT EXISTS dead_letters
(
    source_topic_id  UUID,
    source_topic     LowCardinality(String),
    source_partition UInt32,
    source_offset    UInt64,
    reason           LowCardinality(String),
    errors           String COMMENT 'JSON array of problems, as in the logstream.dlq.errors header',
    failed_at        DateTime64(3, 'UTC'),
    key              Nullable(String) CODEC(ZSTD(3)),
    value            Nullable(String) CODEC(ZSTD(3)) COMMENT 'the original bytes (the first 512 KiB)',
    original_bytes   UInt64
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(failed_at)
ORDER BY (source_topic_id, source_topic, source_partition, source_offset, reason);
