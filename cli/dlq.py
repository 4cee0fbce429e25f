"""`logstream dlq list|show|redrive`: inspect the dead-letter topic and send records back.

Redrive re-validates each letter's bytes (or a fixed value you give) with the current contract and
publishes what passes to the raw topic. Each redriven record carries an eventId fixed by its
dead-letter coordinates and the producer's "republished" flag, so redriving twice stores nothing twice.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition

from logstream.contract import InvalidLogError, validate_record
from logstream.kafka import REPUBLISHED_HEADER, producer_config
from logstream.schemas import PRODUCER, RAW_SCHEMA
from logstream.schemas import headers as record_headers
from stream.dlq import ERRORS_HEADER, FAILED_AT_HEADER, REASON_HEADER, SOURCE_HEADER, TRUNCATED_HEADER
from stream.settings import StreamSettings
from stream.split import Source, derived_event_id


def letters(settings: StreamSettings, timeout: float = 5.0) -> Iterator[Any]:
    """Every dead letter from the beginning, read without joining a group."""
    consumer = Consumer({"bootstrap.servers": settings.kafka_bootstrap_servers, "group.id": "logstream-dlq-cli",
                         "enable.auto.commit": False})
    try:
        topic = settings.dlq_topic
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
        while True:
            message = consumer.poll(timeout)
            if message is None:
                return
            if message.error() is None:
                yield message
    finally:
        consumer.close()


def archived(settings: StreamSettings) -> Iterator[Any]:
    """Every dead letter kept in the archive, of every broker life (stream.dlq_archive)."""
    from logstream.clickhouse import connect
    from stream.dlq_archive import archived_letters

    client = connect(settings)
    try:
        yield from archived_letters(client)
    finally:
        client.close()


def letter_id(message: Any) -> str:
    """`P:O` in the dead-letter topic, or `P:O@L` for a letter from the archive."""
    return getattr(message, "letter", None) or f"{message.partition()}:{message.offset()}"


def describe(message: Any) -> dict[str, Any]:
    headers = {k: v.decode(errors="replace") for k, v in (message.headers() or [])}
    errors = orjson.loads(headers.get(ERRORS_HEADER, "[]"))
    return {"letter": letter_id(message), "reason": headers.get(REASON_HEADER),
            "source": headers.get(SOURCE_HEADER), "failedAt": headers.get(FAILED_AT_HEADER), "errors": errors,
            "bytes": int(headers.get(TRUNCATED_HEADER, len(message.value() or b""))),
            "truncated": TRUNCATED_HEADER in headers}


def source(settings: StreamSettings, args: argparse.Namespace) -> Iterator[Any]:
    return archived(settings) if args.archive else letters(settings)


def cmd_list(settings: StreamSettings, args: argparse.Namespace) -> int:
    shown = 0
    for message in source(settings, args):
        letter = describe(message)
        if args.reason and letter["reason"] != args.reason:
            continue
        if args.json:
            print(orjson.dumps(letter).decode())
        else:
            first = letter["errors"][0] if letter["errors"] else {}
            print(f"{letter['letter']:>10}  {letter['reason']:<17} from {letter['source']:<30} "
                  f"{first.get('path') or '$'}: {first.get('code', '')}  ({letter['bytes']} bytes)")
        shown += 1
        if shown >= args.limit:
            break
    print(f"{shown} dead letter(s)", file=sys.stderr)
    return 0


def find(settings: StreamSettings, args: argparse.Namespace, wanted: set[str]) -> dict[str, Any]:
    found = {}
    for message in source(settings, args):
        key = letter_id(message)
        if key in wanted:
            found[key] = message
            if len(found) == len(wanted):
                break
    missing = wanted - set(found)
    if missing:
        raise SystemExit(f"logstream dlq: no dead letter at {', '.join(sorted(missing))}")
    return found


def cmd_show(settings: StreamSettings, args: argparse.Namespace) -> int:
    message = find(settings, args, {args.letter})[args.letter]
    letter = describe(message)
    value = message.value() or b""
    try:
        letter["original"] = orjson.loads(value)
    except orjson.JSONDecodeError:
        letter["originalBytes"] = value.decode(errors="backslashreplace")
    print(orjson.dumps(letter, option=orjson.OPT_INDENT_2).decode())
    return 0


def redrive_value(message: Any, value: bytes) -> bytes:
    """The record to publish: valid under the current contract, with a stable eventId."""
    record = validate_record(value)  # raises InvalidLogError
    document = orjson.loads(value)
    if record.eventId is None:  # named after the letter: redriving it again publishes a copy, not a new log
        _, stamp = message.timestamp()
        letter = Source(f"dlq/{message.topic()}", message.partition(), message.offset(), stamp)
        document["eventId"] = str(derived_event_id(letter, message.value() or b""))
    return orjson.dumps(document)


def cmd_redrive(settings: StreamSettings, args: argparse.Namespace) -> int:
    if args.value_file and len(args.letters) != 1:
        raise SystemExit("logstream dlq: --value-file fixes one letter at a time")
    chosen = find(settings, args, set(args.letters)) if args.letters else {
        letter_id(m): m for m in source(settings, args)}
    producer = Producer({**producer_config(settings), "linger.ms": 5})
    sent = refused = 0
    for key, message in sorted(chosen.items()):
        value = Path(args.value_file).read_bytes() if args.value_file else (message.value() or b"")
        try:
            record = redrive_value(message, value)
        except (InvalidLogError, orjson.JSONDecodeError) as exc:
            refused += 1
            print(f"{key}: still invalid, left in the DLQ: {exc}", file=sys.stderr)
            continue
        if not args.dry_run:
            producer.produce(settings.raw_topic, record, message.key(),
                             headers=record_headers(RAW_SCHEMA, f"{PRODUCER} dlq-redrive",
                                                    extra={REPUBLISHED_HEADER: "1", "logstream-redriven-from": key}))
        sent += 1
        if sent % 1000 == 0:
            print(f"redriven {sent} ...", file=sys.stderr)
    left = producer.flush(30)
    if left:
        print(f"{left} record(s) were not acknowledged by the broker", file=sys.stderr)
        return 1
    verb = "would redrive" if args.dry_run else "redrove"
    print(f"{verb} {sent} dead letter(s) to {settings.raw_topic}; {refused} still invalid", file=sys.stderr)
    return 0 if not refused else 3


def main(argv: list[str], settings: StreamSettings) -> int:
    parser = argparse.ArgumentParser(prog="logstream dlq", description=__doc__)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--archive", action="store_true",
                        help="read the letters kept in ClickHouse (every broker life) instead of the topic")
    commands = parser.add_subparsers(dest="command", required=True)
    listing = commands.add_parser("list", help="one line per dead letter", parents=[common])
    listing.add_argument("--reason", choices=["unparseable", "schema_violation", "too_large"])
    listing.add_argument("--limit", type=int, default=1000)
    listing.add_argument("--json", action="store_true", help="one JSON object per line")
    show = commands.add_parser("show", help="one dead letter: its reason, problems and original record",
                               parents=[common])
    show.add_argument("letter", help="PARTITION:OFFSET (or P:O@L from the archive), as `list` prints it")
    redrive = commands.add_parser("redrive", help="re-validate and send back to the raw topic", parents=[common])
    redrive.add_argument("letters", nargs="*", help="PARTITION:OFFSET ... (default: every dead letter)")
    redrive.add_argument("--value-file", help="send this fixed JSON instead of the letter's original bytes")
    redrive.add_argument("--dry-run", action="store_true", help="validate only; publish nothing")
    args = parser.parse_args(argv)
    return {"list": cmd_list, "show": cmd_show, "redrive": cmd_redrive}[args.command](settings, args)
