// The SQL guard: an injection corpus, the template cache, and property tests that the tokenizer never lets a
// statement through that carries a second statement or a comment.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import fc from 'fast-check';
import { SqlGuard } from '../src/sql-guard.js';
import { parseInsert, scanString, UNTERMINATED } from '../src/sql-parse.js';
import { repoRoot } from '@eserver-lab/common/repo-root';
import { enqueueFrame, errCode, roundTrip, startServer } from './helpers/net.js';

const CORPUS = path.join(repoRoot, 'queue-server', 'test', 'fixtures', 'injection-corpus.txt');

function decode(s: string): string {
  return s.replace(/\\(x[0-9a-fA-F]{2}|[tnr0\\])/g, (m, e: string) => {
    if (e[0] === 'x') return String.fromCharCode(parseInt(e.slice(1), 16));
    return { t: '\t', n: '\n', r: '\r', '0': '\0', '\\': '\\' }[e] ?? m;
  });
}

function loadCorpus(): Array<{ allow: boolean; sql: string; line: number }> {
  const out: Array<{ allow: boolean; sql: string; line: number }> = [];
  fs.readFileSync(CORPUS, 'utf8')
    .split('\n')
    .forEach((raw, i) => {
      if (raw.startsWith('#') || raw.trim() === '') return;
      const tab = raw.indexOf('\t');
      assert.ok(tab > 0, `corpus line ${i + 1} has no tab`);
      const kind = raw.slice(0, tab);
      assert.ok(kind === 'ALLOW' || kind === 'REFUSE', `corpus line ${i + 1}: ${kind}`);
      out.push({ allow: kind === 'ALLOW', sql: decode(raw.slice(tab + 1)), line: i + 1 });
    });
  return out;
}

const guard = () => new SqlGuard({ allowTables: ['bench_events', 'eserver.audit_log'] });

describe('SQL guard: injection corpus', () => {
  const corpus = loadCorpus();

  it('holds at least 40 attacks and the allowed shapes', () => {
    assert.ok(corpus.filter((c) => !c.allow).length >= 40);
    assert.ok(corpus.filter((c) => c.allow).length >= 10);
  });

  for (const c of corpus) {
    it(`${c.allow ? 'allows' : 'refuses'} line ${c.line}: ${JSON.stringify(c.sql).slice(0, 90)}`, () => {
      const v = guard().check(c.sql);
      assert.equal(v.ok, c.allow, v.ok ? 'allowed' : `refused: ${v.reason}`);
      if (!v.ok) assert.ok(v.reason.length > 5, 'a refusal says why');
    });
  }

  it('gives specific reasons', () => {
    const g = guard();
    const reason = (s: string): string => {
      const v = g.check(s);
      assert.equal(v.ok, false);
      return (v as { reason: string }).reason;
    };
    assert.match(reason('insert into bench_events (num) values (1); drop table t'), /stacked/);
    assert.match(reason('insert into bench_events (num) values (1) -- x'), /comment/);
    assert.match(reason('insert into bench_events (num) values (1) /*!1 x*/'), /version comment/);
    assert.match(reason('drop table bench_events'), /DDL/);
    assert.match(reason('delete from bench_events'), /only INSERT/);
    assert.match(reason('insert into bench_events (num) select 1'), /INSERT \.\.\. SELECT/);
    assert.match(reason('insert into bench_events (num) values (now())'), /functions/);
    assert.match(reason('insert into bench_events (num) values ((select 1))'), /subquer/);
    assert.match(reason('insert into bench_events (num) values (1) on duplicate key update num=2'), /ON DUPLICATE KEY UPDATE.*rewrites rows/);
    assert.match(reason('insert into users (num) values (1)'), /allow-list/);
  });
});

describe('SQL guard: templates', () => {
  it('caches the verdict by template and agrees with check() on the numbered statement', () => {
    const g = guard();
    const t = 'insert into bench_events (num) values (%d)';
    for (let i = 1; i <= 1000; i++) {
      assert.deepEqual(g.checkTemplate(t), { ok: true });
      assert.deepEqual(g.check(t.replace('%d', String(i))), { ok: true });
    }
    assert.deepEqual(g.stats(), { hits: 999, misses: 1, size: 1 });
  });

  it('refuses a %d that is not a whole value (it could change the statement as the number grows)', () => {
    const g = new SqlGuard({ allowTables: ['t1', 'bench_events'] });
    for (const t of [
      'insert into t%d (num) values (1)', // table name depends on the number
      'insert into bench_events (c%d) values (1)',
      'insert into bench_events (num) values (1%d)',
      'insert into bench_events (num) values (1e%d)',
      'insert into bench_events (num) values (%de1)',
      'insert into bench_events (num) values (%d); drop table x',
      'insert into bench_events (num) values (1)',
      'insert into bench_events (num) values (%d, %d)',
    ]) {
      assert.equal(g.checkTemplate(t).ok, false, t);
    }
    assert.equal(g.checkTemplate("insert into bench_events (s) values ('id-%d')").ok, true);
    assert.equal(g.checkTemplate('insert into bench_events (num) values (-%d)').ok, true);
  });

  it('keeps the cache bounded', () => {
    const g = new SqlGuard({ allowTables: ['bench_events'], cacheSize: 16 });
    for (let i = 0; i < 1000; i++) g.checkTemplate(`insert into bench_events (num, s) values (%d, 'x${i}')`);
    assert.equal(g.stats().size, 16);
  });

  it('does not cache long templates, so the cache holds at most cacheSize short keys', () => {
    const g = new SqlGuard({ allowTables: ['bench_events'], cacheSize: 16 });
    for (let i = 0; i < 100; i++) g.checkTemplate(`insert into bench_events (num, s) values (%d, '${String(i).repeat(1000)}')`);
    assert.equal(g.stats().size, 0);
    assert.deepEqual(g.checkTemplate(`insert into bench_events (num, s) values (%d, '${'x'.repeat(5000)}')`), { ok: true });
  });

  it('rejects bad allow-list entries', () => {
    assert.throws(() => new SqlGuard({ allowTables: ['a.b.c'] }));
    assert.throws(() => new SqlGuard({ allowTables: [''] }));
  });
});

describe('string literals: one scanner for the guard and the coalescer', () => {
  it('ends after the closing quote, past doubled quotes and backslash escapes', () => {
    assert.equal(scanString("'ab' x", 0), 4);
    assert.equal(scanString("x 'a''b\\n' y", 2), 10);
  });

  it('refuses an unterminated literal and \\\' (at the escape), and the guard reports the same places', () => {
    assert.equal(scanString("'abc", 0), UNTERMINATED);
    assert.equal(scanString("'abc\\", 0), UNTERMINATED);
    assert.equal(scanString("'ab\\'c'", 0), -(2 + 3));
    const esc = "insert into bench_events (s) values ('ab\\'c')";
    const r = parseInsert(esc);
    assert.ok(!r.ok);
    assert.equal(r.at, esc.indexOf('\\'));
    assert.match(r.reason, /double the quote/);
    const open = "insert into bench_events (s) values ('abc";
    const u = parseInsert(open);
    assert.ok(!u.ok);
    assert.equal(u.at, open.indexOf("'"));
    assert.match(u.reason, /unterminated string literal/);
  });
});

describe('SQL guard: properties', () => {
  const g = new SqlGuard({ allowTables: ['bench_events'] });
  const literal = fc.oneof(
    fc.integer().map(String),
    fc.double({ noNaN: true, noDefaultInfinity: true }).map((d) => (Number.isInteger(d) ? String(d) : d.toExponential()).replace('+', '')),
    fc.string().map((s) => `'${s.replace(/\\/g, '\\\\').replace(/'/g, "''")}'`),
    fc.constantFrom('NULL', 'TRUE', 'FALSE', 'null'),
  );

  it('every properly escaped literal row is allowed, and the tuples are found where they are', () => {
    fc.assert(
      fc.property(fc.array(fc.array(literal, { minLength: 3, maxLength: 3 }), { minLength: 1, maxLength: 4 }), (rows) => {
        const tuples = rows.map((r) => `(${r.join(', ')})`).join(', ');
        const sql = `insert into bench_events (a, b, c) values ${tuples}`;
        const v = g.check(sql);
        assert.deepEqual(v, { ok: true }, sql);
        const p = parseInsert(sql);
        assert.ok(p.ok);
        assert.equal(sql.slice(p.stmt.valuesAt, p.stmt.valuesEnd), tuples);
        assert.equal(p.stmt.rows, rows.length);
      }),
      { numRuns: 300 },
    );
  });

  it('appending anything with a ; or a comment marker outside a string is refused', () => {
    fc.assert(
      fc.property(fc.string(), fc.constantFrom(';', '--', '#', '/*', '/*!'), fc.string(), (a, marker, b) => {
        const sql = `insert into bench_events (num) values (1) ${a.replace(/'/g, '')}${marker}${b}`;
        assert.equal(g.check(sql).ok, false, sql);
      }),
      { numRuns: 300 },
    );
  });

  it('never throws on arbitrary input', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), (s) => {
        const v = g.check(s);
        assert.equal(typeof v.ok, 'boolean');
      }),
      { numRuns: 500 },
    );
  });
});

describe('allow-list names (issue 14, defect 13)', () => {
  it('a backticked `db.table` is one name, not db.table; the refusal says how to write it', () => {
    const v = guard().check('insert into `eserver.audit_log` (num) values (1)');
    assert.equal(v.ok, false);
    assert.match((v as { reason: string }).reason, /is one name; for database\.table write `eserver`\.`audit_log`/);
  });

  it('names compare case-sensitively; the refusal names the listed spelling', () => {
    const v = guard().check('insert into Bench_Events (num) values (1)');
    assert.equal(v.ok, false);
    assert.match((v as { reason: string }).reason, /case-sensitive.*write bench_events/);
    assert.equal(new SqlGuard({ allowTables: ['Bench_Events'] }).check('insert into Bench_Events (num) values (1)').ok, true);
    assert.equal(new SqlGuard({ allowTables: ['Bench_Events'] }).check('insert into bench_events (num) values (1)').ok, false);
  });

  it('over a real socket: the one-identifier form gets SQL_REFUSED and nothing is queued', async () => {
    const s = await startServer({ queue: { guard: guard(), dequeueEnabled: false } });
    try {
      const [bad] = await roundTrip(s.port, enqueueFrame('insert into `eserver.audit_log` (num) values (%d)'));
      assert.equal(errCode(bad), 'SQL_REFUSED');
      const [ok] = await roundTrip(s.port, enqueueFrame('insert into `eserver`.`audit_log` (num) values (%d)'));
      assert.equal(ok.cmd, 8001);
      assert.equal(s.queue.length, 1);
    } finally {
      await s.close();
    }
  });
});
