/**
 * The queue: actions not yet batched, then sealed batches, each with its Idempotency-Key from the moment
 * it is sealed, so that every send of it (retries, a beacon, a send after a reload) is the same request
 * and the server stores it once. Kept in localStorage (each page its own entry), bounded in actions.
 *
 * After a reload or a crash, a new page adopts the entries of pages that are gone: closed ones (their
 * pagehide ran) and those not written for `staleMs` (the page was killed). A live tab whose timers were
 * throttled may be adopted too: both then send the same batches with the same keys, which is harmless.
 */
import type { Action, Batch, Log } from "./types";

export interface Store {
  readonly length: number;
  key(index: number): string | null;
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

interface Queued {
  u: string;
  s: string;
  a: Action;
}

interface Snapshot {
  endpoint: string;
  at: number;
  closed: boolean;
  buffer: Queued[];
  batches: Batch[];
}

export const PREFIX = "logstream:queue:";
/** The server keeps idempotency keys 24 h at least: a beaconed batch older than this is not sent again. */
export const KEY_KEPT_MS = 23 * 3600 * 1000;
export const MAX_ACTIONS_PER_LOG = 1000;

export interface QueueOptions {
  store: Store | null;
  name: string;
  endpoint: string;
  batchSize: number;
  maxActions: number;
  staleMs: number;
  onDrop: (batch: Batch) => void;
  newKey: () => string;
  now: () => number;
}

export class Queue {
  buffer: Queued[] = [];
  batches: Batch[] = [];

  constructor(private readonly o: QueueOptions) {}

  /** Queues one action; true when a batch is full and should be sent. */
  add(userId: string, sessionId: string, action: Action): boolean {
    this.buffer.push({ u: userId, s: sessionId, a: action });
    const full = this.buffer.length >= this.o.batchSize;
    if (full) this.seal();
    this.bound();
    this.persist();
    return full;
  }

  /** Turns every queued action into batches of at most batchSize actions. */
  seal(): void {
    while (this.buffer.length) this.batches.push(this.batchOf(this.buffer.splice(0, this.o.batchSize)));
  }

  /** The first batch, if it may be sent now: batches go in order, one after the other. */
  next(): Batch | undefined {
    const first = this.batches[0];
    return first && first.notBefore <= this.o.now() ? first : undefined;
  }

  done(batch: Batch): void {
    this.batches = this.batches.filter((b) => b !== batch);
    this.persist();
  }

  retryIn(batch: Batch, delayMs: number): void {
    batch.attempts += 1;
    batch.notBefore = this.o.now() + delayMs;
    this.persist();
  }

  size(): number {
    return this.buffer.length + this.batches.reduce((sum, b) => sum + b.actions, 0);
  }

  /** Writes this page's entry; `closed` when the page is going away (another page may adopt it at once). */
  persist(closed = false): void {
    const store = this.o.store;
    if (!store) return;
    const key = PREFIX + this.o.name;
    try {
      if (!this.buffer.length && !this.batches.length) {
        store.removeItem(key);
        return;
      }
      const snapshot: Snapshot = {
        endpoint: this.o.endpoint, at: this.o.now(), closed, buffer: this.buffer, batches: this.batches,
      };
      store.setItem(key, JSON.stringify(snapshot));
    } catch {
      // storage full or refused (private mode): the queue lives on in memory
    }
  }

  /** Takes over the queues of pages that are gone (same endpoint), oldest first, before this page's. */
  adopt(): void {
    const store = this.o.store;
    if (!store) return;
    const now = this.o.now();
    const found: Snapshot[] = [];
    try {
      const keys: string[] = [];
      for (let i = 0; i < store.length; i++) {
        const key = store.key(i);
        if (key && key.startsWith(PREFIX) && key !== PREFIX + this.o.name) keys.push(key);
      }
      for (const key of keys) {
        const snapshot = parse(store.getItem(key));
        if (!snapshot) {
          store.removeItem(key);
        } else if (snapshot.endpoint === this.o.endpoint && (snapshot.closed || now - snapshot.at > this.o.staleMs)) {
          store.removeItem(key);
          found.push(snapshot);
        }
      }
    } catch {
      return;
    }
    found.sort((a, b) => a.at - b.at);
    const adopted: Batch[] = [];
    for (const snapshot of found) {
      for (const batch of snapshot.batches) {
        if (batch.beaconedAt === undefined || now - batch.beaconedAt < KEY_KEPT_MS) {
          adopted.push({ ...batch, notBefore: 0 });
        }
      }
      for (let i = 0; i < snapshot.buffer.length; i += this.o.batchSize) {
        adopted.push(this.batchOf(snapshot.buffer.slice(i, i + this.o.batchSize)));
      }
    }
    this.batches = [...adopted, ...this.batches];
    this.bound();
    this.persist();
  }

  /** Past maxActions, drops the oldest batches (each told to onDrop), then the oldest queued actions. */
  private bound(): void {
    while (this.size() > this.o.maxActions) {
      if (this.batches.length) {
        this.o.onDrop(this.batches.shift() as Batch);
      } else {
        this.seal();
      }
    }
  }

  private batchOf(queued: Queued[]): Batch {
    const logs: Log[] = [];
    for (const { u, s, a } of queued) {
      const last = logs[logs.length - 1];
      if (last && last.userId === u && last.sessionId === s && last.actions.length < MAX_ACTIONS_PER_LOG) {
        last.actions.push(a);
      } else {
        logs.push({ userId: u, sessionId: s, actions: [a] });
      }
    }
    const now = this.o.now();
    return { key: this.o.newKey(), logs, actions: queued.length, createdAt: now, attempts: 0, notBefore: 0 };
  }
}

function parse(text: string | null): Snapshot | undefined {
  try {
    const value = text ? JSON.parse(text) : undefined;
    return value && Array.isArray(value.batches) && Array.isArray(value.buffer) ? (value as Snapshot) : undefined;
  } catch {
    return undefined;
  }
}
