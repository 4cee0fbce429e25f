-- 1. Each action's position in its log (0 for the first), so that actions with the same time are read
-- in the order they arrived: time, received_at, kafka_partition, kafka_offset, action_index, action_id
-- (query_api/queries.py ARRIVAL_ORDER). The sink and `logstream replay` write it for every row; rows
-- stored before this migration read 0 until a replay rebuilds them (their ties then fall back to
-- action_id, as before).
ALTER TABLE actions ADD COLUMN IF NOT EXISTS action_index UInt32 DEFAULT 0
    COMMENT 'position of the action in its log, from 0' AFTER kafka_offset;

-- 2. The property rules its log was accepted under, from the raw record's `propertyRules`: '' for the
-- contract's per-type rules, 'as-sent' for properties stored as sent with none required (seed 002's
-- route, docs/COMPATIBILITY.md). Written by the sink and by `logstream replay` like every column.
ALTER TABLE actions ADD COLUMN IF NOT EXISTS property_rules LowCardinality(String) DEFAULT ''
    COMMENT 'the raw record''s propertyRules: empty (the contract''s) or as-sent' AFTER action_index;
