// The control's record on ours' result: per repetition, ours and the 2013-style stack side by side (each
// with its own budget, timestamps and CPU per page per service), ours ÷ control, and the projection onto the
// 2013 box, the seed's pages/min × that ratio. Pure: the report and the tests read it from hand-made results.
import { cpuPerPage, cpuSplit } from './cpu-per-page.js';
import { spreadOf } from './repeat.js';
import type { ControlPair, ControlRecord, PairingMode, PairSide, ResultDoc } from './types.js';

export function pairSide(d: ResultDoc): PairSide {
  const l = d.limits;
  const check = d.loss_check ?? d.ack_check ?? null;
  return {
    started_at: d.started_at,
    finished_at: d.finished_at,
    load_started_at: d.load_started_at ?? null,
    pages_per_min: d.summary.pages_per_min,
    strict_ok: d.summary.strict_ok,
    failed: d.summary.failed,
    budget: {
      cgroup: l?.cgroup ?? null,
      cpus: l?.cpus ?? null,
      quota_us: l?.cpuQuotaUs ?? null,
      period_us: l?.cpuPeriodUs ?? null,
      from: l?.calibration ? (l.calibration.file ?? l.calibration.note) : null,
    },
    used_of_quota: d.cpu_budget?.stack.used_of_quota ?? null,
    check_ok: check ? check.ok : null,
    cpu_us_per_page: cpuPerPage(d),
  };
}

/**
 * Ours and the control of the same repetitions, in order (`first[i]`: who ran first when alternated).
 * Throws when the lists do not pair up, or a control gave no pages: a projection needs both sides.
 */
export function controlRecord(o: {
  pairing: PairingMode;
  why: string;
  seedPagesPerMin: number;
  ours: ResultDoc[];
  control: ResultDoc[];
  first?: Array<'ours' | 'control' | null>;
}): ControlRecord {
  if (o.ours.length === 0 || o.ours.length !== o.control.length) {
    throw new Error(`the control must run in every repetition of ours: ${o.ours.length} of ours, ${o.control.length} of the control`);
  }
  const pairs: ControlPair[] = o.ours.map((d, i) => {
    const ours = pairSide(d);
    const control = pairSide(o.control[i]!);
    if (!(control.pages_per_min > 0)) throw new Error(`repetition ${i + 1}: the 2013-style stack gave no pages (${control.pages_per_min} pages/min): no projection`);
    const ratio = ours.pages_per_min / control.pages_per_min;
    return { index: i + 1, first: o.first?.[i] ?? null, ours, control, ratio, projected: o.seedPagesPerMin * ratio };
  });
  return {
    pairing: o.pairing,
    why: o.why,
    seed_pages_per_min: o.seedPagesPerMin,
    pairs,
    ratio: spreadOf(pairs.map((p) => p.ratio)),
    projected: spreadOf(pairs.map((p) => p.projected)),
    ours_pages_per_min: spreadOf(pairs.map((p) => p.ours.pages_per_min)),
    control_pages_per_min: spreadOf(pairs.map((p) => p.control.pages_per_min)),
    cpu_per_page: cpuSplit(pairs),
  };
}
