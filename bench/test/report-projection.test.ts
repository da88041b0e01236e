// The headline is the projection: the seed's pages/min × the median of ours ÷ the 2013-style stack measured
// in the same repetitions. On hand-made results: the arithmetic, the opening line of the report (md, html),
// latest-headline.json and the terminal, the lines under it, the targets, and each side's own budget.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { controlRecord } from '../src/results/control.js';
import { combineRepetitions } from '../src/results/repeat.js';
import { readSeed } from '../src/results/seed.js';
import type { ResultDoc } from '../src/results/types.js';
import { validateResult } from '../src/results/validate.js';
import { headlineSummary, projectionLine, signedPct, targetsOf } from '../src/report/projection.js';
import { renderReport } from '../src/report/index.js';
import { runBench } from '../src/run/bench.js';
import { httpResponse, startServer, type TestServer } from './helper.js';
import { repoRoot } from '@eserver-lab/common/repo-root';

let dir = '';
let srv: TestServer;
let base: ResultDoc;

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-projection-'));
  fs.copyFileSync(path.join(repoRoot, 'results/seed.json'), path.join(dir, 'seed.json'));
  srv = await startServer((_n, sock) => sock.end(httpResponse('200 OK', 'ok')));
  const out = await runBench({
    profiles: ['smoke'], overrides: { concurrency: 2, durationS: 1, warmupS: 0 }, runtime: 'auto', tool: 'node',
    url: srv.url, outDir: dir, repeat: 1, noReport: true,
  });
  base = out.docs[0]!;
});

after(async () => {
  await srv.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

const cal = { file: 'results/calibration/x.json', cpu_model: 'X', cpus: 0.6, quota_us: 12000, period_us: 20000, note: 'emulated 2013 box' };

/** One repetition of one side, on its own cgroup with the same quota, as the runner records it. */
function side(profile: 'seed' | 'seed2013', i: number, ppm: number, extra: { lost?: number } = {}): ResultDoc {
  const d = structuredClone(base);
  d.profile = profile;
  d.batch_id = 'batch';
  d.started_at = `2026-12-06T09:0${i}:00.000Z`;
  d.finished_at = `2026-12-06T09:0${i}:40.000Z`;
  d.load_started_at = `2026-12-06T09:0${i}:02.000Z`;
  d.summary.pages_per_min = ppm;
  d.summary.failed = 0;
  d.summary.strict_ok = Math.round(ppm / 2);
  d.limits = { cgroup: `/sys/fs/cgroup/cpu/eserver-${profile}-${i}`, cgroupVersion: 'v1', cpus: 0.6, cpuQuotaUs: 12000, cpuPeriodUs: 20000, memoryBytes: 2 ** 31, calibration: cal } as ResultDoc['limits'];
  const acked = Math.round(ppm / 2) + 100;
  if (profile === 'seed') {
    d.queue_server = { impl: 'ts', runtime: 'node', fsync: 'always', requested: { runtime: 'node', fsync: 'always' }, exe: '/usr/bin/node', read_back: { runtime: true, fsync: true } };
    const rows = acked - (extra.lost ?? 0);
    d.loss_check = { acked, rows, distinct: rows, profile: { acked, rows, distinct: rows }, ok: (extra.lost ?? 0) === 0, drained: true, wait_s: 1, strict_ok_le_acked: true };
    d.ack_check = null;
  } else {
    d.queue_server = { impl: 'seed2013', runtime: null, fsync: null, requested: null, exe: '/usr/bin/python3', read_back: { runtime: false, fsync: false } };
    d.loss_check = null;
    d.ack_check = { method: '8003', length_before: 0, length_after: acked, acked, strict_ok: d.summary.strict_ok, ok: true, wait_s: 1, note: 'ok' };
  }
  d.verdict = { ok: true, reasons: [] };
  return d;
}

/** Five repetitions in which the machine drifts (the control moves by 12%) while ours ÷ control holds. */
const OURS = [31_000, 29_000, 33_000, 30_500, 28_000];
const CONTROL = [41_900, 39_000, 44_000, 41_000, 37_800];

function pairedRun(opts: { lostIn?: number } = {}): ResultDoc[] {
  const ours = OURS.map((v, i) => side('seed', i + 1, v, i + 1 === opts.lostIn ? { lost: 3 } : {}));
  const control = CONTROL.map((v, i) => side('seed2013', i + 1, v));
  const o = combineRepetitions(ours);
  const c = combineRepetitions(control);
  o.control = controlRecord({ pairing: 'at-once', why: 'default', seedPagesPerMin: 43226, ours, control, first: ours.map(() => null) });
  c.control_of = { profile: 'seed', queue: 'node, fsync always' };
  return [o, c];
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;

test('the projection: 43226 × the median of ours ÷ control, repetition by repetition, with its CV', () => {
  const [o] = pairedRun();
  const c = o!.control!;
  const ratios = OURS.map((v, i) => v / CONTROL[i]!);
  assert.deepEqual(c.pairs.map((p) => p.ratio), ratios);
  assert.deepEqual(c.pairs.map((p) => p.projected), ratios.map((r) => 43226 * r));
  assert.equal(c.ratio.median, median(ratios));
  assert.equal(c.projected.median, 43226 * median(ratios));
  // Not the ratio of the medians: the pairs are what cancels the drift.
  assert.notEqual(c.ratio.median, median(OURS) / median(CONTROL));
  assert.ok(c.ratio.cv_pct < c.control_pages_per_min.cv_pct, 'the ratio holds better than the control');
  assert.equal(c.control_pages_per_min.median, 41_000);
  assert.deepEqual(validateResult(o!), { ok: true });
  // Both sides of every repetition carry a budget of their own: their own cgroup, the same quota.
  for (const p of c.pairs) {
    assert.notEqual(p.ours.budget.cgroup, p.control.budget.cgroup);
    assert.ok(p.ours.budget.cgroup && p.control.budget.cgroup);
    assert.deepEqual([p.ours.budget.cpus, p.ours.budget.quota_us, p.ours.budget.period_us], [0.6, 12000, 20000]);
    assert.deepEqual([p.control.budget.cpus, p.control.budget.quota_us, p.control.budget.period_us], [0.6, 12000, 20000]);
    assert.equal(p.ours.budget.from, 'results/calibration/x.json');
    assert.equal(p.ours.load_started_at, p.control.load_started_at);
  }
  // A control that did not run in every repetition gives no projection.
  assert.throws(() => controlRecord({ pairing: 'at-once', why: '', seedPagesPerMin: 43226, ours: [side('seed', 1, 1)], control: [] }), /every repetition/);
  assert.throws(() => controlRecord({ pairing: 'at-once', why: '', seedPagesPerMin: 43226, ours: [side('seed', 1, 1)], control: [side('seed2013', 1, 0)] }), /no projection/);
});

test('the opening line, exactly, and the lines under it', () => {
  const docs = pairedRun();
  const seed = readSeed(path.join(dir, 'seed.json'));
  const r = median(OURS.map((v, i) => v / CONTROL[i]!));
  const cvPct = docs[0]!.control!.ratio.cv_pct;
  const expected = `On the 2013 box: about ${(Math.round((43226 * r) / 100) * 100).toLocaleString('en-US')} pages/min (ours ÷ 2013-style = ${r.toFixed(2)}, median of 5, CV ${cvPct.toFixed(1)}%)`;
  const h = headlineSummary(seed, docs);
  assert.equal(h.line, expected);
  assert.equal(projectionLine(docs[0]!.control!), expected);
  assert.match(h.below[0]!, /^Ours here: 30,500 pages\/min \(seed, median of 5; min 28,000, max 33,000, CV [\d.]+%\), each stack on its own 0\.6-CPU quota \(results\/calibration\/x\.json\)$/);
  // The control's absolute figure, against the seed, with its spread beside the projection's.
  assert.match(h.below[1]!, new RegExp(`^2013-style stack here: 41,000, −5\\.1% from 43226 \\(median of 5; min 37,800, max 44,000, CV ${docs[0]!.control!.control_pages_per_min.cv_pct.toFixed(1)}%: .*projection CV ${cvPct.toFixed(1)}%\\)$`));
  assert.match(h.below[2]!, /^Strict, over every repetition: ours [\d,]+ strict ok .* 0 failed; 2013-style [\d,]+ strict ok .* 0 failed$/);
  assert.equal(h.below[3], 'Loss check: ours OK in 5 of 5 repetitions (acked = rows = distinct): 0 lost, 0 duplicated; 2013-style ack check OK in 5 of 5');
  assert.match(h.below[4]!, /^Both stacks took the load at the same instant in every repetition/);
  assert.equal(h.below[5], `Targets (seed): projected ≥ 43226: NOT met (${(Math.round((43226 * r) / 100) * 100).toLocaleString('en-US')}); 0 failed: met (0); 0 lost: met (0)`);
  assert.equal(signedPct(41_900 / 43226 - 1), '−3.1%');
  assert.equal(signedPct(44_000 / 43226 - 1), '+1.8%');
});

test('the targets: projected ≥ the seed, 0 failed, 0 lost over every repetition (no "≥ 7×")', () => {
  const lost = pairedRun({ lostIn: 4 })[0]!;
  const t = targetsOf(lost);
  assert.deepEqual([t.projected?.met, t.failed.met, t.lost.met, t.lost.value], [false, true, false, 3]);
  const fast = pairedRun()[0]!;
  fast.control!.ratio.median = 1.2;
  assert.equal(targetsOf(fast).projected?.met, true);
});

test('the report, latest-headline.json and the terminal all open with the line', async () => {
  const docs = pairedRun();
  for (const d of docs) assert.deepEqual(validateResult(d), { ok: true });
  const seed = readSeed(path.join(dir, 'seed.json'));
  const line = headlineSummary(seed, docs).line;
  const out = path.join(dir, 'report');
  const r = await renderReport(docs, out, path.join(dir, 'seed.json'));
  const md = fs.readFileSync(r.md, 'utf8');
  assert.equal(md.split('\n')[0], line);
  assert.match(md, /\n- 2013-style stack here: 41,000, −5\.1% from 43226 /);
  assert.doesNotMatch(md, /≥ 7×/);
  assert.match(md, /\n- Targets \(seed\): projected ≥ 43226: NOT met/);
  // The per-repetition table: ours and the control side by side, with their own quotas and the median.
  assert.match(md, /## seed beside the 2013-style stack, per repetition\n/);
  assert.match(md, /\| #1 \| 2026-12-06 09:01:00 \| at once \| 31,000 \| 41,900 \| 0\.740 \| [\d,]+ \| 0\.6 CPU \(12000\/20000 µs\), n\/a \| 0\.6 CPU \(12000\/20000 µs\), n\/a \|/);
  assert.match(md, /\| median \(CV\) \|  \|  \| 30,500 \([\d.]+%\) \| 41,000 \([\d.]+%\) \|/);
  // The control's own result keeps its section and its Speed= lines.
  assert.match(md, /\n## seed2013\n/);
  assert.match(md, /\| 2013-style server \(the control beside seed, node, fsync always\) \| 41,000 \(median of 5\) \|/);
  const html = fs.readFileSync(r.html, 'utf8');
  const body = html.slice(html.indexOf('<body>') + '<body>'.length).trimStart();
  assert.ok(body.startsWith(`<p class="headline"><b>${line}</b></p>`), body.slice(0, 200));
  const jsonText = fs.readFileSync(r.json, 'utf8');
  const json = JSON.parse(jsonText) as { line: string; below: string[]; projection: { pairs: unknown[]; ratio: { median: number }; of: { profile: string } } };
  assert.equal(Object.keys(json)[0], 'line');
  assert.equal(json.line, line);
  assert.equal(json.projection.pairs.length, 5);
  assert.equal(json.projection.of.profile, 'seed');
  assert.equal(json.projection.ratio.median, docs[0]!.control!.ratio.median);
});

test('with no control beside ours, the line says there is no projection and why', () => {
  const seed = readSeed(path.join(dir, 'seed.json'));
  const alone = side('seed', 1, 90_000);
  alone.limits = { ...alone.limits!, cpus: 2, calibration: { ...cal, file: null, cpus: null, note: 'WHOLE MACHINE on purpose (--cpus all)' } };
  const h = headlineSummary(seed, [alone]);
  assert.equal(h.line, `No projection onto the 2013 box (no 2013-style stack ran beside ours): seed here: 90,000 pages/min on the whole machine (${alone.machine.cores} CPUs)`);
  assert.equal(h.of, null);
});
