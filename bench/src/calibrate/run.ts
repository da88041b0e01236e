// `make calibrate`: finds the CPU quota at which the 2013-style stack (nginx 8 workers, php-fpm 12
// children, client.php, the 2013-style queue server) gives the seed's 43,226 pages/min, by bisection on
// the median of repeated seed2013 runs (a fresh stack each), and writes results/calibration/<cpu>.json.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { quotaFor } from '../host/cgroup.js';
import { DEFAULT_CPU_PERIOD_US } from '@eserver-lab/common/stack-spec';
import { gitCommit, machineInfo } from '../host/machine.js';
import { logStep } from '../run/progress.js';
import type { ResultDoc } from '../results/types.js';
import { resolveProfile } from '../plan/profiles.js';
import { combineRepetitions } from '../results/repeat.js';
import { writeResult } from '../results/writer.js';
import { runProfile } from '../run/profile.js';
import { withStack } from '../stack/session.js';
import type { UpOptions } from '../lab/types.js';
import { bisectQuota, type BisectPoint } from './bisect.js';
import { calibrationPath, cpuModelSlug, type CalibrationFile, type CalibrationPoint } from '../lab/budget.js';
import { seedPagesPerMin } from '../results/seed.js';
import { repoRoot } from '@eserver-lab/common/repo-root';

export interface CalibrateOptions {
  runtime?: 'native' | 'docker';
  /** Repetitions per budget; the median decides. */
  runs?: number;
  concurrency?: number;
  durationS?: number;
  warmupS?: number;
  lo?: number;
  hi?: number;
  tolerance?: number;
  /** The search goes on until a median is this close (relative); the tolerance is what counts as found. */
  aim?: number;
  maxSteps?: number;
  periodUs?: number;
  /** Where the calibration file goes (default results/calibration/). */
  outDir?: string;
  /** Where the result JSON of every run goes (default run/calibration/<date>/, not committed). */
  runsDir?: string;
  command?: string;
}

const DEFAULTS = { runs: 3, concurrency: 10_000, durationS: 30, warmupS: 5, lo: 0.2, hi: 1.0, tolerance: 0.03, aim: 0.01, maxSteps: 8 };

const mmss = (s: number) => `${Math.floor(s / 60)}:${String(Math.round(s % 60)).padStart(2, '0')}`;

/** Rough time of one run: warm-up + window + stack up/down and the ack check (~15 s measured here). */
export function estimateSeconds(o: { runs: number; warmupS: number; durationS: number; points: number }): number {
  return o.points * o.runs * (o.warmupS + o.durationS + 15);
}

export async function runCalibration(opts: CalibrateOptions = {}): Promise<CalibrationFile> {
  const o = { ...DEFAULTS, ...Object.fromEntries(Object.entries(opts).filter(([, v]) => v !== undefined)) } as typeof DEFAULTS & CalibrateOptions;
  const periodUs = o.periodUs ?? DEFAULT_CPU_PERIOD_US;
  const target = seedPagesPerMin(repoRoot);
  const m = machineInfo();
  const started = new Date();
  const t0 = Date.now();
  // The code that measures is the code at the start (commits made during a long run must not be credited).
  const commit = gitCommit(repoRoot);
  const runsDir = o.runsDir ?? path.join(repoRoot, 'run', 'calibration', started.toISOString().replace(/[:.]/g, '-'));
  const loadBefore = os.loadavg().map((x) => Math.round(x * 100) / 100);
  logStep(
    `calibrate: target ${target} pages/min, aiming at ±${o.aim * 100}% (±${o.tolerance * 100}% accepted) with the 2013-style stack; ` +
      `${o.runs} runs of ${o.concurrency} clients × ${o.warmupS}+${o.durationS} s per point, bracket [${o.lo}, ${o.hi}] CPU, ` +
      `period ${periodUs} µs, at most ${o.maxSteps} points (≤ ${mmss(estimateSeconds({ ...o, points: o.maxSteps }))}, usually 4-6 points); load average ${loadBefore.join(' ')}`,
  );
  const details = new Map<number, Array<Record<string, unknown>>>();
  let versions: Record<string, string> = {};
  let pointsDone = 0;
  const measure = async (cpus: number, step: number): Promise<number[]> => {
    const q = quotaFor(cpus, periodUs);
    logStep(`calibrate: point ${step + 1}: ${cpus} CPU (${q.quotaUs} µs per ${q.periodUs} µs), ${o.runs} runs`);
    const profile = resolveProfile('seed2013', { concurrency: o.concurrency, durationS: o.durationS, warmupS: o.warmupS });
    const batchId = new Date().toISOString();
    const docs: ResultDoc[] = [];
    for (let i = 0; i < o.runs; i++) {
      // A fresh stack per run, on free ports and in its own run directory: a lab stack of someone else's
      // may hold the defaults.
      const stack: UpOptions = { queueImpl: 'seed2013', cpus, cpuPeriodUs: periodUs, freePorts: true, runDir: path.join(runsDir, 'lab') };
      const doc = combineRepetitions([
        await withStack(stack, (st) => runProfile({ tool: 'node' }, profile, null, st, batchId, commit), { runtime: o.runtime ?? 'native', log: logStep }),
      ]);
      writeResult(runsDir, doc);
      docs.push(doc);
    }
    if (!docs.every((d) => d.verdict.ok)) throw new Error(`a calibration run failed: ${docs.map((d) => d.verdict.reasons.join('; ')).join(' | ')}`);
    versions = { ...docs[0]!.versions };
    details.set(cpus, docs.map(detailOf));
    pointsDone++;
    return docs.map((d) => d.summary.pages_per_min);
  };
  const result = await bisectQuota({
    lo: o.lo, hi: o.hi, target, tolerance: o.tolerance, aim: o.aim, maxSteps: o.maxSteps,
    // The quota's resolution is 1 µs per period; noise makes finer steps than 0.005 CPU meaningless.
    minWidth: 0.005,
    snap: (c) => quotaFor(c, periodUs).quotaUs / quotaFor(c, periodUs).periodUs,
    measure,
    onPoint: (p: BisectPoint, step, br) => {
      const el = (Date.now() - t0) / 1000;
      const per = el / pointsDone;
      const dev = ((p.median / target - 1) * 100).toFixed(1);
      logStep(
        `calibrate: point ${step + 1}: ${p.cpus} CPU -> runs ${p.runs.join(', ')}, median ${p.median} (${dev}% from target); ` +
          `bracket now [${br.lo}, ${br.hi}]; elapsed ${mmss(el)}, ${mmss(per)} per point, at most ${mmss(per * (o.maxSteps - step - 1))} left`,
      );
    },
  });
  const chosen = result.cpus === null ? null : quotaFor(result.cpus, periodUs);
  const points: CalibrationPoint[] = result.points.map((p) => {
    const q = quotaFor(p.cpus, periodUs);
    return { cpus: p.cpus, quota_us: q.quotaUs, period_us: q.periodUs, runs: p.runs, median: p.median, details: details.get(p.cpus) };
  });
  const file: CalibrationFile = {
    schema_version: 1,
    cpu_model: m.cpu_model,
    slug: cpuModelSlug(m.cpu_model),
    target_pages_per_min: target,
    tolerance: o.tolerance,
    found: result.found,
    cpus: result.cpus,
    quota_us: chosen?.quotaUs ?? null,
    period_us: chosen?.periodUs ?? null,
    median_pages_per_min: result.median,
    reason: result.reason,
    points,
    settings: {
      concurrency: o.concurrency, duration_s: o.durationS, warmup_s: o.warmupS, repetitions: o.runs,
      lo: o.lo, hi: o.hi, max_steps: o.maxSteps, aim: o.aim, profile: 'seed2013',
    },
    command: o.command ?? `node bench/dist/src/calibrate/cli.js ${process.argv.slice(2).join(' ')}`.trim(),
    commit,
    date: started.toISOString(),
    elapsed_s: Math.round((Date.now() - t0) / 1000),
    versions: { ...versions, node: process.versions.node, python3: pythonVersion() },
    host: calibrationHost(loadBefore),
  };
  const out = opts.outDir ? path.join(opts.outDir, `${file.slug}.json`) : calibrationPath(repoRoot, m.cpu_model);
  fs.mkdirSync(path.dirname(out), { recursive: true });
  fs.writeFileSync(out, JSON.stringify(file, null, 2) + '\n');
  logStep(
    result.found
      ? `calibrate: ${result.cpus} CPU (${chosen!.quotaUs} µs per ${chosen!.periodUs} µs) gives a median of ${result.median} pages/min; wrote ${out} (${mmss(file.elapsed_s)})`
      : `calibrate: NO quota found: ${result.reason}; wrote ${out} (make bench will run on the whole machine)`,
  );
  return file;
}

function detailOf(d: ResultDoc): Record<string, unknown> {
  return {
    pages_per_min: d.summary.pages_per_min,
    strict_ok: d.summary.strict_ok,
    failed: d.summary.failed,
    p99_ms: d.summary.latency_ms.p99,
    stack_used_of_quota: d.cpu_budget?.stack.used_of_quota ?? null,
    throttled_share: d.cpu_budget?.stack.throttled_share ?? null,
    generator_host_share: d.cpu_budget?.generator.host_share ?? null,
    generator_cpu_us_per_request: d.cpu_budget?.generator.cpu_us_per_request ?? null,
    others_cpu_s: d.cpu_budget?.others_cpu_s ?? null,
    loadavg_1m: d.machine.loadavg_1m ?? null,
    warnings: d.verdict.reasons.filter((r) => r.startsWith('warning')),
  };
}

/** The host a calibration ran on, with its load average before and now. */
export function calibrationHost(loadBefore: number[]): CalibrationFile['host'] {
  const m = machineInfo();
  return {
    cpu_model: m.cpu_model, cores: m.cores, memory_bytes: m.memory_bytes, kernel: m.kernel,
    loadavg_before: loadBefore, loadavg_after: os.loadavg().map((x) => Math.round(x * 100) / 100),
    // Listen queues decide how many 502/504 the runs count (webbench counts them as pages): record them.
    sysctl: m.sysctl,
  };
}

export function pythonVersion(): string {
  try {
    return execFileSync('python3', ['--version'], { encoding: 'utf8' }).trim().replace(/^Python /, '');
  } catch {
    return 'unknown';
  }
}
