// A load's process that exits right after sending its result: the result arrives, it is not read as "ended
// before its result" (a make bench run failed so on 2026-12-06 at 12:31 UTC, in its third repetition). The
// race is made certain here: the parent stays off its event loop until the child has exited, so the exit
// and the unread message are both waiting when it gets back.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fork, spawnSync } from 'node:child_process';
import { childResult } from '../src/load/in-child.js';

const FIXTURE = new URL('./fixtures/load-child-exits-at-once.js', import.meta.url);

/** Blocks this process (no event loop) until `pid` is gone. */
function blockUntilGone(pid: number): void {
  spawnSync('sh', ['-c', `while kill -0 ${pid} 2>/dev/null; do sleep 0.01; done`], { timeout: 10_000 });
}

test('a result sent just before the process exits is still the result, every time', async () => {
  for (let i = 0; i < 10; i++) {
    const child = fork(FIXTURE, ['1000'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    const result = childResult(child, `fixture ${i}`, () => {});
    blockUntilGone(child.pid!);
    const r = (await result) as unknown as { webbench: { pagesPerMin: number }; padding: string; pid: number };
    assert.equal(r.webbench.pagesPerMin, 46976);
    assert.equal(r.pid, child.pid);
  }
});

test('a process that ends with no result is still reported as such', async () => {
  const child = fork(FIXTURE, ['none'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  await assert.rejects(childResult(child, 'nothing', () => {}), /ended \(3\) before its result/);
});
