// Protection: allow-list, max connections, idle and slow-sender timeouts, buffered-bytes cap, queue full,
// and that each refusal is counted (also through the Prometheus endpoint).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { encodeFrame } from '../src/codec.js';
import { MetricsServer } from '../src/metrics.js';
import { Client, enqueueFrame, errCode, roundTrip, startServer } from './helpers/net.js';
import { waitFor } from '@eserver-lab/common/wait';
// Pacing of clients that are slow on purpose (a busy neighbour, a dribbling sender), never a wait for the server.
import { setTimeout as sleep } from 'node:timers/promises';

const SQL = 'insert into bench_events (num) values (%d)';

test('allow-list: a client bound to 127.0.0.2 is refused when only 127.0.0.1 is allowed; others are not stalled', async () => {
  const s = await startServer({ server: { allow: ['127.0.0.1'] } });
  try {
    const refused = await Client.connect(s.port, { localAddress: '127.0.0.2' });
    refused.write(enqueueFrame(SQL));
    await refused.waitClosed();
    assert.equal(refused.frames.length, 0);
    // A burst of refused and allowed connections at once: every allowed one is served.
    const tasks: Array<Promise<unknown>> = [];
    for (let i = 0; i < 50; i++) {
      tasks.push(
        Client.connect(s.port, { localAddress: '127.0.0.2' }).then(async (c) => {
          await c.waitClosed();
          return 'refused';
        }),
      );
      tasks.push(roundTrip(s.port, enqueueFrame(SQL)).then((f) => f[0].cmd));
    }
    const results = await Promise.all(tasks);
    assert.equal(results.filter((r) => r === 8001).length, 50);
    assert.equal(results.filter((r) => r === 'refused').length, 50);
    assert.equal(s.server.rejectedCounts().allowlist, 51);
    assert.equal(s.queue.length, 50);
  } finally {
    await s.close();
  }
});

test('allow-list with CIDRs and IPv4-mapped addresses (dual-stack listener)', async () => {
  const s = await startServer({ host: '::', server: { allow: ['127.0.0.0/30'] } });
  try {
    const okc = await Client.connect(s.port, { localAddress: '127.0.0.3' });
    okc.write(encodeFrame(8003, '{}'));
    assert.equal((await okc.waitFrames(1))[0].cmd, 8003);
    okc.close();
    const c = await Client.connect(s.port, { localAddress: '127.0.0.5' });
    await c.waitClosed();
    const six = await Client.connect(s.port, { host: '::1' });
    await six.waitClosed();
    assert.equal(s.server.rejectedCounts().allowlist, 2);
  } finally {
    await s.close();
  }
});

test('max connections: the connection over the limit is closed and counted', async () => {
  const s = await startServer({ server: { limits: { maxConnections: 2 } } });
  try {
    const a = await Client.connect(s.port);
    const b = await Client.connect(s.port);
    await waitFor(() => s.server.connectionCount === 2, { timeoutMs: 5000, what: 'two connections' });
    const c = await Client.connect(s.port);
    await c.waitClosed();
    assert.equal(s.server.rejectedCounts().max_connections, 1);
    a.close();
    await waitFor(() => s.server.connectionCount === 1, { timeoutMs: 5000, what: 'slot freed' });
    const [f] = await roundTrip(s.port, enqueueFrame(SQL));
    assert.equal(f.cmd, 8001);
    b.close();
  } finally {
    await s.close();
  }
});

test('idle timeout closes a silent connection; an active one survives', async () => {
  const s = await startServer({ server: { limits: { idleTimeoutMs: 150, slowSenderMs: 0 } } });
  try {
    const idle = await Client.connect(s.port);
    const busy = await Client.connect(s.port);
    let n = 0;
    while (!idle.ended) {
      busy.write(encodeFrame(8003, '{}'));
      n++;
      await busy.waitFrames(n);
      await sleep(20);
      assert.ok(n < 1000, 'idle connection never closed');
    }
    assert.equal(busy.ended, false);
    assert.equal(s.server.rejectedCounts().idle_timeout, 1);
    busy.close();
  } finally {
    await s.close();
  }
});

test('slow sender: a frame dribbled byte by byte is shed even though bytes keep coming', async () => {
  const s = await startServer({ server: { limits: { idleTimeoutMs: 0, slowSenderMs: 150 } } });
  try {
    const slow = await Client.connect(s.port);
    const req = enqueueFrame(SQL);
    let i = 0;
    while (!slow.ended && i < req.length - 1) {
      slow.write(req.subarray(i, i + 1));
      i++;
      await sleep(25);
    }
    await slow.waitClosed();
    assert.equal(slow.frames.length, 0);
    assert.equal(s.server.rejectedCounts().slow_sender, 1);
    assert.equal(s.queue.length, 0);
    const [f] = await roundTrip(s.port, enqueueFrame(SQL));
    assert.equal(f.cmd, 8001);
  } finally {
    await s.close();
  }
});

test('buffer cap: a peer that pipelines requests but never reads replies stops being read, then is shed after --slow-sender-ms', async () => {
  const s = await startServer({ server: { maxBody: 100, limits: { maxBufferedBytes: 4096, slowSenderMs: 300, idleTimeoutMs: 0 } } });
  try {
    const c = await Client.connect(s.port);
    c.socket.pause(); // never read: the replies pile up in the kernel, then in the server
    const burst = Buffer.concat(Array.from({ length: 50_000 }, () => encodeFrame(8002, '')));
    for (let i = 0; i < 40 && !c.ended; i++) {
      c.socket.write(burst);
      await sleep(10);
    }
    const paused = (): number => s.server.metrics().find((m) => m.name === 'eserver_read_paused_total')!.value;
    await waitFor(() => paused() > 0, { timeoutMs: 10_000, what: 'reading paused' });
    await waitFor(() => s.server.rejectedCounts().buffer_cap === 1, { timeoutMs: 10_000, what: 'buffer_cap refusal' });
    await waitFor(() => s.server.connectionCount === 0, { timeoutMs: 10_000, what: 'connection gone' });
    c.close();
  } finally {
    await s.close();
  }
});

test('queue full is an explicit error frame, and metrics expose every rejection by reason', async () => {
  const s = await startServer({ queue: { capacity: 3 } });
  const m = new MetricsServer({ sources: () => [s.queue, s.server], healthy: () => s.server.isListening });
  const addr = await m.listen(0);
  try {
    for (let i = 0; i < 3; i++) assert.equal((await roundTrip(s.port, enqueueFrame(SQL)))[0].cmd, 8001);
    const [full] = await roundTrip(s.port, enqueueFrame(SQL));
    assert.equal(errCode(full), 'QUEUE_FULL');
    const text = await (await fetch(`http://127.0.0.1:${addr.port}/metrics`)).text();
    for (const name of [
      'eserver_queue_depth 3',
      'eserver_queue_capacity 3',
      'eserver_enqueued_total 3',
      'eserver_dequeued_total 0',
      'eserver_rejected_total{reason="QUEUE_FULL"} 1',
      'eserver_rejected_total{reason="allowlist"} 0',
      'eserver_rejected_total{reason="slow_sender"} 0',
      'eserver_connections_total 4',
      'eserver_next_seq 4',
      '# TYPE eserver_rejected_total counter',
      '# TYPE eserver_queue_depth gauge',
    ]) {
      assert.ok(text.includes(name + '\n'), `missing "${name}" in\n${text}`);
    }
    assert.match(text, /eserver_bytes_in_total \d+/);
    assert.match(text, /eserver_bytes_out_total \d+/);
    assert.match(text, /eserver_connections_open \d+/);
    assert.ok(!text.includes('eserver_test_burn'), 'no test hook in the server (src/test-hooks/ is a separate entry)');
    const h = await fetch(`http://127.0.0.1:${addr.port}/healthz`);
    assert.equal(h.status, 200);
    assert.equal(await h.text(), 'ok');
  } finally {
    await m.close();
    await s.close();
  }
});
