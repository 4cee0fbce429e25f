-- Erasure requests (POST /v1/erasures) and the users they erased (stream/erasure.py).
-- `erasures` holds each request's progress: one row per step, the latest version wins.
CREATE TABLE IF NOT EXISTS erasures
(
    erasure_id     UUID,
    user_id        String,
    state          Enum8('requested' = 1, 'erasing' = 2, 'done' = 3),
    pass           UInt32 COMMENT 'each pass removes the rows of the user stored since the previous one',
    phase          LowCardinality(String) COMMENT 'the next step of the pass (capture, delta, move, delete, recompute)',
    actions_erased UInt64,
    requested_at   DateTime64(3, 'UTC'),
    completed_at   Nullable(DateTime64(3, 'UTC')),
    updated_at     DateTime64(3, 'UTC') DEFAULT now64(3),
    version        UInt64
)
ENGINE = ReplacingMergeTree(version)
ORDER BY erasure_id;

-- Users whose logs the stream drops from now on (and replay skips): the suppression list.
CREATE TABLE IF NOT EXISTS erased_users
(
    user_id      String,
    erasure_id   UUID,
    requested_at DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree
ORDER BY user_id;
