-- The contract's required string properties as columns of `actions`, for funnels and paths
-- (query_api/steps.py, paths.py): NAVIGATE's pageFrom and pageTo, VIEW's viewedId, empty on the
-- actions of other types. MATERIALIZED: computed from `properties` when a row is inserted (the
-- sink names its columns, so it never writes them), read without parsing JSON. A part written
-- before this migration computes them on read until the mutations below have rewritten it.
ALTER TABLE actions ADD COLUMN IF NOT EXISTS page_from LowCardinality(String)
    MATERIALIZED if(type = 'NAVIGATE', JSONExtractString(properties, 'pageFrom'), '');

ALTER TABLE actions ADD COLUMN IF NOT EXISTS page_to LowCardinality(String)
    MATERIALIZED if(type = 'NAVIGATE', JSONExtractString(properties, 'pageTo'), '');

ALTER TABLE actions ADD COLUMN IF NOT EXISTS viewed_id String
    MATERIALIZED if(type = 'VIEW', JSONExtractString(properties, 'viewedId'), '');

ALTER TABLE actions MATERIALIZE COLUMN page_from SETTINGS mutations_sync = 1;

ALTER TABLE actions MATERIALIZE COLUMN page_to SETTINGS mutations_sync = 1;

ALTER TABLE actions MATERIALIZE COLUMN viewed_id SETTINGS mutations_sync = 1;
