// The load generator's own cgroup beside the stack's (real cgroups, as root): the generator's process and
// what it spawns (webbench's clients) are outside the stack's group; leaving puts the process back and
// removes the group. Then the budget's figures and warnings on constructed readings.
import { test, type TestContext } from 'node:test';
import { waitFor } from '@eserver-lab/common/wait';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CgroupUnavailable, createBudgetCgroup, readLimits, removeCgroup } from '../src/host/cgroup.js';
import { stackLimits } from './helper.js';
import { measuringCommand } from '../src/host/measuring-home.js';
import { GeneratorCgroupUnavailable, enterGeneratorCgroup, generatorPids, generatorUsageNs, leaveGeneratorCgroup, type GeneratorCgroup } from '../src/load/generator-cgroup.js';
import { evaluateBudget, usedOfQuota, type BudgetSnapshot } from '../src/metrics/cpu-budget.js';
import type { AppliedLimits } from '../src/lab/types.js';

const procs = (dir: string) => readFileSync(join(dir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).map(Number);
const cpuCgroupOf = (pid: number) => /^\d+:cpu:(.*)$/m.exec(readFileSync(`/proc/${pid}/cgroup`, 'utf8'))?.[1] ?? null;

test('the generator runs in a sibling of the stack group, never inside it; a child it spawns follows it', async (t) => {
  let stack;
  try {
    stack = await createBudgetCgroup(`eserver-lab-test-gen-stack-${process.pid}`, stackLimits(0.3, 1024 ** 3));
  } catch (err) {
    if (err instanceof CgroupUnavailable) return t.skip(`no writable cgroup here: ${err.message}`);
    throw err;
  }
  const ownBefore = readFileSync('/proc/self/cgroup', 'utf8');
  let gen;
  try {
    gen = await enterGeneratorCgroup(`eserver-gen-test-${process.pid}`);
  } catch (err) {
    await removeCgroup(stack);
    if (err instanceof GeneratorCgroupUnavailable) return t.skip(err.message);
    throw err;
  }
  let child: ReturnType<typeof spawn> | null = null;
  try {
    if (stack.version === 'v1') {
      // Siblings: same parent directory in the cpu hierarchy.
      assert.equal(join(gen.dirs[0]!, '..'), join(stack.dirs[0]!, '..'));
      assert.equal(cpuCgroupOf(process.pid), gen.dirs[0]!.replace(/^\/sys\/fs\/cgroup\/cpu/, ''));
      // The kernel's default weight, below the stack's: a stack task that wakes runs before the generator's
      // (with equal weights, webbench's 10,000 clients delayed the stack's wakeups and read 8-13% low).
      assert.equal(readFileSync(join(gen.dirs[0]!, 'cpu.shares'), 'utf8').trim(), '1024');
      assert.ok(Number(readFileSync(join(stack.dirs[0]!, 'cpu.shares'), 'utf8')) > 1024, 'the stack outweighs the generator');
    }
    assert.ok((await generatorPids(gen)).includes(process.pid), 'the runner is in the generator group');
    for (const d of stack.dirs) assert.equal(procs(d).includes(process.pid), false, `not in ${d}`);
    // A tool spawned now (webbench and its forks) starts in the generator's group too.
    child = spawn('sleep', ['30'], { stdio: 'ignore' });
    await new Promise((r) => child!.once('spawn', r));
    assert.ok((await generatorPids(gen)).includes(child.pid!), 'the spawned tool is in the generator group');
    for (const d of stack.dirs) assert.equal(procs(d).includes(child.pid!), false);
    // Its CPU is counted there.
    const before = (await generatorUsageNs(gen))!;
    let x = 0;
    for (let i = 0; i < 5e6; i++) x += i;
    assert.ok(x > 0 && (await generatorUsageNs(gen))! > before, 'cpuacct counts the runner');
  } finally {
    if (child) {
      const gone = new Promise((r) => child!.once('exit', r));
      child.kill('SIGKILL');
      await gone;
    }
    assert.deepEqual(await leaveGeneratorCgroup(gen), []);
    await removeCgroup(stack);
  }
  for (const d of gen.dirs) assert.equal(existsSync(d), false, `${d} removed`);
  assert.equal(readFileSync('/proc/self/cgroup', 'utf8'), ownBefore, 'the runner is back where it was');
});

const snap = (at: number, o: Partial<BudgetSnapshot>): BudgetSnapshot => ({
  at, stackNs: 0, nrPeriods: 0, nrThrottled: 0, throttledNs: 0, generatorNs: 0, hostBusyNs: 0, ...o,
});
const limits = (cpus: number): AppliedLimits => ({ cgroup: '/x', cgroupVersion: 'v1', cpus, memoryBytes: null, cpuQuotaUs: cpus * 5000, cpuPeriodUs: 5000, cpuWeight: 262144 });
const gen = { cgroup: '/g', weight: 1024, outsideStack: true };

test('evaluateBudget: a stack at its quota, the generator with room to spare: figures, no warning', () => {
  const b = evaluateBudget({
    start: snap(0, {}),
    end: snap(30_000, { stackNs: 0.33 * 30e9 * 0.98, nrPeriods: 6000, nrThrottled: 5000, generatorNs: 8e9, hostBusyNs: 25e9 }),
    limits: limits(0.33), hostCpus: 2, requests: 21_600, generator: gen,
  });
  assert.deepEqual(b.warnings, []);
  assert.equal(b.stack.used_of_quota, 0.98);
  assert.equal(b.stack.throttled_share, 0.833);
  assert.equal(b.generator.cpu_us_per_request, 370.4);
  assert.equal(b.generator.host_share, 0.133);
  assert.equal(b.others_cpu_s, 25 - 9.702 - 8);
});

test("usedOfQuota: the stack's CPU over a window ÷ its quota; unknown without a quota, a reading or a window", () => {
  assert.equal(usedOfQuota(snap(1_000, { stackNs: 1e9 }), snap(11_000, { stackNs: 6e9 }), 0.5), 1);
  assert.equal(usedOfQuota(snap(0, {}), snap(10_000, { stackNs: 3.5e9 }), 0.7), 0.5);
  assert.equal(usedOfQuota(snap(0, {}), snap(10_000, { stackNs: null }), 0.7), null);
  assert.equal(usedOfQuota(snap(0, {}), snap(10_000, { stackNs: 1e9 }), null), null);
  assert.equal(usedOfQuota(snap(5_000, {}), snap(5_000, { stackNs: 1e9 }), 0.7), null);
});

test('evaluateBudget: the generator saturated while the stack was under its quota is named as the bottleneck', () => {
  const b = evaluateBudget({
    start: snap(0, {}),
    end: snap(10_000, { stackNs: 0.5e9, nrPeriods: 2000, nrThrottled: 10, generatorNs: 16.5e9 }),
    limits: limits(0.33), hostCpus: 2, requests: 5000, generator: gen,
  });
  assert.equal(b.warnings.length, 1);
  assert.match(b.warnings[0]!, /load generator was the bottleneck: its cgroup used 99% of the 1.67 CPU left to it.*only 15% of its 0.33-CPU quota.*throttled in 1% of periods/);
});

test('evaluateBudget: a stack under its quota with an idle generator is warned about differently; the whole machine is not', () => {
  const under = evaluateBudget({
    start: snap(0, {}), end: snap(10_000, { stackNs: 1e9, generatorNs: 2e9 }),
    limits: limits(0.33), hostCpus: 2, requests: 5000, generator: gen,
  });
  assert.match(under.warnings.join(), /stack used only 30% of its 0.33-CPU quota: it did not reach its budget/);
  const whole = evaluateBudget({
    start: snap(0, {}), end: snap(10_000, { stackNs: 1e9, generatorNs: 2e9 }),
    limits: limits(2), hostCpus: 2, requests: 5000, generator: gen,
  });
  assert.deepEqual(whole.warnings, []);
  const inside = evaluateBudget({
    start: snap(0, {}), end: snap(10_000, { stackNs: 3.3e9 }),
    limits: limits(0.33), hostCpus: 2, requests: 5000, generator: { ...gen, outsideStack: false },
  });
  assert.match(inside.warnings.join(), /inside the stack's cgroup/);
});

test('readLimits of a stack group names its cpuacct directory, where the budget reads its exact CPU (mounted apart from cpu here)', async (t) => {
  let rec;
  try {
    rec = await createBudgetCgroup(`eserver-lab-test-acct-${process.pid}`, stackLimits(0.5, 1024 ** 3));
  } catch (err) {
    if (err instanceof CgroupUnavailable) return t.skip(err.message);
    throw err;
  }
  try {
    const l = await readLimits(rec);
    if (rec.version === 'v1' && rec.dirs.length === 3) assert.match(l.usageDirs!.cpuacct!, /^\/sys\/fs\/cgroup\/cpuacct\//);
    else assert.equal(l.usageDirs!.cpuacct, rec.dirs[0]);
  } finally {
    await removeCgroup(rec);
  }
});

/** The generator's group entered, or the test skipped with the reason where none can be made here. */
async function enterOrSkip(t: TestContext, name: string): Promise<GeneratorCgroup | null> {
  try {
    return await enterGeneratorCgroup(name);
  } catch (err) {
    if (!(err instanceof GeneratorCgroupUnavailable || err instanceof CgroupUnavailable)) throw err;
    t.skip(err.message);
    return null;
  }
}

// A process the runner spawned during the load and that outlives it (the remote engine's `docker system
// dial-stdio`, killed but not yet gone; a webbench client still exiting) must not keep the group alive:
// CI found `eserver-gen-*` left after a Ctrl-C of a run on the second engine (stop 28).
test('leaving moves a process the runner spawned, still alive, out with it: no group is left', async (t) => {
  const gen = await enterOrSkip(t, `eserver-gen-test-live-${process.pid}`);
  if (!gen) return;
  const child = spawn('sleep', ['30'], { stdio: 'ignore' });
  try {
    await new Promise((r) => child.once('spawn', r));
    assert.ok((await generatorPids(gen)).includes(child.pid!));
    assert.deepEqual(await leaveGeneratorCgroup(gen), []);
    for (const d of gen.dirs) assert.equal(existsSync(d), false, `${d} removed`);
    assert.equal(cpuCgroupOf(child.pid!), cpuCgroupOf(process.pid), 'the child is where the runner is now');
  } finally {
    child.kill('SIGKILL');
  }
});

test('a process that exits (Ctrl-C: process.exit) while its child still runs in the group leaves no group', async (t) => {
  const name = `eserver-gen-test-exit-${process.pid}`;
  const mod = new URL('../src/load/generator-cgroup.js', import.meta.url).href;
  // The program enters the group, spawns a long child there, prints the group's directories and the
  // child's pid, then exits at once: only the 'exit' hook runs.
  const program = `
    import { spawn } from 'node:child_process';
    const { enterGeneratorCgroup, GeneratorCgroupUnavailable } = await import(${JSON.stringify(mod)});
    let g;
    try { g = await enterGeneratorCgroup(${JSON.stringify(name)}); }
    catch (err) { if (err instanceof GeneratorCgroupUnavailable) { console.log(JSON.stringify({ skip: err.message })); process.exit(0); } throw err; }
    const c = spawn('sleep', ['30'], { stdio: 'ignore', detached: true });
    c.unref();
    await new Promise((r) => c.once('spawn', r));
    console.log(JSON.stringify({ dirs: g.dirs, child: c.pid }));
    process.exit(130);
  `;
  const p = spawn(process.execPath, ['--input-type=module', '-e', program], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  p.stdout.on('data', (b: Buffer) => (out += b.toString()));
  const code = await new Promise((r) => p.once('exit', r));
  const r = JSON.parse(out.trim()) as { skip?: string; dirs?: string[]; child?: number };
  if (r.skip) return t.skip(r.skip);
  try {
    assert.equal(code, 130);
    assert.deepEqual(r.dirs!.filter((d) => existsSync(d)), [], 'the generator group is removed');
    assert.notEqual(cpuCgroupOf(r.child!), null);
  } finally {
    try {
      process.kill(r.child!, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
});

// What the runner starts to measure during the load (dial-stdio, a helper container's CLI, ss) is not the
// load: it starts where the runner came from, not in the generator's group, while a tool (webbench) does.
test('a measuring process started during the load runs outside the generator group; the load tool inside', async (t) => {
  const before = cpuCgroupOf(process.pid);
  const gen = await enterOrSkip(t, `eserver-gen-test-measure-${process.pid}`);
  if (!gen) return;
  const started: Array<ReturnType<typeof spawn>> = [];
  const start = async (cmd: string, args: string[]) => {
    const c = spawn(cmd, args, { stdio: 'ignore' });
    started.push(c);
    await new Promise((r) => c.once('spawn', r));
    return c;
  };
  try {
    const m = measuringCommand('sleep', ['30']);
    const measuring = await start(m.cmd, m.args);
    const tool = await start('sleep', ['30']);
    // The measuring one moves itself before it execs: wait for the exec (its comm turns to sleep).
    await waitFor(() => readFileSync(`/proc/${measuring.pid}/comm`, 'utf8').trim() === 'sleep', { timeoutMs: 5_000, what: 'the exec' });
    assert.equal(cpuCgroupOf(measuring.pid!), before, 'the measuring process is where the runner was');
    assert.equal(cpuCgroupOf(tool.pid!), cpuCgroupOf(process.pid), 'the load tool is in the generator group');
    assert.notEqual(cpuCgroupOf(process.pid), before);
  } finally {
    for (const c of started) c.kill('SIGKILL');
    assert.deepEqual(await leaveGeneratorCgroup(gen), []);
  }
  // Outside a load, a measuring command is the program itself.
  assert.deepEqual(measuringCommand('ss', ['-Htlnm']), { cmd: 'ss', args: ['-Htlnm'] });
});
