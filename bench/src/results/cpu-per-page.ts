// µs of CPU per completed page over a run's measured window (after the warm-up, for the measured seconds):
// the stack's whole cgroup (its CPU budget, read at the window's two marks: the figure of the repetitions
// table), each service's process tree (the sampler's per-second cpu_pct integrated over the same window),
// and "other", what the cgroup spent outside the sampled trees. Then, for ours beside the 2013-style control,
// the median of each side over the repetitions and ours ÷ control. Pure: computed from what a result records.
//
// The window ends with the measured seconds, not when the drain has committed the last acknowledged entry,
// as the side script this replaced (bench/scripts/stack-cpu-split.mjs) did. That is good enough: the drain
// takes a batch every 250 ms, so while it keeps up the window drains about as many entries as it enqueues
// (the warm-up's last batch comes in as the window's last one goes out), and the tail after the load is one
// batch and its commit against 30 s of load. A drain that falls behind shows in the loss check's wait.
import { SERVICES } from '@eserver-lab/common/stack-spec';
import { median } from '@eserver-lab/common/stats';
import type { CpuBudget } from '../metrics/cpu-budget.js';
import type { Sample } from '../metrics/sampler.js';
import type { ControlPair, CpuPerPage, CpuSplit, ResultDoc } from './types.js';

/** µs of CPU per page, from the CPU-seconds spent over `windowS` seconds of a load running at `pagesPerMin`. */
export function usPerPage(cpuS: number | null, windowS: number, pagesPerMin: number): number | null {
  const pages = (pagesPerMin * windowS) / 60;
  return cpuS === null || !(pages > 0) ? null : (cpuS * 1e6) / pages;
}

/**
 * The stack's CPU per page over a repetition's window, µs: its cgroup's CPU ÷ the pages of that window.
 * Under a quota the stack's CPU is fixed, so pages/min moves only with this; when the generator's CPU per
 * request moves with it, the machine's speed moved, not the stack.
 */
export function stackUsPerPage(b: CpuBudget | null | undefined, pagesPerMin: number): number | null {
  return b ? usPerPage(b.stack.cpu_s, b.window_s, pagesPerMin) : null;
}

/**
 * The measured window on the samples' clock (seconds since the sampler started): from the end of the
 * warm-up for the measured seconds, counted from the load's start. A tool that does not say when its load
 * started had its budget window timed from the sampler's start too. Null for results without the origin.
 */
export function measuredWindow(d: ResultDoc): { from: number; to: number } | null {
  const origin = d.series.samples_started_at ? Date.parse(d.series.samples_started_at) : NaN;
  if (!Number.isFinite(origin)) return null;
  const load = d.load_started_at ? Date.parse(d.load_started_at) : origin;
  const from = (load - origin) / 1000 + d.config.warmup_s;
  return { from, to: from + d.config.duration_s };
}

/**
 * CPU-seconds of each sampled process tree over [from, to], and how many of those seconds the samples
 * covered. A sample's cpu_pct is its tree's CPU since the sample before (since the sampler's start for the
 * first), so a sample that straddles an edge of the window counts for its part inside.
 */
export function integrateSamples(samples: readonly Sample[], from: number, to: number): { coveredS: number; cpuS: Map<string, number> } {
  const cpuS = new Map<string, number>();
  let coveredS = 0;
  let prev = 0;
  for (const s of samples) {
    const inside = Math.max(0, Math.min(s.t, to) - Math.max(prev, from));
    prev = s.t;
    if (inside <= 0) continue;
    coveredS += inside;
    for (const [name, v] of Object.entries(s.services)) cpuS.set(name, (cpuS.get(name) ?? 0) + (v.cpu_pct / 100) * inside);
  }
  return { coveredS, cpuS };
}

const round1 = (x: number | null) => (x === null ? null : Math.round(x * 10) / 10);

/**
 * One run's CPU per page: per service over the part of the window the samples covered (the last sample may
 * fall up to a second before its end; pages are counted at the run's rate over that same part), the cgroup
 * over the whole window. Null when neither can be had (an older result, an --url server).
 */
export function cpuPerPage(d: ResultDoc): CpuPerPage | null {
  const w = measuredWindow(d);
  const ppm = d.summary.pages_per_min;
  const { coveredS, cpuS } = w ? integrateSamples(d.series.samples, w.from, w.to) : { coveredS: 0, cpuS: new Map<string, number>() };
  const services: Record<string, number | null> = {};
  for (const name of SERVICES) services[name] = coveredS > 0 && cpuS.has(name) ? usPerPage(cpuS.get(name)!, coveredS, ppm) : null;
  const measured = Object.values(services).filter((x): x is number => x !== null);
  const cgroup = stackUsPerPage(d.cpu_budget, ppm);
  if (measured.length === 0 && cgroup === null) return null;
  const other = cgroup === null || measured.length === 0 ? null : cgroup - measured.reduce((a, b) => a + b, 0);
  return {
    window_s: Math.round(coveredS * 100) / 100,
    services: Object.fromEntries(Object.entries(services).map(([k, v]) => [k, round1(v)])),
    cgroup: round1(cgroup),
    other: round1(other),
  };
}

/**
 * The split's rows: the four services in a page's path (SERVICES is their start order, mysql first), then
 * the rest of the cgroup, then the whole stack.
 */
export const SPLIT_PARTS: readonly string[] = [...[...SERVICES].reverse(), 'other', 'cgroup'];

function partOf(c: CpuPerPage, part: string): number | null {
  if (part === 'other' || part === 'cgroup') return c[part];
  return c.services[part] ?? null;
}

/**
 * Ours against the control over the repetitions in which both sides were measured: the median of each side
 * per part, and ours ÷ control of those medians (the two columns the report prints, so that their
 * difference is the gap). Null when no repetition measured both sides.
 */
export function cpuSplit(pairs: readonly ControlPair[]): CpuSplit | null {
  const both = pairs.flatMap((p) => (p.ours.cpu_us_per_page && p.control.cpu_us_per_page ? [{ ours: p.ours.cpu_us_per_page, control: p.control.cpu_us_per_page }] : []));
  if (both.length === 0) return null;
  const med = (xs: Array<number | null>) => {
    const v = xs.filter((x): x is number => x !== null);
    return v.length === 0 ? null : median(v);
  };
  return {
    n: both.length,
    rows: SPLIT_PARTS.map((part) => {
      const ours = med(both.map((b) => partOf(b.ours, part)));
      const control = med(both.map((b) => partOf(b.control, part)));
      // "other" is the cgroup minus the trees, read at different instants: it can dip below 0 by a µs or two, and
      // a ratio of such a figure means nothing (and would fail the schema's ratio >= 0).
      const ratio = ours !== null && control !== null && ours >= 0 && control > 0 ? Math.round((ours / control) * 1000) / 1000 : null;
      return { part, ours: round1(ours), control: round1(control), ratio };
    }),
  };
}
