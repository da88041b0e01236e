// The report opens with the comparison people came for: rows from whichever of seed2013 / seed / baseline
// ran, grouped by box (emulated first, from the result's limits), the ratio read from seed.json; and it
// shows the repetitions and the listen queues.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { readSeed } from '../src/results/seed.js';
import { boxOf, headline } from '../src/report/headline.js';
import { renderReport } from '../src/report/index.js';
import { runBench } from '../src/run/bench.js';
import type { ResultDoc } from '../src/results/types.js';
import { validateResult } from '../src/results/validate.js';
import { budget, httpResponse, startServer, type TestServer } from './helper.js';
import { repoRoot } from '@eserver-lab/common/repo-root';

let dir = '';
let srv: TestServer;
let base: ResultDoc;

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-headline-'));
  // A seed figure other than 43226: the ratio must come from the file.
  const seed = JSON.parse(fs.readFileSync(path.join(repoRoot, 'results/seed.json'), 'utf8')) as { pages_per_min: number };
  seed.pages_per_min = 50000;
  fs.writeFileSync(path.join(dir, 'seed.json'), JSON.stringify(seed));
  srv = await startServer((_n, sock) => sock.end(httpResponse('200 OK', 'ok')));
  const out = await runBench({
    profiles: ['smoke'], overrides: { concurrency: 2, durationS: 1, warmupS: 0 }, runtime: 'auto', tool: 'node',
    url: srv.url, outDir: dir, repeat: 2, noReport: true,
  });
  base = out.docs[0]!;
});

after(async () => {
  await srv.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

function as(profile: string, ppm: number, limits: Record<string, unknown> | null): ResultDoc {
  const d = structuredClone(base);
  d.profile = profile;
  d.summary.pages_per_min = ppm;
  d.repetitions = undefined;
  d.repeat_summary = undefined;
  d.limits = limits as ResultDoc['limits'];
  return d;
}

const whole = { cgroup: '/x', cgroupVersion: 'v1', cpus: 2, memoryBytes: 2 ** 31 };
const cal = { file: 'results/calibration/x.json', cpu_model: 'X', cpus: 0.33, quota_us: 6600, period_us: 20000, note: 'emulated 2013 box' };
/** What a run records when no calibration matched its CPU model: the whole machine, said so. */
const noCal = { file: null, cpu_model: 'X', cpus: null, quota_us: null, period_us: null, note: 'WHOLE MACHINE' };

test('rows from the profiles that ran, emulated box first, ratio from seed.json', async () => {
  const cores = base.machine.cores;
  const docs = [
    as('seed', 100000, { ...whole, cpus: cores }),
    as('baseline', 200000, { ...whole, cpus: cores }),
    as('seed2013', 50000, { ...whole, cpus: 0.33, calibration: cal }),
    as('seed', 35000, { ...whole, cpus: 0.33, calibration: cal }),
  ];
  for (const d of docs) assert.deepEqual(validateResult(d), { ok: true });
  const seed = readSeed(path.join(dir, 'seed.json'));
  const g = headline(seed, docs);
  assert.deepEqual(g.map((x) => x.box.kind), ['emulated', 'whole']);
  assert.match(g[0]!.box.label, /^Emulated 2013 box \(0\.33-CPU quota, calibration: results\/calibration\/x\.json\)$/);
  assert.deepEqual(g[0]!.rows.map((r) => [r.label, r.pagesPerMin, r.ratio]), [
    ['2013-style server', 50000, 1],
    ['TypeScript server (as shipped)', 35000, 0.7],
  ]);
  assert.deepEqual(g[1]!.rows.map((r) => [r.label, r.ratio]), [['TypeScript server (as shipped)', 2], ['no-queue page', 4]]);
  assert.equal(boxOf(as('seed', 1, { ...whole, cpus: 0.5 })).kind, cores > 0.5 ? 'budget' : 'whole');
  assert.equal(boxOf(as('seed', 1, null)).kind, 'whole', 'no limits recorded: the whole machine');
  assert.equal(boxOf(as('seed', 1, { ...whole, cpus: cores, calibration: noCal })).kind, 'whole', 'no calibration matched: the whole machine');

  const r = await renderReport(docs, dir, path.join(dir, 'seed.json'));
  const md = fs.readFileSync(r.md, 'utf8');
  const firstH2 = md.indexOf('\n## ');
  assert.equal(md.indexOf('\n## Emulated 2013 box'), firstH2, 'the report opens with the emulated box');
  assert.ok(md.indexOf('\n## Whole machine') < md.indexOf('\n## Against the seed'), 'then the whole machine, then the rest');
  assert.match(md, /\|  \| pages\/min \| ratio to 50000 \| ratio to the 2013-style server \| strict ok \| runs: min–max, CV \|/);
  assert.match(md, /\| 2013-style server \| 50,000 \| 1\.00× \| 1\.00× \| [\d,]+( \(\d+\.\d%\))? \| 1 run \|/);
  assert.match(md, /\| no-queue page \| 200,000 \| 4\.00× \|/);
  const html = fs.readFileSync(r.html, 'utf8');
  assert.match(html, /<h2>Emulated 2013 box/);
  assert.match(html, /<td>TypeScript server \(as shipped\)<\/td><td>35,000<\/td><td>0\.70×<\/td><td>0\.70×<\/td>/);
});

test('a repeated profile shows its median, spread, repetitions and listen queues', async () => {
  const d = structuredClone(base);
  d.profile = 'seed';
  // Two repetitions at one quota: the slower one paid more stack CPU per page, and so did the generator.
  d.repetitions![0]!.summary.pages_per_min = 43200;
  d.repetitions![0]!.cpu_budget = budget(17.82, 270.4);
  d.repetitions![1]!.summary.pages_per_min = 36000;
  d.repetitions![1]!.cpu_budget = budget(18, 346);
  assert.deepEqual(validateResult(d), { ok: true });
  const r = await renderReport([d], dir, path.join(dir, 'seed.json'));
  const md = fs.readFileSync(r.md, 'utf8');
  const s = d.repeat_summary!;
  assert.equal(s.n, 2);
  assert.match(md, new RegExp(`\\| TypeScript server \\(as shipped\\) \\| ${Math.round(s.pages_per_min.median).toLocaleString('en-US')} \\(median of 2\\) \\|`));
  assert.match(md, /## Repetitions\nUnder a CPU quota .*\n\n\| repetition \| pages\/min \| strict ok \| p99 ms \| stack: use of its quota \| stack CPU per page \(µs\) \| generator CPU per request \(µs\) \|/);
  // 17.82 CPU-s for 43200 pages/min × 30 s = 21600 pages: 825 µs a page; 18 CPU-s for 18000 pages: 1,000.
  assert.match(md, /\| seed #1( \(median\))? \| 43,200 \| [^|]+ \| [^|]+ \| 99% \| 825 \| 270 \|/);
  assert.match(md, /\| seed #2( \(median\))? \| 36,000 \| [^|]+ \| [^|]+ \| 100% \| 1,000 \| 346 \|/);
  const html = fs.readFileSync(r.html, 'utf8');
  assert.match(html, /<h2>Repetitions<\/h2><p>Under a CPU quota/);
  assert.match(md, /## Listen queues/);
  assert.match(md, /\| seed #2 \| n\/a \| \d[\d,]* \| \d[\d,]* \| \d[\d,]* \| \d[\d,]* \| \d[\d,]* \|/);
  assert.match(md, /# repetition 1 of 2\nSpeed=\d+ pages\/min, \d+ bytes\/sec\.\nRequests: \d+ susceed, \d+ failed\./);
  assert.match(md, /MEDIAN of 2 repetitions \(seed\): /);
  assert.ok(!md.includes('## Emulated'), 'no calibration marker: no emulated box');
});

/** A result of our server on one runtime and policy, as the runner records it after reading them back. */
function onQueue(d: ResultDoc, runtime: 'node' | 'bun', fsync: 'always' | 'interval' | 'off'): ResultDoc {
  d.queue_server = {
    impl: 'ts', runtime, fsync, requested: { runtime, fsync }, exe: `/usr/bin/${runtime}`, read_back: { runtime: true, fsync: true },
  };
  return d;
}

test("one row per queue runtime and fsync policy, each against the seed's figure and the 2013-style server of the same run", async () => {
  const emu = { ...whole, cpus: 0.33, calibration: cal };
  const old2013 = as('seed2013', 99999, emu);
  old2013.batch_id = 'an earlier run';
  const s2013 = as('seed2013', 40000, emu);
  s2013.queue_server = { impl: 'seed2013', runtime: null, fsync: null, requested: null, exe: '/usr/bin/python3.11', read_back: { runtime: false, fsync: false } };
  const docs = [
    old2013,
    s2013,
    onQueue(as('seed', 30000, emu), 'node', 'always'),
    onQueue(as('seed', 36000, emu), 'node', 'interval'),
    onQueue(as('seed', 44000, emu), 'bun', 'always'),
    onQueue(as('seed', 50000, emu), 'bun', 'interval'),
    onQueue(as('baseline', 120000, emu), 'node', 'always'),
  ];
  for (const d of docs) assert.deepEqual(validateResult(d), { ok: true });
  const seed = readSeed(path.join(dir, 'seed.json'));
  const g = headline(seed, docs.slice(1));
  assert.equal(g.length, 1);
  assert.deepEqual(g[0]!.rows.map((r) => [r.label, r.queueRuntime, r.fsync, r.pagesPerMin, r.ratio, r.ratioTo2013]), [
    ['2013-style server', null, null, 40000, 0.8, 1],
    ['TypeScript server, node, fsync always', 'node', 'always', 30000, 0.6, 0.75],
    ['TypeScript server, node, fsync interval', 'node', 'interval', 36000, 0.72, 0.9],
    ['TypeScript server, bun, fsync always (as shipped)', 'bun', 'always', 44000, 0.88, 1.1],
    ['TypeScript server, bun, fsync interval', 'bun', 'interval', 50000, 1, 1.25],
    ['no-queue page', 'node', 'always', 120000, 2.4, 3],
  ]);
  // A 2013-style figure from another run is not "the same run": no ratio to it.
  const other = headline(seed, [old2013, onQueue(as('seed', 30000, emu), 'bun', 'off')]);
  assert.deepEqual(other[0]!.rows.map((r) => [r.label, r.ratioTo2013]), [['2013-style server', 1], ['TypeScript server, bun, fsync off', null]]);

  const out = path.join(dir, 'matrix');
  const r = await renderReport(docs.slice(1), out, path.join(dir, 'seed.json'));
  const md = fs.readFileSync(r.md, 'utf8');
  assert.match(md, /\| TypeScript server, node, fsync always \| 30,000 \| 0\.60× \| 0\.75× \|/);
  assert.match(md, /\| TypeScript server, bun, fsync always \(as shipped\) \| 44,000 \| 0\.88× \| 1\.10× \|/);
  assert.match(md, /\| TypeScript server, bun, fsync interval \| 50,000 \| 1\.00× \| 1\.25× \|/);
  // Each combination keeps its own section and chart files.
  for (const name of ['seed (node, fsync always)', 'seed (node, fsync interval)', 'seed (bun, fsync always)', 'seed (bun, fsync interval)']) {
    assert.ok(md.includes(`\n## ${name}\n`), `section ${name}`);
    assert.ok(md.includes(`\n- ${name} profile: `), `targets of ${name}`);
  }
  const html = fs.readFileSync(r.html, 'utf8');
  assert.match(html, /<td>TypeScript server, bun, fsync always \(as shipped\)<\/td><td>44,000<\/td><td>0\.88×<\/td><td>1\.10×<\/td>/);
  const json = JSON.parse(fs.readFileSync(r.json, 'utf8')) as { seed_pages_per_min: number; groups: Array<{ box: { kind: string }; rows: Array<{ queueRuntime: string | null; fsync: string | null; pagesPerMin: number; ratioTo2013: number | null }> }> };
  assert.equal(json.seed_pages_per_min, 50000);
  assert.equal(json.groups[0]!.box.kind, 'emulated');
  assert.deepEqual(json.groups[0]!.rows.filter((x) => x.queueRuntime === 'bun').map((x) => [x.fsync, x.pagesPerMin, x.ratioTo2013]), [['always', 44000, 1.1], ['interval', 50000, 1.25]]);
});

test('the result schema: the queue server record is checked', () => {
  const good = onQueue(as('seed', 1, null), 'bun', 'interval');
  assert.deepEqual(validateResult(good), { ok: true });
  const noStack = as('seed', 1, null);
  noStack.queue_server = null;
  assert.deepEqual(validateResult(noStack), { ok: true }, '--url: no queue server of ours');
  const older = as('seed', 1, null);
  delete older.queue_server;
  assert.deepEqual(validateResult(older), { ok: true }, 'results written before the field still read');
  const bad = (mutate: (q: Record<string, unknown>) => void) => {
    const d = structuredClone(good);
    mutate(d.queue_server as unknown as Record<string, unknown>);
    return validateResult(d).ok;
  };
  assert.equal(bad((q) => (q.runtime = 'deno')), false, 'an unknown runtime');
  assert.equal(bad((q) => (q.fsync = 'sometimes')), false, 'an unknown policy');
  assert.equal(bad((q) => delete q.read_back), false, 'read_back is required');
  assert.equal(bad((q) => (q.requested = { runtime: 'bun' })), false, 'a request names both');
});
