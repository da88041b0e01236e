// The enqueue-time SQL guard: only INSERT INTO <allow-listed table> (<cols>) VALUES (<literals>) gets in.
// The shape itself is checked by the tokenizer/parser in sql-parse.ts; this module adds the table policy and a
// verdict cache keyed by the statement template, so the hot path is one Map lookup per enqueue.
import type { GuardVerdict, StatementGuard } from './contracts.js';
import { MAX_ECHOED_NAME, parseInsert } from './sql-parse.js';
import { excerpt } from './errors.js';

export interface SqlGuardOptions {
  /**
   * Tables that may be inserted into: 'bench_events' or 'db.bench_events'. Compared case-sensitively, as
   * MySQL compares database and table names on Linux (lower_case_table_names=0).
   */
  allowTables: string[];
  /** Template verdicts kept (default 1024). */
  cacheSize?: number;
}

const PLACEHOLDER = '%d';
const NAME_SEP = '\0';
const MAX_CACHED_TEMPLATE = 1024;

export class SqlGuard implements StatementGuard {
  /** Allowed names as their parts joined by NUL, which no identifier can hold: `a.b` (one name) is not a.b. */
  private readonly allowed: Set<string>;
  private readonly listed: string[];
  private readonly cache = new Map<string, GuardVerdict>();
  private readonly cacheSize: number;
  private hits = 0;
  private misses = 0;

  constructor(opts: SqlGuardOptions) {
    const parts = opts.allowTables.map((t) => normaliseListed(t));
    this.allowed = new Set(parts.map((p) => p.join(NAME_SEP)));
    this.listed = parts.map((p) => p.join('.'));
    this.cacheSize = Math.max(1, opts.cacheSize ?? 1024);
  }

  /** Checks a final statement (the `%d` already replaced). Full tokenize every time: no cache. */
  check(sql: string): GuardVerdict {
    const r = parseInsert(sql);
    if (!r.ok) return { ok: false, reason: r.reason };
    const table = r.stmt.table;
    if (!this.allowed.has(table.length === 1 ? table[0] : table.join(NAME_SEP))) return { ok: false, reason: this.notListed(table) };
    return { ok: true };
  }

  /** Why a table is refused, with the fix when the name is only written differently from a listed one. */
  private notListed(table: string[]): string {
    const name = table.join('.');
    let reason = `table ${JSON.stringify(excerpt(name, MAX_ECHOED_NAME))} is not in the allow-list`;
    const near = this.listed.find((l) => l.toLowerCase() === name.toLowerCase());
    if (near !== undefined && table.length === 1 && near.includes('.')) {
      reason += `: \`${excerpt(name, MAX_ECHOED_NAME)}\` is one name; for database.table write \`${near.replace('.', '`.`')}\``;
    } else if (near !== undefined) {
      reason += ` (names are case-sensitive, as in MySQL on Linux: write ${near})`;
    }
    return reason;
  }

  /**
   * Checks a template with exactly one `%d`; the verdict holds for every positive integer put in its place,
   * so it is cached by template. That is only true when the `%d` stands for a whole number literal or sits inside
   * a string literal: anywhere else (in a table or column name, say) the number could change what the statement
   * means, so such templates are refused outright.
   */
  checkTemplate(template: string): GuardVerdict {
    const hit = this.cache.get(template);
    if (hit !== undefined) {
      this.hits++;
      return hit;
    }
    this.misses++;
    const v = this.checkTemplateUncached(template);
    // Hot templates are short; a cache of long ones would hold up to cacheSize x 128 KB of keys.
    if (template.length > MAX_CACHED_TEMPLATE) return v;
    if (this.cache.size >= this.cacheSize) {
      // Drop the oldest entry: Map iterates in insertion order.
      const oldest = this.cache.keys().next().value;
      if (oldest !== undefined) this.cache.delete(oldest);
    }
    this.cache.set(template, v);
    return v;
  }

  private checkTemplateUncached(template: string): GuardVerdict {
    const at = template.indexOf(PLACEHOLDER);
    if (at < 0 || template.indexOf(PLACEHOLDER, at + 2) >= 0) {
      return { ok: false, reason: 'statement must contain exactly one %d' };
    }
    // '1' stands for any positive integer: a run of digits with no sign, dot or exponent of its own.
    const probe = template.slice(0, at) + '1' + template.slice(at + 2);
    const v = this.check(probe);
    if (!v.ok) return v;
    const r = parseInsert(probe);
    if (!r.ok) return { ok: false, reason: r.reason };
    const lit = r.stmt.literals.find((l) => l.start <= at && at < l.end);
    if (lit === undefined || lit.kind === 'keyword') {
      return { ok: false, reason: 'the %d placeholder must be a value in VALUES (a number, or inside a string literal)' };
    }
    if (lit.kind === 'number') {
      // The digits must be the literal's integer part, so that 1 and 123456 read the same way (no 1e%d, no 1.%d
      // whose value would merely change, but keep it simple: whole number only).
      if (lit.start !== at || lit.end !== at + 1) {
        return { ok: false, reason: 'the %d placeholder must be a whole number literal, e.g. VALUES (%d)' };
      }
    }
    return { ok: true };
  }

  stats(): { hits: number; misses: number; size: number } {
    return { hits: this.hits, misses: this.misses, size: this.cache.size };
  }
}

function normaliseListed(t: string): string[] {
  const parts = t
    .trim()
    .split('.')
    .map((p) => p.replace(/^`|`$/g, ''));
  if (parts.length === 0 || parts.length > 2 || parts.some((p) => p.length === 0)) {
    throw new Error(`bad allow-list table name ${JSON.stringify(t)}: use table or db.table`);
  }
  return parts;
}
