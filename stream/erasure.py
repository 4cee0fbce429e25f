"""Erase one user from every projection, exactly, while the stream keeps inserting.

The user's rows leave `actions`, and every rollup with a `user_id` column, by `ALTER ... DELETE`.
The other rollups aggregate many users, so their rows are corrected instead:

- Sums lose the user's contribution: delta rows (the view's own SELECT over the user's rows, sums
  negated; UInt64 arithmetic wraps, so adding 2^64 - n subtracts n) are staged in a copy of the
  rollup and moved in partition by partition. A moved partition leaves the stage, so a retry after
  a crash moves nothing twice.
- Every other aggregate (min, max, uniqExact, ...) is idempotent under merging, so each row of an
  affected group is set to the group's value recomputed from `actions` after the delete. One
  mutation sets them. It is created while the rollup's merges (and so its mutations) are stopped,
  and the values it reads are computed after its creation. A mutation applies to the parts that
  existed when it was created, and an insert writes `actions` before the views' targets, so every
  action those parts count is in `actions` when the values are computed. Rows inserted later are
  in newer parts: the mutation leaves them alone and merging combines them correctly. A group left
  with no action is deleted (its rows were the user's and the deltas).

The stream drops the user's records once the suppression list reaches it (`Suppression`). Passes
repeat until one finds no row of the user after `settle_s`, so records already in flight are erased
too. Each step is recorded in `erasures` and can be repeated, so an erasure interrupted anywhere
resumes where it stopped when its request is delivered again.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from clickhouse_connect.driver.client import Client

from logstream.clickhouse import FED_EVENTS, WITHOUT_DEDUPLICATION, numbered_rows
from stream.projections import AGGREGATE, BOOKKEEPING, COLUMNS_OF, FEED, SOURCE, VIEW_SOURCE, VIEW_TARGET, VIEWS_OF

log = logging.getLogger(__name__)

PHASES = ("capture", "delta", "move", "delete", "recompute")
MUTATION = {"allow_nondeterministic_mutations": 1, "mutations_sync": 0}
WITH_MATERIALIZED = {"asterisk_include_materialized_columns": 1}
TIME_TYPES = re.compile(r"^(?:LowCardinality\()?(?:Date|DateTime)")


class ErasureError(RuntimeError):
    pass


@dataclass(frozen=True)
class Rollup:
    """A table a materialized view fills from `actions`, and how an erasure corrects it."""

    table: str
    select: str  # the view's SELECT, reading `<db>.actions`
    keys: tuple[str, ...]  # its group: the columns that are not aggregates
    sums: tuple[str, ...]  # SimpleAggregateFunction(sum, ...): corrected by deltas
    others: tuple[str, ...]  # every other aggregate: recomputed
    per_user: bool  # has a user_id column: the user's rows are deleted
    time_keys: tuple[str, ...]  # keys that are times (a minute, a quarter hour, a day): within one UTC day
    partition_key: str

    @property
    def per_day(self) -> bool:
        """Recomputed from the actions of the days the removed rows fall in only."""
        return bool(self.time_keys)

    @property
    def monthly(self) -> bool:
        """Partitioned by the month of a time key: a month of actions is exactly a partition of it."""
        return self.partition_key.replace(" ", "") in {f"toYYYYMM({k})" for k in self.time_keys}

    def over(self, database: str, source: str) -> str:
        """The view's SELECT reading `source` (a table or a parenthesized query) instead of `actions`."""
        db, table = re.escape(database), f"(?:{SOURCE}|{FEED})"
        pattern = re.compile(rf"\b{db}\.{table}\b|`{db}`\.`{table}`")
        numbered = f"({numbered_rows(source, f'`{database}`.id_numbers')})"  # rows hold 0 for ids numbered later
        query, found = pattern.subn(lambda _: numbered, self.select)
        if found != 1:
            raise ErasureError(f"the view of {self.table} reads actions {found} times; erasure cannot correct it")
        return query


def rollups_of(client: Client, database: str) -> list[Rollup]:
    """Every table a view fills from `actions`. A view over a rollup is refused: deltas would reach it
    through that view, but its other aggregates would not be recomputed."""
    found = []
    for name, create in client.query(VIEWS_OF, parameters={"db": database}).result_rows:
        source, target = VIEW_SOURCE.search(create), VIEW_TARGET.search(create)
        if not (source and target and source["db"] == database == target["db"]):
            continue
        if target["table"] in BOOKKEEPING:
            continue
        if source["table"] not in (SOURCE, FEED):
            raise ErasureError(f"view {name} reads {source['table']}, not actions: erasure cannot correct it")
        select = client.query(VIEW_SELECT, parameters={"db": database, "n": name}).result_rows[0][0]
        columns = client.query(COLUMNS_OF, parameters={"db": database, "table": target["table"]}).result_rows
        keys = tuple(n for n, kind in columns if not AGGREGATE.match(kind))
        sums = tuple(n for n, kind in columns if kind.startswith("SimpleAggregateFunction(sum,"))
        others = tuple(n for n, kind in columns if AGGREGATE.match(kind) and n not in sums)
        time_keys = tuple(n for n, kind in columns if n in keys and TIME_TYPES.match(kind))
        partition_key = client.query(PARTITION_KEY, parameters={"db": database, "n": target["table"]}).result_rows[0][0]
        found.append(Rollup(target["table"], select, keys, sums, others, "user_id" in keys, time_keys, partition_key))
    return sorted(found, key=lambda rollup: rollup.table)


@dataclass
class Progress:
    erasure_id: uuid.UUID
    user_id: str
    requested_at: datetime
    state: str = "requested"
    pass_: int = 0
    phase: str = PHASES[0]
    actions_erased: int = 0
    completed_at: datetime | None = None


MUTATIONS_PENDING = """
SELECT countIf(NOT is_done), anyIf(latest_fail_reason, latest_fail_reason != '') FROM system.mutations
WHERE database = {db:String} AND table IN {t:Array(String)}
"""
ACTIVE_PARTITIONS = """
SELECT DISTINCT partition_id FROM system.parts WHERE database = {db:String} AND table = {t:String} AND active
"""
NOT_YET_FED = """
SELECT kafka_topic, kafka_partition, kafka_offset FROM {captured}
WHERE event_id NOT IN (SELECT event_id FROM {fed} WHERE event_id IN (SELECT event_id FROM {captured}))
LIMIT 3
"""
PARTITION_KEY = "SELECT partition_key FROM system.tables WHERE database = {db:String} AND name = {n:String}"
VIEW_SELECT = "SELECT as_select FROM system.tables WHERE database = {db:String} AND name = {n:String}"
PROGRESS = """
SELECT user_id, toString(state), pass, phase, actions_erased, requested_at, completed_at
FROM erasures FINAL WHERE erasure_id = {id:UUID}
"""


class Eraser:
    """Carries out erasure requests against one database (see the module's docstring)."""

    def __init__(self, client: Client, database: str, settle_s: float = 10.0,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)):
        self.client, self.database, self.settle_s, self._clock = client, database, settle_s, clock

    def erase(self, erasure_id: uuid.UUID, user_id: str, requested_at: datetime) -> Progress:
        progress = self.progress(erasure_id) or Progress(erasure_id, user_id, requested_at)
        if progress.state == "done":
            return progress
        if progress.user_id != user_id:
            raise ErasureError(f"erasure {erasure_id} was recorded for another user")
        self.suppress(progress)
        self.resume_merges()  # a run stopped mid-recompute may have left them stopped
        progress.state = "erasing"
        suppressed_at = time.monotonic()
        while True:
            found = self.run_pass(progress, [r for r in rollups_of(self.client, self.database) if not r.per_user],
                               lambda captured: self.capture_rows(captured, "user_id = {u:String}", {"u": user_id}),
                               lambda captured: self._delete(captured, user_id))
            if found == 0 and time.monotonic() - suppressed_at >= self.settle_s:
                break
            if found == 0:
                time.sleep(min(1.0, self.settle_s))
        self._outside_projections(user_id)
        progress.state, progress.completed_at = "done", self._clock()
        self.record(progress)
        log.info("erasure %s done: %d actions erased in %d passes", erasure_id, progress.actions_erased,
                 progress.pass_ + 1)
        return progress

    def progress(self, erasure_id: uuid.UUID) -> Progress | None:
        rows = self.client.query(PROGRESS, parameters={"id": erasure_id}).result_rows
        if not rows:
            return None
        user_id, state, pass_, phase, erased, requested_at, completed_at = rows[0]
        return Progress(erasure_id, user_id, requested_at, state, pass_, phase, erased, completed_at)

    def record_request(self, erasure_id: uuid.UUID, user_id: str, requested_at: datetime) -> None:
        if self.progress(erasure_id) is None:
            self.record(Progress(erasure_id, user_id, requested_at))

    def suppress(self, progress: Progress) -> None:
        self.client.insert("erased_users", [[progress.user_id, progress.erasure_id, progress.requested_at]],
                           column_names=["user_id", "erasure_id", "requested_at"])

    def resume_merges(self) -> None:
        for rollup in rollups_of(self.client, self.database):
            self.client.command(f"SYSTEM START MERGES {self._name(rollup.table)}")

    # ------------------------------------------------------------------ one pass

    def run_pass(self, progress: Progress, rollups: list[Rollup], capture: Callable[[str], int],
              delete: Callable[[str], None]) -> int:
        """The steps of one pass, from the one recorded: `capture` copies the rows to remove into the
        table it is given, `delete` removes them from `actions` (and from the tables it corrects
        itself); `rollups` are corrected by deltas and recomputes. The number of rows removed."""
        captured = self._name(f"erasing_{progress.erasure_id.hex}_{progress.pass_}")
        steps = {"capture": lambda: capture(captured),
                 "delta": lambda: self._stage_deltas(captured, rollups, progress),
                 "move": lambda: self._move_deltas(rollups, progress),
                 "delete": lambda: delete(captured),
                 "recompute": lambda: self._recompute(captured, rollups, progress)}
        count = self.client.query(f"SELECT count() FROM {captured}").result_rows[0][0] \
            if progress.phase != "capture" else 0
        for phase in PHASES[PHASES.index(progress.phase):]:
            progress.phase = phase
            self.record(progress)
            result = steps[phase]()
            if phase == "capture":
                count = result
                if count == 0:  # nothing of the user since the last pass
                    self.client.command(f"DROP TABLE IF EXISTS {captured}")
                    return 0
        progress.actions_erased += count
        self.client.command(f"DROP TABLE IF EXISTS {captured}")
        progress.pass_, progress.phase = progress.pass_ + 1, PHASES[0]
        self.record(progress)
        return count

    def capture_rows(self, captured: str, where: str, parameters: dict[str, object]) -> int:
        self.client.command(f"DROP TABLE IF EXISTS {captured}")
        self.client.command(f"CREATE TABLE {captured} ENGINE = MergeTree ORDER BY tuple() "
                            f"EMPTY AS SELECT * FROM {self._name(SOURCE)}", settings=WITH_MATERIALIZED)
        self.client.command(f"INSERT INTO {captured} SELECT * FROM {self._name(SOURCE)} WHERE {where}",
                            parameters=parameters, settings=WITH_MATERIALIZED)
        self._wait_until_fed(captured)
        return self.client.query(f"SELECT count() FROM {captured}").result_rows[0][0]

    def _wait_until_fed(self, captured: str) -> None:
        """The rollups fed after the rows (stream/rollup_feed.py) must count every captured row before
        the deltas and recomputes are taken from them: each captured row's log must be among those fed
        (`fed_events`), which a batch's are soon after it is stored."""
        deadline = time.monotonic() + max(self.settle_s, 30.0)
        while True:
            behind = self.client.query(NOT_YET_FED.format(captured=captured, fed=self._name(FED_EVENTS))).result_rows
            if not behind:
                return
            if time.monotonic() > deadline:
                raise ErasureError(f"the rollups were not fed up to the user's rows in time: {behind[:3]}")
            time.sleep(0.05)

    def _stage_deltas(self, captured: str, rollups: list[Rollup], progress: Progress) -> None:
        for rollup in rollups:
            stage = self._stage(rollup, progress)
            self.client.command(f"DROP TABLE IF EXISTS {stage}")
            self.client.command(f"CREATE TABLE {stage} AS {self._name(rollup.table)}")
            columns = rollup.keys + rollup.sums + rollup.others
            negated = [f"CAST(-toInt64(`{c}`) AS UInt64) AS `{c}`" if c in rollup.sums else f"`{c}`" for c in columns]
            # the stage is made AS the rollup, whose insert would take an equal block for a repeat
            self.client.command(f"INSERT INTO {stage} ({_list(columns)}) SELECT {', '.join(negated)} "
                                f"FROM ({rollup.over(self.database, captured)})",
                                settings={**WITH_MATERIALIZED, **WITHOUT_DEDUPLICATION})

    def _move_deltas(self, rollups: list[Rollup], progress: Progress) -> None:
        for rollup in rollups:
            stage = self._stage(rollup, progress)
            partitions = self.client.query(ACTIVE_PARTITIONS, parameters={
                "db": self.database, "t": stage.split(".")[-1].strip("`")}).result_rows
            for (partition,) in partitions:
                self.client.command(f"ALTER TABLE {stage} MOVE PARTITION ID {{p:String}} TO TABLE "
                                    f"{self._name(rollup.table)}", parameters={"p": partition})

    def _delete(self, captured: str, user_id: str) -> None:
        """From `actions` and the rollups keyed by user, as mutations that run side by side."""
        self.client.command(f"ALTER TABLE {self._name(SOURCE)} DELETE WHERE action_id IN "
                            f"(SELECT action_id FROM {captured})", settings=MUTATION)
        per_user = [r.table for r in rollups_of(self.client, self.database) if r.per_user]
        for table in per_user:
            self.client.command(f"ALTER TABLE {self._name(table)} DELETE WHERE user_id = {{u:String}}",
                                parameters={"u": user_id}, settings=MUTATION)
        self._wait_for_mutations([SOURCE, *per_user])

    def _recompute(self, captured: str, rollups: list[Rollup], progress: Progress) -> None:
        """Every rollup's mutation is created while its merges are stopped; the values they read are
        computed after that; then merges resume and the mutations run side by side."""
        corrections = [Correction(self, rollup, f"{progress.erasure_id.hex}_{progress.pass_}_{rollup.table}")
                       for rollup in rollups]
        try:
            for correction in corrections:
                correction.prepare(captured)
            for correction in corrections:
                correction.create_mutation()
            for correction in corrections:
                correction.compute_values(captured)
        finally:
            for rollup in rollups:
                self.client.command(f"SYSTEM START MERGES {self._name(rollup.table)}")
        self._wait_for_mutations([rollup.table for rollup in rollups])
        for correction in corrections:
            correction.drop()
        for rollup in rollups:
            self.client.command(f"DROP TABLE IF EXISTS {self._stage(rollup, progress)}")

    def _wait_for_mutations(self, tables: list[str], timeout_s: float = 600.0) -> None:
        deadline = time.monotonic() + timeout_s
        while True:
            rows = self.client.query(MUTATIONS_PENDING, parameters={"db": self.database, "t": tables}).result_rows
            pending, failure = rows[0]
            if failure:
                raise ErasureError(f"correcting {', '.join(tables)} failed: {failure}")
            if not pending:
                return
            if time.monotonic() > deadline:
                raise ErasureError(f"correcting {', '.join(tables)} did not finish within {timeout_s:.0f} s")
            time.sleep(0.02)

    # ------------------------------------------------------------------ outside the projections

    def _outside_projections(self, user_id: str) -> None:
        """The archive (so replay never brings the user back), seed 000's user registry and the user
        id's number (its sessions' numbers stay: a session id names no one)."""
        of_user = "key = {u:String} OR JSONExtractString(ifNull(value, ''), 'userId') = {u:String}"
        for table in ("raw_events", "dead_letters"):
            self.client.command(f"ALTER TABLE {self._name(table)} DELETE WHERE {of_user}", parameters={"u": user_id},
                                settings=MUTATION)
        self.client.command(f"ALTER TABLE {self._name('compat_users')} DELETE WHERE user_id = {{u:String}}",
                            parameters={"u": user_id}, settings=MUTATION)
        self.client.command(f"ALTER TABLE {self._name('id_numbers')} DELETE WHERE kind = 'user' AND id = {{u:String}}",
                            parameters={"u": user_id}, settings=MUTATION)
        self._wait_for_mutations(["raw_events", "dead_letters", "compat_users", "id_numbers"])

    # ------------------------------------------------------------------ helpers

    def record(self, progress: Progress) -> None:
        self.client.insert("erasures", [[progress.erasure_id, progress.user_id, progress.state, progress.pass_,
                                         progress.phase, progress.actions_erased, progress.requested_at,
                                         progress.completed_at, time.time_ns()]],
                           column_names=["erasure_id", "user_id", "state", "pass", "phase", "actions_erased",
                                         "requested_at", "completed_at", "version"])

    def _name(self, table: str) -> str:
        return f"`{self.database}`.`{table}`"

    def _stage(self, rollup: Rollup, progress: Progress) -> str:
        return self._name(f"erasing_d_{progress.erasure_id.hex}_{progress.pass_}_{rollup.table}")


class Correction:
    """One rollup's recompute (see the module's docstring): the groups the user touched (`affected`),
    their values from `actions` now (`values`, then `kept` and `lookup` for the mutation to read)."""

    def __init__(self, eraser: Eraser, rollup: Rollup, tag: str):
        self.eraser, self.rollup, self.client = eraser, rollup, eraser.client
        self.table = eraser._name(rollup.table)
        self.affected, self.values, self.kept, self.lookup = (eraser._name(f"erasing_{kind}_{tag}")
                                                              for kind in ("k", "v", "s", "j"))
        self.keys = _list(rollup.keys)

    def prepare(self, captured: str) -> None:
        self.drop()
        database, keys = self.eraser.database, self.keys
        self.client.command(f"CREATE TABLE {self.affected} ENGINE = Set EMPTY AS SELECT {keys} FROM {self.table}")
        self.client.command(f"INSERT INTO {self.affected} SELECT DISTINCT {keys} "
                            f"FROM ({self.rollup.over(database, captured)})", settings=WITH_MATERIALIZED)
        self.client.command(f"CREATE TABLE {self.kept} ENGINE = Set EMPTY AS SELECT {keys} FROM {self.table}")
        self.client.command(f"CREATE TABLE {self.lookup} ENGINE = Join(ANY, LEFT, {keys}) "
                            f"EMPTY AS SELECT * FROM {self.table}")
        self.client.command(f"CREATE TABLE {self.values} ENGINE = MergeTree ORDER BY tuple() "
                            f"EMPTY AS SELECT * FROM {self.table}")
        self.client.command(f"SYSTEM STOP MERGES {self.table}")

    def create_mutation(self) -> None:
        keys, lookup = self.keys, self.lookup.replace("`", "")
        update = ""
        if self.rollup.others:
            assignments = ", ".join(f"`{c}` = joinGet('{lookup}', '{c}', {keys})" for c in self.rollup.others)
            update = f"UPDATE {assignments} WHERE ({keys}) IN {self.kept}, "
        self.client.command(f"ALTER TABLE {self.table} {update}"
                            f"DELETE WHERE ({keys}) IN {self.affected} AND ({keys}) NOT IN {self.kept}",
                            settings=MUTATION)

    def compute_values(self, captured: str) -> None:
        source = self.eraser._name(SOURCE)
        if self.rollup.per_day:
            source = f"(SELECT * FROM {source} WHERE toDate(time) IN (SELECT DISTINCT toDate(time) FROM {captured}))"
        over = self.rollup.over(self.eraser.database, source)
        self.client.command(f"INSERT INTO {self.values} SELECT * FROM ({over}) WHERE ({self.keys}) IN {self.affected}",
                            settings=WITH_MATERIALIZED)
        self.client.command(f"INSERT INTO {self.lookup} SELECT * FROM {self.values}")
        self.client.command(f"INSERT INTO {self.kept} SELECT {self.keys} FROM {self.values}")

    def drop(self) -> None:
        for name in (self.affected, self.values, self.kept, self.lookup):
            self.client.command(f"DROP TABLE IF EXISTS {name}")


def _list(columns: tuple[str, ...]) -> str:
    return ", ".join(f"`{c}`" for c in columns)
