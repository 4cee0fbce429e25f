-- Idempotency-Key of POST /v1/logs: the request's digest, its eventIds and, once done, the answer.
-- A key is first reserved (pending, with the eventIds it will publish), then completed; the newest
-- version of a key wins. Kept at least 24 h (TTL 48 h), across restarts of every process.
CREATE TABLE IF NOT EXISTS idempotency_keys
(
    key            String,
    request_sha256 String,
    event_ids      Array(UUID),
    response       String COMMENT 'the 202 body, empty while pending',
    state          Enum8('pending' = 1, 'done' = 2),
    created_at     DateTime64(3, 'UTC'),
    version        UInt64
)
ENGINE = ReplacingMergeTree(version)
ORDER BY key
TTL toDateTime(created_at) + INTERVAL 48 HOUR;

-- A republished request (a retry after its first attempt died mid-way) is checked by eventId.
ALTER TABLE actions ADD INDEX IF NOT EXISTS idx_event_id event_id TYPE bloom_filter(0.01) GRANULARITY 4;
