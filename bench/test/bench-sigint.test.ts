// Ctrl-C pressed twice during `make bench`: the first starts the teardown, the second must not cut it short
// (the stack would be left running, cgroup and all). The terminal sends SIGINT to the whole process group,
// so the test does too.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { waitFor } from '@eserver-lab/common/wait';
import { processesUsing } from './lab-procs.js';
import { watchCli } from './run-cli.js';

const CLI = fileURLToPath(new URL('../src/cli.js', import.meta.url));
const LAB_CLI = fileURLToPath(new URL('../src/lab/cli.js', import.meta.url));
const REPO = fileURLToPath(new URL('../../../', import.meta.url));

function stackUp(runDir: string): boolean {
  try {
    return (JSON.parse(fs.readFileSync(path.join(runDir, 'state.json'), 'utf8')) as { complete: boolean }).complete;
  } catch {
    return false;
  }
}

test('a second Ctrl-C during the teardown does not leave the stack running', { timeout: 240_000 }, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-sigint-'));
  const runDir = path.join(dir, 'lab');
  fs.copyFileSync(path.join(REPO, 'results/seed.json'), path.join(dir, 'seed.json'));
  const w = watchCli(CLI, ['run', '--profile', 'smoke', '--runtime', 'native', '--out', dir, '--run-dir', runDir, '--free-ports', '--no-report'], REPO);
  const pid = w.child.pid!;
  try {
    await waitFor(() => w.ended() || stackUp(runDir), { timeoutMs: 180_000, intervalMs: 50, what: 'the stack to be up' });
    assert.ok(!w.ended(), `the run ended before its stack was up:\n${w.output()}`);
    process.kill(-pid, 'SIGINT');
    // The second Ctrl-C must land during the teardown, so this polls often.
    await waitFor(() => w.ended() || /tearing down/.test(w.output()), { timeoutMs: 30_000, intervalMs: 5, what: 'the teardown to start' });
    process.kill(-pid, 'SIGINT');
    const end = await w.closed;
    assert.deepEqual(end, { code: 130, signal: null }, w.output());
    assert.match(w.output(), /SIGINT again: still tearing down/);
    assert.deepEqual(processesUsing(runDir), [], `no process of the stack is left:\n${w.output()}`);
  } finally {
    if (processesUsing(runDir).length > 0) spawnSync(process.execPath, [LAB_CLI, 'down', '--runtime', 'native', '--run-dir', runDir], { stdio: 'ignore' });
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

// `make bench | head`, or a test runner that died: the reader of its output is gone, and its next line
// fails with EPIPE. That must end the run as a Ctrl-C does, stack down, not kill it with its stack left
// running (a stack and its mysql supervisor were found so, orphaned, after a make test was interrupted).
test('the reader of its output gone (make bench | head): the stack is taken down, then it exits 141', { timeout: 240_000 }, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-epipe-'));
  const runDir = path.join(dir, 'lab');
  fs.copyFileSync(path.join(REPO, 'results/seed.json'), path.join(dir, 'seed.json'));
  const w = watchCli(CLI, ['run', '--profile', 'smoke', '--runtime', 'native', '--out', dir, '--run-dir', runDir, '--free-ports', '--no-report'], REPO);
  const exited = new Promise<number | null>((r) => w.child.once('exit', (code) => r(code)));
  try {
    await waitFor(() => w.ended() || stackUp(runDir), { timeoutMs: 180_000, intervalMs: 50, what: 'the stack to be up' });
    assert.ok(!w.ended(), `the run ended before its stack was up:\n${w.output()}`);
    // As `head` does once it has its lines: the read ends are closed.
    w.child.stdout!.destroy();
    w.child.stderr!.destroy();
    assert.equal(await exited, 141, w.output());
    assert.deepEqual(processesUsing(runDir), [], `no process of the stack is left:\n${w.output()}`);
  } finally {
    if (processesUsing(runDir).length > 0) spawnSync(process.execPath, [LAB_CLI, 'down', '--runtime', 'native', '--run-dir', runDir], { stdio: 'ignore' });
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
