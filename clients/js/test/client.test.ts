import assert from "node:assert/strict";
import { test } from "node:test";

import { Client } from "../src/client";
import { backoffMs, beacon, retryAfterMs } from "../src/sender";
import { localTime } from "../src/time";
import type { DeliveryError } from "../src/types";
import { MemoryStore, accepted, scriptedFetch } from "./helpers";

const options = { endpoint: "http://logs.test/", userId: "u1", sessionId: "s1", batchSize: 2 };

function keyOf(init: RequestInit): string {
  return (init.headers as Record<string, string>)["Idempotency-Key"];
}

test("times carry the browser's UTC offset and read back as the same instant", () => {
  const moment = new Date(Date.UTC(2026, 11, 1, 22, 5, 9, 7));
  const text = localTime(moment);
  assert.match(text, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d$/);
  assert.equal(Date.parse(text), moment.getTime());
});

test("a batch is POSTed to /v1/logs as JSON with its Idempotency-Key and the write key", async () => {
  const { calls, fetchFn } = scriptedFetch([accepted()]);
  const client = new Client({ ...options, writeKey: "w".repeat(20) }, { fetch: fetchFn });
  client.track("CLICK", { locationX: 1, locationY: 2 });
  client.track("VIEW", { viewedId: "v" });
  await client.flush();
  assert.equal(calls.length, 1);
  assert.equal(calls[0].url, "http://logs.test/v1/logs");
  const headers = calls[0].init.headers as Record<string, string>;
  assert.equal(headers["Content-Type"], "application/json");
  assert.equal(headers.Authorization, `Bearer ${"w".repeat(20)}`);
  assert.match(keyOf(calls[0].init), /^[0-9a-f-]{36}$/);
  const logs = JSON.parse(calls[0].init.body as string);
  assert.deepEqual(logs.map((l: { actions: unknown[] }) => l.actions.length), [2]);
  assert.equal(client.queue.size(), 0);
});

test("a network failure is retried with the same key, and nothing is sent twice once accepted", async () => {
  const { calls, fetchFn } = scriptedFetch([new TypeError("Failed to fetch"), accepted()]);
  const client = new Client(options, { fetch: fetchFn });
  client.track("CLICK", { locationX: 1, locationY: 2 });
  await client.flush();
  assert.equal(client.queue.size(), 1, "kept after the failure");
  client.queue.batches[0].notBefore = 0; // skip the backoff
  await client.flush();
  client.stop();
  assert.equal(calls.length, 2);
  assert.equal(keyOf(calls[0].init), keyOf(calls[1].init));
  assert.equal(client.queue.size(), 0);
});

test("429 waits its Retry-After before the next try", async () => {
  const { calls, fetchFn } = scriptedFetch([new Response("{}", { status: 429, headers: { "Retry-After": "7" } })]);
  let now = 1_000_000;
  const client = new Client(options, { fetch: fetchFn, now: () => now });
  client.track("CLICK", { locationX: 1, locationY: 2 });
  await client.flush();
  client.stop();
  assert.equal(client.queue.batches[0].notBefore, now + 7000);
  await client.flush();
  assert.equal(calls.length, 1, "not before its time");
  now += 7000;
  await client.flush();
  client.stop();
  assert.equal(calls.length, 2);
  assert.equal(client.queue.size(), 0);
});

test("503 and 409 are retried; 400 is reported to onError and never retried", async () => {
  const problem = { code: "invalid_logs", errors: [{ path: "[0].actions[0].time", code: "time_in_future" }] };
  const { calls, fetchFn } = scriptedFetch([
    new Response("{}", { status: 503, headers: { "Retry-After": "0" } }),
    new Response(JSON.stringify(problem), { status: 400 }),
  ]);
  const errors: DeliveryError[] = [];
  const client = new Client({ ...options, onError: (e) => errors.push(e) }, { fetch: fetchFn });
  client.track("CLICK", { locationX: 1, locationY: 2 });
  await client.flush();
  await client.flush();
  await client.flush();
  client.stop();
  assert.equal(calls.length, 2);
  assert.equal(errors.length, 1);
  assert.equal(errors[0].reason, "rejected");
  assert.equal(errors[0].status, 400);
  assert.deepEqual(errors[0].problem, problem);
  assert.equal(client.queue.size(), 0);
});

test("leaving the page beacons every batch as a text/plain envelope and keeps it for the next page", () => {
  const sent: Array<[string, string]> = [];
  const nav = { sendBeacon: (url: string, body: string) => (sent.push([url, body]), true) } as unknown as Navigator;
  const store = new MemoryStore();
  const client = new Client({ ...options, writeKey: "k".repeat(20) }, { storage: store, navigator: nav });
  for (let i = 0; i < 3; i++) client.track("CLICK", { locationX: i, locationY: 0 });
  client.flushOnExit(true);
  assert.equal(sent.length, 2);
  assert.equal(sent[0][0], "http://logs.test/v1/beacon");
  const envelope = JSON.parse(sent[0][1]);
  assert.equal(envelope.idempotencyKey, client.queue.batches[0].key);
  assert.equal(envelope.writeKey, "k".repeat(20));
  assert.equal(envelope.logs[0].actions.length, 2);
  const next = new Client(options, { storage: store });
  assert.deepEqual(next.queue.batches.map((b) => b.key), client.queue.batches.map((b) => b.key));
});

test("without sendBeacon, a keepalive text/plain fetch carries the envelope", () => {
  const { calls, fetchFn } = scriptedFetch([]);
  const batch = { key: "k1", logs: [], actions: 0, createdAt: 0, attempts: 0, notBefore: 0 };
  assert.equal(beacon(undefined, fetchFn, "http://x", batch), true);
  assert.equal(calls[0].init.keepalive, true);
  assert.equal((calls[0].init.headers as Record<string, string>)["Content-Type"], "text/plain;charset=UTF-8");
});

test("Retry-After is read as seconds or an HTTP date; backoff doubles up to its cap", () => {
  assert.equal(retryAfterMs("3"), 3000);
  assert.equal(retryAfterMs("Thu, 01 Jan 2026 00:00:10 GMT", Date.UTC(2026, 0, 1)), 10_000);
  assert.equal(retryAfterMs("soon"), undefined);
  assert.equal(backoffMs(0, 60_000, () => 1), 1000);
  assert.equal(backoffMs(3, 60_000, () => 1), 8000);
  assert.equal(backoffMs(30, 60_000, () => 0), 30_000);
});

test("a request that is never answered is aborted after requestTimeoutMs and sent again", async () => {
  const calls: RequestInit[] = [];
  const hanging = (_url: string, init: RequestInit) => {
    calls.push(init);
    return new Promise<Response>((_resolve, reject) => {
      init.signal?.addEventListener("abort", () => reject(new DOMException("aborted", "AbortError")));
    });
  };
  const client = new Client({ ...options, requestTimeoutMs: 20 }, { fetch: hanging });
  client.track("CLICK", { locationX: 1, locationY: 2 });
  await client.flush();
  client.stop();
  assert.equal(calls.length, 1);
  assert.equal(client.queue.batches[0].attempts, 1, "scheduled for another try");
});
