// The gate's stack part: two identical stacks on the emulated box, one running the candidate's queue server
// and one the reference's, each under its own copy of the same CPU budget, take client.php at the same
// time, with the load generator in a cgroup outside both. Whatever the machine's neighbours do to a
// CPU-second during a repetition, they do to both stacks, so the two ratios (queue-server CPU per
// acknowledged enqueue, pages/min) cancel it. At the end, ours against the 2013-style stack, for the record.
import { queueLength } from '../lab/seed2013.js';
import { settledLength } from '../check/ack-check.js';
import { lossCheck, readCounts } from '../check/loss-check.js';
import { fetchQueueMetrics } from '../metrics/queue-metrics.js';
import { snapshot as budgetSnapshot, usedOfQuota } from '../metrics/cpu-budget.js';
import { snapshot, tree } from '../metrics/proc.js';
import { withStacks } from '../stack/session.js';
import type { StackInfo, UpOptions } from '../lab/types.js';
import { clockTicksPerSecond } from '@eserver-lab/common/proc-stat';
import { median } from '@eserver-lab/common/stats';
import { gateBudget, type GateBudget } from './budget.js';
import type { GateSettings, ServerBuild } from './settings.js';
import type { CorrectnessCheck, PartResult } from './part.js';

/** A stack under test: ours at one build, or the 2013-style control. */
export type SideId = ServerBuild['role'] | 'seed2013';

/** Queue-server CPU and acknowledged enqueues at one instant. */
interface Mark {
  at: number;
  cpuS: number;
  acked: number;
}

export interface StackCell {
  rep: number;
  side: SideId;
  pagesPerMin: number;
  failed: number;
  notOk: number;
  /** Queue-server CPU (its process tree: drain and journal included) per enqueue acknowledged in the window, µs. */
  queueCpuUs: number | null;
  /** The same over the window's first half ÷ over the rest: about 1 when the warm-up reached the steady state. */
  halves: number | null;
  window: { startS: number; acked: number; cpuS: number } | null;
  usedOfQuota: number | null;
  lossOk: boolean;
  lossDetail: string;
}

const queuePid = (s: StackInfo): number => {
  const pid = s.services.find((x) => x.name === 'queue-server')?.pid;
  if (!pid) throw new Error('the stack reports no queue-server pid');
  return pid;
};

/** What the queue server has acknowledged so far: our server's enqueue counter, the 2013-style server's length. */
async function ackedSoFar(stack: StackInfo, side: SideId): Promise<number> {
  if (side === 'seed2013') return queueLength(stack.queue.host, stack.queue.port);
  const m = await fetchQueueMetrics(stack.queue.host, stack.queue.metricsPort);
  if (m?.enqueued == null) throw new Error(`the queue server's metrics (${stack.queue.host}:${stack.queue.metricsPort}) give no eserver_enqueued_total`);
  return m.enqueued;
}

async function mark(stack: StackInfo, side: SideId, ticksPerS: number): Promise<Mark> {
  const cpuS = tree(queuePid(stack), snapshot()).reduce((a, p) => a + p.ticks, 0) / ticksPerS;
  return { at: performance.now(), cpuS, acked: await ackedSoFar(stack, side) };
}

const perEnqueueUs = (a: Mark, b: Mark): number | null => (b.acked > a.acked ? ((b.cpuS - a.cpuS) * 1e6) / (b.acked - a.acked) : null);

/** How a side's stack is started: free ports (a developer's own `make lab-up` may hold the defaults), the budget. */
function spec(o: GateSettings, budget: GateBudget, side: SideId, build: ServerBuild | null): UpOptions {
  return {
    queueImpl: side === 'seed2013' ? 'seed2013' : 'ts',
    ...(build ? { queueEntry: build.entry, queueArgs: [...build.args] } : {}),
    cpus: budget.cpus,
    ...(budget.periodUs !== undefined ? { cpuPeriodUs: budget.periodUs } : {}),
    runDir: `${o.runDir}/lab-${side}`,
    freePorts: true,
  };
}

export async function stackPart(o: GateSettings, builds: readonly ServerBuild[], log: (l: string) => void): Promise<PartResult> {
  // The load generator is large; loaded when this part runs.
  const { runHttpLoad } = await import('../load/generator.js');
  const { progressLine } = await import('../run/progress.js');
  const { enterGeneratorCgroup, leaveGeneratorCgroup, GeneratorCgroupUnavailable } = await import('../load/generator-cgroup.js');
  const ticksPerS = clockTicksPerSecond();
  const budget = gateBudget(o);
  log(`stack: ${budget.note}`);
  const cells: StackCell[] = [];

  /** Runs the loads at once, with this process (the generator and its worker threads) outside every stack's budget. */
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
  /** One client.php load; only the first of a step draws progress (two bars on one line would garble it). */
  const drive = async (label: string, url: string, durationS: number, warmupS: number, showProgress: boolean) => {
    const progress = showProgress ? progressLine(`[gate] ${label}`) : null;
    try {
      return await runHttpLoad({ url, clients: o.stack.clients, durationS, warmupS, successSignal: 'ok', ...(progress ? { onProgress: progress.update } : {}) });
    } finally {
      progress?.done();
    }
  };

  /**
   * The sides' stacks up together, each loaded once unmeasured (a fresh queue server settles later than one
   * that idled), then `repetitions` steps in which every side takes client.php at once; all torn down after.
   */
  const session = (sides: Array<[SideId, ServerBuild | null]>, repetitions: number) =>
    withStacks(
      sides.map(([side, build]) => spec(o, budget, side, build)),
      async (stacks) => {
        const bySide = new Map(sides.map(([side], i) => [side, stacks[i]!]));
        const ids = sides.map(([side]) => side);
        const primed = await outsideBudget(ids.map((side, i) => () => drive(`priming ${ids.join(' + ')}`, bySide.get(side)!.pages.client, o.stack.warmupS, 0, i === 0)));
        ids.forEach((side, i) => log(`stack: ${side} primed with ${o.stack.warmupS} s of client.php (${primed[i]!.webbench.pagesPerMin} pages/min, not measured)`));
        for (let r = 1; r <= repetitions; r++) {
          // The loads start in the other order every repetition, so that neither side always starts first.
          const order = r % 2 === 1 ? ids : [...ids].reverse();
          const label = `rep ${r}/${repetitions} ${order.join(' + ')}`;
          const done = await outsideBudget(order.map((side, i) => () => runCell(r, side, bySide.get(side)!, label, i === 0)));
          for (const c of done) {
            cells.push(c);
            log(
              `stack ${label}: ${c.side} ${c.pagesPerMin} pages/min, queue server ${c.queueCpuUs?.toFixed(1) ?? '?'} µs CPU per enqueue ` +
                `(halves ${c.halves?.toFixed(2) ?? '?'}), stack at ${c.usedOfQuota === null ? '?' : Math.round(c.usedOfQuota * 100)}% of its quota`,
            );
          }
        }
      },
      { runtime: 'native', log, label: 'gate: ' },
    );

  const runCell = async (rep: number, side: SideId, stack: StackInfo, label: string, showProgress: boolean): Promise<StackCell> => {
    const cell: StackCell = { rep, side, pagesPerMin: 0, failed: 0, notOk: 0, queueCpuUs: null, halves: null, window: null, usedOfQuota: null, lossOk: true, lossDetail: '' };
    const counts = side === 'seed2013' ? null : await readCounts(stack.mysql, stack.queue);
    const length0 = side === 'seed2013' ? await queueLength(stack.queue.host, stack.queue.port) : null;
    const t0 = performance.now();
    // The window opens when the warm-up ends, and is cut in two halves to show that it measured the steady
    // state (a cold-start cost would make the first half dearer). Marks are awaited once the load is over.
    const marks: Array<Promise<{ m: Mark; b: ReturnType<typeof budgetSnapshot> }>> = [];
    const timers = [o.stack.warmupS, o.stack.warmupS + o.stack.durationS / 2].map((atS, i) =>
      setTimeout(() => {
        const p = (async () => ({ m: await mark(stack, side, ticksPerS), b: budgetSnapshot(stack.limits, () => null) }))();
        p.catch(() => {});
        marks[i] = p;
      }, atS * 1000),
    );
    let res;
    let closed;
    try {
      res = await drive(label, stack.pages.client, o.stack.durationS, o.stack.warmupS, showProgress);
      closed = budgetSnapshot(stack.limits, () => null);
    } finally {
      timers.forEach(clearTimeout);
    }
    if (marks.length < 2) throw new Error(`stack cell rep ${rep} ${side}: the load ended before its measured window did`);
    const [open, mid] = await Promise.all(marks);
    cell.usedOfQuota = usedOfQuota(open!.b, closed, stack.limits.cpus ?? null);
    cell.pagesPerMin = res.webbench.pagesPerMin;
    cell.failed = res.counters.failed;
    // A page that answered but did not say "ok" (a 502, or the queue's error) is a failure too.
    cell.notOk = Math.max(0, res.counters.succeeded - res.counters.cutAtEnd - res.counters.strictOk);
    const strictOk = res.counters.strictOk + res.warmup.strictOk;
    if (counts) {
      // Waits until the drain has committed everything: the window's CPU then includes the drain's.
      const l = await lossCheck({ mysql: stack.mysql, queue: stack.queue, before: counts, strictOk, timeoutS: 60 });
      if (!l.ok) {
        cell.lossOk = false;
        cell.lossDetail = `${l.acked} acked, ${l.rows} rows, ${l.distinct} distinct${l.note ? ` (${l.note})` : ''}`;
      }
    } else {
      const after = await settledLength(stack.queue.host, stack.queue.port, 60);
      if (after.length - length0! < strictOk) {
        cell.lossOk = false;
        cell.lossDetail = `2013-style server holds ${after.length - length0!} new entries, ${strictOk} pages said ok`;
      }
    }
    const end = await mark(stack, side, ticksPerS);
    cell.window = { startS: Math.round(open!.m.at - t0) / 1000, acked: end.acked - open!.m.acked, cpuS: Math.round((end.cpuS - open!.m.cpuS) * 1000) / 1000 };
    cell.queueCpuUs = perEnqueueUs(open!.m, end);
    const h1 = perEnqueueUs(open!.m, mid!.m);
    const h2 = perEnqueueUs(mid!.m, end);
    cell.halves = h1 !== null && h2 !== null ? h1 / h2 : null;
    return cell;
  };


  const cand = builds.find((b) => b.role === 'candidate')!;
  const ref = builds.find((b) => b.role === 'reference')!;
  await session([['candidate', cand], ['reference', ref]], o.repetitions);
  if (o.stack.repetitions2013 > 0) await session([['candidate', cand], ['seed2013', null]], o.stack.repetitions2013);
  return summarize(o, cells, budget);
}

/** Per repetition, the candidate ÷ the reference (and ÷ the 2013-style stack, for the record). */
export function summarize(o: Pick<GateSettings, 'repetitions' | 'stack'>, cells: StackCell[], budget: Pick<GateBudget, 'note'>): PartResult {
  const at = (rep: number, side: SideId, against: SideId) => {
    const pick = (x: SideId) => cells.find((c) => c.rep === rep && c.side === x && cells.some((d) => d.rep === rep && d.side === (x === 'candidate' ? against : 'candidate')));
    return { c: pick('candidate'), r: pick(against) };
  };
  const values: Record<string, number[]> = { stack_queue_cpu: [], stack_pages: [], stack_queue_cpu_us: [], stack_pages_per_min: [], seed_pages_vs_2013: [], seed_queue_cpu_vs_2013: [] };
  const ratio = (a: number | null | undefined, b: number | null | undefined) => (a != null && b != null && b > 0 ? a / b : NaN);
  for (let r = 1; r <= o.repetitions; r++) {
    const { c, r: ref } = at(r, 'candidate', 'reference');
    if (!c || !ref) continue;
    values.stack_queue_cpu!.push(ratio(c.queueCpuUs, ref.queueCpuUs));
    values.stack_pages!.push(ratio(c.pagesPerMin, ref.pagesPerMin));
    values.stack_queue_cpu_us!.push(c.queueCpuUs ?? NaN);
    values.stack_pages_per_min!.push(c.pagesPerMin);
  }
  for (let r = 1; r <= o.stack.repetitions2013; r++) {
    const { c, r: old } = at(r, 'candidate', 'seed2013');
    if (!c || !old) continue;
    values.seed_pages_vs_2013!.push(ratio(c.pagesPerMin, old.pagesPerMin));
    values.seed_queue_cpu_vs_2013!.push(ratio(c.queueCpuUs, old.queueCpuUs));
  }
  const failed = cells.reduce((a, x) => a + x.failed, 0);
  const notOk = cells.reduce((a, x) => a + x.notOk, 0);
  const lost = cells.filter((x) => !x.lossOk);
  const checks: CorrectnessCheck[] = [
    { id: 'stack_failed', name: 'stack: 0 failed requests (webbench) and every page said "ok", on every stack', ok: failed === 0 && notOk === 0, detail: `${failed} failed, ${notOk} not ok` },
    {
      id: 'stack_lost_rows',
      name: 'stack: 0 lost or duplicated rows on both stacks (the 2013-style server holds every ok)',
      ok: lost.length === 0,
      detail: lost.length === 0 ? 'acked = rows = distinct after every client.php cell of the candidate and of the reference' : lost.map((x) => `rep ${x.rep} ${x.side}: ${x.lossDetail}`).join('; '),
    },
  ];
  const halves = (side: SideId) => median(cells.filter((c) => c.side === side && c.halves !== null).map((c) => c.halves!));
  const info = [
    `Stack part: ${budget.note}; ${o.stack.clients} clients per stack, ${o.stack.warmupS} s warm-up + ${o.stack.durationS} s per window. ` +
      `Steady state: CPU per enqueue of each window's first half ÷ its second half, median ${halves('candidate').toFixed(2)} (candidate), ${halves('reference').toFixed(2)} (reference).`,
  ];
  return { values, checks, raw: { budget, cells }, info };
}
