import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseWebbenchOutput, webbenchFigures, webbenchLines } from '../src/load/summary.js';
import { envOverrides, resolveProfile } from '../src/plan/profiles.js';
import { toQueueMetrics } from '../src/metrics/queue-metrics.js';

test("the seed's own figures come out of webbench's formulas", () => {
  const f = webbenchFigures(21613, 0, 129975 * 30, 30);
  assert.deepEqual(f, { pagesPerMin: 43226, bytesPerSec: 129975 });
  assert.deepEqual(webbenchLines(f, 21613, 0), ['Speed=43226 pages/min, 129975 bytes/sec.', 'Requests: 21613 susceed, 0 failed.']);
});

test('pages/min includes failures and truncates; bytes/sec truncates', () => {
  assert.equal(webbenchFigures(100, 50, 0, 30).pagesPerMin, 300);
  assert.deepEqual(webbenchFigures(1, 0, 10, 7), { pagesPerMin: 8, bytesPerSec: 1 });
});

test("webbench's output parses back, and other text does not", () => {
  const text = 'Webbench - Simple Web Benchmark 1.5\n...\nSpeed=260054 pages/min, 780162 bytes/sec.\nRequests: 130027 susceed, 0 failed.\n';
  assert.deepEqual(parseWebbenchOutput(text), { pagesPerMin: 260054, bytesPerSec: 780162, succeeded: 130027, failed: 0 });
  assert.equal(parseWebbenchOutput('Speed=1 pages/min'), null);
});

test('profiles: flags win over env, env over the profile', () => {
  const env = envOverrides({ BENCH_CONCURRENCY: '300', BENCH_DURATION: '7' });
  const p = resolveProfile('seed', { durationS: 2 }, env);
  assert.equal(p.concurrency, 300);
  assert.equal(p.durationS, 2);
  assert.equal(p.page, 'client');
  assert.equal(resolveProfile('baseline', {}, {}).concurrency, 10000);
  assert.throws(() => resolveProfile('nope', {}, {}), /unknown profile/);
  assert.throws(() => envOverrides({ BENCH_CONCURRENCY: 'lots' }), /BENCH_CONCURRENCY/);
});

test('queue metrics: labelled samples of one name are summed', () => {
  const m = toQueueMetrics([
    '# HELP eserver_queue_depth Entries', 'eserver_queue_depth 3', 'eserver_enqueued_total 8001',
    'eserver_rejected_total{reason="full"} 2', 'eserver_rejected_total{reason="bad_sql"} 5', 'eserver_next_seq 8002',
  ].join('\n'));
  assert.equal(m.depth, 3);
  assert.equal(m.enqueued, 8001);
  assert.equal(m.rejected, 7);
  assert.equal(m.nextSeq, 8002);
  assert.equal(m.committedSeq, null);
});
