-- Seed 000's user registry (POST /testusers, POST /api/v1/testusers): its POST /api/v1/log refuses
-- the logs of users not registered here. Registering twice is harmless: one row per user_id
-- survives merges, and the look-up only asks whether any row exists.
CREATE TABLE IF NOT EXISTS compat_users
(
    user_id       String,
    registered_at DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree
ORDER BY user_id;
