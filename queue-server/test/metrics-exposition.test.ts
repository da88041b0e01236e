// The /metrics endpoint through prom-client: every figure the parts report reaches the scrape unchanged (read
// back with the same library the bench uses), names that appear later are exposed, and a failing part does not
// take the others down.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { MetricSample, MetricSource } from '../src/contracts.js';
import { MetricsServer } from '../src/metrics.js';
import { bySample, parseScrape, sampleKey } from '@eserver-lab/common/scrape';
import { MemLog } from './helpers/mem-log.js';
import { enqueueFrame, errCode, roundTrip, startServer } from './helpers/net.js';

const SQL = 'insert into bench_events (num) values (%d)';

async function scrapeText(port: number): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`);
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  return res.text();
}

test('every sample the queue and the server report is scraped with its value, type and help', async () => {
  const s = await startServer({ queue: { capacity: 2 } });
  const m = new MetricsServer({ sources: () => [s.queue, s.server], healthy: () => true });
  const addr = await m.listen(0);
  try {
    for (let i = 0; i < 2; i++) assert.equal((await roundTrip(s.port, enqueueFrame(SQL)))[0].cmd, 8001);
    assert.equal(errCode((await roundTrip(s.port, enqueueFrame(SQL)))[0]), 'QUEUE_FULL');
    const text = await scrapeText(addr.port);
    // Read the parts after the scrape: nothing moves in between (no client is connected any more).
    const reported: MetricSample[] = [...s.queue.metrics(), ...s.server.metrics()];
    const scraped = bySample(parseScrape(text));
    assert.equal(scraped.size, reported.length, `scraped ${[...scraped.keys()].join(', ')}`);
    for (const r of reported) {
      assert.equal(scraped.get(sampleKey(r.name, r.labels)), r.value, sampleKey(r.name, r.labels));
      assert.ok(text.includes(`# TYPE ${r.name} ${r.type}\n`), `type of ${r.name}`);
      assert.ok(text.includes(`# HELP ${r.name} ${r.help}\n`), `help of ${r.name}`);
    }
    assert.equal(scraped.get('eserver_enqueued_total'), 2);
    assert.equal(scraped.get('eserver_rejected_total{reason="QUEUE_FULL"}'), 1);
  } finally {
    await m.close();
    await s.close();
  }
});

test('a label value or a source that appears after the first scrape is in the next one', async () => {
  const rejected = new Map<string, number>();
  const counts: MetricSource = {
    metrics: () => [...rejected].map(([reason, value]) => ({ name: 'x_rejected_total', help: 'by reason', type: 'counter' as const, value, labels: { reason } })),
  };
  const late: MetricSource = { metrics: () => [{ name: 'x_late', help: 'added later', type: 'gauge', value: 7 }] };
  const sources: MetricSource[] = [counts];
  const m = new MetricsServer({ sources: () => sources, healthy: () => true });
  const addr = await m.listen(0);
  try {
    assert.equal(bySample(parseScrape(await scrapeText(addr.port))).size, 0);
    rejected.set('a', 3);
    sources.push(late);
    let scraped = bySample(parseScrape(await scrapeText(addr.port)));
    assert.equal(scraped.get('x_rejected_total{reason="a"}'), 3);
    assert.equal(scraped.get('x_late'), 7);
    // A counter's value is read afresh at every scrape, not added to the last one.
    rejected.set('a', 5);
    rejected.set('b', 1);
    scraped = bySample(parseScrape(await scrapeText(addr.port)));
    assert.equal(scraped.get('x_rejected_total{reason="a"}'), 5);
    assert.equal(scraped.get('x_rejected_total{reason="b"}'), 1);
  } finally {
    await m.close();
  }
});

test('a source that throws is logged and left out; the others are still exposed', async () => {
  const log = new MemLog();
  let broken = false;
  const flaky: MetricSource = {
    metrics: () => {
      if (broken) throw new Error('boom');
      return [{ name: 'x_flaky', help: 'h', type: 'gauge', value: 1 }];
    },
  };
  const fine: MetricSource = { metrics: () => [{ name: 'x_fine_total', help: 'h', type: 'counter', value: 4 }] };
  const m = new MetricsServer({ sources: () => [flaky, fine], healthy: () => true, log });
  const addr = await m.listen(0);
  try {
    assert.equal(bySample(parseScrape(await scrapeText(addr.port))).get('x_flaky'), 1);
    broken = true;
    const scraped = bySample(parseScrape(await scrapeText(addr.port)));
    assert.equal(scraped.get('x_fine_total'), 4);
    assert.equal(scraped.has('x_flaky'), false);
    assert.ok(log.count('metrics_source_failed') > 0);
  } finally {
    await m.close();
  }
});
