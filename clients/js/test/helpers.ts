import type { Store } from "../src/queue";

/** localStorage's interface over a Map: what one origin's pages share. */
export class MemoryStore implements Store {
  readonly items = new Map<string, string>();
  get length(): number {
    return this.items.size;
  }
  key(index: number): string | null {
    return [...this.items.keys()][index] ?? null;
  }
  getItem(key: string): string | null {
    return this.items.get(key) ?? null;
  }
  setItem(key: string, value: string): void {
    this.items.set(key, value);
  }
  removeItem(key: string): void {
    this.items.delete(key);
  }
}

export interface Call {
  url: string;
  init: RequestInit;
}

/** A fetch that records each call and answers from `answers` in turn (an Error is thrown: a network failure). */
export function scriptedFetch(answers: Array<Response | Error>) {
  const calls: Call[] = [];
  const fetchFn = async (url: string, init: RequestInit): Promise<Response> => {
    calls.push({ url, init });
    const answer = answers.shift() ?? new Response("{}", { status: 202 });
    if (answer instanceof Error) throw answer;
    return answer;
  };
  return { calls, fetchFn };
}

export const accepted = () => new Response('{"logs":1}', { status: 202 });
