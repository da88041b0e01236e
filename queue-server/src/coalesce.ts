// Turns a batch of entries into the statements the writer runs, in order: consecutive INSERTs with the same
// `INSERT INTO t (cols) VALUES ` prefix become one multi-row INSERT (split to fit max_allowed_packet); anything
// else runs as it is. Each step remembers which entries it carries, so a failing step can be bisected.
//
// Speed matters here (the drain target is 200k rows/s): each entry is matched against the few prefixes seen
// recently with startsWith() and only its short tail `(…)` is scanned; the full parser runs once per new prefix.
import type { Entry } from './entry.js';
import { parseInsert, scanString } from './sql-parse.js';

export interface Step {
  sql: string;
  /** Entries carried by this step: entries.slice(from, to) of the planned array. */
  from: number;
  to: number;
  /** True when several entries were merged into one statement. */
  merged: boolean;
}

export interface CoalescerOptions {
  /** Largest statement in bytes (the server's max_allowed_packet minus headroom). */
  maxStatementBytes: number;
  /** Prefixes remembered for the fast path. Default 8. */
  prefixSlots?: number;
}

export class Coalescer {
  private readonly maxBytes: number;
  private readonly slots: string[] = [];
  private readonly slotCount: number;

  constructor(opts: CoalescerOptions) {
    this.maxBytes = Math.max(1024, opts.maxStatementBytes);
    this.slotCount = Math.max(1, opts.prefixSlots ?? 8);
  }

  plan(entries: readonly Entry[], from = 0, to = entries.length): Step[] {
    const steps: Step[] = [];
    let curPrefix: string | null = null;
    let parts: string[] = [];
    let start = from;
    let bound = 0; // upper bound of the statement's UTF-8 size: 3 bytes per UTF-16 unit

    const close = (end: number): void => {
      if (curPrefix === null) return;
      steps.push({ sql: parts.length === 1 ? curPrefix + parts[0] : curPrefix + parts.join(','), from: start, to: end, merged: parts.length > 1 });
      curPrefix = null;
      parts = [];
    };

    for (let i = from; i < to; i++) {
      const sql = entries[i].sql;
      const split = this.split(sql);
      if (split === null) {
        close(i);
        steps.push({ sql, from: i, to: i + 1, merged: false });
        continue;
      }
      const [prefix, tuples] = split;
      const cost = (tuples.length + 1) * 3;
      if (curPrefix !== null && (prefix !== curPrefix || bound + cost > this.maxBytes)) close(i);
      if (curPrefix === null) {
        curPrefix = prefix;
        start = i;
        bound = prefix.length * 3;
      }
      parts.push(tuples);
      bound += cost;
    }
    close(to);
    return steps;
  }

  /** [prefix up to the first tuple, the tuples text] for a mergeable INSERT, or null. */
  split(sql: string): [string, string] | null {
    for (let k = 0; k < this.slots.length; k++) {
      const p = this.slots[k];
      if (sql.length > p.length && sql.startsWith(p)) {
        const end = scanTuples(sql, p.length);
        if (end > 0) return [p, sql.slice(p.length, end)];
      }
    }
    const r = parseInsert(sql);
    if (!r.ok) return null;
    const prefix = sql.slice(0, r.stmt.valuesAt);
    if (this.slots.length >= this.slotCount) this.slots.pop();
    this.slots.unshift(prefix);
    return [prefix, sql.slice(r.stmt.valuesAt, r.stmt.valuesEnd)];
  }
}

/**
 * Checks that s[at..] is `(…)[, (…)]*` followed only by whitespace; returns the offset after the last `)`, or
 * -1. String literals are skipped by the tokenizer's own scanString(). Anything that could end or extend the
 * statement (`;`, comments, other quotes) makes it -1, so such an entry is never merged with others.
 */
export function scanTuples(s: string, at: number): number {
  const n = s.length;
  let i = at;
  let depth = 0;
  let end = -1;
  let expectTuple = true;
  while (i < n) {
    const c = s.charCodeAt(i);
    if (depth === 0) {
      if (c === 32 || c === 9 || c === 10 || c === 13) {
        i++;
        continue;
      }
      if (expectTuple) {
        if (c !== 40) return -1;
        depth = 1;
        expectTuple = false;
        i++;
        continue;
      }
      if (c === 44) {
        expectTuple = true;
        i++;
        continue;
      }
      return -1;
    }
    switch (c) {
      case 40:
        depth++;
        break;
      case 41:
        depth--;
        if (depth === 0) end = i + 1;
        break;
      case 39: {
        const e = scanString(s, i);
        if (e < 0) return -1;
        i = e - 1; // on the closing quote; the loop steps past it
        break;
      }
      case 59: // ;
      case 35: // #
      case 34: // "
      case 96: // `
        return -1;
      case 45: // --
        if (s.charCodeAt(i + 1) === 45) return -1;
        break;
      case 47: // /*
        if (s.charCodeAt(i + 1) === 42) return -1;
        break;
    }
    i++;
  }
  if (depth !== 0 || expectTuple) return -1;
  return end;
}
