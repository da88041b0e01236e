// --repeat: a real run of three repetitions against a local server (each printed with webbench's own two
// lines, then the labelled median line), the result carrying every repetition and the summary, and the
// median/spread arithmetic on known figures.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { resolveProfile } from '../src/plan/profiles.js';
import { combineRepetitions, formatDuration, medianLine, medianRepetition, RunClock, spreadOf } from '../src/results/repeat.js';
import { repetitionsFor } from '../src/plan/profiles.js';
import { runBench } from '../src/run/bench.js';
import type { ResultDoc } from '../src/results/types.js';
import { validateResult } from '../src/results/validate.js';
import { budget, httpResponse, startServer, type TestServer } from './helper.js';
import { repoRoot } from '@eserver-lab/common/repo-root';

let dir = '';
let srv: TestServer;
let doc: ResultDoc;
const printed: string[] = [];

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-repeat-'));
  fs.copyFileSync(path.join(repoRoot, 'results/seed.json'), path.join(dir, 'seed.json'));
  srv = await startServer((_n, sock) => sock.end(httpResponse('200 OK', 'ok')));
  const log = console.log;
  console.log = (...a: unknown[]) => void printed.push(a.join(' '));
  try {
    const out = await runBench({
      profiles: ['smoke'], overrides: { concurrency: 2, durationS: 1, warmupS: 0 }, runtime: 'auto', tool: 'node',
      url: srv.url, outDir: dir, repeat: 3, noReport: true,
    });
    assert.equal(out.docs.length, 1, 'one result for the three repetitions');
    doc = JSON.parse(fs.readFileSync(out.files[0]!, 'utf8')) as ResultDoc;
  } finally {
    console.log = log;
  }
});

after(async () => {
  await srv.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

test('three repetitions: every one in the result, the summary, and the median repetition on top', () => {
  assert.deepEqual(validateResult(doc), { ok: true });
  assert.equal(doc.repetitions?.length, 3);
  assert.deepEqual(doc.repetitions!.map((r) => r.index), [1, 2, 3]);
  const s = doc.repeat_summary!;
  assert.equal(s.n, 3);
  const ppm = doc.repetitions!.map((r) => r.summary.pages_per_min);
  assert.deepEqual(s.pages_per_min.values, ppm);
  assert.equal(s.pages_per_min.median, [...ppm].sort((a, b) => a - b)[1]);
  assert.equal(doc.summary.pages_per_min, s.pages_per_min.median, 'top-level figures are the median repetition\'s');
  assert.equal(doc.repetitions![s.median_repetition - 1]!.summary.pages_per_min, s.pages_per_min.median);
  assert.deepEqual(s.strict_ok!.values, doc.repetitions!.map((r) => r.summary.strict_ok));
  assert.ok(doc.repetitions!.every((r) => r.listen_queues !== null && r.listen_queues.backlog === null), 'no stack of ours: no backlog');
});

test('webbench\'s two lines are printed for every repetition, then one labelled median line', () => {
  const speed = printed.filter((l) => /^Speed=\d+ pages\/min, \d+ bytes\/sec\.$/.test(l));
  const reqs = printed.filter((l) => /^Requests: \d+ susceed, \d+ failed\.$/.test(l));
  assert.equal(speed.length, 3);
  assert.equal(reqs.length, 3);
  const med = printed.filter((l) => l.startsWith('MEDIAN of 3 repetitions (smoke): '));
  assert.equal(med.length, 1, printed.join('\n'));
  const lastListen = printed.map((l, i) => (l.startsWith('Listen queues: ') ? i : -1)).reduce((a, b) => Math.max(a, b));
  assert.ok(printed.indexOf(med[0]!) > lastListen, 'after the repetitions');
  assert.equal(printed.filter((l) => l.startsWith('Listen queues: ')).length, 3);
  // Then the run's summary, which opens with the headline: no control beside an --url server, no projection.
  const summary = printed.slice(printed.indexOf(med[0]!) + 1).join('\n');
  assert.match(summary, /^\nNo projection onto the 2013 box \(no 2013-style stack ran beside ours\): smoke here: [\d,]+ pages\/min on an external server \(--url\)\n/);
});

test('the schema refuses a repeat summary without its spread', () => {
  const bad = structuredClone(doc) as unknown as { repeat_summary: { pages_per_min: Record<string, unknown> } };
  delete bad.repeat_summary.pages_per_min['cv_pct'];
  assert.equal(validateResult(bad).ok, false);
});

function fake(ppm: number, strict: number | null, ok = true): ResultDoc {
  return {
    ...structuredClone(doc),
    repetitions: undefined,
    repeat_summary: undefined,
    summary: { ...doc.summary, pages_per_min: ppm, strict_ok: strict },
    verdict: ok ? { ok: true, reasons: [] } : { ok: false, reasons: ['loss check failed'] },
  };
}

test('median, spread and CV on known figures; one failed repetition fails the profile', () => {
  const sp = spreadOf([100, 110, 90]);
  assert.deepEqual({ ...sp }, { median: 100, min: 90, max: 110, cv_pct: 10, values: [100, 110, 90] });
  assert.equal(spreadOf([100, 102, 98, 100]).median, 100);
  assert.equal(medianRepetition([fake(300, 1), fake(100, 1), fake(200, 1)]), 2);
  assert.equal(medianRepetition([fake(300, 1), fake(100, 1), fake(200, 1), fake(400, 1)]), 2, 'lower middle for an even count');
  const c = combineRepetitions([fake(120, 100), fake(100, 90, false), fake(110, 95)]);
  assert.equal(c.summary.pages_per_min, 110);
  assert.equal(c.verdict.ok, false);
  assert.deepEqual(c.verdict.reasons, ['repetition 2: loss check failed']);
  assert.equal(
    medianLine('seed', c.repeat_summary!),
    'MEDIAN of 3 repetitions (seed): 110 pages/min (min 100, max 120, CV 9.1%); strict ok median 95 (min 90, max 100, CV 5.3%)',
  );
  assert.equal(combineRepetitions([fake(1, null), fake(2, null)]).repeat_summary!.strict_ok, null);
  // Each repetition keeps its own CPU budget: the spread's cause is read run by run.
  const [a, b] = [fake(120, 100), fake(100, 90)];
  a.cpu_budget = budget(17.9, 270);
  b.cpu_budget = null;
  const both = combineRepetitions([a, b]);
  assert.equal(both.repetitions![0]!.cpu_budget?.stack.cpu_s, 17.9);
  assert.equal(both.repetitions![1]!.cpu_budget, null);
  assert.deepEqual(validateResult(both), { ok: true });
});

test('the default repeats the seed 5 times (the projection\'s median of 5) and the others once; --repeat wins', () => {
  const env = {};
  assert.equal(repetitionsFor(resolveProfile('seed', {}, env)), 5);
  assert.equal(repetitionsFor(resolveProfile('baseline', {}, env)), 1);
  assert.equal(repetitionsFor(resolveProfile('seed', {}, env), 3), 3);
  assert.throws(() => repetitionsFor(resolveProfile('seed', {}, env), 0), /--repeat must be an integer >= 1/);
});

test('the time left: load seconds plus the overhead measured so far', () => {
  const c = new RunClock([35, 35, 35], 20);
  assert.equal(c.remainingS(), 3 * 55);
  c.finished(45); // 10 s of overhead seen
  assert.equal(c.remainingS(), 2 * 45);
  assert.equal(formatDuration(90), '1 min 30 s');
  assert.equal(formatDuration(120), '2 min');
  assert.equal(formatDuration(7.4), '7 s');
});
