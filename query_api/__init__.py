"""The read API: time-range and type filters over the ClickHouse actions table."""
