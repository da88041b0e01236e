// µs of CPU per page, per service, ours against the 2013-style control (results/cpu-per-page.ts), on
// hand-made results: the integration of the sampler's cpu_pct over the measured window (its cut at the
// warm-up and at the end of the measured seconds, a window the samples cover in part), a service that was
// not sampled, a stack without a cgroup figure; the medians and ratios over the repetitions; the report's
// table (markdown and html); and the schema of a result carrying them.
import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { controlRecord } from '../src/results/control.js';
import { cpuPerPage, cpuSplit, integrateSamples, measuredWindow, stackUsPerPage } from '../src/results/cpu-per-page.js';
import { combineRepetitions } from '../src/results/repeat.js';
import { readSeed } from '../src/results/seed.js';
import type { ResultDoc } from '../src/results/types.js';
import { validateResult } from '../src/results/validate.js';
import { Sampler, type Sample } from '../src/metrics/sampler.js';
import type { CpuBudget } from '../src/metrics/cpu-budget.js';
import { renderMarkdown } from '../src/report/markdown.js';
import { renderHtml } from '../src/report/html.js';
import { repoRoot } from '@eserver-lab/common/repo-root';

const T0 = Date.parse('2026-12-06T09:00:00.000Z');
const iso = (ms: number) => new Date(ms).toISOString();

function cgroupBudget(cpuS: number | null, windowS = 30): CpuBudget {
  return {
    window_s: windowS, host_cpus: 2,
    stack: { cgroup: '/x', cpus: 0.6, quota_us: 12000, period_us: 20000, weight: 262144, cpu_s: cpuS, used_of_quota: null, nr_periods: null, nr_throttled: null, throttled_share: null },
    generator: { cgroup: '/g', weight: 1024, cpu_s: 6, cpu_us_per_request: 10, host_share: 0.1, used_of_rest: 0.14, outside_stack: true },
    others_cpu_s: 0, warnings: [],
  };
}

/** One sample per second, t = 1..last, each service's cpu_pct given by `pct(t)` (undefined: not sampled). */
function samples(last: number, pct: (t: number) => Record<string, number>): Sample[] {
  const out: Sample[] = [];
  for (let t = 1; t <= last; t++) {
    const services = Object.fromEntries(Object.entries(pct(t)).map(([k, v]) => [k, { cpu_pct: v, rss_bytes: 1, procs: 1, child_rss_avg_bytes: null, child_rss_max_bytes: null }]));
    out.push({ t, services, cgroup: null, queue: null });
  }
  return out;
}

interface DocSpec {
  profile?: 'seed' | 'seed2013';
  ppm: number;
  samples: Sample[];
  budget: CpuBudget | null;
  /** Seconds from the sampler's start to the load's; null: the tool did not say. */
  loadAfterS?: number | null;
  warmupS?: number;
  durationS?: number;
  /** false: an older result, without the samples' origin. */
  origin?: boolean;
  rep?: number;
}

function doc(s: DocSpec): ResultDoc {
  const rep = s.rep ?? 1;
  const t0 = T0 + rep * 60_000;
  const profile = s.profile ?? 'seed';
  return {
    schema_version: 1, batch_id: 'batch', profile, runtime: 'native',
    tool: { name: 'eserver-bench', version: '1', command: null },
    queue_server: profile === 'seed'
      ? { impl: 'ts', runtime: 'bun', fsync: 'always', requested: { runtime: 'bun', fsync: 'always' }, exe: '/bun', read_back: { runtime: true, fsync: true } }
      : { impl: 'seed2013', runtime: null, fsync: null, requested: null, exe: '/python3', read_back: { runtime: false, fsync: false } },
    started_at: iso(t0 - 5000), finished_at: iso(t0 + 60_000),
    load_started_at: s.loadAfterS === null ? null : iso(t0 + (s.loadAfterS ?? 0) * 1000),
    commit: null, url: 'http://127.0.0.1:1/client.php',
    machine: { cpu_model: 'X', cores: 2, memory_bytes: 2 ** 31, kernel: 'k', sysctl: {} },
    limits: { cgroup: `/sys/fs/cgroup/cpu/${profile}-${rep}`, cgroupVersion: 'v1', cpus: 0.6, cpuQuotaUs: 12000, cpuPeriodUs: 20000, memoryBytes: null } as ResultDoc['limits'],
    versions: { node: '20' },
    config: { concurrency: 100, duration_s: s.durationS ?? 30, warmup_s: s.warmupS ?? 0, page: 'client', success_signal: 'ok', workers: 1, source_addresses: null, stack: null, services: null },
    summary: {
      pages_per_min: s.ppm, bytes_per_sec: 0, succeeded: s.ppm / 2, failed: 0, strict_ok: s.ppm / 2, strict_pages_per_min: s.ppm, cut_at_end: 0,
      status: null, errors: null, latency_ms: { p50: 1, p90: 1, p99: 1, p999: 1, max: 1, mean: 1 }, lines: [`Speed=${s.ppm} pages/min, 0 bytes/sec.`],
    },
    loadgen: { clients: 100, workers: 1, cpu_user_ms: null, cpu_system_ms: null, cpu_us_per_request: null },
    loss_check: null, ack_check: null, cpu_budget: s.budget,
    series: { load: [], samples: s.samples, ...(s.origin === false ? {} : { samples_started_at: iso(t0) }) },
    histogram: null, verdict: { ok: true, reasons: [] },
  };
}

test('two services at known cpu_pct and a known page rate give exact µs per page; the cgroup is the repetitions table figure', () => {
  // 10 pages/s for 30 s; nginx at half a CPU, php-fpm at a fifth; the cgroup spent 24 CPU-s.
  const d = doc({ ppm: 600, samples: samples(30, () => ({ nginx: 50, 'php-fpm': 20, loadgen: 90 })), budget: cgroupBudget(24) });
  assert.deepEqual(cpuPerPage(d), {
    window_s: 30,
    services: { mysql: null, 'queue-server': null, 'php-fpm': 20_000, nginx: 50_000 },
    cgroup: 80_000,
    // What the cgroup spent outside the sampled trees (the two services not sampled count here).
    other: 10_000,
  });
  assert.equal(stackUsPerPage(d.cpu_budget, 600), 80_000);
});

test('the window starts after the warm-up, counted from the load start, and ends with the measured seconds', () => {
  // The load starts 1.5 s after the sampler, 2 s of warm-up: the window is [3.5, 33.5] on the samples' clock.
  // Warm-up at a full CPU, the straddling sample at 60%, the load at 40%, the drain's tail at a full CPU again.
  const pct = (t: number) => ({ nginx: t <= 3 ? 100 : t === 4 ? 60 : t <= 34 ? 40 : 100 });
  const d = doc({ ppm: 1200, samples: samples(40, pct), budget: null, loadAfterS: 1.5, warmupS: 2 });
  assert.deepEqual(measuredWindow(d), { from: 3.5, to: 33.5 });
  const { coveredS, cpuS } = integrateSamples(d.series.samples, 3.5, 33.5);
  assert.equal(coveredS, 30);
  // Half of (3, 4] at 60%, 29 s at 40%, half of (33, 34] at 40%.
  assert.ok(Math.abs(cpuS.get('nginx')! - (0.5 * 0.6 + 29 * 0.4 + 0.5 * 0.4)) < 1e-9, String(cpuS.get('nginx')));
  // 12.1 CPU-s over 600 pages.
  assert.equal(cpuPerPage(d)!.services.nginx, 20_166.7);
  // Without the load's start (a tool that does not say), the window is timed from the sampler's start.
  assert.deepEqual(measuredWindow(doc({ ppm: 1200, samples: [], budget: null, loadAfterS: null, warmupS: 2 })), { from: 2, to: 32 });
});

test('samples that cover part of the window: the pages are counted over the same part', () => {
  const d = doc({ ppm: 600, samples: samples(20, () => ({ nginx: 50 })), budget: cgroupBudget(24) });
  const c = cpuPerPage(d)!;
  assert.equal(c.window_s, 20);
  assert.equal(c.services.nginx, 50_000);
  assert.equal(c.cgroup, 80_000);
});

test('no cgroup figure: no "other"; no service sampled: no "other"; nothing at all, or an older result: null', () => {
  const noCgroup = cpuPerPage(doc({ ppm: 600, samples: samples(30, () => ({ nginx: 50 })), budget: null }))!;
  assert.equal(noCgroup.services.nginx, 50_000);
  assert.equal(noCgroup.services.mysql, null);
  assert.equal(noCgroup.cgroup, null);
  assert.equal(noCgroup.other, null);
  const older = cpuPerPage(doc({ ppm: 600, samples: samples(30, () => ({ nginx: 50 })), budget: cgroupBudget(24), origin: false }))!;
  assert.deepEqual(older.services, { mysql: null, 'queue-server': null, 'php-fpm': null, nginx: null });
  assert.equal(older.cgroup, 80_000);
  assert.equal(older.other, null);
  assert.equal(cpuPerPage(doc({ ppm: 600, samples: samples(30, () => ({ nginx: 50 })), budget: null, origin: false })), null);
  // An --url server: only the load generator was sampled, no cgroup.
  assert.equal(cpuPerPage(doc({ ppm: 600, samples: samples(30, () => ({ loadgen: 80 })), budget: null })), null);
  // No page, no figure.
  assert.equal(cpuPerPage(doc({ ppm: 0, samples: samples(30, () => ({ nginx: 50 })), budget: null })), null);
});

/** Ours and the control in three repetitions, loaded at once: per-service loads that make known medians. */
const OURS = [
  { ppm: 600, nginx: 50, php: 20, queue: 10, mysql: 5, cg: 27 },
  { ppm: 540, nginx: 45, php: 18, queue: 12, mysql: 6, cg: 26 },
  { ppm: 660, nginx: 55, php: 22, queue: 11, mysql: 4, cg: 28 },
];
const CONTROL = [
  { ppm: 900, nginx: 50, php: 20, queue: 5, mysql: 0, cg: 24 },
  { ppm: 900, nginx: 48, php: 21, queue: 5, mysql: 0, cg: 23 },
  { ppm: 900, nginx: 52, php: 19, queue: 5, mysql: 0, cg: 25 },
];

function sideDoc(profile: 'seed' | 'seed2013', x: (typeof OURS)[number], rep: number): ResultDoc {
  return doc({
    profile, rep, ppm: x.ppm, budget: cgroupBudget(x.cg),
    samples: samples(30, () => ({ nginx: x.nginx, 'php-fpm': x.php, 'queue-server': x.queue, mysql: x.mysql, loadgen: 90 })),
  });
}

function pairedRun(): ResultDoc[] {
  const ours = OURS.map((x, i) => sideDoc('seed', x, i + 1));
  const control = CONTROL.map((x, i) => sideDoc('seed2013', x, i + 1));
  const o = combineRepetitions(ours);
  const c = combineRepetitions(control);
  o.control = controlRecord({ pairing: 'at-once', why: 'default', seedPagesPerMin: 43226, ours, control });
  c.control_of = { profile: 'seed', queue: 'bun, fsync always' };
  return [o, c];
}

const us = (cpuPct: number, ppm: number) => Math.round(((cpuPct / 100) * 1e6) / (ppm / 60) * 10) / 10;
const med3 = (xs: number[]) => [...xs].sort((a, b) => a - b)[1]!;

test('per repetition, each side; the median of each side over the repetitions and ours ÷ control', () => {
  const [o] = pairedRun();
  const c = o!.control!;
  c.pairs.forEach((p, i) => {
    assert.equal(p.ours.cpu_us_per_page!.services.nginx, us(OURS[i]!.nginx, OURS[i]!.ppm));
    assert.equal(p.control.cpu_us_per_page!.services['queue-server'], us(CONTROL[i]!.queue, CONTROL[i]!.ppm));
  });
  const split = c.cpu_per_page!;
  assert.equal(split.n, 3);
  assert.deepEqual(split.rows.map((r) => r.part), ['nginx', 'php-fpm', 'queue-server', 'mysql', 'other', 'cgroup']);
  const row = (part: string) => split.rows.find((r) => r.part === part)!;
  const oursNginx = med3(OURS.map((x) => us(x.nginx, x.ppm)));
  const controlNginx = med3(CONTROL.map((x) => us(x.nginx, x.ppm)));
  assert.equal(row('nginx').ours, oursNginx);
  assert.equal(row('nginx').control, controlNginx);
  assert.equal(row('nginx').ratio, Math.round((oursNginx / controlNginx) * 1000) / 1000);
  assert.equal(row('cgroup').ours, med3(OURS.map((x) => us((x.cg / 30) * 100, x.ppm))));
  // The control's MariaDB did nothing: no ratio against 0.
  assert.equal(row('mysql').control, 0);
  assert.equal(row('mysql').ratio, null);
  // A repetition whose side was not measured (an older result) is left out of the medians, and counted out.
  const pairs = structuredClone(c.pairs);
  pairs[0]!.control.cpu_us_per_page = null;
  assert.equal(cpuSplit(pairs)!.n, 2);
  pairs.forEach((p) => (p.ours.cpu_us_per_page = null));
  assert.equal(cpuSplit(pairs), null);
});

test('"other" below 0 on one side (the cgroup and the trees are read at different instants): no ratio, and the result still validates', () => {
  // Seen in a real make bench: ours' "other" read -1 µs per page, the control's +0.4; their ratio, -2.5, failed
  // the schema and the run ended with exit 2 and no result written.
  const [o] = pairedRun();
  const pairs = structuredClone(o!.control!.pairs);
  pairs.forEach((p) => {
    p.ours.cpu_us_per_page!.other = -1;
    p.control.cpu_us_per_page!.other = 0.4;
  });
  const split = cpuSplit(pairs)!;
  const other = split.rows.find((r) => r.part === 'other')!;
  assert.equal(other.ours, -1, 'the figure itself is kept: it shows the skew');
  assert.equal(other.ratio, null);
  const doc = structuredClone(o!);
  doc.control!.pairs = pairs;
  doc.control!.cpu_per_page = split;
  assert.deepEqual(validateResult(doc), { ok: true });
});

test('the report prints the table near the projection, in markdown and html, with its reading line', () => {
  const docs = pairedRun();
  const seed = readSeed(path.join(repoRoot, 'results/seed.json'));
  const split = docs[0]!.control!.cpu_per_page!;
  const row = (part: string) => split.rows.find((r) => r.part === part)!;
  const n0 = (x: number) => Math.round(x).toLocaleString('en-US');
  const md = renderMarkdown(seed, docs, [], () => '');
  const at = md.indexOf('## seed beside the 2013-style stack: CPU per page, per service\n');
  assert.ok(at > md.indexOf('## seed beside the 2013-style stack, per repetition'), 'after the pairs table');
  assert.ok(at < md.indexOf('## Against the seed'), 'before the comparison with the seed');
  const section = md.slice(at, md.indexOf('\n\n## ', at));
  assert.match(section, /\nµs of CPU per completed page .*both stacks were loaded at once on the same quota, so the difference between the columns is the whole gap\. Medians of 3 repetitions/);
  assert.ok(section.includes('| service | ours µs/page | 2013-style µs/page | ours ÷ 2013-style |'), section);
  const nginx = row('nginx');
  assert.ok(section.includes(`| nginx | ${n0(nginx.ours!)} | ${n0(nginx.control!)} | ${nginx.ratio!.toFixed(2)} |`), section);
  assert.ok(section.includes(`| mysql | ${n0(row('mysql').ours!)} | 0 | n/a |`), section);
  const cg = row('cgroup');
  assert.ok(section.includes(`| whole stack (its cgroup) | ${n0(cg.ours!)} | ${n0(cg.control!)} | ${cg.ratio!.toFixed(2)} |`), section);
  assert.match(section, /\| other \(rest of the cgroup\) \| [\d,-]+ \| [\d,-]+ \| [\d.]+ \|/);
  const html = renderHtml(seed, docs, []);
  assert.ok(html.includes('<h2>seed beside the 2013-style stack: CPU per page, per service</h2>'), 'html section');
  assert.ok(html.includes(`<tr><td>nginx</td><td>${n0(nginx.ours!)}</td><td>${n0(nginx.control!)}</td><td>${nginx.ratio!.toFixed(2)}</td></tr>`), 'html row');
  // An older result carries no split: no section, no empty table.
  delete docs[0]!.control!.cpu_per_page;
  assert.ok(!renderMarkdown(seed, docs, [], () => '').includes('CPU per page, per service'));
  assert.ok(!renderHtml(seed, docs, []).includes('CPU per page, per service'));
});

test('the schema takes a result carrying the figures and refuses a malformed one', () => {
  const [o, c] = pairedRun();
  assert.deepEqual(validateResult(o), { ok: true });
  assert.deepEqual(validateResult(c), { ok: true });
  // Not measured (an --url server) and not recorded (an older result) are both valid.
  const unmeasured = structuredClone(o!);
  unmeasured.control!.pairs.forEach((p) => (p.ours.cpu_us_per_page = null));
  unmeasured.control!.cpu_per_page = null;
  assert.deepEqual(validateResult(unmeasured), { ok: true });
  const older = structuredClone(o!);
  older.control!.pairs.forEach((p) => delete p.ours.cpu_us_per_page);
  delete older.control!.cpu_per_page;
  delete older.series.samples_started_at;
  assert.deepEqual(validateResult(older), { ok: true });
  const badRow = structuredClone(o!);
  (badRow.control!.cpu_per_page!.rows[0] as unknown as { ours: string }).ours = 'fast';
  assert.equal(validateResult(badRow).ok, false);
  const extra = structuredClone(o!);
  (extra.control!.pairs[0]!.ours.cpu_us_per_page as unknown as Record<string, unknown>).pages = 3;
  assert.equal(validateResult(extra).ok, false);
  const noCgroupField = structuredClone(o!);
  delete (noCgroupField.control!.pairs[0]!.control.cpu_us_per_page as unknown as Record<string, unknown>).cgroup;
  assert.equal(validateResult(noCgroupField).ok, false);
  const badOrigin = structuredClone(o!);
  (badOrigin.series as unknown as Record<string, unknown>).samples_started_at = 5;
  assert.equal(validateResult(badOrigin).ok, false);
});

test('the sampler says when its t = 0 is: the origin a result records for its samples', async () => {
  const sampler = new Sampler({ services: {}, intervalMs: 60_000 });
  const before = Date.now();
  sampler.start();
  const after = Date.now();
  await sampler.stop();
  assert.ok(sampler.startedAt >= before && sampler.startedAt <= after, `${before} <= ${sampler.startedAt} <= ${after}`);
});
