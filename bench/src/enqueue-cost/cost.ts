// What the journal and the drain add to the queue server's CPU per enqueue (issue 12, goal 1): the same
// load (12 closed-loop clients, a new connection per request, the seed's statement) against the pure
// queue, + drain, + journal `interval` + drain, + journal `always` + drain. Configurations are
// interleaved within every repetition (the order rotates), so a burst of load from anything else on the
// machine hits every configuration alike; the medians and the ratios to `pure` are what count.
import { mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { measureCell } from '../protocol-bench/measure.js';
import { startQueueServer, type RunningServer } from '../protocol-bench/servers.js';
import { scrapeMetric } from '../metrics/queue-metrics.js';
import { startBenchDb, type BenchDb } from '../protocol-bench/mariadb.js';
import { median, cv } from '@eserver-lab/common/stats';

export type CostConfig = 'pure' | 'drain' | 'interval+drain' | 'always+drain';
export const COST_CONFIGS: readonly CostConfig[] = ['pure', 'drain', 'interval+drain', 'always+drain'];

/** The configuration the lab ships: the journal under its default policy (`always`) and the drain. */
export const SHIPPED: CostConfig = 'always+drain';

export interface CostOptions {
  configs: readonly CostConfig[];
  repetitions: number;
  durationS: number;
  concurrency: number;
  runDir: string;
  /** Extra queue-server flags for every configuration. */
  queueArgs?: string[];
  /** Extra queue-server flags for the journal + drain configurations only (e.g. --batch-ms). */
  shippedArgs?: string[];
  /** Extra environment of the queue server (e.g. NODE_OPTIONS=--cpu-prof). */
  env?: NodeJS.ProcessEnv;
  /** An already running MariaDB; one is started (and stopped) otherwise. */
  db?: BenchDb;
  log?: (l: string) => void;
}

export interface CostCell {
  config: CostConfig;
  rep: number;
  cpuUsPerReq: number;
  reqPerSec: number;
  failed: number;
  errors: Record<string, number>;
  /** Entries per journal group write and per drain transaction over the whole cell (warm-up included). */
  entriesPerGroup: number | null;
  entriesPerBatch: number | null;
  /**
   * Voluntary context switches of all the server's threads per acknowledged enqueue (warm-up included):
   * each thread-pool hop and each wait for a socket costs some, and unlike CPU time on a shared machine
   * the count does not grow with other people's load.
   */
  switchesPerEnqueue: number | null;
}

export interface CostSummary {
  config: CostConfig;
  values: number[];
  median: number;
  cv: number;
  /** Median over repetitions of (this ÷ pure in the same repetition); NaN without `pure`. */
  ratioToPure: number;
  ratios: number[];
  reqPerSecMedian: number;
  entriesPerGroupMedian: number;
  entriesPerBatchMedian: number;
  switchesPerEnqueueMedian: number;
}

export interface CostReport {
  cells: CostCell[];
  summary: CostSummary[];
  failed: number;
}

export function serverArgs(config: CostConfig, db: BenchDb | null, journalDir: string): string[] {
  if (config === 'pure') return [];
  if (db === null) throw new Error(`configuration ${config} needs a MariaDB`);
  const drain = ['--mysql-url', db.url];
  if (config === 'drain') return drain;
  return [...drain, '--journal-dir', journalDir, '--fsync', config === 'always+drain' ? 'always' : 'interval'];
}

export async function measureCost(o: CostOptions): Promise<CostReport> {
  const log = o.log ?? (() => {});
  const needsDb = o.configs.some((c) => c !== 'pure');
  const db = o.db ?? (needsDb ? await startBenchDb(o.runDir) : null);
  const cells: CostCell[] = [];
  try {
    for (let r = 0; r < o.repetitions; r++) {
      // Rotate the order each repetition so no configuration always runs first or last.
      const order = o.configs.map((_, i) => o.configs[(i + r) % o.configs.length]);
      for (const config of order) {
        const journal = join(o.runDir, `cost-journal-${process.pid}`);
        rmSync(journal, { recursive: true, force: true });
        mkdirSync(journal, { recursive: true });
        if (db !== null) await db.emptyTables();
        const extra = config === 'pure' || config === 'drain' ? [] : (o.shippedArgs ?? []);
        const s = await startQueueServer({ args: [...serverArgs(config, db, journal), ...(o.queueArgs ?? []), ...extra], env: o.env, label: config });
        try {
          const sw0 = voluntarySwitches(s.pid);
          const n0 = await scrapeCount(s, 'eserver_enqueued_total');
          const c = await measureCell(s, { mode: 'conn-per-req', concurrency: o.concurrency, durationMs: o.durationS * 1000 });
          const sw = voluntarySwitches(s.pid) - sw0;
          const n = (await scrapeCount(s, 'eserver_enqueued_total')) - n0;
          const switchesPerEnqueue = n > 0 && Number.isFinite(sw) ? sw / n : null;
          const g = await perUnit(s, 'eserver_journal_appends_total', 'eserver_journal_writes_total');
          const b = await perUnit(s, 'eserver_drained_total', 'eserver_drain_batches_total');
          cells.push({ config, rep: r + 1, cpuUsPerReq: c.cpuUsPerReq, reqPerSec: c.reqPerSec, failed: c.failed, errors: c.errors, entriesPerGroup: g, entriesPerBatch: b, switchesPerEnqueue });
          log(`rep ${r + 1}/${o.repetitions} ${config}: ${c.cpuUsPerReq.toFixed(1)} µs CPU/enqueue, ${Math.round(c.reqPerSec)} req/s, ${c.failed} failed, entries per journal write ${g?.toFixed(1) ?? '-'}, per drain batch ${b?.toFixed(1) ?? '-'}, voluntary context switches per enqueue ${switchesPerEnqueue?.toFixed(2) ?? '-'}`);
        } finally {
          await s.stop();
          rmSync(journal, { recursive: true, force: true });
        }
      }
    }
  } finally {
    if (o.db === undefined && db !== null) await db.destroy();
  }
  return { cells, summary: summarize(cells, o.configs, o.repetitions), failed: cells.reduce((n, c) => n + c.failed, 0) };
}

/** Sum of voluntary_ctxt_switches over the process's threads (Linux /proc); NaN when unreadable. */
function voluntarySwitches(pid: number): number {
  try {
    let sum = 0;
    for (const t of readdirSync(`/proc/${pid}/task`)) {
      const m = /^voluntary_ctxt_switches:\s+(\d+)$/m.exec(readFileSync(`/proc/${pid}/task/${t}/status`, 'utf8'));
      if (m) sum += Number(m[1]);
    }
    return sum;
  } catch {
    return NaN;
  }
}

async function scrapeCount(s: RunningServer, name: string): Promise<number> {
  if (s.metricsPort === undefined) return NaN;
  return (await scrapeMetric(s.host, s.metricsPort, name).catch(() => null)) ?? NaN;
}

async function perUnit(s: RunningServer, entries: string, units: string): Promise<number | null> {
  if (s.metricsPort === undefined) return null;
  const e = await scrapeMetric(s.host, s.metricsPort, entries).catch(() => null);
  const u = await scrapeMetric(s.host, s.metricsPort, units).catch(() => null);
  return e === null || u === null || u === 0 ? null : e / u;
}

export function summarize(cells: CostCell[], configs: readonly CostConfig[], repetitions: number): CostSummary[] {
  const at = (config: CostConfig, rep: number): CostCell | undefined => cells.find((c) => c.config === config && c.rep === rep);
  return configs.map((config) => {
    const mine = cells.filter((c) => c.config === config);
    const values = mine.map((c) => c.cpuUsPerReq);
    const ratios: number[] = [];
    for (let r = 1; r <= repetitions; r++) {
      const a = at(config, r);
      const p = at('pure', r);
      if (a && p) ratios.push(a.cpuUsPerReq / p.cpuUsPerReq);
    }
    return {
      config,
      values,
      median: median(values),
      cv: cv(values),
      ratioToPure: ratios.length ? median(ratios) : NaN,
      ratios,
      reqPerSecMedian: median(mine.map((c) => c.reqPerSec)),
      entriesPerGroupMedian: median(mine.map((c) => c.entriesPerGroup ?? NaN)),
      entriesPerBatchMedian: median(mine.map((c) => c.entriesPerBatch ?? NaN)),
      switchesPerEnqueueMedian: median(mine.map((c) => c.switchesPerEnqueue ?? NaN)),
    };
  });
}

const opt = (n: number): string => (Number.isFinite(n) ? n.toFixed(1) : '-');

export function renderCost(rep: CostReport, o: Pick<CostOptions, 'repetitions' | 'durationS' | 'concurrency'>): string {
  const L = [
    `Queue server CPU per enqueue, ${o.concurrency} clients, a new connection per request, \`insert into bench_events (num) values (%d)\`, ${o.durationS} s per cell after 1 s warm-up, ${o.repetitions} interleaved repetitions (medians).`,
    '',
    '| configuration | CPU µs/enqueue (median) | CV | ÷ pure (median of per-repetition ratios) | req/s (median) | entries per journal write | entries per drain batch | voluntary context switches per enqueue | all values µs |',
    '|---|---|---|---|---|---|---|---|---|',
  ];
  for (const s of rep.summary) {
    L.push(`| ${s.config} | ${s.median.toFixed(1)} | ${(s.cv * 100).toFixed(1)}% | ${Number.isFinite(s.ratioToPure) ? s.ratioToPure.toFixed(2) : 'n/a'} | ${Math.round(s.reqPerSecMedian)} | ${opt(s.entriesPerGroupMedian)} | ${opt(s.entriesPerBatchMedian)} | ${Number.isFinite(s.switchesPerEnqueueMedian) ? s.switchesPerEnqueueMedian.toFixed(2) : '-'} | ${s.values.map((v) => v.toFixed(0)).join(', ')} |`);
  }
  L.push('', `Failed requests: ${rep.failed}.`, '');
  return L.join('\n');
}
