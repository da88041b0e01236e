// The Docker stack's budget, without an engine: what the lab writes on the Compose stack's parent cgroup (the
// same quota, 20 ms period and weight as the native stack's group), into a scratch v1 tree laid out as this
// kind of VM has it (cpu and cpuacct mounted apart), and what limitsOfPid reads back for a container below it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createBudgetCgroup, discoverCgroups, limitsOfPid, removeCgroupEverywhere } from '../src/host/cgroup.js';
import { STACK_CPU_SHARES } from '@eserver-lab/common/stack-spec';
import { stackLimits } from './helper.js';

test('the parent is created below the given cgroup and limited; limitsOfPid finds it for a container below; removal takes every hierarchy', async () => {
  const root = mkdtempSync(join(tmpdir(), 'cg-scratch-'));
  try {
    const proc = join(root, 'proc');
    const cg = join(root, 'fs');
    for (const c of ['cpu', 'cpuacct', 'memory', 'pids']) mkdirSync(join(cg, c, 'docker-host'), { recursive: true });
    // "dockerd" (pid 77) runs in /docker-host in every hierarchy.
    mkdirSync(join(proc, '77'), { recursive: true });
    writeFileSync(join(proc, '77', 'cgroup'), '5:pids:/docker-host\n4:memory:/docker-host\n3:cpuacct:/docker-host\n2:cpu:/docker-host\n');
    const host = discoverCgroups({ root: cg, procRoot: proc });
    assert.equal(host.version, 'v1');
    const rec = await createBudgetCgroup('eserver-lab-test', stackLimits(0.33, 2 * 1024 ** 3), { below: 77, existOk: true, host });
    const cpuDir = join(cg, 'cpu', 'docker-host', 'eserver-lab-test');
    const read = (f: string) => readFileSync(f, 'utf8').trim();
    assert.equal(read(join(cpuDir, 'cpu.cfs_period_us')), '20000');
    assert.equal(read(join(cpuDir, 'cpu.cfs_quota_us')), '6600');
    assert.equal(read(join(cpuDir, 'cpu.shares')), String(STACK_CPU_SHARES));
    assert.equal(read(join(cg, 'memory', 'docker-host', 'eserver-lab-test', 'memory.limit_in_bytes')), String(2 * 1024 ** 3));
    assert.equal(rec.cpuacct, join(cg, 'cpuacct', 'docker-host', 'eserver-lab-test'));
    // Re-limited at the next `up`: the existing group is reused.
    await createBudgetCgroup('eserver-lab-test', stackLimits(0.5, 1024 ** 3), { below: 77, existOk: true, host });
    assert.equal(read(join(cpuDir, 'cpu.cfs_quota_us')), '10000');

    // A container below the parent: the parent's quota, period and weight, and its cpuacct twin for usage.
    mkdirSync(join(proc, '4242'), { recursive: true });
    writeFileSync(join(proc, '4242', 'cgroup'), '4:memory:/docker-host/eserver-lab-test/c0ffee\n2:cpu:/docker-host/eserver-lab-test/c0ffee\n');
    mkdirSync(join(cpuDir, 'c0ffee'));
    writeFileSync(join(cpuDir, 'c0ffee', 'cpu.cfs_quota_us'), '-1');
    writeFileSync(join(cpuDir, 'c0ffee', 'cpu.cfs_period_us'), '100000');
    const l = await limitsOfPid(4242, host);
    assert.equal(l.cpus, 0.5);
    assert.deepEqual([l.cpuQuotaUs, l.cpuPeriodUs, l.cpuWeight], [10000, 20000, STACK_CPU_SHARES]);
    assert.equal(l.cpuCgroup, cpuDir);
    assert.equal(l.memoryBytes, 1024 ** 3);
    assert.equal(l.usageDirs?.cpuacct, rec.cpuacct);

    // runc made the parent in the pids hierarchy too; the container's group must go first.
    mkdirSync(join(cg, 'pids', 'docker-host', 'eserver-lab-test', 'c0ffee'), { recursive: true });
    // Scratch directories hold files the kernel's would not: empty them so rmdir can act as on cgroupfs.
    for (const d of [join(cpuDir, 'c0ffee'), cpuDir, join(cg, 'memory', 'docker-host', 'eserver-lab-test')]) {
      for (const f of ['cpu.cfs_quota_us', 'cpu.cfs_period_us', 'cpu.shares', 'memory.limit_in_bytes']) rmSync(join(d, f), { force: true });
    }
    assert.deepEqual(await removeCgroupEverywhere('eserver-lab-test', { below: 77, host }), []);
    for (const c of ['cpu', 'cpuacct', 'memory', 'pids']) assert.deepEqual(readdirSync(join(cg, c, 'docker-host')), [], `${c}: removed`);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('the Docker runtime refuses the 2013-style server (no image) before touching any engine, naming the fix', async () => {
  const { dockerRuntime } = await import('../src/lab/docker/index.js');
  await assert.rejects(dockerRuntime.up({ queueImpl: 'seed2013', log: () => {} }), /seed2013 queue server has no container image: run it with --runtime native/);
});
