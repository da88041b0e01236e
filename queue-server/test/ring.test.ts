import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Ring } from '../src/ring.js';

test('ring: FIFO across wrap-around, never past capacity', () => {
  const r = new Ring<number>(3);
  assert.equal(r.push(1), true);
  assert.equal(r.push(2), true);
  assert.equal(r.push(3), true);
  assert.equal(r.push(4), false);
  assert.equal(r.length, 3);
  assert.equal(r.shift(), 1);
  assert.equal(r.push(4), true);
  assert.deepEqual(r.peekBatch(10), [2, 3, 4]);
  assert.deepEqual(r.peekBatch(2), [2, 3]);
  assert.equal(r.drop(2), 2);
  assert.deepEqual(r.peekBatch(5), [4]);
  assert.equal(r.shift(), 4);
  assert.equal(r.shift(), undefined);
  assert.equal(r.drop(5), 0);
  assert.equal(r.capacity, 3);
});

test('ring: default capacity is 1,000,000', () => {
  assert.equal(new Ring().capacity, 1_000_000);
});

test('property: ring behaves like a bounded array queue', () => {
  const op = fc.oneof(
    fc.record({ t: fc.constant('push' as const), v: fc.integer() }),
    fc.record({ t: fc.constant('shift' as const) }),
    fc.record({ t: fc.constant('pop' as const) }),
    fc.record({ t: fc.constant('drop' as const), n: fc.integer({ min: 0, max: 6 }) }),
    fc.record({ t: fc.constant('peek' as const), n: fc.integer({ min: 0, max: 6 }) }),
  );
  fc.assert(
    fc.property(fc.oneof(fc.integer({ min: 1, max: 5 }), fc.constant(65537)), fc.array(op, { maxLength: 200 }), (cap, ops) => {
      const r = new Ring<number>(cap);
      const model: number[] = [];
      for (const o of ops) {
        if (o.t === 'push') assert.equal(r.push(o.v), model.length < cap ? (model.push(o.v), true) : false);
        else if (o.t === 'shift') assert.equal(r.shift(), model.shift());
        else if (o.t === 'pop') assert.equal(r.pop(), model.pop());
        else if (o.t === 'drop') {
          const seen: number[] = [];
          assert.equal(r.drop(o.n, (v) => seen.push(v)), o.n > model.length ? model.length : o.n);
          assert.deepEqual(seen, model.splice(0, o.n));
        }
        else assert.deepEqual(r.peekBatch(o.n), model.slice(0, o.n));
        assert.equal(r.length, model.length);
      }
    }),
    { numRuns: 300 },
  );
});

test('ring: wraps across 64k segments and keeps FIFO order', () => {
  const cap = 65536 * 2 + 17;
  const r = new Ring<number>(cap);
  let next = 0;
  let expect = 0;
  for (let round = 0; round < 5; round++) {
    while (r.push(next)) next++;
    assert.equal(r.length, cap);
    for (let k = 0; k < 70_001; k++) assert.equal(r.shift(), expect++);
    assert.deepEqual(r.peekBatch(2), [expect, expect + 1]);
    assert.equal(r.drop(3), 3);
    expect += 3;
  }
});
