// The `eserver-lab` CLI as a user runs it: Ctrl-C during `up` tears down what started, and `down` works
// from the run directory alone after the runner was killed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readlinkSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from '../src/lab/paths.js';
import { readState, type LabState } from '../src/lab/native/index.js';
import { processesUsing } from './lab-procs.js';
import { freePorts } from '@eserver-lab/common/free-port';
import { waitFor } from '@eserver-lab/common/wait';
import { findBun } from '@eserver-lab/queue-server/runtime';

const cli = join(repoRoot, 'bench', 'dist', 'src', 'lab', 'cli.js');

async function startUp(runDir: string, extra: string[] = [], env: NodeJS.ProcessEnv = process.env): Promise<{ child: ChildProcess; output: () => string; exit: Promise<number | null> }> {
  const [h, f, q, m, my] = await freePorts(5);
  const child = spawn(
    process.execPath,
    [cli, 'up', '--runtime', 'native', '--run-dir', runDir, '--http-port', `${h}`, '--fpm-port', `${f}`,
      '--queue-port', `${q}`, '--metrics-port', `${m}`, '--mysql-port', `${my}`, ...extra],
    { stdio: ['ignore', 'pipe', 'pipe'], env },
  );
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const exit = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  return { child, output: () => out, exit };
}

/** Waits until `up` has recorded a running MariaDB (the first service), i.e. it is mid-start. */
function waitForFirstService(runDir: string): Promise<LabState> {
  return waitFor(async () => {
    const s = await readState(runDir).catch(() => null);
    return s && s.services.length >= 1 ? s : null;
  }, { timeoutMs: 15_000, intervalMs: 25, what: '`up` to start its first service' });
}

function assertClean(runDir: string, state: LabState): void {
  assert.deepEqual(processesUsing(runDir), [], 'no process of the stack is left');
  for (const d of state.cgroup?.dirs ?? []) assert.equal(existsSync(d), false, `${d} removed`);
  // Each run directory holds a ~110 MB MariaDB datadir.
  rmSync(runDir, { recursive: true, force: true });
}

test('Ctrl-C during `lab up` tears down what was started', { timeout: 60_000 }, async () => {
  const runDir = mkdtempSync(join(tmpdir(), 'eserver-lab-test-'));
  const up = await startUp(runDir);
  const state = await waitForFirstService(runDir);
  up.child.kill('SIGINT');
  const code = await up.exit;
  assert.notEqual(code, 0, up.output());
  assert.match(up.output(), /interrupted/);
  assertClean(runDir, state);
});

test('`lab down` stops a stack whose runner was killed mid-start, by the pids in the run directory', { timeout: 60_000 }, async () => {
  const runDir = mkdtempSync(join(tmpdir(), 'eserver-lab-test-'));
  const up = await startUp(runDir);
  const state = await waitForFirstService(runDir);
  up.child.kill('SIGKILL');
  await up.exit;
  assert.ok(processesUsing(runDir).length > 0, 'MariaDB outlived the killed runner');
  const down = spawn(process.execPath, [cli, 'down', '--runtime', 'native', '--run-dir', runDir], { stdio: 'pipe' });
  let out = '';
  down.stdout.on('data', (d) => (out += d));
  down.stderr.on('data', (d) => (out += d));
  const code = await new Promise((r) => down.once('exit', r));
  assert.equal(code, 0, out);
  assert.match(out, /stopped mysql/);
  assertClean(runDir, (await readState(runDir)) ?? state);
});

test('a caller that calls process.exit() in the middle of up() leaves no process and no cgroup', { timeout: 60_000 }, async () => {
  const runDir = mkdtempSync(join(tmpdir(), 'eserver-lab-test-'));
  const [h, f, q, m, my] = await freePorts(5);
  const mod = join(repoRoot, 'bench', 'dist', 'src', 'lab', 'native', 'index.js');
  // Like a bench runner whose own Ctrl-C handler exits while the stack is still starting.
  const script = `
    import { nativeRuntime, readState } from ${JSON.stringify(mod)};
    const runDir = ${JSON.stringify(runDir)};
    const timer = setInterval(async () => {
      const s = await readState(runDir).catch(() => null);
      if (s && s.services.length >= 1) process.exit(7);
    }, 10);
    await nativeRuntime.up({ runDir, ports: { http: ${h}, fpm: ${f}, queue: ${q}, metrics: ${m}, mysql: ${my} }, log: () => {} });
    clearInterval(timer);
  `;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: 'inherit' });
  const code = await new Promise((r) => child.once('exit', r));
  assert.equal(code, 7, 'the caller exited mid-start');
  const state = await readState(runDir);
  assert.ok(state && state.services.length >= 1, 'a service had been started');
  // The orphaned children see the caller's exit a moment later.
  await waitFor(() => processesUsing(runDir).length === 0, { timeoutMs: 5_000, what: 'no process of the stack left' });
  assertClean(runDir, state);
});

test('`lab up --queue-runtime bun` runs the queue server on Bun, whatever QUEUE_RUNTIME says', { timeout: 120_000 }, async () => {
  const runDir = mkdtempSync(join(tmpdir(), 'eserver-lab-test-'));
  const up = await startUp(runDir, ['--queue-runtime', 'bun', '--json'], { ...process.env, QUEUE_RUNTIME: 'node' });
  const code = await up.exit;
  const state = await readState(runDir);
  try {
    assert.equal(code, 0, up.output());
    assert.ok(state);
    // The state records the executable that runs the queue server.
    assert.equal(realpathSync(String(state.config.queueRuntime)), realpathSync(findBun()));
    const q = state.services.find((s) => s.name === 'queue-server');
    assert.ok(q?.pid, up.output());
    assert.equal(realpathSync(readlinkSync(`/proc/${q.pid}/exe`)), realpathSync(findBun()));
  } finally {
    const down = spawn(process.execPath, [cli, 'down', '--runtime', 'native', '--run-dir', runDir], { stdio: 'ignore' });
    await new Promise((r) => down.once('exit', r));
  }
  assertClean(runDir, state!);
});
