// `make bench PROFILE=smoke QUEUE_RUNTIMES=node FSYNC=interval` end to end on the native stack: the queue
// server really runs on node, not the default Bun (its /proc/<pid>/exe, read by this test while the stack is
// up) with the interval policy (its own start-up log line), the result records both as read back, and the
// loss check passed. (bench-smoke-e2e.test.ts checks the default: Bun.)
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { queueRuntime } from '@eserver-lab/queue-server/runtime';
import { waitFor } from '@eserver-lab/common/wait';
import type { ResultDoc } from '../src/results/types.js';
import { validateResult } from '../src/results/validate.js';

const CLI = fileURLToPath(new URL('../src/cli.js', import.meta.url));
const REPO = fileURLToPath(new URL('../../../', import.meta.url));
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-matrix-e2e-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

interface Seen {
  exe: string;
  cmdline: string[];
}

/** The queue server's executable and command line, read from /proc while the stack it belongs to is up. */
function readQueueServer(runDir: string): Seen | null {
  try {
    const state = JSON.parse(fs.readFileSync(path.join(runDir, 'state.json'), 'utf8')) as { complete: boolean; services: Array<{ name: string; pid: number }> };
    const q = state.complete ? state.services.find((s) => s.name === 'queue-server') : undefined;
    if (!q) return null;
    return { exe: fs.readlinkSync(`/proc/${q.pid}/exe`), cmdline: fs.readFileSync(`/proc/${q.pid}/cmdline`, 'utf8').split('\0').filter(Boolean) };
  } catch {
    return null;
  }
}

test('smoke on the native stack with --queue-runtime node --fsync interval', { timeout: 300_000 }, async () => {
  const node = fs.realpathSync(queueRuntime('node').bin);
  fs.copyFileSync(path.join(REPO, 'results/seed.json'), path.join(dir, 'seed.json'));
  const runDir = path.join(dir, 'lab');
  const args = [CLI, 'run', '--profile', 'smoke', '--runtime', 'native', '--queue-runtime', 'node', '--fsync', 'interval',
    '--out', dir, '--run-dir', runDir, '--free-ports', '--no-report'];
  // QUEUE_RUNTIME=bun in the environment: the option, not the process env, must pick the stack's runtime.
  const child = spawn(process.execPath, args, { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, QUEUE_RUNTIME: 'bun' } });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => { out += d; });
  child.stderr.setEncoding('utf8').on('data', (d: string) => { out += d; });
  const closed = new Promise<number | null>((r) => child.on('close', r));
  let exited = false;
  void closed.then(() => (exited = true));
  // Watch the stack while it is up: the first complete state's queue server, as the kernel sees it.
  let seen = null as Seen | null; // set in the callback below, which TS's narrowing does not follow
  await waitFor(() => exited || (seen = readQueueServer(runDir)) !== null, { timeoutMs: 240_000, intervalMs: 100, what: "the stack's queue server running" });
  const code = await closed;
  assert.equal(code, 0, out);
  assert.ok(seen, `the stack's queue server was never seen running:\n${out}`);
  assert.equal(fs.realpathSync(seen.exe), node, `the queue server ran on ${seen.exe}, not node`);
  assert.ok(seen.cmdline.some((a) => a.endsWith('queue-server/dist/src/cli.js')), seen.cmdline.join(' '));
  assert.deepEqual(seen.cmdline.slice(seen.cmdline.indexOf('--fsync'), seen.cmdline.indexOf('--fsync') + 2), ['--fsync', 'interval']);

  // The policy as the server itself states it when it starts listening.
  const log = fs.readFileSync(path.join(runDir, 'logs', 'queue-server.out'), 'utf8');
  const listening = log.split('\n').filter((l) => l.includes('"event":"listening"')).map((l) => JSON.parse(l) as { journal: string });
  assert.equal(listening.length, 1, log);
  assert.equal(listening[0]!.journal, 'interval');

  assert.match(out, /^Loss check: (\d+) acked, \1 rows, \1 distinct: OK/m);
  const files = fs.readdirSync(dir).filter((f) => /-native-smoke\.json$/.test(f));
  assert.equal(files.length, 1, 'one combination: one result');
  const doc = JSON.parse(fs.readFileSync(path.join(dir, files[0]!), 'utf8')) as ResultDoc;
  assert.deepEqual(validateResult(doc), { ok: true });
  assert.deepEqual(doc.queue_server, {
    impl: 'ts', runtime: 'node', fsync: 'interval', requested: { runtime: 'node', fsync: 'interval' }, exe: seen.exe,
    read_back: { runtime: true, fsync: true },
  });
  assert.ok(doc.loss_check && doc.loss_check.ok, 'the loss check ran and passed');
  assert.ok(doc.loss_check.acked > 0 && doc.loss_check.rows === doc.loss_check.acked && doc.loss_check.distinct === doc.loss_check.rows);
  assert.equal(doc.verdict.ok, true, doc.verdict.reasons.join('; '));
});
