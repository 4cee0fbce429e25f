/** Sending one batch: POST /v1/logs (fetch), or POST /v1/beacon when the page is going away. */
import type { Batch } from "./types";

export type Outcome =
  | { kind: "sent" }
  | { kind: "retry"; afterMs?: number }
  | { kind: "rejected"; status: number; problem: unknown };

export type Fetch = (url: string, init: RequestInit) => Promise<Response>;

/** 4xx that a later try may get past: timeout, key in progress, too early, rate limited. */
const RETRIED_4XX = [408, 409, 425, 429];

export async function post(fetchFn: Fetch, endpoint: string, batch: Batch, writeKey?: string,
                           timeoutMs = 30_000): Promise<Outcome> {
  const headers: Record<string, string> = { "Content-Type": "application/json", "Idempotency-Key": batch.key };
  if (writeKey) headers.Authorization = `Bearer ${writeKey}`;
  // a request that never ends must not stop the queue: abort it, and send it again
  const abort = typeof AbortController === "function" ? new AbortController() : undefined;
  const timer = abort && setTimeout(() => abort.abort(), timeoutMs);
  let response: Response;
  try {
    response = await fetchFn(`${endpoint}/v1/logs`, {
      method: "POST", headers, body: JSON.stringify(batch.logs), credentials: "omit", signal: abort?.signal,
    });
  } catch {
    return { kind: "retry" }; // offline, DNS, CORS refused, timed out: nothing is known, send it again
  } finally {
    clearTimeout(timer);
  }
  if (response.status < 300) return { kind: "sent" };
  if (response.status >= 400 && response.status < 500 && RETRIED_4XX.indexOf(response.status) < 0) {
    return { kind: "rejected", status: response.status, problem: await response.json().catch(() => undefined) };
  }
  return { kind: "retry", afterMs: retryAfterMs(response.headers.get("Retry-After")) };
}

/** Retry-After as delay-seconds or an HTTP date (RFC 9110), in ms from now. */
export function retryAfterMs(value: string | null, now = Date.now()): number | undefined {
  if (!value) return undefined;
  if (/^\s*\d+\s*$/.test(value)) return Number(value) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/** Exponential backoff with jitter: 1 s, 2 s, 4 s ... at most `maxMs`, each between half and all of it. */
export function backoffMs(attempts: number, maxMs: number, random = Math.random): number {
  const full = Math.min(maxMs, 1000 * 2 ** Math.min(attempts, 20));
  return full / 2 + (random() * full) / 2;
}

/**
 * Hands the batch to the browser to send after the page is gone: sendBeacon, or a keepalive fetch where
 * there is none or its quota (64 KiB in flight) is used up. Both are text/plain, so cross-origin they
 * need no preflight. False when neither took it (it stays queued for the next page).
 */
export function beacon(nav: Navigator | undefined, fetchFn: Fetch | undefined, endpoint: string, batch: Batch,
                       writeKey?: string): boolean {
  const url = `${endpoint}/v1/beacon`;
  const body = JSON.stringify({ logs: batch.logs, idempotencyKey: batch.key, writeKey });
  try {
    if (nav && typeof nav.sendBeacon === "function" && nav.sendBeacon(url, body)) return true;
    if (!fetchFn) return false;
    fetchFn(url, {
      method: "POST", body, keepalive: true, credentials: "omit",
      headers: { "Content-Type": "text/plain;charset=UTF-8" },
    }).catch(() => undefined);
    return true;
  } catch {
    return false; // a keepalive fetch over its quota throws at once
  }
}
