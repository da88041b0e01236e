// The headline: what ours would do on the 2013 box. Every repetition measured ours and the 2013-style stack
// (the control) on the same budget; the seed's 43226 × the median of ours ÷ control is the projection, which
// the machine's drift (it moves both stacks) cancels. The report, latest-headline.json and the terminal all
// open with the same line, made here from the results alone.
import { isShipped } from '../plan/queue-matrix.js';
import type { LossCheck } from '../check/loss-check.js';
import type { ControlRecord, ResultDoc, Spread } from '../results/types.js';
import type { Seed } from '../results/seed.js';
import { docName } from './doc-name.js';

const n0 = (x: number) => Math.round(x).toLocaleString('en-US');
/** "about 31,200": the projection to the nearest hundred, which is all its spread allows. */
const about = (x: number) => n0(Math.round(x / 100) * 100);
/** −3.1% with a real minus sign, +2.0% with a plus. */
export const signedPct = (x: number) => `${x < 0 ? '−' : '+'}${Math.abs(x * 100).toFixed(1)}%`;
/** A CV as the line prints it: one decimal always (7.0%, not 7%). */
const cv1 = (pct: number) => `${pct.toFixed(1)}%`;
const spreadText = (s: Spread) => `min ${n0(s.min)}, max ${n0(s.max)}, CV ${cv1(s.cv_pct)}`;

/** The run whose projection opens the report: the seed on the shipped queue server, else the first with a control. */
export function headlineDoc(docs: readonly ResultDoc[]): (ResultDoc & { control: ControlRecord }) | null {
  const withControl = docs.filter((d): d is ResultDoc & { control: ControlRecord } => d.control !== undefined && d.control.pairs.length > 0);
  const shipped = (d: ResultDoc) => d.queue_server?.impl === 'ts' && isShipped(d.queue_server);
  return withControl.find((d) => d.profile === 'seed' && shipped(d)) ?? withControl.find((d) => d.profile === 'seed') ?? withControl[0] ?? null;
}

/** The projection's median ratio and figure: seed × median(ours ÷ control), the same as the median of the per-repetition projections. */
export function projected(c: ControlRecord): { pagesPerMin: number; ratio: number; cvPct: number; n: number } {
  return { pagesPerMin: c.seed_pages_per_min * c.ratio.median, ratio: c.ratio.median, cvPct: c.ratio.cv_pct, n: c.pairs.length };
}

/** "On the 2013 box: about N pages/min (ours ÷ 2013-style = r, median of 5, CV x%)" */
export function projectionLine(c: ControlRecord): string {
  const p = projected(c);
  return `On the 2013 box: about ${about(p.pagesPerMin)} pages/min (ours ÷ 2013-style = ${p.ratio.toFixed(2)}, median of ${p.n}, CV ${cv1(p.cvPct)})`;
}

/** The opening line when no control ran beside ours: no projection, and why it is only this machine's figure. */
function noProjectionLine(docs: readonly ResultDoc[]): string {
  const ours = docs.find((d) => d.profile === 'seed') ?? docs.find((d) => d.queue_server?.impl !== 'seed2013') ?? docs[0];
  if (!ours) return 'No projection onto the 2013 box: no result';
  const where = ours.limits === null ? 'an external server (--url)'
    : ours.limits.calibration?.cpus == null ? `the whole machine (${ours.machine.cores} CPUs)`
    : `a ${ours.limits.cpus}-CPU budget`;
  const ppm = ours.repeat_summary?.pages_per_min.median ?? ours.summary.pages_per_min;
  return `No projection onto the 2013 box (no 2013-style stack ran beside ours): ${ours.profile} here: ${n0(ppm)} pages/min on ${where}`;
}

function lossTotals(checks: Array<LossCheck | null | undefined>): { checked: number; ok: number; lost: number; duplicated: number } {
  const cs = checks.filter((c): c is LossCheck => !!c);
  return {
    checked: cs.length,
    ok: cs.filter((c) => c.ok).length,
    lost: cs.reduce((a, c) => a + Math.max(0, c.acked - c.rows), 0),
    duplicated: cs.reduce((a, c) => a + Math.max(0, c.rows - c.distinct), 0),
  };
}

export interface Targets {
  projected: { target: number; value: number; met: boolean } | null;
  failed: { value: number; met: boolean };
  lost: { value: number | null; met: boolean | null };
}

/** The lab's targets for a run of ours: projected ≥ the seed, 0 failed, 0 lost (over every repetition). */
export function targetsOf(d: ResultDoc): Targets {
  const reps = d.repetitions ?? [{ summary: d.summary, loss_check: d.loss_check }];
  const failed = reps.reduce((a, r) => a + r.summary.failed, 0);
  const loss = lossTotals(reps.map((r) => r.loss_check));
  const lost = loss.checked === 0 ? null : loss.lost + loss.duplicated;
  const p = d.control ? projected(d.control) : null;
  return {
    projected: p && d.control ? { target: d.control.seed_pages_per_min, value: p.pagesPerMin, met: p.pagesPerMin >= d.control.seed_pages_per_min } : null,
    failed: { value: failed, met: failed === 0 },
    lost: { value: lost, met: lost === null ? null : lost === 0 },
  };
}

const metText = (m: boolean | null) => (m === null ? 'not checked' : m ? 'met' : 'NOT met');

export function targetsLine(d: ResultDoc, docs: readonly ResultDoc[]): string {
  const t = targetsOf(d);
  const parts = [
    t.projected ? `projected ≥ ${t.projected.target}: ${metText(t.projected.met)} (${about(t.projected.value)})` : 'projected ≥ the seed: no projection',
    `0 failed: ${metText(t.failed.met)} (${n0(t.failed.value)})`,
    `0 lost: ${metText(t.lost.met)}${t.lost.value === null ? '' : ` (${n0(t.lost.value)})`}`,
  ];
  return `Targets (${docName(d, docs)}): ${parts.join('; ')}`;
}

export interface HeadlineSummary {
  /** The opening line, exactly as the report, latest-headline.json and the terminal show it. */
  line: string;
  /** The lines under it: our absolute figure, the control's, the strict counts, the loss check, the targets. */
  below: string[];
  /** The run the line is about (profile, queue server), null without a projection. */
  of: { profile: string; queue: string | null } | null;
}

export function headlineSummary(seed: Seed, docs: readonly ResultDoc[]): HeadlineSummary {
  const d = headlineDoc(docs);
  if (!d) {
    const ours = docs.find((x) => x.profile === 'seed') ?? docs[0];
    return { line: noProjectionLine(docs), below: ours ? [targetsLine(ours, docs)] : [], of: null };
  }
  const c = d.control;
  const control = docs.find((x) => x.control_of?.profile === d.profile && x.batch_id === d.batch_id && x.control_of.queue === queueOf(d)) ?? null;
  const pair0 = c.pairs[0]!;
  const budget = pair0.ours.budget;
  const cs = c.control_pages_per_min;
  const below = [
    `Ours here: ${n0(c.ours_pages_per_min.median)} pages/min (${docName(d, docs)}, median of ${c.pairs.length}; ${spreadText(c.ours_pages_per_min)})` +
      `${budget.cpus !== null ? `, each stack on its own ${budget.cpus}-CPU quota${budget.from ? ` (${budget.from})` : ''}` : ''}`,
    `2013-style stack here: ${n0(cs.median)}, ${signedPct(cs.median / seed.pages_per_min - 1)} from ${seed.pages_per_min} ` +
      `(median of ${c.pairs.length}; ${spreadText(cs)}: the machine's drift, which ours ÷ 2013-style cancels: projection CV ${cv1(c.projected.cv_pct)})`,
    strictLine(d, control),
    lossLine(d, control),
    c.pairing === 'at-once'
      ? 'Both stacks took the load at the same instant in every repetition, each load in a process of its own, the generators in one cgroup outside both stacks.'
      : `The two stacks took the load one after the other, the order swapped every repetition (${c.why}).`,
    targetsLine(d, docs),
  ];
  for (const other of docs.filter((x) => x !== d && x.control && x.control.pairs.length > 0)) {
    below.push(`Also ${docName(other, docs)}: ${projectionLine(other.control!).replace(/^On the 2013 box: /, '')}`);
  }
  return { line: projectionLine(c), below, of: { profile: d.profile, queue: queueOf(d) } };
}

function queueOf(d: ResultDoc): string | null {
  const q = d.queue_server;
  return q && q.impl === 'ts' && q.runtime !== null && q.fsync !== null ? `${q.runtime}, fsync ${q.fsync}` : null;
}

function strictLine(d: ResultDoc, control: ResultDoc | null): string {
  const side = (x: ResultDoc) => {
    const reps = x.repetitions ?? [{ summary: x.summary }];
    const ok = reps.reduce((a, r) => a + (r.summary.strict_ok ?? 0), 0);
    const counted = reps.reduce((a, r) => a + r.summary.succeeded + r.summary.failed, 0);
    const failed = reps.reduce((a, r) => a + r.summary.failed, 0);
    return `${n0(ok)} strict ok (HTTP 200 + "ok") of ${n0(counted)} counted, ${n0(failed)} failed`;
  };
  return `Strict, over every repetition: ours ${side(d)}${control ? `; 2013-style ${side(control)}` : ''}`;
}

function lossLine(d: ResultDoc, control: ResultDoc | null): string {
  const reps = d.repetitions ?? [{ loss_check: d.loss_check }];
  const l = lossTotals(reps.map((r) => r.loss_check));
  const ours = l.checked === 0 ? 'ours not checked'
    : `ours ${l.ok === l.checked ? 'OK' : 'FAILED'} in ${l.ok} of ${l.checked} repetitions (acked = rows = distinct): ${n0(l.lost)} lost, ${n0(l.duplicated)} duplicated`;
  const acks = control ? (control.repetitions ?? [{ ack_check: control.ack_check }]).map((r) => r.ack_check ?? null).filter((a) => a !== null) : [];
  const theirs = acks.length === 0 ? '' : `; 2013-style ack check ${acks.every((a) => a!.ok) ? 'OK' : 'FAILED'} in ${acks.filter((a) => a!.ok).length} of ${acks.length}`;
  return `Loss check: ${ours}${theirs}`;
}

export const PAIR_HEADERS = ['repetition', 'started (UTC)', 'first', 'ours pages/min', '2013-style pages/min', 'ours ÷ 2013-style', 'projected', 'ours: quota, use of it', '2013-style: quota, use of it'];

/** One row per repetition: ours and the control side by side, each with its own budget. */
export function pairRows(d: ResultDoc): string[][] {
  const c = d.control;
  if (!c) return [];
  const quota = (s: { budget: { cpus: number | null; quota_us: number | null; period_us: number | null }; used_of_quota: number | null }) =>
    `${s.budget.cpus ?? '?'} CPU (${s.budget.quota_us ?? '?'}/${s.budget.period_us ?? '?'} µs), ${s.used_of_quota === null ? 'n/a' : `${Math.round(s.used_of_quota * 100)}%`}`;
  const rows = c.pairs.map((p) => [
    `#${p.index}`, p.ours.started_at.replace('T', ' ').replace(/\.\d+Z$/, ''), p.first ?? 'at once',
    n0(p.ours.pages_per_min), n0(p.control.pages_per_min), p.ratio.toFixed(3), n0(p.projected), quota(p.ours), quota(p.control),
  ]);
  rows.push([
    'median (CV)', '', '', `${n0(c.ours_pages_per_min.median)} (${cv1(c.ours_pages_per_min.cv_pct)})`, `${n0(c.control_pages_per_min.median)} (${cv1(c.control_pages_per_min.cv_pct)})`,
    `${c.ratio.median.toFixed(3)} (${cv1(c.ratio.cv_pct)})`, `${n0(c.projected.median)} (${cv1(c.projected.cv_pct)})`, '', '',
  ]);
  return rows;
}

/** Printed under the pairs table: why the two spreads differ. */
export const PAIR_NOTE =
  "Each repetition ran ours and the 2013-style stack on the same budget, each in a cgroup of its own. The 2013-style column moves with the machine (its speed drifts by several percent within hours); the ratio, and so the projection, does not, since the drift moves both stacks.";
