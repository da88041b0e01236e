// A real (small) run against a local server through runBench: the result file validates against
// the schema, latest.json is written, and the report renders its SVG charts and the seed comparison.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { renderReport } from '../src/report/index.js';
import { runBench } from '../src/run/bench.js';
import { validateResult } from '../src/results/validate.js';
import type { ResultDoc } from '../src/results/types.js';
import { readBatch } from '../src/results/writer.js';
import { httpResponse, startServer, type TestServer } from './helper.js';
import { repoRoot } from '@eserver-lab/common/repo-root';

let dir = '';
let srv: TestServer;
let doc: ResultDoc;
let file = '';

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-results-'));
  fs.copyFileSync(path.join(repoRoot, 'results/seed.json'), path.join(dir, 'seed.json'));
  srv = await startServer((n, sock) => {
    if (n < 200) sock.end(httpResponse('200 OK', 'ok'));
  });
  const out = await runBench({
    profiles: ['smoke'], overrides: { concurrency: 4, durationS: 2, warmupS: 0 }, runtime: 'auto', tool: 'node',
    url: srv.url, outDir: dir,
  });
  assert.equal(out.docs.length, 1);
  doc = out.docs[0];
  file = out.files[0];
});

after(async () => {
  await srv.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

test('the result file validates and carries the run', () => {
  const onDisk = JSON.parse(fs.readFileSync(file, 'utf8')) as ResultDoc;
  assert.deepEqual(validateResult(onDisk), { ok: true });
  assert.match(path.basename(file), /^\d{4}-\d\d-\d\dT\d\d-\d\d-\d\dZ-external-smoke\.json$/);
  assert.deepEqual(JSON.parse(fs.readFileSync(path.join(dir, 'latest.json'), 'utf8')), onDisk);
  assert.equal(onDisk.summary.succeeded, 200);
  assert.equal(onDisk.summary.strict_ok, 200);
  assert.equal(onDisk.summary.pages_per_min, Math.trunc(200 / (2 / 60)));
  assert.equal(onDisk.summary.lines[0], `Speed=${onDisk.summary.pages_per_min} pages/min, ${onDisk.summary.bytes_per_sec} bytes/sec.`);
  assert.equal(onDisk.summary.lines[1], 'Requests: 200 susceed, 0 failed.');
  assert.equal(onDisk.series.load.length, 2);
  assert.ok(onDisk.series.samples.length >= 1, 'the sampler recorded at least one second');
  assert.ok(onDisk.series.samples[0].services.loadgen, 'the load generator samples itself');
  assert.equal(onDisk.machine.cores, os.cpus().length);
  assert.equal(onDisk.versions.node, process.versions.node);
  assert.equal(onDisk.loss_check, null);
  assert.equal(onDisk.verdict.ok, true);
});

test('an invalid result fails validation', () => {
  const bad = structuredClone(doc) as unknown as Record<string, any>;
  delete bad.summary.pages_per_min;
  const r = validateResult(bad);
  assert.equal(r.ok, false);
  const bad2 = structuredClone(doc) as unknown as Record<string, any>;
  bad2.summary.failed = 'none';
  assert.equal(validateResult(bad2).ok, false);
  const bad3 = structuredClone(doc) as unknown as Record<string, any>;
  bad3.loss_check = { acked: 1, rows: 1 };
  assert.equal(validateResult(bad3).ok, false);
});

test('the report shows SVG charts and the comparison with 43226 pages/min', () => {
  const html = fs.readFileSync(path.join(dir, 'latest.html'), 'utf8');
  const md = fs.readFileSync(path.join(dir, 'latest.md'), 'utf8');
  assert.match(html, /<svg[^>]*>/);
  assert.ok((html.match(/<svg /g) ?? []).length >= 3, 'throughput, latency and CPU/RSS charts');
  assert.match(html, /ratio to 43226/);
  assert.match(html, /43,226/);
  assert.ok(!/<script|src="http/.test(html), 'self-contained');
  assert.match(md, /\| pages\/min \| 43,226 \| [\d,]+ \|/);
  assert.match(md, /!\[Throughput over time\]\(latest-throughput\.svg\)/);
  assert.ok(fs.readFileSync(path.join(dir, 'latest-throughput.svg'), 'utf8').startsWith('<svg'));
});

test('make report re-renders from the JSON, combining the profiles of one run', async () => {
  // A second profile of the same batch (a baseline) joins the report and gives the queue-cost ratio.
  const base = structuredClone(doc);
  base.profile = 'baseline';
  base.config.page = 'baseline';
  base.summary.pages_per_min = Math.round(doc.summary.pages_per_min / 0.8);
  base.started_at = new Date(Date.parse(doc.started_at) + 1000).toISOString();
  fs.writeFileSync(path.join(dir, 'x-baseline.json'), JSON.stringify(base));
  fs.rmSync(path.join(dir, 'latest.md'));
  const docs = readBatch(path.join(dir, 'latest.json'));
  assert.deepEqual(docs.map((d) => d.profile).sort(), ['baseline', 'smoke']);
  const r = await renderReport(docs, dir);
  const md = fs.readFileSync(r.md, 'utf8');
  assert.match(md, /client\.php \/ baseline: 0\.8\d\d/);
});

test('the report says which runtime ran our queue server, with its version', async () => {
  const out = fs.mkdtempSync(path.join(dir, 'runtime-'));
  const onBun = structuredClone(doc);
  onBun.queue_server = {
    impl: 'ts', runtime: 'bun', fsync: 'always', requested: { runtime: 'bun', fsync: 'always' }, exe: '/x/bin/bun', read_back: { runtime: true, fsync: true },
  };
  onBun.versions = { ...onBun.versions, bun: '1.4.5' };
  const onNode = structuredClone(onBun);
  onNode.queue_server = { ...onBun.queue_server, runtime: 'node', requested: { runtime: 'node', fsync: 'always' }, exe: '/usr/bin/node' };
  let r = await renderReport([onBun], out, path.join(dir, 'seed.json'));
  assert.match(fs.readFileSync(r.md, 'utf8'), /our queue server on \*\*bun 1\.4\.5\*\*,/);
  assert.match(fs.readFileSync(r.html, 'utf8'), /our queue server on <b>bun 1\.4\.5<\/b>,/);
  r = await renderReport([onBun, onNode], out, path.join(dir, 'seed.json'));
  assert.match(fs.readFileSync(r.md, 'utf8'), new RegExp(`our queue server on \\*\\*bun 1\\.4\\.5\\*\\* and \\*\\*node ${onNode.versions.node!.replace(/\./g, '\\.')}\\*\\*`));
  // A run against an external URL has no queue server of ours: nothing is claimed.
  r = await renderReport([doc], out, path.join(dir, 'seed.json'));
  assert.doesNotMatch(fs.readFileSync(r.md, 'utf8'), /our queue server on/);
});
