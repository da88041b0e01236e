// The generator counts as webbench does (and strictly besides), checked against servers whose
// behaviour the test sets: the server answers exactly K requests, then holds every later connection
// open without a byte, so both sides can agree on exact counts whatever the machine's speed.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { runHttpLoad } from '../src/load/generator.js';
import { httpResponse, startServer, type TestServer } from './helper.js';
import { waitFor } from '@eserver-lab/common/wait';
import { freePort } from '@eserver-lab/common/free-port';

const servers: TestServer[] = [];
after(async () => {
  for (const s of servers) await s.close();
});

async function server(b: Parameters<typeof startServer>[0]) {
  const s = await startServer(b);
  servers.push(s);
  return s;
}

const OK = httpResponse('200 OK', 'ok');

test('exact counts: K answered requests are K successes, and the server agrees', async () => {
  const K = 300;
  const C = 8;
  let answered = 0;
  const s = await server((n, sock) => {
    if (n < K) {
      answered++;
      sock.end(OK);
    }
  });
  // 3 s: K requests fit with room to spare on a loaded machine (50-160 req/s were seen under a CPU cap).
  const r = await runHttpLoad({ url: s.url, clients: C, durationS: 3, warmupS: 0, workers: 2, successSignal: 'ok' });
  assert.equal(answered, K);
  assert.equal(r.counters.succeeded, K);
  assert.equal(r.counters.failed, 0);
  assert.equal(r.counters.strictOk, K);
  assert.equal(r.counters.bytes, K * Buffer.byteLength(OK));
  assert.deepEqual(r.counters.status, { 200: K });
  // Every client ends blocked on one held connection the server accepted: K + C in all.
  await waitFor(() => s.accepted() === K + C, { what: `${K + C} connections accepted` });
  assert.equal(r.latency.count, K);
  assert.ok(r.latency.p50 > 0 && r.latency.p99 >= r.latency.p50);
  assert.equal(r.series.reduce((a, p) => a + p.succeeded, 0), K);
});

test('a 502 page is a success by webbench rules and a failure by strict rules', async () => {
  const K = 120;
  const s = await server((n, sock) => {
    if (n < K) sock.end(httpResponse('502 Bad Gateway', '<html>502 Bad Gateway</html>'));
  });
  const r = await runHttpLoad({ url: s.url, clients: 4, durationS: 1, warmupS: 0, successSignal: 'ok' });
  assert.equal(r.counters.succeeded, K);
  assert.equal(r.counters.failed, 0);
  assert.equal(r.counters.strictOk, 0);
  assert.deepEqual(r.counters.status, { 502: K });
});

test("strict success needs HTTP 200 and the page's signal in the body", async () => {
  const K = 100;
  const s = await server((n, sock) => {
    if (n < K) sock.end(n % 2 === 0 ? OK : httpResponse('200 OK', 'error: queue down'));
  });
  const r = await runHttpLoad({ url: s.url, clients: 4, durationS: 1, warmupS: 0, successSignal: 'ok' });
  assert.equal(r.counters.succeeded, K);
  assert.equal(r.counters.strictOk, K / 2);
});

test('resets are failures of kind ECONNRESET', async () => {
  const K = 50;
  const s = await server((n, sock) => {
    if (n < K) sock.resetAndDestroy();
  });
  const r = await runHttpLoad({ url: s.url, clients: 4, durationS: 1, warmupS: 0, successSignal: 'ok' });
  assert.equal(r.counters.failed, K);
  assert.equal(r.counters.errors.ECONNRESET, K);
  assert.equal(r.counters.succeeded, 0);
});

test('refusals are failures of kind ECONNREFUSED and count in pages/min', async () => {
  const port = await freePort(); // nothing listens on it
  const r = await runHttpLoad({ url: `http://127.0.0.1:${port}/`, clients: 2, durationS: 1, warmupS: 0, successSignal: 'ok' });
  assert.equal(r.counters.succeeded, 0);
  assert.ok(r.counters.failed > 0);
  assert.equal(r.counters.errors.ECONNREFUSED, r.counters.failed);
  assert.equal(r.webbench.pagesPerMin, Math.trunc(r.counters.failed / (1 / 60)));
});

test('a read cut by the end of the run after some bytes counts as a success (webbench)', async () => {
  const C = 6;
  const s = await server((_n, sock) => {
    sock.write('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial');
  });
  const r = await runHttpLoad({ url: s.url, clients: C, durationS: 1, warmupS: 0, successSignal: 'ok' });
  assert.equal(r.counters.succeeded, C);
  assert.equal(r.counters.cutAtEnd, C);
  assert.equal(r.counters.strictOk, 0);
  assert.equal(r.counters.failed, 0);
});

test('warm-up requests are not counted', async () => {
  let answered = 0;
  const K = 40;
  const s = await server((n, sock) => {
    if (n < K) {
      answered++;
      sock.end(OK);
    }
  });
  // All K are answered within the 1 s warm-up, then every client holds: nothing left to measure.
  const r = await runHttpLoad({ url: s.url, clients: 2, durationS: 1, warmupS: 1, successSignal: 'ok' });
  assert.equal(answered, K);
  assert.equal(r.warmup.succeeded, K);
  assert.equal(r.counters.succeeded, 0);
});

test('the window waits for a slow-loading worker: its clients are measured as fully as the others', async () => {
  // One client per worker, each on its own source address, so the server can tell the workers
  // apart: it answers each source exactly K requests, then holds its next connection open.
  const K = 20;
  const LOAD_DELAY_MS = 2000; // longer than the whole window
  const answered = new Map<string, number>();
  const s = await server((_n, sock) => {
    const from = sock.remoteAddress ?? '?';
    const a = answered.get(from) ?? 0;
    if (a < K) {
      answered.set(from, a + 1);
      sock.end(OK);
    }
  });
  const r = await runHttpLoad({
    url: s.url, clients: 2, workers: 2, sourceAddresses: 2, durationS: 1, warmupS: 0, successSignal: 'ok',
    workerLoadDelayMs: [0, LOAD_DELAY_MS],
  });
  assert.deepEqual(Object.fromEntries(answered), { '127.0.0.1': K, '127.0.0.2': K });
  assert.equal(r.counters.succeeded, 2 * K);
  assert.equal(r.counters.failed, 0);
  assert.equal(r.warmup.succeeded, 0);
  // Both clients end blocked on one held connection each.
  await waitFor(() => s.accepted() === 2 * K + 2, { what: `${2 * K + 2} connections accepted` });
});
