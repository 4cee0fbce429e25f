"""The stream worker: raw topic -> validate -> split per action -> ClickHouse (invalid -> DLQ)."""
