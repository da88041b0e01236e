// A small tokenizer and parser for the one statement shape the queue accepts:
//   INSERT INTO <table> (<col>, ...) VALUES (<literal>, ...)[, (<literal>, ...)]...
// It is deliberately narrower than MySQL's grammar: whatever it cannot prove harmless it refuses, with a reason.
// Both the SQL guard (enqueue time) and the coalescer (drain time) use it, so the two always agree on where the
// VALUES tuples start.

import { excerpt } from './errors.js';

/** Refusals quote at most this much of a name (MySQL names are at most 64 characters anyway). */
export const MAX_ECHOED_NAME = 64;

function quoteName(text: string): string {
  return excerpt(text, MAX_ECHOED_NAME);
}

export type ParseResult =
  | { ok: true; stmt: ParsedInsert }
  | { ok: false; reason: string; /** offset of the offending character */ at: number };

export interface ParsedInsert {
  /** Table name parts, unquoted, as written: ['bench_events'] or ['eserver', 'bench_events']. */
  table: string[];
  columns: string[];
  /** Offset of the `(` of the first VALUES tuple; sql.slice(0, valuesAt) is the statement's prefix. */
  valuesAt: number;
  /** Offset just after the last tuple's `)`. */
  valuesEnd: number;
  rows: number;
  /** Offsets [start, end) of every literal token, for callers that need to know what a position holds. */
  literals: Array<{ start: number; end: number; kind: 'number' | 'string' | 'keyword' }>;
}

const enum T {
  Ident,
  Quoted, // `backticked` identifier
  Number,
  String,
  LParen,
  RParen,
  Comma,
  Dot,
  Sign,
  End,
}

interface Token {
  t: T;
  start: number;
  end: number;
  /** Identifier text (backticks removed, `` unescaped). */
  text: string;
}

class Refusal extends Error {
  constructor(
    readonly reason: string,
    readonly at: number,
  ) {
    super(reason);
  }
}

function isIdentStart(c: number): boolean {
  return (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || c === 95 || c === 36; // a-z A-Z _ $
}
function isIdentPart(c: number): boolean {
  return isIdentStart(c) || (c >= 48 && c <= 57);
}
function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

class Lexer {
  pos = 0;
  constructor(private readonly s: string) {}

  next(): Token {
    const s = this.s;
    const n = s.length;
    let i = this.pos;
    // Only plain whitespace: MySQL also skips some control characters, which a guard must not let through.
    while (i < n) {
      const c = s.charCodeAt(i);
      if (c === 32 || c === 9 || c === 10 || c === 13) i++;
      else break;
    }
    if (i >= n) {
      this.pos = i;
      return { t: T.End, start: i, end: i, text: '' };
    }
    const start = i;
    const c = s.charCodeAt(i);
    if (isIdentStart(c)) {
      i++;
      while (i < n && isIdentPart(s.charCodeAt(i))) i++;
      this.pos = i;
      return { t: T.Ident, start, end: i, text: s.slice(start, i) };
    }
    if (isDigit(c)) return this.number(start);
    switch (c) {
      case 40: // (
        this.pos = i + 1;
        return { t: T.LParen, start, end: i + 1, text: '(' };
      case 41: // )
        this.pos = i + 1;
        return { t: T.RParen, start, end: i + 1, text: ')' };
      case 44: // ,
        this.pos = i + 1;
        return { t: T.Comma, start, end: i + 1, text: ',' };
      case 46: // .
        this.pos = i + 1;
        return { t: T.Dot, start, end: i + 1, text: '.' };
      case 39: // '
        return this.string(start);
      case 96: // `
        return this.quoted(start);
      case 59: // ;
        throw new Refusal('stacked statements are refused (";")', start);
      case 35: // #
        throw new Refusal('comments are refused ("#")', start);
      case 45: // -
        if (s.charCodeAt(i + 1) === 45) throw new Refusal('comments are refused ("--")', start);
        this.pos = i + 1;
        return { t: T.Sign, start, end: i + 1, text: '-' };
      case 43: // +
        this.pos = i + 1;
        return { t: T.Sign, start, end: i + 1, text: '+' };
      case 47: // /
        if (s.charCodeAt(i + 1) === 42) {
          const v = s.charCodeAt(i + 2) === 33 || s.charCodeAt(i + 2) === 77; // /*! and /*M! run as code in MySQL/MariaDB
          throw new Refusal(v ? 'version comments are refused ("/*!")' : 'comments are refused ("/*")', start);
        }
        throw new Refusal('operators are refused ("/")', start);
      case 34: // "
        throw new Refusal('double-quoted strings are refused: their meaning depends on sql_mode (ANSI_QUOTES); use single quotes', start);
      default:
        if (c < 32 || c === 127) throw new Refusal(`control character 0x${c.toString(16).padStart(2, '0')} is refused`, start);
        if (c > 127) throw new Refusal('non-ASCII characters are only allowed inside string literals', start);
        throw new Refusal(`unexpected character ${JSON.stringify(s[i])}`, start);
    }
  }

  private number(start: number): Token {
    const s = this.s;
    const n = s.length;
    let i = start;
    while (i < n && isDigit(s.charCodeAt(i))) i++;
    if (s.charCodeAt(i) === 46) {
      i++;
      while (i < n && isDigit(s.charCodeAt(i))) i++;
    }
    const e = s.charCodeAt(i);
    if (e === 101 || e === 69) {
      let j = i + 1;
      const sg = s.charCodeAt(j);
      if (sg === 43 || sg === 45) j++;
      if (!isDigit(s.charCodeAt(j))) throw new Refusal('malformed number', start);
      while (j < n && isDigit(s.charCodeAt(j))) j++;
      i = j;
    }
    // MySQL reads 0x1F, 0b01 and 1abc (an identifier!) differently from a number followed by a word.
    if (i < n && (isIdentPart(s.charCodeAt(i)) || s.charCodeAt(i) === 46)) {
      throw new Refusal('hex, binary and digit-led identifiers are refused: a number must end at a separator', start);
    }
    this.pos = i;
    return { t: T.Number, start, end: i, text: s.slice(start, i) };
  }

  private string(start: number): Token {
    const end = scanString(this.s, start);
    if (end === UNTERMINATED) throw new Refusal('unterminated string literal', start);
    if (end < 0) throw new Refusal("the escape \\' is refused inside strings; double the quote ('') instead", -end - 2);
    this.pos = end;
    return { t: T.String, start, end, text: '' };
  }

  private quoted(start: number): Token {
    const s = this.s;
    const n = s.length;
    let i = start + 1;
    let text = '';
    let from = i;
    for (;;) {
      if (i >= n) throw new Refusal('unterminated `identifier`', start);
      const c = s.charCodeAt(i);
      if (c === 0) throw new Refusal('NUL inside an identifier', i);
      if (c === 96) {
        if (s.charCodeAt(i + 1) === 96) {
          text += s.slice(from, i + 1);
          i += 2;
          from = i;
          continue;
        }
        text += s.slice(from, i);
        if (text.length === 0) throw new Refusal('empty `identifier`', start);
        this.pos = i + 1;
        return { t: T.Quoted, start, end: i + 1, text };
      }
      i++;
    }
  }
}

const DDL = new Set(['create', 'drop', 'alter', 'truncate', 'rename', 'grant', 'revoke', 'flush', 'kill', 'shutdown']);
const OTHER_DML = new Set(['update', 'delete', 'replace', 'select', 'call', 'do', 'handler', 'load', 'set', 'lock', 'unlock', 'with', 'values', 'table']);

function lc(t: Token): string {
  return t.t === T.Ident ? t.text.toLowerCase() : '';
}

/** Parses one statement of the allowed shape, or says why it is refused. Never throws. */
export const UNTERMINATED = -1;

/**
 * Where the '…' literal that opens at `start` ends: the offset after its closing quote. Read with MySQL's
 * default escaping (backslash escapes, doubled quotes). `\'` is refused because under
 * NO_BACKSLASH_ESCAPES it would end the string: the guard and the server must agree on where it ends, and
 * with `\'` gone, quotes sit at the same places and play the same role in both modes. Negative when the
 * literal cannot be accepted: UNTERMINATED, or -(2 + i) for a `\'` at offset i. One function for the
 * tokenizer and the coalescer's fast path, so that both agree on where a string ends. No allocation: the
 * coalescer calls it for every literal it drains.
 */
export function scanString(s: string, start: number): number {
  const n = s.length;
  let i = start + 1;
  for (;;) {
    if (i >= n) return UNTERMINATED;
    const c = s.charCodeAt(i);
    if (c === 92) {
      if (i + 1 >= n) return UNTERMINATED;
      if (s.charCodeAt(i + 1) === 39) return -(2 + i);
      i += 2;
      continue;
    }
    if (c === 39) {
      if (s.charCodeAt(i + 1) === 39) {
        i += 2;
        continue;
      }
      return i + 1;
    }
    i++;
  }
}

export function parseInsert(sql: string): ParseResult {
  try {
    return { ok: true, stmt: parse(sql) };
  } catch (e) {
    if (e instanceof Refusal) return { ok: false, reason: e.reason, at: e.at };
    throw e;
  }
}

function parse(sql: string): ParsedInsert {
  const lx = new Lexer(sql);
  let tok = lx.next();
  const first = lc(tok);
  if (first !== 'insert') {
    if (tok.t === T.End) throw new Refusal('empty statement', 0);
    if (DDL.has(first)) throw new Refusal(`DDL is refused (${first.toUpperCase()})`, tok.start);
    if (OTHER_DML.has(first)) throw new Refusal(`only INSERT is allowed (${first.toUpperCase()} refused)`, tok.start);
    throw new Refusal('only INSERT INTO <table> (<columns>) VALUES (<literals>) is allowed', tok.start);
  }
  tok = lx.next();
  if (lc(tok) !== 'into') {
    if (tok.t === T.Ident) throw new Refusal(`INSERT modifiers are refused (${quoteName(tok.text.toUpperCase())}); write INSERT INTO`, tok.start);
    throw new Refusal('expected INTO after INSERT', tok.start);
  }

  // table: name or db.name
  const table: string[] = [];
  tok = lx.next();
  for (;;) {
    if (tok.t !== T.Ident && tok.t !== T.Quoted) throw new Refusal('expected a table name', tok.start);
    table.push(tok.text);
    tok = lx.next();
    if (tok.t !== T.Dot) break;
    if (table.length === 2) throw new Refusal('table names have at most two parts (db.table)', tok.start);
    tok = lx.next();
  }

  if (tok.t !== T.LParen) {
    const w = lc(tok);
    if (w === 'select' || w === 'with' || w === 'table') throw new Refusal('INSERT ... SELECT is refused', tok.start);
    if (w === 'set') throw new Refusal('INSERT ... SET is refused; list the columns and use VALUES', tok.start);
    if (w === 'values' || w === 'value') throw new Refusal('the column list is required: INSERT INTO t (cols) VALUES (...)', tok.start);
    if (w === 'partition') throw new Refusal('PARTITION clauses are refused', tok.start);
    throw new Refusal('expected "(" and a column list after the table name', tok.start);
  }
  const columns: string[] = [];
  tok = lx.next();
  if (lc(tok) === 'select' || lc(tok) === 'with') throw new Refusal('INSERT ... SELECT is refused', tok.start);
  for (;;) {
    if (tok.t !== T.Ident && tok.t !== T.Quoted) throw new Refusal('expected a column name', tok.start);
    columns.push(tok.text);
    tok = lx.next();
    if (tok.t === T.Dot) throw new Refusal('qualified column names are refused', tok.start);
    if (tok.t === T.RParen) break;
    if (tok.t !== T.Comma) throw new Refusal('expected "," or ")" in the column list', tok.start);
    tok = lx.next();
  }

  tok = lx.next();
  const kw = lc(tok);
  if (kw === 'select' || kw === 'with' || kw === 'table') throw new Refusal('INSERT ... SELECT is refused', tok.start);
  if (kw !== 'values' && kw !== 'value') throw new Refusal('expected VALUES after the column list', tok.start);

  const literals: ParsedInsert['literals'] = [];
  tok = lx.next();
  if (tok.t !== T.LParen) throw new Refusal('expected "(" after VALUES', tok.start);
  const valuesAt = tok.start;
  let rows = 0;
  let valuesEnd = 0;
  for (;;) {
    // tok is the tuple's "("
    let count = 0;
    tok = lx.next();
    for (;;) {
      let signed = false;
      if (tok.t === T.Sign) {
        signed = true;
        tok = lx.next();
        if (tok.t !== T.Number) throw new Refusal('a sign must be followed by a number (expressions are refused)', tok.start);
      }
      if (tok.t === T.Number || tok.t === T.String) {
        literals.push({ start: tok.start, end: tok.end, kind: tok.t === T.Number ? 'number' : 'string' });
      } else if (tok.t === T.Ident) {
        const w = lc(tok);
        if (w === 'select' || w === 'with' || w === 'values') throw new Refusal('subqueries are refused in VALUES', tok.start);
        if (w !== 'null' && w !== 'true' && w !== 'false') {
          const after = lx.next();
          if (after.t === T.LParen) throw new Refusal(`functions are refused in VALUES (${quoteName(tok.text)}(...))`, tok.start);
          if (after.t === T.String) throw new Refusal('charset introducers and typed literals are refused in VALUES', tok.start);
          throw new Refusal(`only literals are allowed in VALUES (found ${JSON.stringify(quoteName(tok.text))})`, tok.start);
        }
        if (signed) throw new Refusal('a sign must be followed by a number', tok.start);
        literals.push({ start: tok.start, end: tok.end, kind: 'keyword' });
      } else if (tok.t === T.LParen) {
        throw new Refusal('subqueries and parenthesised expressions are refused in VALUES', tok.start);
      } else {
        throw new Refusal('expected a literal in VALUES', tok.start);
      }
      count++;
      tok = lx.next();
      if (tok.t === T.RParen) break;
      if (tok.t !== T.Comma) {
        if (tok.t === T.Sign || tok.t === T.Ident) throw new Refusal('expressions are refused in VALUES', tok.start);
        throw new Refusal('expected "," or ")" in VALUES', tok.start);
      }
      tok = lx.next();
    }
    if (count !== columns.length) {
      throw new Refusal(`row ${rows + 1} has ${count} values for ${columns.length} columns`, tok.start);
    }
    rows++;
    valuesEnd = tok.end;
    tok = lx.next();
    if (tok.t !== T.Comma) break;
    tok = lx.next();
    if (tok.t !== T.LParen) throw new Refusal('expected "(" for the next VALUES row', tok.start);
  }

  if (tok.t !== T.End) {
    const w = lc(tok);
    if (w === 'on') {
      throw new Refusal(
        'ON DUPLICATE KEY UPDATE is refused: it runs expressions and rewrites rows already stored, so the queue would ' +
          'no longer be an append-only, exactly-once channel',
        tok.start,
      );
    }
    if (w === 'returning') throw new Refusal('RETURNING is refused', tok.start);
    if (w === 'select' || w === 'union') throw new Refusal('INSERT ... SELECT is refused', tok.start);
    throw new Refusal('unexpected text after VALUES', tok.start);
  }
  return { table, columns, valuesAt, valuesEnd, rows, literals };
}
