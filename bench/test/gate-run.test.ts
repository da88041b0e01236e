// One real gate run each way: a clean candidate passes and a candidate slowed by the test-only CPU burn
// fails, judged against the reference (this checkout's HEAD, built in a worktree) measured at once. The
// stack part's windows start after their warm-up and count only what follows.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from '@eserver-lab/common/repo-root';
import { referenceDir } from '../src/gate/reference.js';
import type { StackCell } from '../src/gate/stack-part.js';
import { GATE_CLI, pinnedBaseline, runCli } from './run-cli.js';

const head = execFileSync('git', ['-C', repoRoot, 'rev-parse', 'HEAD'], { encoding: 'utf8' }).trim();
const WARM = 3;

test('a clean candidate passes against the reference measured at once; one burning CPU per connection fails on the connection path CPU ratio', { timeout: 600_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'gate-run-'));
  const runDir = join(dir, 'run');
  // Generous tolerances: this test shows that the gate tells a burn from a clean run on a busy machine, not its power.
  const common = ['--parts', 'stack,proto', '-r', '2', '--stack-clients', '100', '--stack-warmup', String(WARM), '--stack-duration', '3', '--stack-2013', '0',
    '--proto-warmup', '1', '--proto-duration', '2', '--baseline', pinnedBaseline(dir, head, 0.25), '--out', dir, '--run-dir', runDir];
  try {
    const clean = await runCli(GATE_CLI, ['run', ...common]);
    assert.equal(clean.code, 0, clean.out + clean.err);
    assert.match(clean.out, new RegExp(`Reference: ${head.slice(0, 12)}`));
    assert.match(clean.out, /VERDICT: PASS/);
    assert.equal(existsSync(referenceDir(runDir, head)), false, 'the reference worktree is removed at the end');
    const latest = JSON.parse(readFileSync(join(dir, 'gate-latest.json'), 'utf8'));
    const cells = latest.raw.stack.cells as StackCell[];
    assert.deepEqual([...new Set(cells.map((c) => c.side))].sort(), ['candidate', 'reference']);
    for (const c of cells) {
      const w = c.window!;
      assert.ok(w, `${c.side}: a measured window is recorded`);
      assert.ok(w.startS >= WARM - 0.05, `${c.side}: the window starts after the warm-up (${w.startS} s)`);
      assert.ok(w.acked > 0 && Math.abs(c.queueCpuUs! - (w.cpuS * 1e6) / w.acked) < 0.5, `${c.side}: the CPU per enqueue is the window's`);
      assert.ok(c.halves! > 0, `${c.side}: the window's halves are compared`);
      assert.equal(c.lossOk, true, c.lossDetail);
    }
    const cpu = latest.verdict.rows.find((r: { id: string }) => r.id === 'stack_queue_cpu_us').current as number;
    // Several times the whole CPU per enqueue, per connection: unmistakable whatever the machine's noise.
    const burn = Math.max(1000, Math.round(cpu * 4));
    const slowed = await runCli(GATE_CLI, ['run', ...common, '--burn-us', String(burn), '--burn-at', 'connection']);
    assert.equal(slowed.code, 1, slowed.out + slowed.err);
    assert.match(slowed.out, /VERDICT: FAIL \(regression: [^)]*proto_conn_cpu/);
    assert.match(slowed.out, /Candidate: candidate \(this working tree, burning \d+ µs per connection\)/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
