/** The contract's shapes (logstream/contract.py), as this client sends them. */

export type ActionType = "CLICK" | "VIEW" | "NAVIGATE";

export interface Action {
  /** ISO 8601 with the browser's UTC offset, e.g. 2026-12-01T23:05:12.345+01:00 */
  time: string;
  type: ActionType;
  properties: Record<string, unknown>;
}

export interface Log {
  userId: string;
  sessionId: string;
  actions: Action[];
}

/** One request's worth of logs and the Idempotency-Key it is always sent with. */
export interface Batch {
  key: string;
  logs: Log[];
  actions: number;
  createdAt: number;
  attempts: number;
  /** not sent again before this epoch-ms time (backoff, Retry-After) */
  notBefore: number;
  /** when it was last handed to sendBeacon / a keepalive fetch, whose outcome no one learns */
  beaconedAt?: number;
}

/** What onError is told: a batch the server refused (never retried), or one dropped to bound the queue. */
export interface DeliveryError {
  reason: "rejected" | "dropped";
  /** the HTTP status of a refusal */
  status?: number;
  /** the refusal's application/problem+json body (code, detail, errors) */
  problem?: unknown;
  idempotencyKey: string;
  logs: Log[];
}

export interface Options {
  /** logstream's base URL, e.g. https://logs.example.com */
  endpoint: string;
  userId: string;
  /** default: one random id per tab, kept in sessionStorage */
  sessionId?: string;
  /** needed when the server has API keys on; a write key (public by nature: it can only ingest) */
  writeKey?: string;
  /** actions per request, 1 to 1000 (default 20) */
  batchSize?: number;
  /** how often what is queued is sent, in ms (default 5000) */
  flushIntervalMs?: number;
  /** actions kept (memory and localStorage) at most; past it the oldest batch is dropped (default 1000) */
  maxQueuedActions?: number;
  /** a request not answered in this many ms is aborted and sent again (default 30000) */
  requestTimeoutMs?: number;
  /** the longest wait between retries, in ms (default 60000) */
  maxRetryDelayMs?: number;
  /** send a NAVIGATE for every history change (pushState, replaceState, popstate) (default false) */
  trackNavigation?: boolean;
  /** told of every batch refused (4xx but 408/409/425/429) or dropped */
  onError?: (error: DeliveryError) => void;
}
