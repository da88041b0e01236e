// `eserver-bench run --profile seed2013` (small) on the native stack: the 2013-style server behind the
// unchanged client.php, the ack check in place of the MySQL loss check, the budget recorded, the generator
// outside the stack's group, and nothing left behind (processes, both cgroups).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { ResultDoc } from '../src/results/types.js';
import { validateResult } from '../src/results/validate.js';
import { processesUsing } from './lab-procs.js';
import { repoRoot } from '@eserver-lab/common/repo-root';

const CLI = path.join(repoRoot, 'bench/dist/src/cli.js');

test('PROFILE=seed2013: client.php against the 2013-style server, ack check, generator outside the stack', { timeout: 240_000 }, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-seed2013-'));
  try {
    const args = [CLI, 'run', '--profile', 'seed2013', '-c', '50', '-d', '3', '-w', '1', '--cpus', '0.5', '--runtime', 'native',
      '--out', dir, '--run-dir', path.join(dir, 'lab'), '--free-ports', '--no-report'];
    const child = spawn(process.execPath, args, { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => { out += d; });
    child.stderr.setEncoding('utf8').on('data', (d: string) => { out += d; });
    const code = await new Promise<number | null>((r) => child.on('close', r));
    assert.equal(code, 0, out);
    assert.match(out, /^Ack check \(no drain, as in 2013\): queue length 0 -> (\d+) = \1 acked, \d+ strict ok: OK/m);
    assert.doesNotMatch(out, /^Loss check:/m);
    assert.match(out, /^CPU budget: stack .* of its 0\.5-CPU quota \(10000 µs per 20000 µs/m);

    const file = fs.readdirSync(dir).find((f) => /-native-seed2013\.json$/.test(f))!;
    const doc = JSON.parse(fs.readFileSync(path.join(dir, file), 'utf8')) as ResultDoc;
    assert.deepEqual(validateResult(doc), { ok: true });
    assert.equal((doc.config.stack as { queueImpl: string }).queueImpl, 'seed2013');
    assert.ok(doc.summary.strict_ok! > 0, 'client.php answered 200 ok through the Python server');
    assert.equal(doc.loss_check, null);
    assert.ok(doc.ack_check && doc.ack_check.ok && doc.ack_check.acked >= doc.summary.strict_ok!);
    assert.deepEqual([doc.limits?.cpuQuotaUs, doc.limits?.cpuPeriodUs, doc.limits?.calibration?.cpus], [10000, 20000, 0.5]);
    if (doc.limits?.cgroup) {
      assert.equal(doc.cpu_budget?.generator.outside_stack, true);
      assert.ok(doc.cpu_budget!.stack.cpu_s! > 0 && doc.cpu_budget!.generator.cpu_s! > 0, 'both groups counted CPU');
      for (const d of [doc.limits.cgroup, doc.cpu_budget!.generator.cgroup!]) assert.equal(fs.existsSync(d), false, `${d} removed`);
    }
    assert.deepEqual(processesUsing(dir), [], 'no process of the stack is left');
  } finally {
    if (processesUsing(dir).length === 0) fs.rmSync(dir, { recursive: true, force: true });
  }
});
