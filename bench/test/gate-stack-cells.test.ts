// The stack part's cell order. Our queue server costs more per enqueue for several seconds after it has
// idled ~40 s, so a client.php cell's figure depends on what ran before it: every repetition must give
// each queue server the same history before its client.php cell. The two queue servers' client.php cells
// run together, so that a change in the machine's speed reaches both.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { stackSteps, type StackCell } from '../src/gate/stack-cells.js';

const key = (c: StackCell) => `${c.impl}/${c.page}`;

test('every repetition has each cell once', () => {
  const cells = stackSteps(5).flat();
  for (let rep = 1; rep <= 5; rep++) {
    assert.deepEqual(cells.filter((c) => c.rep === rep).map(key).sort(), ['seed2013/client', 'ts/baseline', 'ts/client']);
  }
});

test('both queue servers take client.php in the same step, every repetition; a step never mixes repetitions', () => {
  const steps = stackSteps(4);
  const together = steps.filter((s) => s.some((c) => c.page === 'client'));
  assert.equal(together.length, 4);
  for (const s of together) assert.deepEqual(s.map(key).sort(), ['seed2013/client', 'ts/client']);
  for (const s of steps) assert.equal(new Set(s.map((c) => c.rep)).size, 1);
});

test("before each client.php cell after the first, the same steps ran since that stack's previous client.php cell", () => {
  const steps = stackSteps(5);
  for (const impl of ['ts', 'seed2013'] as const) {
    const at = steps.flatMap((s, i) => (s.some((c) => c.impl === impl && c.page === 'client') ? [i] : []));
    assert.equal(at.length, 5);
    const between = at.slice(1).map((i, k) => steps.slice(at[k]! + 1, i).map((s) => s.map(key).join('+')).join(','));
    assert.ok(between.every((b) => b === between[0]), `${impl}: ${between.join(' | ')}`);
  }
});
