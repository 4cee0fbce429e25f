"""HTTP ingest: validates logs and publishes them to the raw Kafka topic."""
