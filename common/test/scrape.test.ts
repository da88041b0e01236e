// Reading a scrape with parse-prometheus-text-format: values as numbers, the summed and the per-sample views.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bySample, parseScrape, sampleKey, sumByName } from '../src/scrape.js';

const TEXT = [
  '# HELP eserver_queue_depth Entries',
  '# TYPE eserver_queue_depth gauge',
  'eserver_queue_depth 3',
  '# TYPE eserver_rejected_total counter',
  'eserver_rejected_total{reason="QUEUE_FULL"} 2',
  'eserver_rejected_total{reason="allowlist"} 5',
  'eserver_odd{path="a\\"b"} NaN',
  'eserver_big +Inf',
  '',
].join('\n');

test('labelled samples of one name are summed; NaN is left out of the sums', () => {
  const m = sumByName(parseScrape(TEXT));
  assert.equal(m.get('eserver_queue_depth'), 3);
  assert.equal(m.get('eserver_rejected_total'), 7);
  assert.equal(m.has('eserver_odd'), false);
  assert.equal(m.has('eserver_big'), false);
});

test('each sample is keyed as the exposition writes it', () => {
  const m = bySample(parseScrape(TEXT));
  assert.equal(m.get('eserver_rejected_total{reason="QUEUE_FULL"}'), 2);
  assert.equal(m.get('eserver_rejected_total{reason="allowlist"}'), 5);
  assert.ok(Number.isNaN(m.get(sampleKey('eserver_odd', { path: 'a"b' }))));
  assert.equal(m.get('eserver_queue_depth'), 3);
  assert.equal(m.get('eserver_big'), Infinity);
});

test('a last line without a newline after it is read too', () => {
  assert.equal(sumByName(parseScrape('eserver_queue_depth 3\neserver_next_seq 8002')).get('eserver_next_seq'), 8002);
});

test('text that is not the Prometheus format is refused, naming the line or the value', () => {
  assert.throws(() => parseScrape('eserver_queue_depth 3\nx{a=b} 3\n'), /invalid line: x\{a=b\} 3/);
  assert.throws(() => parseScrape('<html>\n<body>not found</body>\n'), /not the Prometheus text format: sample <html> has the value ""/);
  assert.throws(() => parseScrape('eserver_queue_depth three\n'), /eserver_queue_depth has the value "three"/);
});
