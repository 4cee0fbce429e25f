import assert from "node:assert/strict";
import { test } from "node:test";

import { KEY_KEPT_MS, PREFIX, Queue, type QueueOptions } from "../src/queue";
import type { Action, Batch } from "../src/types";
import { MemoryStore } from "./helpers";

let counter = 0;
const click = (x: number): Action => ({ time: "2026-12-01T23:00:00.000+01:00", type: "CLICK", properties: { locationX: x, locationY: 1 } });

function queue(store: MemoryStore | null, extra: Partial<QueueOptions> = {}): { q: Queue; dropped: Batch[] } {
  const dropped: Batch[] = [];
  const q = new Queue({
    store, name: `page-${++counter}`, endpoint: "http://x", batchSize: 3, maxActions: 100, staleMs: 60_000,
    onDrop: (b) => dropped.push(b), newKey: () => `key-${++counter}`, now: Date.now, ...extra,
  });
  return { q, dropped };
}

test("actions are sealed into batches of batchSize, each with its own key", () => {
  const { q } = queue(null);
  assert.equal(q.add("u", "s", click(1)), false);
  q.add("u", "s", click(2));
  assert.equal(q.add("u", "s", click(3)), true);
  q.add("u", "s", click(4));
  q.seal();
  assert.deepEqual(q.batches.map((b) => b.actions), [3, 1]);
  assert.notEqual(q.batches[0].key, q.batches[1].key);
  assert.deepEqual(q.batches[0].logs, [{ userId: "u", sessionId: "s", actions: [click(1), click(2), click(3)] }]);
});

test("a batch holds one log per run of the same user and session", () => {
  const { q } = queue(null);
  q.add("u", "s1", click(1));
  q.add("v", "s1", click(2));
  q.add("v", "s1", click(3));
  assert.deepEqual(q.batches[0].logs.map((l) => [l.userId, l.actions.length]), [["u", 1], ["v", 2]]);
});

test("a retried batch keeps its key and waits its delay; batches go in order", () => {
  const { q } = queue(null);
  for (let i = 0; i < 6; i++) q.add("u", "s", click(i));
  const first = q.next() as Batch;
  const key = first.key;
  q.retryIn(first, 60_000);
  assert.equal(q.next(), undefined, "the first batch waits, and the second waits behind it");
  first.notBefore = 0;
  assert.equal(q.next()?.key, key);
  q.done(first);
  assert.notEqual(q.next()?.key, key);
});

test("a reload adopts the closed page's queue with the same keys, its loose actions sealed", () => {
  const store = new MemoryStore();
  const before = queue(store).q;
  for (let i = 0; i < 4; i++) before.add("u", "s", click(i));
  const keys = before.batches.map((b) => b.key);
  before.persist(true);
  const after = queue(store).q;
  after.adopt();
  assert.deepEqual(after.batches.slice(0, 1).map((b) => b.key), keys);
  assert.equal(after.size(), 4);
  assert.equal([...store.items.keys()].filter((k) => k.startsWith(PREFIX)).length, 1, "the old entry is gone");
});

test("a live page's queue is left alone; a page silent past staleMs is adopted", () => {
  const store = new MemoryStore();
  let now = 1_000_000;
  const live = queue(store, { now: () => now }).q;
  live.add("u", "s", click(1));
  const other = queue(store, { now: () => now }).q;
  other.adopt();
  assert.equal(other.size(), 0);
  now += 61_000;
  other.adopt();
  assert.equal(other.size(), 1);
});

test("a beaconed batch older than the server keeps keys is not sent again", () => {
  const store = new MemoryStore();
  let now = 1_000_000;
  const before = queue(store, { now: () => now }).q;
  for (let i = 0; i < 6; i++) before.add("u", "s", click(i));
  before.batches[0].beaconedAt = now;
  before.persist(true);
  now += KEY_KEPT_MS + 1;
  const after = queue(store, { now: () => now }).q;
  after.adopt();
  assert.deepEqual(after.batches.map((b) => b.key), [before.batches[1].key]);
});

test("the queue is bounded: past maxActions the oldest batch is dropped and reported", () => {
  const { q, dropped } = queue(new MemoryStore(), { maxActions: 6 });
  for (let i = 0; i < 9; i++) q.add("u", "s", click(i));
  assert.equal(q.size(), 6);
  assert.equal(dropped.length, 1);
  assert.deepEqual(dropped[0].logs[0].actions.map((a) => a.properties.locationX), [0, 1, 2]);
});

test("storage that refuses writes leaves the queue in memory", () => {
  const store = new MemoryStore();
  store.setItem = () => {
    throw new Error("QuotaExceededError");
  };
  const { q } = queue(store);
  q.add("u", "s", click(1));
  assert.equal(q.size(), 1);
});

test("garbage in storage is removed, not adopted", () => {
  const store = new MemoryStore();
  store.setItem(`${PREFIX}old`, "{not json");
  const { q } = queue(store);
  q.adopt();
  assert.equal(store.getItem(`${PREFIX}old`), null);
  assert.equal(q.size(), 0);
});
