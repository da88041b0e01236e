// The wire protocol over real sockets: byte-exact replies, framing, ordering, every error code.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { encodeFrame } from '../src/codec.js';
import type { DurableCallback, JournalSink } from '../src/contracts.js';
import { Client, enqueueFrame, errCode, roundTrip, startServer, type TestServer } from './helpers/net.js';
import { waitFor } from '@eserver-lab/common/wait';

const REF_8001_OK = Buffer.from('1f4100127b226d7367223a202273756363657373227d', 'hex');
const SQL = 'insert into bench_events (num) values (%d)';

/** One of the server's own counters (its /metrics figures), read in process. */
function counter(s: TestServer, name: string): number {
  const m = s.server.metrics().find((x) => x.name === name);
  if (!m) throw new Error(`no metric ${name}`);
  return m.value;
}

test('byte-exact replies for 8001, 8003 and 8002 (one connection per request, as the seed)', async () => {
  const s = await startServer();
  try {
    for (let i = 0; i < 2; i++) {
      const [f] = await roundTrip(s.port, enqueueFrame(SQL));
      assert.deepEqual(Buffer.concat([Buffer.from([f.cmd >> 8, f.cmd & 255, 0, f.body.length]), f.body]), REF_8001_OK);
    }
    const [len] = await roundTrip(s.port, encodeFrame(8003, '{}'));
    assert.equal(len.cmd, 8003);
    assert.equal(len.body.toString(), '2');
    const [deq] = await roundTrip(s.port, encodeFrame(8002, '{}'));
    assert.equal(deq.cmd, 8002);
    assert.equal(deq.body.toString(), '"insert into bench_events (num) values (1)"');
    const [deq2] = await roundTrip(s.port, encodeFrame(8002, '{}'));
    assert.equal(deq2.body.toString(), '"insert into bench_events (num) values (2)"');
    assert.equal((await roundTrip(s.port, encodeFrame(8003, '{}')))[0].body.toString(), '0');
  } finally {
    await s.close();
  }
});

test('raw bytes on the wire: 8001 reply is exactly the 22 reference bytes and nothing else', async () => {
  const s = await startServer();
  try {
    const c = await Client.connect(s.port);
    const got: Buffer[] = [];
    c.socket.on('data', (d: Buffer) => got.push(d));
    c.write(enqueueFrame(SQL));
    await c.waitFrames(1);
    c.socket.end();
    await c.waitClosed();
    assert.deepEqual(Buffer.concat(got), REF_8001_OK);
  } finally {
    await s.close();
  }
});

test('a request split at every byte boundary over TCP, and many frames coalesced in one write', async () => {
  const s = await startServer();
  try {
    const req = enqueueFrame(SQL);
    const c = await Client.connect(s.port);
    // Each piece is read by the server before the next is sent, so the frame really arrives split there.
    let sent = 0;
    const send = async (piece: Buffer) => {
      c.write(piece);
      sent += piece.length;
      await waitFor(() => counter(s, 'eserver_bytes_in_total') === sent, { timeoutMs: 5000, what: `the server to read ${sent} bytes` });
    };
    for (let cut = 1; cut < req.length; cut++) {
      await send(req.subarray(0, cut));
      await send(req.subarray(cut));
      await c.waitFrames(cut);
    }
    for (const f of c.frames) assert.deepEqual(f.cmd, 8001);
    // One byte per write.
    for (const b of req) await send(Buffer.from([b]));
    await c.waitFrames(req.length);
    // 1000 frames in a single write; replies come back in order.
    const burst = Buffer.concat(Array.from({ length: 1000 }, (_, i) => (i % 2 ? encodeFrame(8003, '{}') : enqueueFrame(SQL))));
    const before = c.frames.length;
    c.write(burst);
    const frames = (await c.waitFrames(before + 1000)).slice(before);
    frames.forEach((f, i) => assert.equal(f.cmd, i % 2 ? 8003 : 8001));
    // Each 8003 reports the depth right after the enqueue that preceded it.
    const depth0 = req.length;
    assert.equal(frames[1].body.toString(), String(depth0 + 1));
    assert.equal(frames[999].body.toString(), String(depth0 + 500));
    c.close();
  } finally {
    await s.close();
  }
});

test('every request error code, on a connection that stays usable', async () => {
  const s = await startServer({ queue: { capacity: 2, guard: { check: (q) => (q.includes('evil') ? { ok: false, reason: 'not allowed' } : { ok: true }) } }, server: { maxBody: 100 } });
  try {
    const c = await Client.connect(s.port);
    const cases: Array<[Buffer, string]> = [
      [encodeFrame(8001, 'not json'), 'BAD_JSON'],
      [encodeFrame(8001, '{"sq": "x %d"}'), 'MISSING_SQL'],
      [encodeFrame(8001, '{"sql": 5}'), 'MISSING_SQL'],
      [encodeFrame(8001, 'null'), 'MISSING_SQL'],
      [enqueueFrame('no placeholder'), 'BAD_PLACEHOLDER'],
      [enqueueFrame('%d %d'), 'BAD_PLACEHOLDER'],
      [encodeFrame(7777, '{}'), 'UNKNOWN_CMD'],
      [encodeFrame(8001, JSON.stringify({ sql: 'x'.repeat(200) + '%d' })), 'BODY_TOO_LARGE'],
      [enqueueFrame('evil %d'), 'SQL_REFUSED'],
      [encodeFrame(8002, '{}'), 'QUEUE_EMPTY'],
      [encodeFrame(8003, '{bad'), 'BAD_JSON'],
    ];
    for (const [req, want] of cases) {
      c.write(req);
      const f = (await c.waitFrames(c.frames.length + 1)).at(-1)!;
      assert.equal(errCode(f), want, `request ${req.subarray(4).toString().slice(0, 40)}`);
      const body = JSON.parse(f.body.toString()) as { msg: string };
      assert.ok(body.msg.length > 0);
      assert.match(f.body.toString(), /^\{"code": "[A-Z_]+", "msg": ".*"\}$/);
    }
    c.write(enqueueFrame(SQL));
    c.write(enqueueFrame(SQL));
    c.write(enqueueFrame(SQL));
    const [ok1, ok2, full] = (await c.waitFrames(cases.length + 3)).slice(cases.length);
    assert.equal(ok1.cmd, 8001);
    assert.equal(ok2.cmd, 8001);
    assert.equal(errCode(full), 'QUEUE_FULL');
    assert.equal(c.ended, false, 'connection stays open after errors');
    const counts = s.server.rejectedCounts();
    for (const code of ['BAD_JSON', 'MISSING_SQL', 'BAD_PLACEHOLDER', 'UNKNOWN_CMD', 'BODY_TOO_LARGE', 'SQL_REFUSED', 'QUEUE_EMPTY', 'QUEUE_FULL']) {
      assert.ok(counts[code] >= 1, code);
    }
    c.close();
  } finally {
    await s.close();
  }
});

test('DEQUEUE_DISABLED while a drain is configured', async () => {
  const s = await startServer({ queue: { dequeueEnabled: false } });
  try {
    const [f] = await roundTrip(s.port, encodeFrame(8002, '{}'));
    assert.equal(errCode(f), 'DEQUEUE_DISABLED');
  } finally {
    await s.close();
  }
});

function gatedJournal(): JournalSink & { open(): void; fail: boolean; flushes: number } {
  let waiters: Array<{ res: () => void; rej: (e: Error) => void }> = [];
  const j = {
    fail: false,
    flushes: 0,
    append() {},
    afterFlush<T>(done: DurableCallback<T>, ctx: T): void {
      j.flushes++;
      waiters.push({ res: () => done(ctx, null), rej: (e) => done(ctx, e) });
    },
    open() {
      const w = waiters;
      waiters = [];
      for (const x of w) (j.fail ? x.rej(new Error('disk full')) : x.res());
    },
  };
  return j;
}

test('replies stay in request order while enqueues wait for the journal; JOURNAL_FAILED', async () => {
  const j = gatedJournal();
  const s = await startServer({ queue: { journal: j } });
  try {
    const c = await Client.connect(s.port);
    const burst = Buffer.concat([enqueueFrame(SQL), encodeFrame(8003, '{}'), enqueueFrame('bad'), enqueueFrame(SQL), encodeFrame(8003, '')]);
    c.write(burst);
    // The server runs a chunk's frames as it reads them: once it has read every byte, each of the five has
    // produced its reply, so anything sent early has been counted as written by now.
    await waitFor(() => j.flushes === 2 && counter(s, 'eserver_bytes_in_total') === burst.length, { timeoutMs: 5000, what: 'the server to read the burst' });
    assert.equal(counter(s, 'eserver_bytes_out_total'), 0, 'nothing is written before the journal flush');
    assert.equal(c.frames.length, 0, 'nothing is acknowledged before the journal flush');
    j.open();
    const f = await c.waitFrames(5);
    assert.deepEqual(f.map((x) => x.cmd), [8001, 8003, 9000, 8001, 8003]);
    // 8003 counts what a consumer can take: an entry is visible once its journal group is durable.
    assert.equal(f[1].body.toString(), '0');
    assert.equal(errCode(f[2]), 'BAD_PLACEHOLDER');
    assert.equal(f[4].body.toString(), '0');
    c.write(encodeFrame(8003, ''));
    assert.equal((await c.waitFrames(6))[5].body.toString(), '2');
    j.fail = true;
    c.write(enqueueFrame(SQL));
    await waitFor(() => j.flushes === 3, { timeoutMs: 5000, what: 'third flush' });
    j.open();
    assert.equal(errCode((await c.waitFrames(7))[6]), 'JOURNAL_FAILED');
    c.close();
  } finally {
    await s.close();
  }
});

test('half-close after sending still gets every reply (journal path)', async () => {
  const j = gatedJournal();
  const s = await startServer({ queue: { journal: j } });
  try {
    const c = await Client.connect(s.port);
    c.socket.end(Buffer.concat([enqueueFrame(SQL), enqueueFrame(SQL)]));
    await waitFor(() => j.flushes === 2, { timeoutMs: 5000, what: 'flushes' });
    j.open();
    await c.waitClosed();
    assert.deepEqual(c.frames.map((f) => f.cmd), [8001, 8001]);
  } finally {
    await s.close();
  }
});

test('graceful close: the frame in flight is served, later frames get SHUTTING_DOWN, then the connection closes', async () => {
  const s = await startServer();
  const c = await Client.connect(s.port);
  const idle = await Client.connect(s.port);
  const req = enqueueFrame(SQL);
  c.write(req.subarray(0, 5));
  // The close must find the first five bytes read, so that the frame counts as in flight.
  await waitFor(() => s.server.connectionCount === 2 && counter(s, 'eserver_bytes_in_total') === 5, { timeoutMs: 5000, what: 'the partial frame to be read' });
  const closing = s.close();
  await idle.waitClosed();
  c.write(Buffer.concat([req.subarray(5), encodeFrame(8003, '{}')]));
  await c.waitClosed();
  await closing;
  assert.equal(c.frames[0].cmd, 8001);
  assert.equal(errCode(c.frames[1]), 'SHUTTING_DOWN');
  assert.equal(s.queue.length, 1);
  await assert.rejects(Client.connect(s.port, { timeoutMs: 2000 }));
});
