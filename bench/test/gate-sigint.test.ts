// Ctrl-C during the gate's stack part, while the load runs: the stacks are torn down and the load
// generator's cgroup (`eserver-gate-gen-<pid>-…`, beside the stacks') is removed too. The signal ends the
// process through process.exit, which runs no async code, so the group must be left synchronously.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { processesUsing } from './lab-procs.js';
import { execFileSync } from 'node:child_process';
import { repoRoot } from '@eserver-lab/common/repo-root';
import { waitFor } from '@eserver-lab/common/wait';
import { GATE_CLI, pinnedBaseline, watchCli } from './run-cli.js';

const CPU_ROOT = '/sys/fs/cgroup/cpu';
const LAB_CLI = new URL('../src/lab/cli.js', import.meta.url).pathname;
const noMariaDb = spawnSync('mariadbd', ['--version'], { encoding: 'utf8' }).status !== 0;

/** Directories named eserver-gate-gen-<pid>-… in the v1 cpu hierarchy (the runner may sit a few levels down). */
function generatorGroups(pid: number): string[] {
  const found: string[] = [];
  const walk = (dir: string, depth: number): void => {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      if (!e.isDirectory()) continue;
      const p = path.join(dir, e.name);
      if (e.name.startsWith(`eserver-gate-gen-${pid}-`)) found.push(p);
      else if (depth < 4) walk(p, depth + 1);
    }
  };
  walk(CPU_ROOT, 0);
  return found;
}

test('Ctrl-C during the gate\'s load leaves no generator cgroup and no stack behind', {
  skip: noMariaDb ? 'mariadbd is not installed' : !fs.existsSync(path.join(CPU_ROOT, 'cgroup.procs')) ? 'no cgroup v1 cpu hierarchy here' : false,
  timeout: 240_000,
}, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gate-sigint-'));
  const runDir = path.join(dir, 'run');
  const w = watchCli(GATE_CLI, ['run', '--parts', 'stack', '-r', '1', '--stack-duration', '30', '--stack-warmup', '2',
    '--stack-clients', '20', '--baseline', pinnedBaseline(dir, execFileSync('git', ['-C', repoRoot, 'rev-parse', 'HEAD'], { encoding: 'utf8' }).trim()), '--out', dir, '--run-dir', runDir]);
  const pid = w.child.pid!;
  try {
    // The group exists while a load runs (the priming first): that is when Ctrl-C must clean it up.
    await waitFor(() => w.ended() || generatorGroups(pid).length > 0, { timeoutMs: 180_000, intervalMs: 20, what: "the generator's cgroup" });
    assert.ok(!w.ended(), `the gate ended before its load started:\n${w.output()}`);
    process.kill(-pid, 'SIGINT');
    const end = await w.closed;
    assert.deepEqual(end, { code: 130, signal: null }, w.output());
    assert.deepEqual(generatorGroups(pid), [], `the generator's cgroup is removed:\n${w.output()}`);
    assert.deepEqual(processesUsing(runDir), [], `no process of either stack is left:\n${w.output()}`);
  } finally {
    for (const g of generatorGroups(pid)) {
      try {
        fs.rmdirSync(g);
      } catch {
        /* a process still in it; the assertion above has said so */
      }
    }
    for (const sub of ['lab-candidate', 'lab-reference', 'lab-seed2013']) {
      const d = path.join(runDir, sub);
      if (processesUsing(d).length > 0) spawnSync(process.execPath, [LAB_CLI, 'down', '--runtime', 'native', '--run-dir', d], { stdio: 'ignore' });
    }
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
