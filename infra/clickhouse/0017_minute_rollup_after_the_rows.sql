-- The per-minute rollup is filled after the rows are queryable too, like the rollups of 0016.
--
-- 0016 kept it on `actions` for the export's windows. On `actions` it wrote a part per write; fed,
-- it writes one per feed (every 0.2 s at most under a client posting one log after another), and
-- the engine merges fewer: one-log writes came back 3-8 ms sooner at the median, with less CPU
-- (docs/BENCHMARKS.md, issue 13). The export only plans its
-- windows from it, and its windows cover the whole range whatever the plan counts
-- (query_api/export.py), so a rollup a feed behind the rows costs it an uneven plan, not a row.
-- The summaries read it with the other rollups, which lag the rows by the same feed.
--
-- Like 0016, this migration expects the stream to be stopped, and stopped cleanly: a worker that
-- was killed may leave rows stored but not fed, which its next start feeds, and which this minute
-- rollup then counts a second time.
DROP VIEW IF EXISTS actions_per_minute_mv;

CREATE MATERIALIZED VIEW IF NOT EXISTS actions_per_minute_mv TO actions_per_minute AS
SELECT type, toStartOfMinute(time) AS minute, count() AS actions, min(time) AS first_time, max(time) AS last_time
FROM actions_rollup_feed
GROUP BY type, minute;
