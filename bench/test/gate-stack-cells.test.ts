// The stack part's cell order. Our queue server costs more per enqueue for several seconds after it has
// idled ~40 s, so a client.php cell's figure depends on what ran before it: every repetition must give
// each queue server the same history before its client.php cell.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { stackCells, type StackCell } from '../src/gate/stack-cells.js';

const key = (c: StackCell) => `${c.impl}/${c.page}`;

test('every repetition has each cell once', () => {
  const cells = stackCells(5);
  for (let rep = 1; rep <= 5; rep++) {
    assert.deepEqual(cells.filter((c) => c.rep === rep).map(key).sort(), ['seed2013/baseline', 'seed2013/client', 'ts/baseline', 'ts/client'].filter((k) => k !== 'seed2013/baseline'));
  }
});

test('before each client.php cell after the first, the same cells ran since that stack\'s previous client.php cell', () => {
  const cells = stackCells(5);
  for (const impl of ['ts', 'seed2013'] as const) {
    const at = cells.flatMap((c, i) => (c.impl === impl && c.page === 'client' ? [i] : []));
    assert.equal(at.length, 5);
    const between = at.slice(1).map((i, k) => cells.slice(at[k]! + 1, i).map(key).join(','));
    assert.ok(between.every((b) => b === between[0]), `${impl}: ${between.join(' | ')}`);
  }
});
