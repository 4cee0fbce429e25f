-- A feed retried after a failure counts its rows once.
--
-- The feed's insert (stream/rollup_feed.py) runs the views into `actions_rollup_feed` one after
-- another, and each commits its own part: an attempt that fails part of the way (the engine
-- refuses one view, the connection drops after the engine finished, a timeout) leaves some rollups
-- with the rows. The retry sent them again, and those rollups counted them twice. Each feed now
-- carries an `insert_deduplication_token` that its retries share, and the rollups below keep the
-- last blocks' tokens: a retry writes only into the rollups its failed attempts did not reach.
--
-- The window also drops a token-less block equal to one of the last 10,000 (the engine hashes its
-- rows), and that is how views into these tables treat every insert by default. So every writer
-- into `actions_rollup_feed` or these tables either gives each insert a token of its own (the feed)
-- or turns deduplication off for it (`logstream.clickhouse.WITHOUT_DEDUPLICATION`: the rebuild's
-- swap, the seeding, the erasure's deltas).
ALTER TABLE actions_per_minute MODIFY SETTING non_replicated_deduplication_window = 10000;
ALTER TABLE actions_per_quarter_hour MODIFY SETTING non_replicated_deduplication_window = 10000;
ALTER TABLE navigation_per_day MODIFY SETTING non_replicated_deduplication_window = 10000;
ALTER TABLE property_values_per_day MODIFY SETTING non_replicated_deduplication_window = 10000;
ALTER TABLE rollups_fed MODIFY SETTING non_replicated_deduplication_window = 10000;
ALTER TABLE sessions_per_day MODIFY SETTING non_replicated_deduplication_window = 10000;
ALTER TABLE totals_all_time MODIFY SETTING non_replicated_deduplication_window = 10000;
ALTER TABLE totals_per_day MODIFY SETTING non_replicated_deduplication_window = 10000;
ALTER TABLE uniques_per_quarter_hour MODIFY SETTING non_replicated_deduplication_window = 10000;
ALTER TABLE user_activity_per_quarter_hour MODIFY SETTING non_replicated_deduplication_window = 10000;
