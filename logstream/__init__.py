"""logstream: product-analytics user action logs, from HTTP to Kafka to ClickHouse."""

__version__ = "0.1.0"
