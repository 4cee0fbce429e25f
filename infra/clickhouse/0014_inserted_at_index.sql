-- GET /v1/actions/live polls the rows inserted in the last seconds (query_api/live.py). A min-max
-- index on inserted_at lets each poll skip the granules written before, instead of reading the
-- whole column (tens of milliseconds a poll over 10M rows, four polls a second per open stream).
ALTER TABLE actions ADD INDEX IF NOT EXISTS idx_inserted_at inserted_at TYPE minmax GRANULARITY 1;

ALTER TABLE actions MATERIALIZE INDEX idx_inserted_at SETTINGS mutations_sync = 1;
