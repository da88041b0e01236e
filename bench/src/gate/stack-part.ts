// The gate's stack part, on the emulated 2013 box (the calibrated CPU quota, the generator outside it):
// the seed's own path, client.php through nginx and php-fpm into the queue server, measured for our
// server and for the 2013-style server in the same run. Their ratios cancel the machine's speed and
// mood; the quota makes each figure CPU-bound and steady, which the whole machine's figures were not.
import type { LabRuntime, StackInfo, UpOptions } from '../lab/types.js';
import { queueLength } from '../lab/seed2013.js';
import { settledLength } from '../check/ack-check.js';
import { fetchQueueMetrics } from '../metrics/queue-metrics.js';
import { timeWaitNow, type TimeWaitCount } from '../metrics/time-wait.js';
import { snapshot as budgetSnapshot, usedOfQuota, type BudgetSnapshot } from '../metrics/cpu-budget.js';
import { snapshot, tree } from '../metrics/proc.js';
import { onSignalCleanup } from '../protocol-bench/children.js';
import { cv, median } from '@eserver-lab/common/stats';
import { stackSteps, type Impl, type Page, type StackCell } from './stack-cells.js';
import type { GateMeasurements, GateSettings } from './collect.js';
import type { MetricRepetitions } from './metrics.js';
import { repoRoot } from '@eserver-lab/common/repo-root';
import { freePorts } from '@eserver-lab/common/free-port';
import { clockTicksPerSecond } from '@eserver-lab/common/proc-stat';


/** The measured window of a client.php cell: from the end of its warm-up to the last enqueue drained. */
interface CellWindow {
  /** When the window began, seconds after the load started (at least the client.php warm-up). */
  startS: number;
  /** Enqueues acknowledged in the window. */
  acked: number;
  /** Queue-server CPU (its process tree) in the window, seconds. */
  cpuS: number;
}

/** What is read when a cell's warm-up ends: the window's opening figures. */
interface WindowStart {
  at: number;
  cpuS: number;
  acked: number | null;
  budget: BudgetSnapshot;
}

interface StackRun {
  rep: number;
  impl: Impl;
  page: Page;
  pagesPerMin: number;
  failed: number;
  notOk: number;
  /** Enqueues the queue server acknowledged during the whole cell, warm-up and php-fpm's backlog included. */
  acked: number | null;
  /** Pages that said ok during the warm-up. */
  warmupOk: number;
  /** Queue-server CPU (its whole process tree) per enqueue acknowledged in the window, µs; drain and journal included. */
  queueCpuUsPerEnqueue: number | null;
  window: CellWindow | null;
  /** TIME_WAIT sockets before the cell: all of them (a shared machine's too), and on this stack's ports. */
  timeWait: TimeWaitCount;
  /** The stack's CPU over the load ÷ its quota (1 = it got its whole budget); null without a cgroup. */
  usedOfQuota: number | null;
  lossOk: boolean;
  lossDetail: string;
}

const sample = (id: string, values: number[]): MetricRepetitions => ({ id, values, median: median(values), cv: cv(values) });

/** utime + stime of a service's process tree (a supervisor, if any, and the server under it), seconds. */
function serviceCpuS(stack: StackInfo, ticksPerS: number): number {
  const pid = stack.services.find((s) => s.name === 'queue-server')?.pid;
  if (!pid) throw new Error('the stack reports no queue-server pid');
  return tree(pid, snapshot()).reduce((a, p) => a + p.ticks, 0) / ticksPerS;
}

/** What the queue server has acknowledged so far: our server's enqueue counter, the 2013-style server's length. */
async function ackedSoFar(stack: StackInfo, impl: Impl): Promise<number> {
  if (impl === 'seed2013') return queueLength(stack.queue.host, stack.queue.port);
  const m = await fetchQueueMetrics(stack.queue.host, stack.queue.metricsPort);
  if (m?.enqueued == null) throw new Error(`the queue server's metrics (${stack.queue.host}:${stack.queue.metricsPort}) give no eserver_enqueued_total`);
  return m.enqueued;
}

async function up(runtime: LabRuntime, o: GateSettings, impl: Impl, budget: { cpus: number; periodUs?: number }, log: (l: string) => void): Promise<StackInfo> {
  // Free ports rather than the lab's defaults: a developer's own `make lab-up` may hold those.
  // Distinct by construction: five separate bind(0)s can hand out the same port twice (seen right after a
  // previous stack part, with tens of thousands of sockets in TIME_WAIT).
  const [http, fpm, queue, metrics, mysql] = await freePorts(5);
  const ports = { http: http!, fpm: fpm!, queue: queue!, metrics: metrics!, mysql: mysql! };
  const opts: UpOptions = {
    queueImpl: impl,
    queueArgs: impl === 'ts' ? o.queueArgs : [],
    cpus: budget.cpus,
    ...(budget.periodUs !== undefined ? { cpuPeriodUs: budget.periodUs } : {}),
    log,
    runDir: `${o.runDir}/lab-${impl}`,
    ports,
  };
  return runtime.up(opts);
}

export async function stackPart(o: GateSettings, log: (l: string) => void, m: GateMeasurements): Promise<void> {
  // The lab runtime, the load generator and the budget belong to other parts of the bench; loaded when used.
  const { getRuntime } = await import('../lab/index.js');
  const { runHttpLoad } = await import('../load/generator.js');
  const { progressLine } = await import('../run/progress.js');
  const { readCounts, lossCheck } = await import('../check/loss-check.js');
  const { stackBudget } = await import('../lab/budget.js');
  const { enterGeneratorCgroup, leaveGeneratorCgroup, GeneratorCgroupUnavailable } = await import('../load/generator-cgroup.js');
  const ticksPerS = clockTicksPerSecond();
  const budget = stackBudget({});
  log(`stack: ${budget.use.note}`);
  const runtime = await getRuntime('native', log);
  const stacks: Partial<Record<Impl, StackInfo>> = {};
  const unregister = onSignalCleanup(async () => {
    for (const s of Object.values(stacks)) await runtime.down(s.runDir);
  });
  const runs: StackRun[] = [];
  const primed: Array<{ impl: Impl; seconds: number; pagesPerMin: number }> = [];
  /**
   * Runs `loads` at once with the runner (the generator, all their worker threads) in one cgroup beside the
   * stacks', as webbench ran on another machine.
   */
  const outsideBudget = async <T,>(loads: Array<() => Promise<T>>): Promise<T[]> => {
    let gen = null;
    try {
      gen = await enterGeneratorCgroup(`eserver-gate-gen-${process.pid}-${Date.now().toString(36)}`);
    } catch (err) {
      if (!(err instanceof GeneratorCgroupUnavailable)) throw err;
    }
    try {
      return await Promise.all(loads.map((f) => f()));
    } finally {
      if (gen) await leaveGeneratorCgroup(gen);
    }
  };
  /** One load; only the first of a step draws progress (two bars on one line would garble it). */
  const drive = async (label: string, url: string, durationS: number, warmupS: number, showProgress: boolean) => {
    const progress = showProgress ? progressLine(`[gate] ${label}`) : null;
    try {
      return await runHttpLoad({ url, clients: o.stackConcurrency, durationS, warmupS, successSignal: 'ok', ...(progress ? { onProgress: progress.update } : {}) });
    } finally {
      progress?.done();
    }
  };
  const runCell = async ({ rep, impl, page }: StackCell, label: string, showProgress: boolean): Promise<StackRun> => {
    const stack = stacks[impl]!;
    const run: StackRun = {
      rep, impl, page, pagesPerMin: 0, failed: 0, notOk: 0, acked: null, warmupOk: 0, queueCpuUsPerEnqueue: null, window: null,
      timeWait: await timeWaitNow(stack.services.flatMap((x) => x.ports)), usedOfQuota: null, lossOk: true, lossDetail: '',
    };
    const client = page === 'client';
    const counts = client && impl === 'ts' ? await readCounts(stack.mysql, stack.queue) : null;
    const length0 = client && impl === 'seed2013' ? await queueLength(stack.queue.host, stack.queue.port) : null;
    const warmupS = client ? o.stackClientWarmupS : o.stackWarmupS;
    const t0 = performance.now();
    // The window opens when the warm-up ends (the generator starts its clients a little after this
    // call, so it opens at most that little before the generator's own measuring phase).
    let opened: Promise<WindowStart> | null = null;
    const timer = setTimeout(() => {
      opened = (async () => {
        const budget = budgetSnapshot(stack.limits, () => null);
        const cpuS = serviceCpuS(stack, ticksPerS);
        return { at: budget.at, cpuS, acked: client ? await ackedSoFar(stack, impl) : null, budget };
      })();
      // Awaited once the load is over; until then a failed read must not count as unhandled.
      opened.catch(() => {});
    }, warmupS * 1000);
    let res;
    let closed: BudgetSnapshot;
    try {
      res = await drive(label, stack.pages[page], o.stackDurationS, warmupS, showProgress);
      closed = budgetSnapshot(stack.limits, () => null);
    } finally {
      clearTimeout(timer);
    }
    const start = await (opened as Promise<WindowStart> | null);
    if (!start) throw new Error(`stack cell rep ${rep} ${impl} ${page}: the load ended before its ${warmupS} s warm-up did`);
    run.usedOfQuota = usedOfQuota(start.budget, closed, stack.limits.cpus ?? null);
    run.pagesPerMin = res.webbench.pagesPerMin;
    run.failed = res.counters.failed;
    run.warmupOk = res.warmup.strictOk;
    // A page that answered but did not say "ok" (a 502, or the queue's error) is a failure too.
    run.notOk = Math.max(0, res.counters.succeeded - res.counters.cutAtEnd - res.counters.strictOk);
    let ackedAtEnd: number | null = null;
    if (counts) {
      // Waits until the drain has committed everything: the TS server's CPU then includes its drain.
      const l = await lossCheck({ mysql: stack.mysql, queue: stack.queue, before: counts, strictOk: res.counters.strictOk + res.warmup.strictOk, timeoutS: 60 });
      run.acked = l.acked - counts.acked;
      ackedAtEnd = l.acked;
      if (!l.ok) {
        run.lossOk = false;
        run.lossDetail = `${l.acked} acked, ${l.rows} rows, ${l.distinct} distinct${l.note ? ` (${l.note})` : ''}`;
      }
    } else if (length0 !== null) {
      const after = await settledLength(stack.queue.host, stack.queue.port, 60);
      run.acked = after.length - length0;
      ackedAtEnd = after.length;
      if (run.acked < res.counters.strictOk + res.warmup.strictOk) {
        run.lossOk = false;
        run.lossDetail = `2013-style server holds ${run.acked} new entries, ${res.counters.strictOk + res.warmup.strictOk} pages said ok`;
      }
    }
    if (ackedAtEnd !== null && start.acked !== null) {
      run.window = { startS: Math.round(start.at - t0) / 1000, acked: ackedAtEnd - start.acked, cpuS: serviceCpuS(stack, ticksPerS) - start.cpuS };
      if (run.window.acked > 0) run.queueCpuUsPerEnqueue = (run.window.cpuS * 1e6) / run.window.acked;
    }
    return run;
  };
  try {
    stacks.ts = await up(runtime, o, 'ts', budget, log);
    stacks.seed2013 = await up(runtime, o, 'seed2013', budget, log);
    // A fresh queue server settles later than one that idled (our server: ~10 s of load against ~7), so
    // each stack is loaded once before the first repetition, unmeasured, both at once as in the cells.
    const impls = ['ts', 'seed2013'] as const;
    const priming = await outsideBudget(impls.map((impl, i) => () => drive(`priming ${impls.join('+')}`, stacks[impl]!.pages.client, o.stackClientWarmupS, 0, i === 0)));
    for (const [i, impl] of impls.entries()) {
      primed.push({ impl, seconds: o.stackClientWarmupS, pagesPerMin: priming[i]!.webbench.pagesPerMin });
      log(`stack: ${impl} primed with ${o.stackClientWarmupS} s of client.php (${priming[i]!.webbench.pagesPerMin} pages/min, not measured)`);
    }
    for (const step of stackSteps(o.repetitions)) {
      const label = `rep ${step[0]!.rep} ${step.map((c) => `${c.impl} ${c.page}`).join(' + ')}`;
      const done = await outsideBudget(step.map((cell, i) => () => runCell(cell, label, i === 0)));
      for (const run of done) {
        runs.push(run);
        log(
          `stack rep ${run.rep}/${o.repetitions}: ${run.impl} ${run.page}.php ${run.pagesPerMin} pages/min` +
            (run.queueCpuUsPerEnqueue !== null ? `, queue server ${run.queueCpuUsPerEnqueue.toFixed(1)} µs CPU/enqueue after ${o.stackClientWarmupS} s warm-up` : '') +
            `; stack at ${run.usedOfQuota === null ? '?' : Math.round(run.usedOfQuota * 100)}% of its quota; TIME_WAIT before: ${run.timeWait.onPorts} on its ports, ${run.timeWait.total} in all` +
            (step.length > 1 ? ` (together with ${step.filter((c) => c.impl !== run.impl).map((c) => `${c.impl} ${c.page}`).join(', ')})` : ''),
        );
      }
    }
  } finally {
    unregister();
    for (const s of Object.values(stacks)) await runtime.down(s.runDir);
  }

  const pick = (rep: number, impl: Impl, page: Page) => runs.find((x) => x.rep === rep && x.impl === impl && x.page === page)!;
  const stackRatio: number[] = [];
  const ppmVs2013: number[] = [];
  const cpuVs2013: number[] = [];
  for (let r = 1; r <= o.repetitions; r++) {
    const ts = pick(r, 'ts', 'client');
    const old = pick(r, 'seed2013', 'client');
    stackRatio.push(ts.pagesPerMin / pick(r, 'ts', 'baseline').pagesPerMin);
    ppmVs2013.push(ts.pagesPerMin / old.pagesPerMin);
    if (ts.queueCpuUsPerEnqueue !== null && old.queueCpuUsPerEnqueue !== null) cpuVs2013.push(ts.queueCpuUsPerEnqueue / old.queueCpuUsPerEnqueue);
  }
  m.samples.push(sample('stack_ratio', stackRatio), sample('seed_ppm_vs_2013', ppmVs2013));
  if (cpuVs2013.length > 0) m.samples.push(sample('seed_queue_cpu_vs_2013', cpuVs2013));
  const tsCpu = runs.filter((x) => x.impl === 'ts' && x.page === 'client' && x.queueCpuUsPerEnqueue !== null).map((x) => x.queueCpuUsPerEnqueue!);
  if (tsCpu.length > 0) m.samples.push(sample('seed_queue_cpu_us_per_enqueue', tsCpu));
  const failed = runs.reduce((a, x) => a + x.failed, 0);
  const notOk = runs.reduce((a, x) => a + x.notOk, 0);
  const lost = runs.filter((x) => !x.lossOk);
  m.checks.push({ id: 'stack_failed', name: 'stack: 0 failed requests (webbench) and every page said "ok"', ok: failed === 0 && notOk === 0, detail: `${failed} failed, ${notOk} not ok` });
  m.checks.push({
    id: 'stack_lost_rows',
    name: 'stack: 0 lost rows (every acked enqueue is one row; the 2013-style server holds every ok)',
    ok: lost.length === 0,
    detail: lost.length === 0 ? 'acked = rows = distinct after every TS client.php run; 2013-style acks >= ok pages' : lost.map((x) => `rep ${x.rep} ${x.impl}: ${x.lossDetail}`).join('; '),
  });
  const clientPpm = (impl: Impl) => median(runs.filter((x) => x.impl === impl && x.page === 'client').map((x) => x.pagesPerMin));
  const { readSeed } = await import('../results/seed.js');
  const seed = readSeed(`${repoRoot}/results/seed.json`);
  m.info.push(
    `Seed comparison (${budget.use.note}): client.php ${Math.round(clientPpm('ts'))} pages/min with our server, ${Math.round(clientPpm('seed2013'))} with the 2013-style server (medians, ${o.stackConcurrency} clients × ${o.stackDurationS} s), against the 2013 figure of ${seed.pages_per_min} pages/min at ${seed.concurrency} clients × ${seed.duration_s} s. Printed for the record; CI load is smaller than the seed's.`,
  );
  m.raw.stack = { budget: budget.use, primed, runs, stack: { runtime: stacks.ts?.runtime, limits: stacks.ts?.limits, versions: stacks.ts?.versions } };
}
