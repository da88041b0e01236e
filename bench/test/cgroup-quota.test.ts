// The stack's CPU budget as the kernel holds it: quota and a short period, the weight that lets it reach
// its quota among many competing processes, read back from the cgroup files (real cgroups, as root).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { waitFor } from '@eserver-lab/common/wait';
import { DEFAULT_CPU_PERIOD_US, STACK_CPU_SHARES, stackCpuShares } from '@eserver-lab/common/stack-spec';
import {
  cgroupPids,
  cgroupsOf,
  createBudgetCgroup,
  createServiceMemoryGroups,
  dirsOf,
  enterScript,
  limitsOfPid,
  quotaFor,
  readLimits,
  removeCgroup,
  sharesToWeight,
  CgroupUnavailable,
} from '../src/host/cgroup.js';
import { stackLimits } from './helper.js';

test('quotaFor: a fraction of a CPU at the 20 ms period, the period lengthened only below the 1 ms minimum quota', () => {
  assert.equal(DEFAULT_CPU_PERIOD_US, 20000);
  assert.deepEqual(quotaFor(0.33), { quotaUs: 6600, periodUs: 20000 });
  assert.deepEqual(quotaFor(2), { quotaUs: 40000, periodUs: 20000 });
  assert.deepEqual(quotaFor(0.5, 100_000), { quotaUs: 50000, periodUs: 100000 });
  // 0.1 CPU at 5 ms would be a 500 µs quota, which the kernel refuses: the period becomes 10 ms.
  assert.deepEqual(quotaFor(0.1, 5000), { quotaUs: 1000, periodUs: 10000 });
  assert.deepEqual(quotaFor(0.15, 5000), { quotaUs: 1000, periodUs: 6667 });
  assert.deepEqual(quotaFor(0.02), { quotaUs: 1000, periodUs: 50000 });
  assert.throws(() => quotaFor(0), /positive/);
  assert.throws(() => quotaFor(-1), /positive/);
  assert.throws(() => quotaFor(1, 500), /period/);
});

test('sharesToWeight maps v1 shares onto v2 weight as the kernel does (1024 = 100), clamped to 1..10000', () => {
  assert.equal(sharesToWeight(STACK_CPU_SHARES), 10000);
  assert.equal(sharesToWeight(1024), 100);
  assert.equal(sharesToWeight(2), 1);
});

test('stackCpuShares: the highest weight below the whole machine, the default at it', () => {
  assert.equal(stackCpuShares(0.5, 2), STACK_CPU_SHARES);
  assert.equal(stackCpuShares(1.99, 2), STACK_CPU_SHARES);
  assert.equal(stackCpuShares(2, 2), 1024);
  assert.equal(stackCpuShares(4, 2), 1024);
});

test('createBudgetCgroup writes quota, period and weight; readLimits reads them back from the files', async (t) => {
  let rec;
  try {
    rec = await createBudgetCgroup(`eserver-lab-test-quota-${process.pid}`, stackLimits(0.33, 2 * 1024 ** 3));
  } catch (err) {
    if (err instanceof CgroupUnavailable) return t.skip(`no writable cgroup here: ${err.message}`);
    throw err;
  }
  try {
    const lim = await readLimits(rec);
    assert.equal(lim.cpuQuotaUs, 6600);
    assert.equal(lim.cpuPeriodUs, 20000);
    assert.equal(lim.cpus, 0.33);
    assert.equal(lim.memoryBytes, 2 * 1024 ** 3);
    if (rec.version === 'v1') {
      const cpuDir = rec.dirs[0]!;
      // The files themselves, not only what readLimits makes of them.
      assert.equal(readFileSync(join(cpuDir, 'cpu.cfs_quota_us'), 'utf8').trim(), '6600');
      assert.equal(readFileSync(join(cpuDir, 'cpu.cfs_period_us'), 'utf8').trim(), '20000');
      assert.equal(readFileSync(join(cpuDir, 'cpu.shares'), 'utf8').trim(), String(STACK_CPU_SHARES));
      assert.equal(lim.cpuWeight, STACK_CPU_SHARES);
      // cpuacct (mounted apart here) is there to measure the group's CPU exactly.
      const acct = rec.dirs.find((d) => d.includes('/cpuacct/'));
      if (acct) assert.equal(Number(readFileSync(join(acct, 'cpuacct.usage'), 'utf8')), 0);
    } else {
      assert.equal(readFileSync(join(rec.dirs[0]!, 'cpu.max'), 'utf8').trim(), '6600 20000');
      assert.equal(lim.cpuWeight, 10000);
    }
  } finally {
    assert.deepEqual(await removeCgroup(rec), []);
  }
});

test('createBudgetCgroup with a period too short for the quota lengthens it, and the kernel agrees', async (t) => {
  let rec;
  try {
    rec = await createBudgetCgroup(`eserver-lab-test-quota2-${process.pid}`, stackLimits(0.1, 1024 ** 3, 5000));
  } catch (err) {
    if (err instanceof CgroupUnavailable) return t.skip(`no writable cgroup here: ${err.message}`);
    throw err;
  }
  try {
    const lim = await readLimits(rec);
    assert.deepEqual([lim.cpuQuotaUs, lim.cpuPeriodUs, lim.cpus], [1000, 10000, 0.1]);
  } finally {
    await removeCgroup(rec);
  }
});

test('service memory groups: each service limited below the stack, the CPU still the stack\'s, removed with it', async (t) => {
  let rec;
  try {
    rec = await createBudgetCgroup(`eserver-lab-test-svcmem-${process.pid}`, stackLimits(1, 1024 ** 3));
  } catch (err) {
    if (err instanceof CgroupUnavailable) return t.skip(`no writable cgroup here: ${err.message}`);
    throw err;
  }
  const MiB = 1024 ** 2;
  const stack = dirsOf(rec);
  let child: ReturnType<typeof spawn> | null = null;
  try {
    const groups = await createServiceMemoryGroups(rec, { small: 64 * MiB, large: 128 * MiB });
    // A process enters its service's group the way the lab starts one: the shell moves itself, then execs.
    child = spawn('/bin/sh', ['-c', `${enterScript(groups.small)}exec sleep 60`], { stdio: 'ignore' });
    const pid = child.pid!;
    await waitFor(() => cgroupsOf(pid).get(rec.version === 'v2' ? '' : 'memory')?.endsWith('/small') === true, { timeoutMs: 5000, what: 'the process in its service group' });
    const l = await limitsOfPid(pid);
    assert.equal(l.memoryBytes, 64 * MiB, 'the service\'s own limit is the one that binds');
    assert.equal(l.cpus, 1, 'the CPU limit is still the stack\'s');
    assert.equal(l.cpuCgroup, stack.cpu);
    assert.equal((await readLimits(rec)).memoryBytes, 1024 ** 3, 'the stack\'s budget is unchanged');
    assert.ok(rec.version === 'v2' || cgroupsOf(pid).get('cpu')!.length > 0);
    assert.ok((await cgroupPids(rec)).includes(pid), 'the stack\'s pids include its services\'');
    const charged = join(dirsOf(groups.small).memory!, rec.version === 'v2' ? 'memory.current' : 'memory.usage_in_bytes');
    assert.ok(Number(readFileSync(charged, 'utf8')) > 0, 'the service group is charged');
    const large = dirsOf(groups.large).memory!;
    assert.equal(Number(readFileSync(join(large, rec.version === 'v2' ? 'memory.max' : 'memory.limit_in_bytes'), 'utf8')), 128 * MiB);
  } finally {
    child?.kill('SIGKILL');
    if (child) await new Promise((r) => child!.once('exit', r));
    await waitFor(async () => (await cgroupPids(rec)).length === 0, { timeoutMs: 5000, what: 'the group empty' });
    assert.deepEqual(await removeCgroup(rec, 2000), []);
    for (const d of rec.dirs) assert.equal(existsSync(d), false, `${d} removed`);
  }
});
