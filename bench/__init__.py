"""`logstream bench <target>`: benchmarks that print their figures and save them to bench-results/.

Each target is a module with DESCRIPTION, add_arguments(parser) and run(args) -> exit code; its
heavy imports stay inside run() so that `logstream --help` stays fast.
"""

from __future__ import annotations

TARGETS = {
    "ingest": "bench.ingest",
    "query": "bench.query",
    "replay": "bench.replay",
    "crash": "bench.crash",
    "page": "bench.page",
}
