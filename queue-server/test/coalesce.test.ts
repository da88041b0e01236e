// The coalescer: which entries merge into multi-row INSERTs, order, packet-size splits.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Coalescer, scanTuples } from '../src/coalesce.js';
import type { Entry } from '../src/entry.js';

const e = (seq: number, sql: string): Entry => ({ seq, sql });
const seed = (seq: number): Entry => e(seq, `insert into bench_events (num) values (${seq})`);

describe('coalescer', () => {
  it('merges consecutive single-row INSERTs with the same table and columns', () => {
    const c = new Coalescer({ maxStatementBytes: 1 << 20 });
    const steps = c.plan([seed(1), seed(2), seed(3)]);
    assert.deepEqual(steps, [{ sql: 'insert into bench_events (num) values (1),(2),(3)', from: 0, to: 3, merged: true }]);
  });

  it('keeps order: a different shape or an unparsable statement splits the run and runs as it is', () => {
    const c = new Coalescer({ maxStatementBytes: 1 << 20 });
    const entries = [
      seed(1),
      seed(2),
      e(3, "insert into bench_events (num, s) values (3, 'x')"),
      e(4, "insert into bench_events (num, s) values (4, 'y''s')"),
      e(5, 'insert into bench_events (num) values (5) on duplicate key update num = 5'),
      seed(6),
      e(7, 'insert into other (num) values (7), (8)'),
      seed(9),
    ];
    const steps = c.plan(entries);
    assert.deepEqual(
      steps.map((s) => [s.sql, s.from, s.to]),
      [
        ['insert into bench_events (num) values (1),(2)', 0, 2],
        ["insert into bench_events (num, s) values (3, 'x'),(4, 'y''s')", 2, 4],
        ['insert into bench_events (num) values (5) on duplicate key update num = 5', 4, 5],
        ['insert into bench_events (num) values (6)', 5, 6],
        ['insert into other (num) values (7), (8)', 6, 7],
        ['insert into bench_events (num) values (9)', 7, 8],
      ],
    );
  });

  it('splits a run so that no statement exceeds the packet limit', () => {
    const c = new Coalescer({ maxStatementBytes: 4096 });
    const entries = Array.from({ length: 5000 }, (_, i) => seed(i + 1));
    const steps = c.plan(entries);
    assert.ok(steps.length > 1);
    let next = 0;
    for (const s of steps) {
      assert.ok(Buffer.byteLength(s.sql) <= 4096, `${Buffer.byteLength(s.sql)} bytes`);
      assert.equal(s.from, next);
      next = s.to;
    }
    assert.equal(next, 5000);
    const all = steps.flatMap((s) => s.sql.slice('insert into bench_events (num) values '.length).split(','));
    assert.deepEqual(all, entries.map((x) => `(${x.seq})`));
  });

  it('plans a sub-range (used to bisect a failing step)', () => {
    const c = new Coalescer({ maxStatementBytes: 1 << 20 });
    const entries = Array.from({ length: 10 }, (_, i) => seed(i + 1));
    assert.deepEqual(c.plan(entries, 3, 5), [{ sql: 'insert into bench_events (num) values (4),(5)', from: 3, to: 5, merged: true }]);
  });

  it('never merges a statement whose tail is not pure tuples, even on the fast path', () => {
    const c = new Coalescer({ maxStatementBytes: 1 << 20 });
    c.plan([seed(1)]); // teach it the prefix
    for (const bad of [
      'insert into bench_events (num) values (1); drop table x',
      'insert into bench_events (num) values (1) -- c',
      'insert into bench_events (num) values (1) /* c */',
      'insert into bench_events (num) values (1) # c',
      'insert into bench_events (num) values ("a")',
      "insert into bench_events (num) values ('a\\'); drop table x; -- ')",
      'insert into bench_events (num) values (1',
    ]) {
      const steps = c.plan([seed(1), e(2, bad), seed(3)]);
      assert.equal(steps.length, 3, bad);
      assert.equal(steps[1].sql, bad);
    }
  });

  it('scanTuples finds the end of any list of well-formed tuples', () => {
    const lit = fc.oneof(fc.integer().map(String), fc.string().map((s) => `'${s.replace(/\\/g, '\\\\').replace(/'/g, "''")}'`));
    fc.assert(
      fc.property(fc.array(fc.array(lit, { minLength: 1, maxLength: 3 }), { minLength: 1, maxLength: 4 }), (rows) => {
        const tuples = rows.map((r) => `(${r.join(',')})`).join(', ');
        const s = `PFX ${tuples}  `;
        assert.equal(scanTuples(s, 4), 4 + tuples.length);
      }),
      { numRuns: 300 },
    );
  });
});
