// --repeat: one profile run N times (each on a fresh stack), reported as its median and spread. A single
// 30 s run on a shared 2-core VM moves by several percent; the median of three moves much less, and the
// spread (min, max, CV) says how far one run can be trusted.
import { cv, median } from '@eserver-lab/common/stats';
import type { RepeatSummary, Repetition, ResultDoc, Spread } from './types.js';

export function spreadOf(values: number[]): Spread {
  return {
    median: median(values),
    min: Math.min(...values),
    max: Math.max(...values),
    cv_pct: Math.round(cv(values) * 1000) / 10,
    values,
  };
}

/** The repetition whose pages/min is the median; for an even count, the lower of the two middle ones. */
export function medianRepetition(docs: ResultDoc[]): number {
  const order = docs.map((d, i) => ({ i, v: d.summary.pages_per_min })).sort((a, b) => a.v - b.v || a.i - b.i);
  return order[(order.length - 1) >> 1]!.i;
}

export function repeatSummary(docs: ResultDoc[]): RepeatSummary {
  const strict = docs.map((d) => d.summary.strict_ok);
  return {
    n: docs.length,
    median_repetition: medianRepetition(docs) + 1,
    pages_per_min: spreadOf(docs.map((d) => d.summary.pages_per_min)),
    strict_ok: strict.every((s): s is number => s !== null) ? spreadOf(strict) : null,
  };
}

function repetitionOf(d: ResultDoc, index: number): Repetition {
  return {
    index,
    started_at: d.started_at,
    finished_at: d.finished_at,
    busy_before_pct: d.machine.busy_before_pct ?? null,
    summary: d.summary,
    loadgen: d.loadgen,
    loss_check: d.loss_check,
    ack_check: d.ack_check ?? null,
    listen_queues: d.listen_queues ?? null,
    cpu_budget: d.cpu_budget ?? null,
    verdict: d.verdict,
  };
}

/**
 * One result for N repetitions of a profile: the median repetition's document (its series, histogram and
 * summary), carrying every repetition and the summary. It fails when any repetition failed: a loss in
 * one run is a loss, whatever the others did.
 */
export function combineRepetitions(docs: ResultDoc[]): ResultDoc {
  if (docs.length === 0) throw new Error('no repetitions to combine');
  if (docs.length === 1) return docs[0]!;
  const mid = docs[medianRepetition(docs)]!;
  const reasons = docs.flatMap((d, i) => d.verdict.reasons.map((r) => `repetition ${i + 1}: ${r}`));
  return {
    ...mid,
    started_at: docs[0]!.started_at,
    finished_at: docs[docs.length - 1]!.finished_at,
    verdict: { ok: docs.every((d) => d.verdict.ok), reasons },
    repetitions: docs.map((d, i) => repetitionOf(d, i + 1)),
    repeat_summary: repeatSummary(docs),
  };
}

const int = (n: number) => Math.round(n).toString();

/** The labelled median line, printed after the repetitions' own webbench lines (never in their format). */
export function medianLine(profile: string, s: RepeatSummary): string {
  const p = s.pages_per_min;
  const strict = s.strict_ok
    ? `; strict ok median ${int(s.strict_ok.median)} (min ${int(s.strict_ok.min)}, max ${int(s.strict_ok.max)}, CV ${s.strict_ok.cv_pct}%)`
    : '';
  return `MEDIAN of ${s.n} repetitions (${profile}): ${int(p.median)} pages/min (min ${int(p.min)}, max ${int(p.max)}, CV ${p.cv_pct}%)${strict}`;
}

/** Roughly how long the rest of a run takes: each repetition's load time plus the overhead seen so far. */
export class RunClock {
  private overheadS: number;
  private doneOverheads: number[] = [];
  private left: number[];

  /** `loadS`: warm-up + measured seconds of every repetition still to run, in order. */
  constructor(loadS: number[], firstOverheadGuessS = 20) {
    this.left = [...loadS];
    this.overheadS = firstOverheadGuessS;
  }

  /** Call when a repetition ends, with its wall time; it refines the overhead (stack up, drain, down). */
  finished(wallS: number): void {
    const load = this.left.shift() ?? 0;
    this.doneOverheads.push(Math.max(0, wallS - load));
    this.overheadS = median(this.doneOverheads);
  }

  /** Seconds left, the coming repetition included. */
  remainingS(): number {
    return this.left.reduce((a, l) => a + l + this.overheadS, 0);
  }
}

export function formatDuration(s: number): string {
  const r = Math.max(0, Math.round(s));
  if (r < 60) return `${r} s`;
  const m = Math.floor(r / 60);
  return r % 60 === 0 ? `${m} min` : `${m} min ${r % 60} s`;
}
