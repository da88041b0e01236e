// Runs the measurements of one gate run: R repetitions of each part, every ratio taken against a
// reference measured in the same repetition, plus the absolute correctness checks.
import { measureCell, type ProtoCell } from '../protocol-bench/measure.js';
import { startQueueServer, startRefServer, type RunningServer } from '../protocol-bench/servers.js';
import { startBenchDb } from '../protocol-bench/mariadb.js';
import { rawInsertRate, drainRate } from '../protocol-bench/drain.js';
import { stackPart } from './stack-part.js';
import { measureCost, SHIPPED, type CostConfig } from '../enqueue-cost/cost.js';
import { median, cv } from '@eserver-lab/common/stats';
import type { CorrectnessCheck, GatePart, MetricRepetitions } from './metrics.js';

export interface GateSettings {
  parts: GatePart[];
  repetitions: number;
  /** Seconds per protocol cell. */
  protoDurationS: number;
  /** Clients for the new-connection-per-request cell (php-fpm's 12 children are the real stack's C). */
  protoConnConcurrency: number;
  protoPersistentConcurrency: number;
  /** CPU cell: measure the queue server and the C reference at the same time (default) or one after the other. */
  protoPairing: 'concurrent' | 'sequential';
  drainRows: number;
  stackConcurrency: number;
  stackDurationS: number;
  /** Warm-up of the baseline.php cells (they do not touch the queue server). */
  stackWarmupS: number;
  /**
   * Warm-up of the client.php cells: our queue server costs ~1.5x per enqueue during its first ~7 s of
   * load after ~40 s idle (bench/README.md, "CI performance gate"), so the window that counts its CPU
   * starts only after this.
   */
  stackClientWarmupS: number;
  /** Extra queue-server flags, e.g. the test-only CPU burn. */
  queueArgs: string[];
  /** Seconds per cell of the shipped ÷ pure CPU comparison (drain part). */
  shippedDurationS: number;
  /** Clients of that comparison (php-fpm's 12 children). */
  shippedConcurrency: number;
  /** Extra flags for the shipped configuration's server only (the test-only burn that proves the metric can fail). */
  shippedArgs: string[];
  runDir: string;
}

export const DEFAULT_SETTINGS: Omit<GateSettings, 'runDir'> = {
  parts: ['stack', 'proto', 'drain'],
  repetitions: 3,
  protoDurationS: 5,
  protoConnConcurrency: 50,
  protoPersistentConcurrency: 100,
  protoPairing: 'concurrent',
  drainRows: 100_000,
  stackConcurrency: 500,
  stackDurationS: 10,
  stackWarmupS: 2,
  stackClientWarmupS: 10,
  queueArgs: [],
  shippedDurationS: 5,
  shippedConcurrency: 12,
  shippedArgs: [],
};

export interface GateMeasurements {
  samples: MetricRepetitions[];
  checks: CorrectnessCheck[];
  /** Raw per-repetition figures, for the results file. */
  raw: Record<string, unknown>;
  /** Figures printed for information (the seed comparison). */
  info: string[];
}

const sample = (id: string, values: number[]): MetricRepetitions => ({ id, values, median: median(values), cv: cv(values) });

async function cell(start: () => Promise<RunningServer>, mode: 'conn-per-req' | 'persistent', c: number, durationS: number): Promise<ProtoCell> {
  const s = await start();
  try {
    return await measureCell(s, { mode, concurrency: c, durationMs: durationS * 1000 });
  } finally {
    await s.stop();
  }
}

async function protoPart(o: GateSettings, log: (l: string) => void, m: GateMeasurements): Promise<void> {
  const ts = () => startQueueServer({ args: [...o.queueArgs] });
  const ref = () => startRefServer(o.runDir);
  const cpu: number[] = [];
  const cpuRatio: number[] = [];
  const rpsRatio: number[] = [];
  let failed = 0;
  const errors: Record<string, number> = {};
  const cells: ProtoCell[] = [];
  for (let r = 0; r < o.repetitions; r++) {
    // Alternate which server goes first, so a drift in machine load does not favour one side.
    const order = r % 2 === 0 ? [ts, ref] : [ref, ts];
    const pair = async (mode: 'conn-per-req' | 'persistent', c: number, concurrent: boolean): Promise<{ t: ProtoCell; c: ProtoCell }> => {
      if (concurrent) {
        // Both servers under load in the same window, C clients each: a burst of load from anything else
        // on the machine hits both at once, so it cancels in their ratio.
        const [t, r] = await Promise.all([cell(ts, mode, c, o.protoDurationS), cell(ref, mode, c, o.protoDurationS)]);
        return { t, c: r };
      }
      const a = await cell(order[0], mode, c, o.protoDurationS);
      const b = await cell(order[1], mode, c, o.protoDurationS);
      return a.serverKind === 'ts' ? { t: a, c: b } : { t: b, c: a };
    };
    const conn = await pair('conn-per-req', o.protoConnConcurrency, o.protoPairing === 'concurrent');
    // req/s is only comparable when each server has the load generator to itself: run concurrently, the
    // two loads would split the CPU between them at random and the ratio would measure that split.
    const pers = await pair('persistent', o.protoPersistentConcurrency, false);
    cpu.push(conn.t.cpuUsPerReq);
    cpuRatio.push(conn.t.cpuUsPerReq / conn.c.cpuUsPerReq);
    rpsRatio.push(pers.t.reqPerSec / pers.c.reqPerSec);
    for (const x of [conn.t, pers.t]) {
      failed += x.failed;
      for (const [k, v] of Object.entries(x.errors)) errors[k] = (errors[k] ?? 0) + v;
    }
    cells.push(conn.t, conn.c, pers.t, pers.c);
    log(`proto rep ${r + 1}/${o.repetitions}: ${conn.t.cpuUsPerReq.toFixed(1)} µs CPU/enqueue (C ref ${conn.c.cpuUsPerReq.toFixed(1)}), persistent ${Math.round(pers.t.reqPerSec)} vs ${Math.round(pers.c.reqPerSec)} req/s`);
  }
  m.samples.push(sample('queue_cpu_us_per_enqueue', cpu), sample('queue_cpu_vs_c_ref', cpuRatio), sample('proto_rps_vs_c_ref', rpsRatio));
  m.checks.push({ id: 'proto_failed', name: 'queue server: 0 failed requests', ok: failed === 0, detail: failed === 0 ? '0 failed' : `${failed} failed: ${JSON.stringify(errors)}` });
  m.raw.proto = cells.map(({ server, mode, concurrency, reqPerSec, failed: f, cpuUsPerReq, latencyUs }) => ({ server, mode, concurrency, reqPerSec, failed: f, cpuUsPerReq, latencyUs }));
}

async function drainPart(o: GateSettings, log: (l: string) => void, m: GateMeasurements): Promise<void> {
  const db = await startBenchDb(o.runDir);
  const ratio: number[] = [];
  const shipped: number[] = [];
  let shippedFailed = 0;
  const reps: unknown[] = [];
  let lost = 0;
  let bad = '';
  try {
    for (let r = 0; r < o.repetitions; r++) {
      const raw = await rawInsertRate(db, o.drainRows);
      const d = await drainRate(db, o.runDir, o.drainRows, o.queueArgs);
      ratio.push(d.rowsPerSec / raw.rowsPerSec);
      // Pure and shipped one after the other (alternating order), each with the load to itself: run at
      // once, they would split the load generator between them, and the group commit and the drain's
      // batches would see another rate than the stack's.
      const configs: CostConfig[] = r % 2 === 0 ? ['pure', SHIPPED] : [SHIPPED, 'pure'];
      const cost = await measureCost({ configs, repetitions: 1, durationS: o.shippedDurationS, concurrency: o.shippedConcurrency, runDir: o.runDir, queueArgs: o.queueArgs, shippedArgs: o.shippedArgs, db });
      const sh = cost.summary.find((x) => x.config === SHIPPED)!;
      shipped.push(sh.ratioToPure);
      shippedFailed += cost.failed;
      lost += Math.max(0, d.lostRows);
      if (d.enqueueFailed > 0 || d.rowsInTable !== d.enqueued || d.distinctNums !== d.enqueued) {
        bad += ` rep ${r + 1}: ${d.enqueued} acked, ${d.enqueueFailed} refused, ${d.rowsInTable} rows, ${d.distinctNums} distinct;`;
      }
      reps.push({ raw, drain: d, shippedVsPure: cost.cells });
      const pure = cost.summary.find((x) => x.config === 'pure')!;
      log(`drain rep ${r + 1}/${o.repetitions}: ${Math.round(d.rowsPerSec)} rows/s vs raw ${Math.round(raw.rowsPerSec)} rows/s; CPU/enqueue shipped ${sh.median.toFixed(1)} µs vs pure ${pure.median.toFixed(1)} µs (${sh.ratioToPure.toFixed(2)}×)`);
    }
  } finally {
    await db.destroy();
  }
  m.samples.push(sample('drain_vs_raw_insert', ratio), sample('shipped_cpu_vs_pure', shipped));
  m.checks.push({ id: 'shipped_failed', name: 'pure and shipped CPU cells: 0 failed requests', ok: shippedFailed === 0, detail: `${shippedFailed} failed` });
  m.checks.push({ id: 'drain_lost_rows', name: 'drain: 0 lost rows, 0 duplicates, 0 refused', ok: lost === 0 && bad === '', detail: lost === 0 && bad === '' ? `every acked row present once (${o.repetitions} × ${o.drainRows})` : `${lost} lost;${bad}` });
  m.raw.drain = reps;
}

export async function collect(o: GateSettings, log: (l: string) => void): Promise<GateMeasurements> {
  const m: GateMeasurements = { samples: [], checks: [], raw: {}, info: [] };
  if (o.parts.includes('stack')) await stackPart(o, log, m);
  if (o.parts.includes('proto')) await protoPart(o, log, m);
  if (o.parts.includes('drain')) await drainPart(o, log, m);
  return m;
}
