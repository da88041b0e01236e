// --tool webbench: a `webbench` found on PATH is run with the profile's -c/-t and the URL, and its
// two summary lines become the result (strict figures null). The project ships no webbench, so the
// test puts a stand-in script on PATH that prints what Webbench 1.5 prints and records its argv.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { runBench } from '../src/run/bench.js';
import { validateResult } from '../src/results/validate.js';
import { repoRoot } from '@eserver-lab/common/repo-root';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-wb-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

test('webbench output is parsed into the same result format', async () => {
  const d = await withStandIn(
    'bin',
    `echo "$@" >> ${dir}/argv\necho 'Webbench - Simple Web Benchmark 1.5'\necho\necho 'Speed=43226 pages/min, 129975 bytes/sec.'\necho 'Requests: 21613 susceed, 0 failed.'\n`,
    { concurrency: 77, durationS: 3 },
  );
  assert.deepEqual(validateResult(d), { ok: true });
  assert.equal(d.tool.name, 'webbench');
  assert.equal(d.summary.pages_per_min, 43226);
  assert.equal(d.summary.bytes_per_sec, 129975);
  assert.equal(d.summary.succeeded, 21613);
  assert.equal(d.summary.strict_ok, null);
  assert.equal(d.summary.latency_ms.p50, null);
  assert.deepEqual(d.summary.lines, ['Speed=43226 pages/min, 129975 bytes/sec.', 'Requests: 21613 susceed, 0 failed.']);
  assert.equal(fs.readFileSync(path.join(dir, 'argv'), 'utf8').trim(), '-c 77 -t 3 http://127.0.0.1:9/client.php');
});

/** One smoke run against --url with a stand-in `webbench` (a shell script body) first on PATH; its result. */
async function withStandIn(name: string, body: string, overrides: { concurrency: number; durationS: number; warmupS?: number }, keepWarmup = false) {
  const bin = path.join(dir, name);
  fs.mkdirSync(bin);
  fs.writeFileSync(path.join(bin, 'webbench'), `#!/bin/sh\n${body}`, { mode: 0o755 });
  fs.copyFileSync(path.join(repoRoot, 'results/seed.json'), path.join(dir, 'seed.json'));
  const oldPath = process.env.PATH;
  process.env.PATH = `${bin}:${oldPath}`;
  try {
    const out = await runBench({
      profiles: ['smoke'], overrides: keepWarmup ? overrides : { ...overrides, warmupS: 0 }, runtime: 'auto', tool: 'webbench',
      url: 'http://127.0.0.1:9/client.php', outDir: dir, noReport: true,
    });
    return out.docs[0]!;
  } finally {
    process.env.PATH = oldPath;
  }
}

test('how long the tool ran is recorded: webbench\'s clients each run -t from their own start, so a run can outlast -t', async () => {
  // A stand-in whose run outlasts its -t 1 by 3 s (as 10,000 slow forks stretch a real one).
  const d = await withStandIn('slow', "sleep 4\necho 'Speed=600 pages/min, 6000 bytes/sec.'\necho 'Requests: 10 susceed, 0 failed.'\n", { concurrency: 5, durationS: 1 });
  assert.deepEqual(validateResult(d), { ok: true });
  assert.ok(d.loadgen.wall_s !== undefined && d.loadgen.wall_s !== null && d.loadgen.wall_s >= 4, `wall_s ${d.loadgen.wall_s}`);
  assert.ok(d.verdict.reasons.some((r) => /webbench ran [\d.]+ s for its -t 1/.test(r)), d.verdict.reasons.join('; '));
});

test('webbench runs once, cold, as in 2013: no separate warm-up run whose in-flight requests the stack would serve uncounted', async () => {
  // The smoke profile has a 1 s warm-up. A warm-up by webbench is a run of its own: at its alarm its 10,000
  // clients leave their requests in flight, and the stack serves them during the measured run, uncounted
  // (2026-12-06: 43,252 enqueues for 20,000 counted pages on client.php).
  const d = await withStandIn(
    'cold',
    `echo "$@" >> ${dir}/argv-cold\necho 'Speed=600 pages/min, 6000 bytes/sec.'\necho 'Requests: 10 susceed, 0 failed.'\n`,
    { concurrency: 5, durationS: 1 },
    true,
  );
  assert.deepEqual(fs.readFileSync(path.join(dir, 'argv-cold'), 'utf8').trim().split('\n'), ['-c 5 -t 1 http://127.0.0.1:9/client.php']);
  assert.equal(d.config.warmup_s, 0);
});

test('--warmup N with --tool webbench is refused with the reason and the fix', async () => {
  await assert.rejects(
    withStandIn('warm', `echo "$@" >> ${dir}/argv-warm\n`, { concurrency: 5, durationS: 1, warmupS: 2 }, true),
    /--warmup 2 with --tool webbench.*drop --warmup/s,
  );
  assert.equal(fs.existsSync(path.join(dir, 'argv-warm')), false, 'webbench was not started');
});
