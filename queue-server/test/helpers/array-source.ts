// A minimal DrainSource for writer tests: a plain array, no sockets, no Queue.
import type { Entry } from '../../src/entry.js';
import type { DrainSource } from '../../src/writer.js';

export class ArraySource implements DrainSource {
  private items: Entry[] = [];
  private head = 0;
  onEnqueue: (() => void) | null = null;
  committedEntries = 0;

  get length(): number {
    return this.items.length - this.head;
  }

  push(...entries: Entry[]): void {
    for (const e of entries) this.items.push(e);
    this.onEnqueue?.();
  }

  peekBatch(n: number): Entry[] {
    return this.items.slice(this.head, this.head + n);
  }

  commit(n: number): number {
    const k = Math.min(n, this.length);
    this.head += k;
    this.committedEntries += k;
    if (this.head > 100_000 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return k;
  }
}

export function seedEntries(from: number, to: number, table = 'bench_events'): Entry[] {
  const out: Entry[] = [];
  for (let s = from; s <= to; s++) out.push({ seq: s, sql: `insert into ${table} (num) values (${s})` });
  return out;
}
