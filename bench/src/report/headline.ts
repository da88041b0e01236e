// The table the report opens with: the 2013-style server, the TypeScript server (one row per queue runtime
// and fsync policy that ran) and the no-queue page, each against the seed's pages/min and against the
// 2013-style server of the same run, grouped by the box they ran on (the emulated 2013 box first, then a
// CPU budget that is not calibrated, then the whole machine). Rows come from whichever of those profiles
// ran; the box comes from the result's limits, never from the profile's name.
import { listenLine } from '../metrics/listen-queues.js';
import { isShipped } from '../plan/queue-matrix.js';
import { docName } from './doc-name.js';
import { medianLine } from '../results/repeat.js';
import { stackUsPerPage } from '../results/cpu-per-page.js';
import type { ResultDoc } from '../results/types.js';
import type { Seed } from '../results/seed.js';

/** Which profile fills which row, in the table's order. */
export const HEADLINE_ROWS: ReadonlyArray<{ profile: string; label: string }> = [
  { profile: 'seed2013', label: '2013-style server' },
  { profile: 'seed', label: 'TypeScript server (as shipped)' },
  { profile: 'baseline', label: 'no-queue page' },
];

export type BoxKind = 'emulated' | 'budget' | 'whole';

export interface Box {
  kind: BoxKind;
  label: string;
}

/**
 * The calibration file a run's CPU budget came from (`limits.calibration`, see calibrate/file.ts), or null.
 * A run records a calibration use also when none matched (then `file` and `cpus` are null: the whole
 * machine), so only a file with a quota makes the emulated box.
 */
function calibrationOf(limits: ResultDoc['limits']): string | null {
  const c = limits?.calibration ?? null;
  return c !== null && typeof c.file === 'string' && c.cpus !== null ? c.file : null;
}

export function boxOf(d: ResultDoc): Box {
  const cal = calibrationOf(d.limits);
  const cpus = d.limits?.cpus ?? null;
  // The stack's machine: a remote engine's host when there was one, else the generator's.
  const m = d.stack_host ?? d.machine;
  if (cal !== null) return { kind: 'emulated', label: `Emulated 2013 box (${cpus === null ? '' : `${cpus}-CPU quota, `}calibration: ${cal})` };
  if (cpus !== null && cpus < m.cores) {
    return { kind: 'budget', label: `${cpus}-CPU budget of ${m.cores} cores (not calibrated: not the 2013 box)` };
  }
  return { kind: 'whole', label: `Whole machine (${m.cores} × ${m.cpu_model})` };
}

export interface HeadlineRow {
  label: string;
  profile: string;
  /** Our queue server's runtime and fsync policy as the result records them; null for the others and older results. */
  queueRuntime: string | null;
  fsync: string | null;
  /** The median over the repetitions when repeated, else the run's figure. */
  pagesPerMin: number;
  ratio: number;
  /** Against the 2013-style server's row of the same run (batch) and box; null when it did not run there. */
  ratioTo2013: number | null;
  strictOk: number | null;
  /** Strict ok as a share of the requests counted (succeeded + failed), median repetition. */
  strictShare: number | null;
  runs: number;
  spread: { min: number; max: number; cvPct: number } | null;
}

export interface HeadlineGroup {
  box: Box;
  rows: HeadlineRow[];
}

const ORDER: Record<BoxKind, number> = { emulated: 0, budget: 1, whole: 2 };

/** "TypeScript server, bun, fsync interval" when the result says which; the shipped pair keeps "(as shipped)". */
export function rowLabel(def: { profile: string; label: string }, d: ResultDoc): string {
  if (d.control_of) return `${def.label} (the control beside ${d.control_of.profile}${d.control_of.queue ? `, ${d.control_of.queue}` : ''})`;
  const q = d.queue_server;
  if (def.profile !== 'seed' || !q || q.impl !== 'ts' || q.runtime === null || q.fsync === null) return def.label;
  return `TypeScript server, ${q.runtime}, fsync ${q.fsync}${isShipped(q) ? ' (as shipped)' : ''}`;
}

const pagesOf = (d: ResultDoc) => d.repeat_summary?.pages_per_min.median ?? d.summary.pages_per_min;

export function headline(seed: Seed, docs: ResultDoc[]): HeadlineGroup[] {
  const groups = new Map<string, HeadlineGroup>();
  // The 2013-style figure each row is set against: same run, same box.
  const ref = new Map<string, number>();
  for (const d of docs.filter((x) => x.profile === 'seed2013')) ref.set(`${d.batch_id}\n${boxOf(d).label}`, pagesOf(d));
  for (const def of HEADLINE_ROWS) {
    for (const d of docs.filter((x) => x.profile === def.profile)) {
      const box = boxOf(d);
      const g = groups.get(box.label) ?? { box, rows: [] };
      groups.set(box.label, g);
      const rs = d.repeat_summary;
      const ppm = pagesOf(d);
      const requests = d.summary.succeeded + d.summary.failed;
      // A run measured beside its own control is set against that one, repetition by repetition.
      const r2013 = d.control ? undefined : ref.get(`${d.batch_id}\n${box.label}`);
      const q = d.queue_server?.impl === 'ts' ? d.queue_server : null;
      g.rows.push({
        label: rowLabel(def, d),
        profile: d.profile,
        queueRuntime: q?.runtime ?? null,
        fsync: q?.fsync ?? null,
        pagesPerMin: ppm,
        ratio: ppm / seed.pages_per_min,
        ratioTo2013: d.control ? d.control.ratio.median : r2013 === undefined || r2013 === 0 ? null : ppm / r2013,
        strictOk: rs?.strict_ok ? rs.strict_ok.median : d.summary.strict_ok,
        strictShare: d.summary.strict_ok !== null && requests > 0 ? d.summary.strict_ok / requests : null,
        runs: rs?.n ?? 1,
        spread: rs ? { min: rs.pages_per_min.min, max: rs.pages_per_min.max, cvPct: rs.pages_per_min.cv_pct } : null,
      });
    }
  }
  return [...groups.values()].sort((a, b) => ORDER[a.box.kind] - ORDER[b.box.kind]);
}

const n0 = (x: number) => Math.round(x).toLocaleString('en-US');

export const HEADLINE_HEADERS = (seed: Seed) => ['', 'pages/min', `ratio to ${seed.pages_per_min}`, 'ratio to the 2013-style server', 'strict ok', 'runs: min–max, CV'];

/** A row's cells, as both renderers show them. */
export function headlineCells(r: HeadlineRow): string[] {
  return [
    r.label,
    n0(r.pagesPerMin) + (r.runs > 1 ? ` (median of ${r.runs})` : ''),
    `${r.ratio.toFixed(2)}×`,
    r.ratioTo2013 === null ? 'n/a' : `${r.ratioTo2013.toFixed(2)}×`,
    r.strictOk === null ? 'n/a' : `${n0(r.strictOk)}${r.strictShare === null ? '' : ` (${(r.strictShare * 100).toFixed(1)}%)`}`,
    r.spread ? `${n0(r.spread.min)}–${n0(r.spread.max)}, CV ${r.spread.cvPct}%` : '1 run',
  ];
}

/** Listen-queue rows: one per profile, or per repetition when repeated. */
export function listenRows(docs: ResultDoc[]): string[][] {
  const rows: string[][] = [];
  const fmt = (v: number | null | undefined) => (v === null || v === undefined ? 'n/a' : n0(v));
  for (const d of docs) {
    const reps = d.repetitions ?? [{ index: 0, listen_queues: d.listen_queues ?? null }];
    for (const r of reps) {
      const l = r.listen_queues;
      const name = r.index > 0 ? `${docName(d, docs)} #${r.index}` : docName(d, docs);
      if (!l) {
        rows.push([name, 'not recorded', '', '', '', '', '', '']);
        continue;
      }
      const backlog = l.backlog ? `${fmt(l.backlog.nginx)}${l.effective_backlog !== l.backlog.nginx ? ` (capped to ${fmt(l.effective_backlog)})` : ''}` : 'n/a';
      rows.push([
        name, backlog, fmt(l.sysctl['net.core.somaxconn']), fmt(l.sysctl['net.ipv4.tcp_max_syn_backlog']),
        fmt(l.counters.ListenOverflows), fmt(l.counters.ListenDrops), fmt(l.counters.TCPSynRetrans),
        l.listener_drops ? Object.values(l.listener_drops).map(fmt).join(' / ') : 'n/a',
      ]);
    }
  }
  return rows;
}

export const LISTEN_HEADERS = ['profile', 'backlog (nginx, php-fpm, queue)', 'somaxconn', 'tcp_max_syn_backlog', 'ListenOverflows (machine)', 'ListenDrops (machine)', 'TCPSynRetrans (machine)', 'own listener drops (nginx / php-fpm / queue)'];

/** Per-repetition figures of the repeated profiles. */
export function repetitionRows(docs: ResultDoc[]): string[][] {
  const rows: string[][] = [];
  const opt = (v: number | null | undefined, f: (x: number) => string) => (v === null || v === undefined ? 'n/a' : f(v));
  for (const d of docs) {
    for (const r of d.repetitions ?? []) {
      const l = r.loss_check;
      const b = r.cpu_budget ?? null;
      rows.push([
        `${docName(d, docs)} #${r.index}${d.repeat_summary?.median_repetition === r.index ? ' (median)' : ''}`,
        n0(r.summary.pages_per_min),
        r.summary.strict_ok === null ? 'n/a' : n0(r.summary.strict_ok),
        r.summary.latency_ms.p99 === null ? 'n/a' : n0(r.summary.latency_ms.p99),
        opt(b?.stack.used_of_quota, (x) => `${Math.round(x * 100)}%`),
        opt(stackUsPerPage(b, r.summary.pages_per_min), n0),
        opt(b?.generator.cpu_us_per_request ?? r.loadgen?.cpu_us_per_request, n0),
        r.busy_before_pct === null ? 'n/a' : `${r.busy_before_pct}%`,
        l ? (l.ok ? 'OK' : 'FAILED') : 'n/a',
      ]);
    }
  }
  return rows;
}

/** Printed under the repetitions table: how to read a spread. */
export const REPETITION_NOTE =
  "Under a CPU quota the stack's CPU per window is fixed, so pages/min moves only with the stack's CPU per page. When the generator's CPU per request (outside the quota) moves with it, the machine's speed moved, not the stack.";

export const REPETITION_HEADERS = [
  'repetition', 'pages/min', 'strict ok', 'p99 ms', 'stack: use of its quota', 'stack CPU per page (µs)', 'generator CPU per request (µs)',
  'CPU busy before', 'loss check',
];

/** A profile's printed lines for the report: each repetition's own (webbench's two lines first), then the median line. */
export function profileLines(d: ResultDoc, docs: readonly ResultDoc[] = [d]): string[] {
  const one = (summary: ResultDoc['summary'], loss: ResultDoc['loss_check'], listen: ResultDoc['listen_queues']) => {
    const lines = [...summary.lines];
    if (listen) lines.push(listenLine(listen));
    if (loss) lines.push(`Loss check: ${loss.acked} acked, ${loss.rows} rows, ${loss.distinct} distinct: ${loss.ok ? 'OK' : 'FAILED'}`);
    return lines;
  };
  if (!d.repetitions || !d.repeat_summary) return one(d.summary, d.loss_check, d.listen_queues ?? null);
  const out: string[] = [];
  for (const r of d.repetitions) out.push(`# repetition ${r.index} of ${d.repetitions.length}`, ...one(r.summary, r.loss_check, r.listen_queues));
  out.push('', medianLine(docName(d, docs), d.repeat_summary));
  return out;
}
