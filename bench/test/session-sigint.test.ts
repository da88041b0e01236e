// Ctrl-C while a session's second stack is still starting: that start is aborted (the runtime takes down
// what it started), the stack already up is taken down, and the process exits 130, leaving nothing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { waitFor } from '@eserver-lab/common/wait';
import { watchCli } from './run-cli.js';

const FIXTURE = fileURLToPath(new URL('./fixtures/session-interrupted.js', import.meta.url));

test('Ctrl-C while a stack of the session is starting stops that start and takes down the stack already up', async () => {
  const w = watchCli(FIXTURE, []);
  await waitFor(() => w.ended() || /up 2 starting/.test(w.output()), { what: 'the second stack to start' });
  assert.ok(!w.ended(), w.output());
  process.kill(-w.child.pid!, 'SIGINT');
  const end = await w.closed;
  assert.deepEqual(end, { code: 130, signal: null }, w.output());
  const lines = w.output().split('\n');
  assert.ok(lines.includes('up 2 aborted: its services stopped'), w.output());
  assert.ok(lines.includes('down stack-1'), w.output());
  // The work never ran, and the aborted start was waited for before the process ended.
  assert.ok(!lines.includes('work'), w.output());
  assert.ok(lines.indexOf('up 2 aborted: its services stopped') < lines.indexOf('down stack-1'), w.output());
});
