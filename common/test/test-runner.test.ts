// `make test`'s runner (.ci/test-all.sh) must end, and say "fail", when a test fails and leaves a timer or a
// socket behind: a CI run once hung until its 90-minute limit that way.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from '../src/repo-root.js';

function runTests(file: string, limitMs: number): Promise<{ code: number | null; out: string; endedByItself: boolean }> {
  return new Promise((resolve, reject) => {
    // Without NODE_TEST_CONTEXT, which would make the inner runner think it runs inside this one.
    const { NODE_TEST_CONTEXT: _, ...env } = process.env;
    const child = spawn('bash', [join(repoRoot, '.ci', 'test-all.sh'), file], { env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    let endedByItself = true;
    const t = setTimeout(() => {
      endedByItself = false;
      process.kill(-child.pid!, 'SIGKILL'); // the runner and the test file's process with it
    }, limitMs);
    child.once('error', reject);
    child.once('exit', (code) => {
      clearTimeout(t);
      resolve({ code, out, endedByItself });
    });
  });
}

test('a failing test that leaves a timer running ends the run with a failure, instead of hanging it', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'eserver-runner-'));
  try {
    const file = join(dir, 'leaves-a-timer.test.mjs');
    writeFileSync(
      file,
      "import { test } from 'node:test';\n" +
        "test('fails and leaves a timer running', () => { setInterval(() => {}, 1000); throw new Error('boom'); });\n",
    );
    const r = await runTests(file, 30_000);
    assert.ok(r.endedByItself, `the run did not end within 30 s:\n${r.out.slice(-2000)}`);
    assert.equal(r.code, 1, r.out.slice(-2000));
    assert.match(r.out, /^ℹ fail 1$/m);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
