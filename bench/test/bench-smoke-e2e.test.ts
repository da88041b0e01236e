// `make bench PROFILE=smoke` end to end on the native stack (real MariaDB, queue server, php-fpm,
// nginx): a result file that validates, a report, a zero-loss check, the queue server on its default
// runtime (Bun) as the result and the report say, and no process left behind; the 2013-style stack (the
// control) beside ours, both loaded at the same instant, each on its own budget.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { ResultDoc } from '../src/results/types.js';
import { validateResult } from '../src/results/validate.js';
import { isRunning } from '@eserver-lab/common/proc-stat';
import { repoRoot } from '@eserver-lab/common/repo-root';

const CLI = fileURLToPath(new URL('../src/cli.js', import.meta.url));
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-e2e-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

test('make bench PROFILE=smoke on the native stack', { timeout: 240_000 }, async () => {
  fs.copyFileSync(path.join(repoRoot, 'results/seed.json'), path.join(dir, 'seed.json'));
  // Its own run directory and free ports: other stacks may be running on this machine.
  const args = [CLI, 'run', '--profile', 'smoke', '--runtime', 'native', '--out', dir, '--run-dir', path.join(dir, 'lab'), '--free-ports'];
  // QUEUE_RUNTIME unset: what a user who runs `make bench` gets.
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'QUEUE_RUNTIME'));
  const child = spawn(process.execPath, args, {
    cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'], env,
  });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => { out += d; });
  child.stderr.setEncoding('utf8').on('data', (d: string) => { out += d; });
  const code = await new Promise<number | null>((r) => child.on('close', r));
  assert.equal(code, 0, out);
  assert.match(out, /^Speed=\d+ pages\/min, \d+ bytes\/sec\.$/m);
  assert.match(out, /^Requests: \d+ susceed, \d+ failed\.$/m);
  assert.match(out, /^Loss check: (\d+) acked, \1 rows, \1 distinct: OK/m);

  const files = fs.readdirSync(dir).filter((f) => /-native-smoke\.json$/.test(f));
  assert.equal(files.length, 1);
  const doc = JSON.parse(fs.readFileSync(path.join(dir, files[0]), 'utf8')) as ResultDoc;
  assert.deepEqual(validateResult(doc), { ok: true });
  assert.equal(doc.runtime, 'native');
  assert.equal(doc.queue_server?.runtime, 'bun', 'the queue server runs on Bun by default');
  assert.deepEqual([doc.queue_server?.requested?.runtime, doc.queue_server?.read_back.runtime], ['bun', true], 'read back from the running stack');
  assert.match(doc.versions.bun ?? '', /^\d+\.\d+\.\d+/);
  assert.ok(doc.summary.strict_ok !== null && doc.summary.strict_ok > 0, 'client.php answered 200 ok');
  assert.ok(doc.loss_check && doc.loss_check.ok);
  assert.ok(doc.loss_check.acked >= doc.summary.strict_ok!, 'every strict success was acked');
  assert.equal(doc.loss_check.rows, doc.loss_check.acked);
  assert.equal(doc.loss_check.distinct, doc.loss_check.rows);
  for (const s of ['nginx', 'php-fpm', 'queue-server', 'mysql']) {
    assert.ok(doc.series.samples.some((x) => x.services[s] && x.services[s].rss_bytes > 0), `sampled ${s}`);
  }
  // The budget came from somewhere said in the result, and the generator ran outside the stack's group.
  assert.ok(doc.limits?.calibration, 'limits.calibration records where the CPU budget came from');
  if (doc.limits?.cgroup) {
    assert.equal(doc.cpu_budget?.generator.outside_stack, true, 'the generator was not in the stack cgroup');
    assert.ok(doc.cpu_budget?.generator.cgroup && !fs.existsSync(doc.cpu_budget.generator.cgroup), 'its cgroup was removed');
  }
  // The control ran beside ours, at the same instant, each stack in a cgroup of its own with the same quota.
  const c = doc.control!;
  assert.ok(c, 'ours carries the control record');
  assert.equal(c.pairing, 'at-once');
  assert.equal(c.pairs.length, 1);
  const pair = c.pairs[0]!;
  assert.ok(pair.ours.load_started_at !== null && pair.ours.load_started_at === pair.control.load_started_at, 'both loads started at one instant');
  assert.ok(pair.control.pages_per_min > 0 && pair.control.check_ok === true, 'the 2013-style stack answered, and its ack check passed');
  assert.equal(pair.ratio, pair.ours.pages_per_min / pair.control.pages_per_min);
  if (doc.limits?.cgroup) {
    assert.ok(pair.ours.budget.cgroup && pair.control.budget.cgroup && pair.ours.budget.cgroup !== pair.control.budget.cgroup, 'a cgroup each');
    assert.equal(pair.ours.budget.quota_us, pair.control.budget.quota_us);
    assert.ok(pair.ours.budget.quota_us! > 0);
  }
  // Where each stack's CPU per page went: every service sampled over the measured window, on both sides.
  for (const side of [pair.ours, pair.control]) {
    const cpu = side.cpu_us_per_page;
    assert.ok(cpu && cpu.window_s > 0, `CPU per page over the window: ${JSON.stringify(cpu)}`);
    for (const s of ['nginx', 'php-fpm', 'queue-server', 'mysql']) assert.ok(cpu.services[s] !== null, `${s} sampled in the window`);
    if (doc.limits?.cgroup) assert.ok(cpu.cgroup !== null && cpu.cgroup > 0, 'the cgroup\'s CPU per page');
  }
  assert.equal(c.cpu_per_page?.n, 1);
  assert.match(fs.readFileSync(path.join(dir, 'latest.md'), 'utf8'), /\n## smoke beside the 2013-style stack: CPU per page, per service\n/);
  const controlFile = fs.readdirSync(dir).find((f) => /-native-seed2013\.json$/.test(f));
  assert.ok(controlFile, 'the control\'s own result is written beside ours');
  const controlDoc = JSON.parse(fs.readFileSync(path.join(dir, controlFile), 'utf8')) as ResultDoc;
  assert.deepEqual(validateResult(controlDoc), { ok: true });
  assert.equal(controlDoc.control_of?.profile, 'smoke');
  assert.match(controlDoc.control_of?.queue ?? '', /^(node|bun), fsync \w+$/);
  assert.equal(controlDoc.load_started_at, doc.load_started_at);
  assert.match(out, /^On the 2013 box: about [\d,]+ pages\/min \(ours ÷ 2013-style = \d+\.\d\d, median of 1, CV 0\.0%\)$/m);
  assert.equal(fs.readFileSync(path.join(dir, 'latest.md'), 'utf8').split('\n')[0], out.match(/^On the 2013 box: .*$/m)![0]);
  assert.ok(fs.readFileSync(path.join(dir, 'latest.html'), 'utf8').includes('<svg'));
  assert.match(fs.readFileSync(path.join(dir, 'latest.md'), 'utf8'), new RegExp(`our queue server on \\*\\*bun ${doc.versions.bun!.replace(/\./g, '\\.')}\\*\\*`));

  // Nothing left behind: every service's main pid is gone.
  const pids = [...(doc.config.services ?? []), ...(controlDoc.config.services ?? [])].map((s) => s.pid).filter((p): p is number => p !== null);
  assert.equal(pids.length, 8);
  for (const pid of pids) assert.equal(isRunning(pid), false, `pid ${pid} still running`);
});
