// Every queue-server test file again, on Bun: each file runs under `bun test` (Bun runs node:test files),
// with QUEUE_RUNTIME=bun so that the tests that spawn the server spawn it on Bun too. One node test per
// file keeps node's runner the only summary of `make test`; a failing file shows Bun's own report.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { queueRuntime } from '../src/runtime.js';

const HERE = fileURLToPath(import.meta.url);
const DIR = dirname(HERE);
const files = readdirSync(DIR)
  .filter((f) => f.endsWith('.test.js') && f !== basename(HERE))
  .sort();

/** What `bun test` printed and how it ended. */
function bunTest(bin: string, file: string, signal: AbortSignal): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    // Bun's default per-test and per-hook timeout is 5 s; the MariaDB tests' setup takes longer.
    const child = spawn(bin, ['test', '--timeout', '120000', join(DIR, file)], {
      cwd: DIR,
      env: { ...process.env, QUEUE_RUNTIME: 'bun' },
      stdio: ['ignore', 'pipe', 'pipe'],
      // The node test's timeout aborts it: the bun process must not outlive it.
      signal,
      killSignal: 'SIGKILL',
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.once('error', reject);
    child.once('exit', (code) => resolve({ code, out }));
  });
}

// Already on Bun (someone ran `bun test` on this directory): the other files run here anyway.
const skip = process.versions.bun ? 'already running on Bun' : false;

for (const file of files) {
  test(`on Bun: ${file}`, { skip, timeout: 600_000 }, async (t) => {
    const { bin } = queueRuntime('bun');
    const { code, out } = await bunTest(bin, file, t.signal);
    const tail = out.slice(-6000);
    assert.equal(code, 0, `bun test ${file} exited ${code}:\n${tail}`);
    const passed = /^\s*(\d+) pass$/m.exec(out);
    const failed = /^\s*(\d+) fail$/m.exec(out);
    assert.ok(passed && Number(passed[1]) > 0, `bun test ${file} ran no test:\n${tail}`);
    assert.equal(failed?.[1], '0', `bun test ${file} reported failures:\n${tail}`);
  });
}
