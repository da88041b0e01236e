// The bench's HTTP (undici) and its reading of the queue server's /metrics, against a real queue server.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer as createHttpServer } from 'node:http';
import { connect, createServer, type AddressInfo, type Server } from 'node:net';
import { httpGet } from '../src/lab/http.js';
import { httpOk } from '../src/lab/native/health.js';
import { fetchQueueMetrics, scrapeMetric } from '../src/metrics/queue-metrics.js';
import { enqueueRequest } from '../src/protocol-bench/frames.js';
import { startQueueServer } from '../src/protocol-bench/servers.js';

function enqueue(port: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port }, () => s.write(enqueueRequest()));
    let data = Buffer.alloc(0);
    s.on('data', (c: Buffer) => {
      data = Buffer.concat([data, c]);
      // One reply frame: a 4-byte header (command, body length) and the body.
      if (data.length >= 4 && data.length >= 4 + data.readUInt16BE(2)) {
        s.destroy();
        resolve(data);
      }
    });
    s.on('error', reject);
  });
}

const listen = (srv: Server | ReturnType<typeof createHttpServer>): Promise<number> =>
  new Promise((r) => srv.listen(0, '127.0.0.1', () => r((srv.address() as AddressInfo).port)));

test('a run reads enqueued, next seq and the summed rejections from a live queue server', async () => {
  const q = await startQueueServer({ args: ['--capacity', '2'] });
  try {
    const before = await fetchQueueMetrics(q.host, q.metricsPort!);
    assert.equal(before?.enqueued, 0);
    assert.equal(before?.rejected, 0);
    for (let i = 0; i < 3; i++) await enqueue(q.port);
    const m = await fetchQueueMetrics(q.host, q.metricsPort!);
    assert.equal(m?.enqueued, 2);
    assert.equal(m?.depth, 2);
    assert.equal(m?.nextSeq, 3);
    assert.equal(m?.rejected, 1, 'the QUEUE_FULL refusal, summed over the reasons');
    assert.equal(await scrapeMetric(q.host, q.metricsPort!, 'eserver_enqueued_total'), 2);
    assert.equal(await scrapeMetric(q.host, q.metricsPort!, 'eserver_no_such_metric'), null);
  } finally {
    await q.stop();
  }
});

test('a scrape of something that is not the metrics endpoint gives no figures rather than wrong ones', async () => {
  const srv = createHttpServer((_req, res) => res.writeHead(200, { 'content-type': 'text/html' }).end('<html>\n<body>hello</body>\n'));
  const port = await listen(srv);
  try {
    assert.equal(await fetchQueueMetrics('127.0.0.1', port), null);
    await assert.rejects(scrapeMetric('127.0.0.1', port, 'eserver_drained_total'), /not the Prometheus text format/);
  } finally {
    srv.close();
  }
});

test('httpGet gives up at its deadline on a server that accepts and never answers; httpOk names the status', async () => {
  const silent = createServer(() => {});
  const port = await listen(silent);
  const answering = createHttpServer((_req, res) => res.writeHead(503).end('unavailable'));
  const port503 = await listen(answering);
  try {
    const t0 = Date.now();
    await assert.rejects(httpGet(`http://127.0.0.1:${port}/`, 300));
    assert.ok(Date.now() - t0 < 5000, 'the deadline holds');
    await assert.rejects(httpOk(`http://127.0.0.1:${port503}/healthz`), /answered 503/);
    assert.deepEqual(await httpGet(`http://127.0.0.1:${port503}/`), { status: 503, body: 'unavailable' });
  } finally {
    silent.close();
    answering.close();
  }
});
