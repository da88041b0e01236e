// The measured window's marks: a reading still pending when the load ends is awaited, not replaced.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { WindowMarks } from '../src/metrics/window-marks.js';
import { waitFor } from '@eserver-lab/common/wait';

test('a start mark still being read when the load ends is awaited: the window is start to end, not end to end', async () => {
  // Readings are numbered in the order they were asked for and answer only once released, as a remote engine's
  // stats answer a second or more later.
  const pending: Array<{ n: number; release: () => void }> = [];
  const take = () => new Promise<number>((resolve) => {
    const n = pending.length + 1;
    pending.push({ n, release: () => resolve(n) });
  });
  const marks = new WindowMarks(take);
  marks.arm(0, 5, 5);
  await waitFor(() => pending.length === 2, { what: 'both timers asked for their reading', timeoutMs: 10_000 });
  const settled = marks.settle();
  // The end's reading answers first, the start's last (a slow engine answers in any order): everything but the
  // start is released, the event loop turns a few times, then the start answers.
  const turns = async (k: number) => { for (let i = 0; i < k; i++) await new Promise((r) => setImmediate(r)); };
  await turns(3);
  for (const p of pending.slice(1)) p.release();
  await turns(10);
  for (const p of pending.slice(1)) p.release(); // a reading asked for meanwhile
  await turns(10);
  pending[0]!.release();
  assert.deepEqual(await settled, { start: 1, end: 2 });
});

test('an end timer that has not fired is read when the load ends; with no start mark, the window is empty', async () => {
  let n = 0;
  const marks = new WindowMarks(async () => ++n);
  marks.arm(3_600_000, 0, 0);
  assert.deepEqual(await marks.settle(), { start: 1, end: 1 });
  const cold = new WindowMarks(async () => ++n);
  cold.startNow();
  cold.arm(3_600_000, 0, 1000);
  assert.deepEqual(await cold.settle(), { start: 2, end: 3 });
});

test('a failed reading fails the settle, and is not an unhandled rejection before it', async () => {
  const marks = new WindowMarks<number>(() => Promise.reject(new Error('the engine did not answer')));
  marks.startNow();
  await new Promise((r) => setImmediate(r));
  await assert.rejects(marks.settle(), /did not answer/);
});
