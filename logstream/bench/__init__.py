"""Benchmarks: `logstream bench ingest`, `logstream bench query`."""
