-- What the rollups were fed is kept per log (its eventId), not as the highest offset per partition.
--
-- A row found stored when Kafka delivers its batch again was fed if its offset was at or below its
-- partition's highest offset fed (`rollups_fed`, 0016). Offsets start at 0 again in each life of the
-- memory-only broker, and of a topic made again on Apache Kafka, so rows a later life stored but
-- did not feed (the worker stopped between its insert and its feed) lay below an earlier life's
-- highest offset and were taken for fed: the summaries missed them for good, and the erasure's
-- and the swap's checks of what was fed compared offsets of different lives the same way.
-- `fed_events` holds the eventId of each log fed, written by the feed's own view in the same
-- insert as the rollups: "was this log fed" no longer depends on offsets.
-- Like 0015 and 0016, this migration expects the stream to be stopped.
ALTER TABLE actions_rollup_feed ADD COLUMN IF NOT EXISTS event_id UUID;

-- a feed's retries share a token (0018): the window drops a retry's block here as in the rollups
CREATE TABLE IF NOT EXISTS fed_events
(
    event_id UUID
)
ENGINE = ReplacingMergeTree
ORDER BY event_id
SETTINGS non_replicated_deduplication_window = 10000;

CREATE MATERIALIZED VIEW IF NOT EXISTS fed_events_mv TO fed_events AS
SELECT DISTINCT event_id FROM actions_rollup_feed;

-- What 0016 judged fed, with the stream stopped: each log stored at or below its partition's offset.
INSERT INTO fed_events
SELECT DISTINCT a.event_id
FROM actions AS a
INNER JOIN (SELECT kafka_topic, kafka_partition, max(fed_offset) AS fed FROM rollups_fed
            GROUP BY kafka_topic, kafka_partition) AS f
        ON a.kafka_topic = f.kafka_topic AND a.kafka_partition = f.kafka_partition
WHERE a.kafka_offset <= f.fed;

DROP VIEW IF EXISTS rollups_fed_mv;

DROP TABLE IF EXISTS rollups_fed;
