import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ConnList, type Linked } from '../src/conn-list.js';

class Item implements Linked<Item> {
  prev: Item | null = null;
  next: Item | null = null;
  linked = false;
  constructor(readonly id: number) {}
}

const ids = (l: ConnList<Item>): number[] => [...l].map((i) => i.id);

test('conn-list: add, delete from the head, middle and tail; deleting twice is harmless', () => {
  const l = new ConnList<Item>();
  const [a, b, c, d] = [1, 2, 3, 4].map((n) => new Item(n));
  for (const i of [a, b, c, d]) l.add(i);
  l.add(b); // already in: no second copy
  assert.equal(l.size, 4);
  assert.deepEqual(ids(l), [4, 3, 2, 1]);
  assert.equal(l.delete(c), true);
  assert.equal(l.delete(c), false);
  assert.deepEqual(ids(l), [4, 2, 1]);
  assert.equal(l.delete(d), true); // head
  assert.equal(l.delete(a), true); // tail
  assert.deepEqual(ids(l), [2]);
  assert.equal(l.size, 1);
  l.delete(b);
  assert.equal(l.size, 0);
  assert.deepEqual(ids(l), []);
  l.add(c); // a deleted item can come back
  assert.deepEqual(ids(l), [3]);
});

test('conn-list: the visited item can be deleted while iterating (a sweep closing connections)', () => {
  const l = new ConnList<Item>();
  const items = [1, 2, 3, 4, 5].map((n) => new Item(n));
  for (const i of items) l.add(i);
  const seen: number[] = [];
  for (const i of l) {
    seen.push(i.id);
    if (i.id % 2 === 1) l.delete(i);
  }
  assert.deepEqual(seen, [5, 4, 3, 2, 1]);
  assert.deepEqual(ids(l), [4, 2]);
  assert.equal(l.size, 2);
});

test('conn-list: deleting the next item too while iterating still visits every item left', () => {
  const l = new ConnList<Item>();
  const items = [1, 2, 3, 4].map((n) => new Item(n));
  for (const i of items) l.add(i);
  const seen = new Set<number>();
  for (const i of l) {
    seen.add(i.id);
    if (i.id === 4) {
      l.delete(i);
      l.delete(items[2]); // item 3, the next one
    }
  }
  assert.deepEqual([...seen].sort(), [1, 2, 4]);
  assert.deepEqual(ids(l), [2, 1]);
});

test('property: conn-list holds what a Set would, newest first', () => {
  fc.assert(
    fc.property(fc.array(fc.tuple(fc.boolean(), fc.integer({ min: 0, max: 7 })), { maxLength: 60 }), (ops) => {
      const items = Array.from({ length: 8 }, (_, n) => new Item(n));
      const l = new ConnList<Item>();
      const model: number[] = []; // newest first
      for (const [add, n] of ops) {
        if (add) {
          l.add(items[n]);
          if (!model.includes(n)) model.unshift(n);
        } else {
          assert.equal(l.delete(items[n]), model.includes(n));
          const k = model.indexOf(n);
          if (k >= 0) model.splice(k, 1);
        }
        assert.equal(l.size, model.length);
      }
      assert.deepEqual(ids(l), model);
    }),
  );
});
