/**
 * The tracker: actions go into the queue, batches go out one at a time, in order, each retried until the
 * server stores it (2xx) or refuses it (4xx: told to onError, never retried). When the page is hidden
 * or goes away, whatever is queued is handed to sendBeacon and also kept, to be sent again (same keys)
 * by the next page: delivery is at least once, storage exactly once.
 */
import { Queue, type Store } from "./queue";
import { backoffMs, beacon, type Fetch, post } from "./sender";
import { localTime, uuid } from "./time";
import type { ActionType, Batch, DeliveryError, Options } from "./types";

export interface Environment {
  fetch?: Fetch;
  storage?: Store | null;
  sessionStorage?: Store | null;
  navigator?: Navigator;
  window?: Window;
  now?: () => number;
}

const DEFAULTS = {
  batchSize: 20, flushIntervalMs: 5000, maxQueuedActions: 1000, maxRetryDelayMs: 60_000, requestTimeoutMs: 30_000,
};

export class Client {
  readonly queue: Queue;
  private readonly endpoint: string;
  private readonly options: Options & typeof DEFAULTS;
  private sending: Promise<void> | null = null;
  private timer: ReturnType<typeof setInterval> | undefined;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  private readonly removers: Array<() => void> = [];
  /** between pagehide and pageshow (back from the back-forward cache): the page is gone */
  private gone = false;

  constructor(options: Options, private readonly env: Environment = {}) {
    if (!options || !options.endpoint || !options.userId) throw new TypeError("logstream: endpoint and userId are required");
    const batchSize = Math.max(1, Math.min(1000, Math.floor(options.batchSize ?? DEFAULTS.batchSize)));
    this.options = {
      ...DEFAULTS, ...options, batchSize,
      maxQueuedActions: Math.max(batchSize, options.maxQueuedActions ?? DEFAULTS.maxQueuedActions),
      sessionId: options.sessionId ?? tabSession(env.sessionStorage),
    };
    this.endpoint = options.endpoint.replace(/\/+$/, "");
    const now = env.now ?? Date.now;
    this.queue = new Queue({
      store: env.storage ?? null, name: uuid(), endpoint: this.endpoint, batchSize,
      maxActions: this.options.maxQueuedActions, staleMs: Math.max(60_000, 3 * this.options.flushIntervalMs),
      onDrop: (batch) => this.report(batch, { reason: "dropped" }), newKey: uuid, now,
    });
    this.queue.adopt();
  }

  /** Starts the interval and, in a page, the pagehide / visibilitychange / online listeners. */
  start(): this {
    this.timer = setInterval(() => this.flush(), this.options.flushIntervalMs);
    const win = this.env.window;
    if (win) {
      // pagehide comes first when a page is closed, then visibilitychange: the page stays `gone`
      this.listen(win, "pagehide", () => {
        this.gone = true;
        this.flushOnExit(true);
      });
      this.listen(win, "pageshow", () => {
        this.gone = false;
        this.queue.persist();
      });
      this.listen(win.document, "visibilitychange", () => {
        if (win.document.visibilityState === "hidden" && !this.gone) this.flushOnExit(false);
      });
      this.listen(win, "online", () => this.flush());
      if (this.options.trackNavigation) this.watchHistory(win);
    }
    if (this.queue.size()) void this.flush();
    return this;
  }

  stop(): void {
    clearInterval(this.timer);
    clearTimeout(this.retryTimer);
    for (const remove of this.removers.splice(0)) remove();
  }

  track(type: ActionType, properties: Record<string, unknown>): void {
    const action = { time: localTime(new Date((this.env.now ?? Date.now)())), type, properties };
    if (this.queue.add(this.options.userId, this.options.sessionId as string, action)) void this.flush();
  }

  /** Seals what is queued and sends every batch that may go now; resolves when that is done. */
  flush(): Promise<void> {
    this.queue.seal();
    this.queue.persist();
    if (!this.sending) this.sending = this.drain().finally(() => { this.sending = null; });
    return this.sending;
  }

  /** Hands every queued batch to the browser's beacon; keeps them queued, marked, for the next page. */
  flushOnExit(closing: boolean): void {
    this.queue.seal();
    const now = (this.env.now ?? Date.now)();
    for (const batch of this.queue.batches) {
      if (!beacon(this.env.navigator, this.env.fetch, this.endpoint, batch, this.options.writeKey)) break;
      batch.beaconedAt = now;
    }
    this.queue.persist(closing);
  }

  private async drain(): Promise<void> {
    const fetchFn = this.env.fetch;
    if (!fetchFn) return;
    for (let batch = this.queue.next(); batch; batch = this.queue.next()) {
      const outcome = await post(fetchFn, this.endpoint, batch, this.options.writeKey, this.options.requestTimeoutMs);
      if (outcome.kind === "sent") {
        this.queue.done(batch);
      } else if (outcome.kind === "rejected") {
        this.queue.done(batch);
        this.report(batch, { reason: "rejected", status: outcome.status, problem: outcome.problem });
      } else {
        const delay = outcome.afterMs ?? backoffMs(batch.attempts, this.options.maxRetryDelayMs);
        this.queue.retryIn(batch, delay);
        clearTimeout(this.retryTimer);
        this.retryTimer = setTimeout(() => this.flush(), delay);
        return;
      }
    }
  }

  private report(batch: Batch, error: Pick<DeliveryError, "reason" | "status" | "problem">): void {
    try {
      this.options.onError?.({ ...error, idempotencyKey: batch.key, logs: batch.logs });
    } catch {
      // the callback's own failure must not stop the queue
    }
  }

  private listen(target: EventTarget, type: string, handler: () => void): void {
    target.addEventListener(type, handler);
    this.removers.push(() => target.removeEventListener(type, handler));
  }

  /** NAVIGATE on every change of path or query: pushState, replaceState (wrapped) and popstate. */
  private watchHistory(win: Window): void {
    const where = () => win.location.pathname + win.location.search;
    let current = where();
    const changed = () => {
      const next = where();
      if (next !== current) this.track("NAVIGATE", { pageFrom: current, pageTo: next });
      current = next;
    };
    for (const name of ["pushState", "replaceState"] as const) {
      const original = win.history[name];
      win.history[name] = function (this: History, ...args: Parameters<History["pushState"]>) {
        const result = original.apply(this, args);
        changed();
        return result;
      };
      this.removers.push(() => { win.history[name] = original; });
    }
    this.listen(win, "popstate", changed);
  }
}

/** One session id per tab: kept in sessionStorage, so a reload keeps it and a new tab gets its own. */
function tabSession(store: Store | null | undefined): string {
  const key = "logstream:session";
  try {
    const known = store?.getItem(key);
    if (known) return known;
    const made = uuid();
    store?.setItem(key, made);
    return made;
  } catch {
    return uuid();
  }
}
