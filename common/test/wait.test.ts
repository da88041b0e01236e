import { test } from 'node:test';
import assert from 'node:assert/strict';
import { waitFor } from '../src/wait.js';

test('waitFor returns the first truthy value of the condition', async () => {
  let n = 0;
  const v = await waitFor(() => (++n >= 3 ? `after ${n}` : null), { intervalMs: 1 });
  assert.equal(v, 'after 3');
});

test('waitFor accepts an async condition', async () => {
  let n = 0;
  assert.equal(await waitFor(async () => ++n === 2, { intervalMs: 1 }), true);
});

test('waitFor names what it waited for when the deadline passes', async () => {
  await assert.rejects(waitFor(() => false, { timeoutMs: 30, intervalMs: 5, what: 'the door to open' }), /timed out after 30 ms waiting for the door to open/);
});

test('waitFor stops at once when the condition throws', async () => {
  let n = 0;
  await assert.rejects(
    waitFor(() => {
      n++;
      throw new Error('broken');
    }, { timeoutMs: 5000 }),
    /broken/,
  );
  assert.equal(n, 1);
});
