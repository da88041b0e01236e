// The Docker stack's budget, without an engine: what the engine script writes on the Compose stack's
// parent cgroup (the same quota, 20 ms period and weight as the native stack's group), into a scratch
// cgroup tree, and what limitsOfPid reads back for a container below that parent.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parentCgroupArgs } from '../src/lab/docker/engine.js';
import { engineScript } from '../src/lab/docker/exec.js';
import { limitsOfPid } from '../src/lab/docker/limits.js';

test('parentCgroupArgs: the quota and period of cgroup.ts quotaFor, and the stack weight', () => {
  assert.deepEqual(parentCgroupArgs(0.33, '2g', undefined, 2), ['cgroup', '0.33', '2g', '20000', '6600', '262144']);
  // The whole 2-CPU machine: no quota to guarantee, the kernel's default weight.
  assert.deepEqual(parentCgroupArgs(2, '2g', undefined, 2), ['cgroup', '2', '2g', '20000', '40000', '1024']);
  assert.deepEqual(parentCgroupArgs(0.1, '1g', 5000, 2), ['cgroup', '0.1', '1g', '10000', '1000', '262144']);
});

test('docker-engine.sh cgroup writes quota, period, shares and memory on the parent (v1 scratch tree)', async () => {
  const root = mkdtempSync(join(tmpdir(), 'cg-scratch-'));
  try {
    for (const c of ['cpu', 'memory']) mkdirSync(join(root, c));
    const self = readFileSync('/proc/self/cgroup', 'utf8');
    const ownOf = (c: string) => self.split('\n').map((l) => /^\d+:([^:]*):(.*)$/.exec(l)).find((m) => m && m[1]!.split(',').includes(c))?.[2] ?? '/';
    const out = execFileSync('bash', [engineScript, ...parentCgroupArgs(0.33, '2g', undefined, 2)], {
      env: { ...process.env, CGROUP_ROOT: root, CGROUP_PARENT: 'eserver-lab-test' },
      encoding: 'utf8',
    });
    const cpuDir = join(root, 'cpu', ownOf('cpu'), 'eserver-lab-test');
    const memDir = join(root, 'memory', ownOf('memory'), 'eserver-lab-test');
    const read = (f: string) => readFileSync(f, 'utf8').trim();
    assert.equal(read(join(cpuDir, 'cpu.cfs_period_us')), '20000');
    assert.equal(read(join(cpuDir, 'cpu.cfs_quota_us')), '6600');
    assert.equal(read(join(cpuDir, 'cpu.shares')), '262144');
    assert.equal(read(join(memDir, 'memory.limit_in_bytes')), String(2 * 1024 ** 3));
    assert.match(out, /cpu.cfs_quota_us=6600 cpu.cfs_period_us=20000 cpu.shares=262144/);

    // A container below the parent: limitsOfPid finds the parent's quota, period and weight.
    const proc = join(root, 'proc');
    mkdirSync(join(proc, '4242'), { recursive: true });
    const cpuRel = join(ownOf('cpu'), 'eserver-lab-test', 'c0ffee');
    const memRel = join(ownOf('memory'), 'eserver-lab-test', 'c0ffee');
    writeFileSync(join(proc, '4242', 'cgroup'), `4:memory:${memRel}\n1:cpu:${cpuRel}\n`);
    mkdirSync(join(root, 'cpu', cpuRel), { recursive: true });
    writeFileSync(join(root, 'cpu', cpuRel, 'cpu.cfs_quota_us'), '-1');
    writeFileSync(join(root, 'cpu', cpuRel, 'cpu.cfs_period_us'), '100000');
    const l = await limitsOfPid(4242, root, proc);
    assert.equal(l.cpus, 0.33);
    assert.deepEqual([l.cpuQuotaUs, l.cpuPeriodUs, l.cpuWeight], [6600, 20000, 262144]);
    assert.equal(l.cpuCgroup, cpuDir);
    assert.equal(l.memoryBytes, 2 * 1024 ** 3);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('the Docker runtime refuses the 2013-style server (no image) before touching any engine, naming the fix', async () => {
  const { dockerRuntime } = await import('../src/lab/docker/index.js');
  await assert.rejects(dockerRuntime.up({ queueImpl: 'seed2013', log: () => {} }), /seed2013 queue server has no container image: run it with --runtime native/);
});
