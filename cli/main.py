"""The `logstream` command."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable
from typing import Any, TypeVar

from pydantic import ValidationError

from logstream.settings import BaseConfig, LoggingSettings, describe

S = TypeVar("S", bound=BaseConfig)
log = logging.getLogger("logstream")


def load(settings_class: type[S]) -> S:
    """Settings from LOGSTREAM_* variables; on a bad one, a one-line error naming it, and exit 2."""
    try:
        return settings_class()
    except ValidationError as exc:
        print(f"logstream: {describe(exc)}", file=sys.stderr)  # noqa: T201
        raise SystemExit(2) from None


def setup_logging() -> None:
    from logstream import logs

    settings = load(LoggingSettings)
    level = settings.log_level
    logs.setup(level, settings.log_format)
    for noisy in ("aiokafka", "faust", "mode", "uvicorn.access", "httpx"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLevelName(level)))


def serve(app: Any, host: str, port: int) -> None:
    import uvicorn

    uvicorn.run(app, host=host, port=port, log_config=None, access_log=False, timeout_graceful_shutdown=10)


def cmd_producer(_: argparse.Namespace) -> None:
    from producer_api.app import create_app
    from producer_api.settings import ProducerSettings

    settings = load(ProducerSettings)
    serve(create_app(settings), settings.host, settings.port)


def cmd_query(args: argparse.Namespace) -> None:
    from embedded import chdb_owner
    from query_api.app import create_app

    settings = load(chdb_owner.ChdbOwnerSettings)
    if args.with_stream or settings.query_serve_clickhouse:  # the embedded default's chDB owner
        app = chdb_owner.create_app(settings, with_stream=args.with_stream)
    else:
        app = create_app(settings)
    serve(app, settings.query_host, settings.query_port)


def cmd_stream(_: argparse.Namespace) -> None:
    from stream.app import create_app
    from stream.settings import StreamSettings

    settings = load(StreamSettings)
    serve(create_app(settings), settings.stream_host, settings.stream_port)


def cmd_migrate(_: argparse.Namespace) -> None:
    from logstream.clickhouse import migrate
    from logstream.settings import ClickHouseSettings

    applied = migrate(load(ClickHouseSettings))
    print(f"applied {len(applied)} migration(s)" + "".join(f"\n  {m.version:04d}_{m.name}" for m in applied))  # noqa: T201


def cmd_broker(_: argparse.Namespace) -> None:
    from embedded.supervisor import BrokerSettings, run_broker

    raise SystemExit(run_broker(load(BrokerSettings)))


def add_dlq_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("options", nargs=argparse.REMAINDER, help="list | show P:O | redrive [P:O ...] (--help)")


def add_replay_arguments(parser: argparse.ArgumentParser) -> None:
    from cli.replay import add_arguments

    add_arguments(parser)


def cmd_dlq(args: argparse.Namespace) -> None:
    from cli.dlq import main as dlq_main
    from stream.settings import StreamSettings

    raise SystemExit(dlq_main(args.options, load(StreamSettings)))


def cmd_replay(args: argparse.Namespace) -> None:
    from cli.replay import run
    from stream.settings import StreamSettings

    raise SystemExit(run(args, load(StreamSettings)))


def add_retention_arguments(parser: argparse.ArgumentParser) -> None:
    from cli.retention import add_arguments

    add_arguments(parser)


def cmd_retention(args: argparse.Namespace) -> None:
    from cli.retention import run
    from stream.settings import StreamSettings

    raise SystemExit(run(args, load(StreamSettings)))


def add_tail_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("topic", choices=["raw", "actions", "dlq"], help="which of logstream's topics")
    parser.add_argument("--from-beginning", action="store_true", help="start at each partition's first record")
    parser.add_argument("--user", help="only records keyed by this userId")
    parser.add_argument("--type", help="only actions of this type (raw: logs with one); not for dlq")
    parser.add_argument("--json", action="store_true", help="one JSON object per record")
    parser.add_argument("--limit", type=int, help="stop after this many records")
    parser.add_argument("--idle", type=float, help="stop after this many seconds without a record")


def cmd_tail(args: argparse.Namespace) -> None:
    from logstream.settings import KafkaSettings
    from logstream.tail import Filter, records, render

    if args.type and args.topic == "dlq":
        raise SystemExit("logstream tail: --type applies to raw and actions")
    settings = load(KafkaSettings)
    try:
        for record in records(settings, args.topic, from_beginning=args.from_beginning,
                              keep=Filter(args.user, args.type), limit=args.limit, idle_s=args.idle):
            print(render(record, args.json), flush=True)
    except KeyboardInterrupt:
        pass


def cmd_up(_: argparse.Namespace) -> None:
    from embedded.supervisor import UpSettings, run_up

    raise SystemExit(run_up(load(UpSettings)))


def cmd_status(args: argparse.Namespace) -> None:
    from cli.status import main as status_main
    from producer_api.settings import ProducerSettings

    settings = load(ProducerSettings)
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::") else settings.host  # noqa: S104
    raise SystemExit(status_main(args, f"http://{host}:{settings.port}"))


def add_status_arguments(parser: argparse.ArgumentParser) -> None:
    from cli.status import add_arguments

    add_arguments(parser)


def cmd_seed_data(args: argparse.Namespace) -> None:
    from logstream.seed import SeedPlan, seed_database
    from logstream.settings import ClickHouseSettings

    plan = SeedPlan(actions=args.actions, users=args.users, days=args.days, end=args.end, seed=args.seed)
    if args.via_http:
        from cli.seed_http import seed_via_http

        raise SystemExit(seed_via_http(args.via_http, plan, args.write_key))
    raise SystemExit(seed_database(load(ClickHouseSettings), plan, replace=args.replace))


def add_seed_arguments(parser: argparse.ArgumentParser) -> None:
    from logstream.seed import add_plan_arguments

    add_plan_arguments(parser)
    parser.add_argument("--replace", action="store_true",
                        help="empty the actions table and its rollups first (otherwise it must be empty)")
    parser.add_argument("--via-http", metavar="URL",
                        help="send the logs to a running logstream at URL through its Python client (POST "
                             "/v1/logs: validated, streamed and stored as any client's) instead of writing "
                             "ClickHouse directly")
    parser.add_argument("--write-key", help="with --via-http, when the server has API keys on")


def cmd_bench(args: argparse.Namespace) -> None:
    raise SystemExit(args.bench_run(args))


def add_bench_targets(parser: argparse.ArgumentParser) -> None:
    import importlib

    from bench import TARGETS

    targets = parser.add_subparsers(dest="target", required=True, metavar="target")
    for name, module_name in TARGETS.items():
        module = importlib.import_module(module_name)
        target = targets.add_parser(name, help=module.DESCRIPTION, description=module.DESCRIPTION)
        module.add_arguments(target)
        target.set_defaults(bench_run=module.run)


COMMANDS: dict[str, tuple[Callable[[argparse.Namespace], None], str]] = {
    "up": (cmd_up, "run the whole embedded stack in the foreground (broker, stream, query, producer)"),
    "producer": (cmd_producer, "the ingest API (POST /v1/logs) and front door"),
    "stream": (cmd_stream, "the stream worker: raw topic -> ClickHouse, invalid -> DLQ"),
    "query": (cmd_query, "the read API"),
    "broker": (cmd_broker, "the broker alone: embedded (memory storage), or LOGSTREAM_BROKER=apache (durable)"),
    "migrate": (cmd_migrate, "apply the ClickHouse migrations not yet applied"),
    "status": (cmd_status, "one screen: rates, lag, freshness, dead letters and readiness of a running stack"),
    "dlq": (cmd_dlq, "dead letters: `dlq list`, `dlq show P:O`, `dlq redrive [P:O ...]`"),
    "replay": (cmd_replay, "rebuild every projection from the archive into a fresh database; --verify, --swap"),
    "retention": (cmd_retention, "drop the months LOGSTREAM_RETENTION_DAYS no longer keeps; --dry-run lists them"),
    "tail": (cmd_tail, "print a topic's records as they arrive: `tail raw|actions|dlq [--from-beginning]`"),
    "seed-data": (cmd_seed_data, "fill ClickHouse with realistic synthetic actions, generated by ClickHouse itself"),
    "bench": (cmd_bench, "run a benchmark and print its figures (targets: ingest, query, page)"),
}
ARGUMENTS: dict[str, Callable[[argparse.ArgumentParser], None]] = {
    "dlq": add_dlq_arguments,
    "status": add_status_arguments,
    "replay": add_replay_arguments,
    "retention": add_retention_arguments,
    "tail": add_tail_arguments,
    "seed-data": add_seed_arguments,
    "bench": add_bench_targets,
}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="logstream", description="Product-analytics user action logs.")
    commands = parser.add_subparsers(dest="command", required=True)
    for name, (function, help_text) in COMMANDS.items():
        sub = commands.add_parser(name, help=help_text, description=help_text)
        sub.set_defaults(function=function)
        if name == "query":
            sub.add_argument("--with-stream", action="store_true",
                             help="also run the stream worker in this process (the embedded default)")
        if name in ARGUMENTS:
            ARGUMENTS[name](sub)
    args = parser.parse_args(argv)
    setup_logging()
    args.function(args)


if __name__ == "__main__":
    main()
