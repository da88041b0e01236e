// The stack's CPU budget: an explicit --cpus, else the calibration file of this CPU model
// (results/calibration/<slug>.json, written by make calibrate, or coarsely by make bench itself), else the
// whole machine (said loudly); --cpus all asks for the whole machine on purpose.
import fs from 'node:fs';
import path from 'node:path';
import type { CalibrationUse } from './types.js';
import { repoRoot } from '@eserver-lab/common/repo-root';
import { machineInfo } from '../host/machine.js';

export const CALIBRATION_DIR = 'results/calibration';

export interface CalibrationPoint {
  cpus: number;
  quota_us: number;
  period_us: number;
  /** pages/min of every repetition, in run order. */
  runs: number[];
  median: number;
  /** Other figures of each run, for reading (strict ok, stack's use of its quota, generator share). */
  details?: Array<Record<string, unknown>>;
}

export interface CalibrationFile {
  schema_version: 1;
  cpu_model: string;
  slug: string;
  target_pages_per_min: number;
  tolerance: number;
  /** Whether a quota within the tolerance was found; `cpus` is then the calibrated budget. */
  found: boolean;
  /**
   * Written by make bench's coarse calibration (a fit on a few short runs, the control within ±15% of the
   * seed): good enough for the projection, which carries the rest; make calibrate refines it. Absent: false.
   */
  coarse?: boolean;
  cpus: number | null;
  quota_us: number | null;
  period_us: number | null;
  median_pages_per_min: number | null;
  reason: string;
  points: CalibrationPoint[];
  settings: { concurrency: number; duration_s: number; warmup_s: number; repetitions: number; lo: number; hi: number; max_steps: number; aim?: number; profile: string };
  command: string;
  commit: string | null;
  date: string;
  elapsed_s: number;
  versions: Record<string, string>;
  host: {
    cpu_model: string; cores: number; memory_bytes: number; kernel: string; loadavg_before: number[]; loadavg_after: number[];
    sysctl?: Record<string, string | null>;
  };
}

/** "AMD EPYC 7B13 64-Core Processor" -> "amd-epyc-7b13-64-core-processor". */
export function cpuModelSlug(model: string): string {
  const s = model.toLowerCase().replace(/\(r\)|\(tm\)|@.*$/g, '').replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '');
  return s || 'unknown-cpu';
}

export function calibrationPath(repoRoot: string, cpuModel: string): string {
  return path.join(repoRoot, CALIBRATION_DIR, `${cpuModelSlug(cpuModel)}.json`);
}

/** The file for this CPU model, or null when there is none. A file that is not one is an error, with the fix. */
export function readCalibration(repoRoot: string, cpuModel: string): { file: string; cal: CalibrationFile } | null {
  const file = calibrationPath(repoRoot, cpuModel);
  if (!fs.existsSync(file)) return null;
  let cal: CalibrationFile;
  try {
    cal = JSON.parse(fs.readFileSync(file, 'utf8')) as CalibrationFile;
  } catch (err) {
    throw new Error(`${file} is not valid JSON (${(err as Error).message}): re-run 'make calibrate' or delete it`);
  }
  if (cal.schema_version !== 1 || cal.cpu_model !== cpuModel) {
    throw new Error(`${file} is not a calibration of "${cpuModel}" (it says ${JSON.stringify(cal.cpu_model)}): re-run 'make calibrate'`);
  }
  return { file, cal };
}

export interface Budget {
  cpus: number;
  periodUs: number | undefined;
  use: CalibrationUse;
}

/**
 * The stack's CPU budget. An explicit --cpus wins (recorded as such); then a calibration that found a
 * quota; otherwise the whole machine, labelled so that nobody reads the figure as the 2013 box.
 */
export function chooseBudget(o: {
  repoRoot: string;
  cpuModel: string;
  hostCpus: number;
  found: { file: string; cal: CalibrationFile } | null;
  /** --cpus: a number, or 'all' for the whole machine on purpose. */
  explicitCpus?: number | 'all';
  explicitPeriodUs?: number;
  /** What makes a calibration for that CPU model (default: make calibrate here). */
  howToCalibrate?: string;
}): Budget {
  const rel = (f: string) => path.relative(o.repoRoot, f);
  if (o.explicitCpus === 'all') {
    return {
      cpus: o.hostCpus,
      periodUs: o.explicitPeriodUs,
      use: {
        file: null, cpu_model: o.cpuModel, cpus: null, quota_us: null, period_us: null,
        note: `WHOLE MACHINE (${o.hostCpus} CPUs) on purpose (--cpus all): not the emulated 2013 box, no calibration applied`,
      },
    };
  }
  if (o.explicitCpus !== undefined) {
    return {
      cpus: o.explicitCpus,
      periodUs: o.explicitPeriodUs,
      use: { file: null, cpu_model: o.cpuModel, cpus: o.explicitCpus, quota_us: null, period_us: o.explicitPeriodUs ?? null, note: `explicit --cpus ${o.explicitCpus}: no calibration applied` },
    };
  }
  const c = o.found?.cal;
  if (c && c.found && c.cpus !== null) {
    return {
      cpus: c.cpus,
      periodUs: c.period_us ?? o.explicitPeriodUs,
      use: {
        file: rel(o.found!.file), cpu_model: o.cpuModel, cpus: c.cpus, quota_us: c.quota_us, period_us: c.period_us,
        note:
          `emulated 2013 box: ${c.cpus} CPU (${c.quota_us} µs per ${c.period_us} µs), ${c.coarse ? 'coarsely calibrated by make bench' : 'calibrated'} on ${c.date.slice(0, 10)} ` +
          `to ${c.median_pages_per_min} pages/min with the 2013-style stack${c.coarse ? " ('make calibrate' refines it)" : ''}`,
      },
    };
  }
  const why = c
    ? `the calibration ${rel(o.found!.file)} found no quota (${c.reason})`
    : `no calibration for this CPU model ("${o.cpuModel}", ${rel(calibrationPath(o.repoRoot, o.cpuModel))})`;
  return {
    cpus: o.hostCpus,
    periodUs: o.explicitPeriodUs,
    use: {
      file: null, cpu_model: o.cpuModel, cpus: null, quota_us: null, period_us: null,
      note: `WHOLE MACHINE (${o.hostCpus} CPUs), not the emulated 2013 box: ${why}. ${o.howToCalibrate ?? "Run 'make calibrate' (or 'make bench CALIBRATE=1')"}`,
    },
  };
}

/** The machine a stack runs on, when it is not this one (a remote Docker engine's host). */
export interface BudgetHost {
  cpu_model: string;
  cores: number;
  /** Says which machine, at the head of the budget's note (e.g. "stack host srv1"). */
  label: string;
}

/**
 * The stack's CPU budget on this machine, or on `host`: --cpus, else that CPU model's calibration, else
 * the whole of that machine.
 */
export function stackBudget(o: { cpus?: number | 'all'; cpuPeriodUs?: number; host?: BudgetHost }): Budget {
  const m = o.host ?? machineInfo();
  const b = chooseBudget({
    repoRoot, cpuModel: m.cpu_model, hostCpus: m.cores, found: readCalibration(repoRoot, m.cpu_model),
    explicitCpus: o.cpus, explicitPeriodUs: o.cpuPeriodUs,
    // make calibrate measures the machine it runs on (the 2013-style stack has no image): the file must come from that host.
    ...(o.host ? { howToCalibrate: 'Run make calibrate on that host and copy its results/calibration file here (one per CPU model)' } : {}),
  });
  return o.host ? { ...b, use: { ...b.use, note: `${o.host.label}: ${b.use.note}` } } : b;
}
