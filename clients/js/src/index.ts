/**
 * logstream's browser client. In a page: `<script src="https://logs.example.com/logstream.js"></script>`,
 * then `logstream.init({endpoint, userId})` and `logstream.track.click(x, y)`; as a module:
 * `import { init, track } from "logstream-js"`.
 */
import { Client } from "./client";
import type { Options } from "./types";

export type { Action, ActionType, Batch, DeliveryError, Log, Options } from "./types";

let client: Client | undefined;

function storage(name: "localStorage" | "sessionStorage"): Storage | null {
  try {
    return typeof window !== "undefined" ? window[name] : null;
  } catch {
    return null; // refused (e.g. third-party storage blocked)
  }
}

/** Starts (or restarts, with new options) the page's tracker. */
export function init(options: Options): void {
  client?.stop();
  const inPage = typeof window !== "undefined";
  client = new Client(options, {
    fetch: typeof fetch === "function" ? fetch.bind(globalThis) : undefined,
    storage: storage("localStorage"),
    sessionStorage: storage("sessionStorage"),
    navigator: typeof navigator !== "undefined" ? navigator : undefined,
    window: inPage ? window : undefined,
  }).start();
}

function started(): Client {
  if (!client) throw new Error("logstream: call logstream.init({endpoint, userId}) first");
  return client;
}

export const track = {
  click(x: number, y: number, extra?: Record<string, unknown>): void {
    started().track("CLICK", { ...extra, locationX: x, locationY: y });
  },
  view(viewedId: string, extra?: Record<string, unknown>): void {
    started().track("VIEW", { ...extra, viewedId });
  },
  navigate(pageFrom: string, pageTo: string, extra?: Record<string, unknown>): void {
    started().track("NAVIGATE", { ...extra, pageFrom, pageTo });
  },
};

/** Sends what is queued now; resolves once every batch that may go now has been answered. */
export function flush(): Promise<void> {
  return started().flush();
}

/** Stops the tracker (timers, listeners, history wrapping); what is queued stays in storage. */
export function stop(): void {
  client?.stop();
  client = undefined;
}

export { Client };
