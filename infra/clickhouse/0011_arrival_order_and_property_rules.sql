-- 1. Each action's position in its log (0 for the first), so that actions with the same time are read
-- in the order they arrived: time, received_at, kafka_partition, kafka_offset, action_index, action_id
-- (query_api/queries.py ARRIVAL_ORDER). The sink and `logstream replay` write it for every row. Rows
-- stored before this migration read 0 until a replay rebuilds them (their ties then fall back to
-- action_id, as before).
ALTER TABLE actions ADD COLUMN IF NOT EXISTS action_index UInt32 DEFAULT 0
    COMMENT 'position of the action in its log, from 0' AFTER kafka_offset;

-- 2. The property rules its log was accepted under, from the raw record's `propertyRules`: '' for the
-- contract's per-type rules, 'as-sent' for properties stored as sent with none required (seed 002's
-- route, docs/COMPATIBILITY.md). Written by the sink and by `logstream replay` like every column.
ALTER TABLE actions ADD COLUMN IF NOT EXISTS property_rules LowCardinality(String) DEFAULT ''
    COMMENT 'the raw record''s propertyRules: empty (the contract''s) or as-sent' AFTER action_index;

-- 3. A user's timeline reads a projection (0002's rows_by_user), which must hold every column the
-- read orders by: this one holds the arrival order's too, sorted by it within a user, and replaces it.
ALTER TABLE actions ADD PROJECTION IF NOT EXISTS rows_by_user_in_arrival_order
(
    SELECT action_id, event_id, user_id, session_id, type, time, time_offset, properties,
           received_at, kafka_partition, kafka_offset, action_index
    ORDER BY user_id, time, received_at, kafka_partition, kafka_offset, action_index, action_id
);

ALTER TABLE actions MATERIALIZE PROJECTION rows_by_user_in_arrival_order SETTINGS mutations_sync = 1;

ALTER TABLE actions DROP PROJECTION IF EXISTS rows_by_user SETTINGS mutations_sync = 1;
