// Issue 14, defect 1: no frame kills the process and no reply can exceed the uint16 frame limit. Replies
// that echo request text are cut; a statement whose 8002 reply would not fit is refused at enqueue; an
// entry already queued whose reply cannot be encoded stays queued; an exception inside one connection's
// handling ends that connection only.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { encodeFrame, pyJsonString } from '../src/codec.js';
import { Queue } from '../src/queue.js';
import { SqlGuard } from '../src/sql-guard.js';
import { Client, bodyJson, enqueueFrame, errCode, startServer } from './helpers/net.js';
import type { Logger } from '../src/contracts.js';
import { waitFor } from '@eserver-lab/common/wait';

const MAX = 0xffff;
const DEL = '\u007f'; // 1 byte of UTF-8 in the request, 6 bytes (\u007f) in a Python-style JSON reply

// With a drain into MySQL (no 8002), so that the guard, not the 8002-reply size check, answers these.
function guarded(): { guard: SqlGuard; dequeueEnabled: false } {
  return { guard: new SqlGuard({ allowTables: ['bench_events'] }), dequeueEnabled: false };
}

/** Sends frames on one connection and returns the replies; the connection must stay open and usable. */
async function exchange(port: number, reqs: Buffer[]): Promise<Array<{ cmd: number; body: Buffer }>> {
  const c = await Client.connect(port);
  try {
    c.write(Buffer.concat([...reqs, encodeFrame(8003, '')]));
    const frames = await c.waitFrames(reqs.length + 1);
    assert.equal(frames.at(-1)!.cmd, 8003, 'the connection still answers after the error');
    return frames.slice(0, reqs.length);
  } finally {
    c.close();
  }
}

test('the issue repro: a table name of 11,000 U+007F gets SQL_REFUSED within the frame limit, and the server stays up', async () => {
  const s = await startServer({ queue: guarded() });
  try {
    const [f] = await exchange(s.port, [enqueueFrame(`INSERT INTO \`${DEL.repeat(11_000)}\` (a) VALUES (%d)`)]);
    assert.equal(errCode(f), 'SQL_REFUSED');
    assert.ok(f.body.length <= MAX);
    const msg = (bodyJson(f) as { msg: string }).msg;
    assert.match(msg, /is not in the allow-list/);
    assert.ok(msg.length < 1000, `the echoed name is cut (${msg.length} chars)`);
  } finally {
    await s.close();
  }
});

test('every echoing refusal stays within the frame limit at the largest request body', async () => {
  const s = await startServer({ queue: guarded() });
  try {
    // Request bodies as close to 65535 bytes as possible, each echoing a long part of the statement.
    // unit: bytes one repetition takes in the JSON request.
    const fill = (make: (n: number) => string, unit = 1): Buffer => {
      const base = Buffer.byteLength(JSON.stringify({ sql: make(0) }));
      return encodeFrame(8001, JSON.stringify({ sql: make(Math.floor((MAX - base) / unit)) }));
    };
    const reqs = [
      fill((n) => `insert into t (a) values (${'A'.repeat(n)}, %d)`), // only literals are allowed (found "...")
      fill((n) => `insert into t (a) values (${'A'.repeat(n)}(1), %d)`), // functions are refused (...)
      fill((n) => `insert ${'A'.repeat(n)} into t (a) values (%d)`), // INSERT modifiers are refused (...)
      fill((n) => `insert into \`${'"'.repeat(n)}\` (a) values (%d)`, 2), // table name, quotes escaped twice
      fill((n) => `insert into \`${'\\'.repeat(n)}\` (a) values (%d)`, 2),
      fill((n) => `insert into \`${DEL.repeat(n)}\` (a) values (%d)`),
      fill((n) => `insert into \`${'\u0800'.repeat(n)}\` (a) values (%d)`, 3),
      fill((n) => `insert into \`${'\u{1F600}'.repeat(n)}\` (a) values (%d)`, 4), // non-BMP: 12 bytes escaped
    ];
    for (const r of reqs) assert.ok(r.length <= MAX + 4 && r.length > MAX - 100, 'a maximum-size request');
    const replies = await exchange(s.port, reqs);
    for (const f of replies) {
      assert.equal(errCode(f), 'SQL_REFUSED', f.body.subarray(0, 80).toString());
      assert.ok(f.body.length <= 4096, `reply of ${f.body.length} bytes`);
    }
    assert.equal(s.queue.length, 0);
  } finally {
    await s.close();
  }
});

/** A statement (no guard) whose 8002 reply, with seq 1, is exactly `bytes` long after Python-style escaping. */
function statementWithReplyOf(bytes: number): string {
  const head = "insert into t (a, b) values (%d, '";
  const tail = "')";
  const fixed = pyJsonString(head.replace('%d', '1') + tail).length;
  const chars = bytes - fixed;
  return head + '\u0800'.repeat(Math.floor(chars / 6)) + 'x'.repeat(chars % 6) + tail;
}

test('8001 of a statement whose 8002 reply would exceed 65535 bytes is refused with ENTRY_TOO_LARGE; one that fits is served', async () => {
  const s = await startServer();
  try {
    const fits = statementWithReplyOf(MAX);
    const tooBig = statementWithReplyOf(MAX + 1);
    assert.ok(Buffer.byteLength(JSON.stringify({ sql: tooBig })) < MAX, 'the request itself is within the body limit');
    const [refused, ok] = await exchange(s.port, [enqueueFrame(tooBig), enqueueFrame(fits)]);
    assert.equal(errCode(refused), 'ENTRY_TOO_LARGE');
    assert.match((bodyJson(refused) as { msg: string }).msg, /65535/);
    assert.equal(ok.cmd, 8001);
    assert.equal(s.queue.length, 1);
    const [deq] = await exchange(s.port, [encodeFrame(8002, '')]);
    assert.equal(deq.cmd, 8002);
    assert.equal(deq.body.length, MAX);
    assert.equal(JSON.parse(deq.body.toString()), fits.replace('%d', '1'));
  } finally {
    await s.close();
  }
});

test('20,000 × U+0800 in a string literal: refused at enqueue instead of killing the server at 8002', async () => {
  const s = await startServer();
  try {
    const sql = `insert into t (a, b) values (%d, '${'\u0800'.repeat(20_000)}')`;
    const [f] = await exchange(s.port, [enqueueFrame(sql)]);
    assert.equal(errCode(f), 'ENTRY_TOO_LARGE');
    assert.equal(s.queue.length, 0);
  } finally {
    await s.close();
  }
});

test('an entry already queued whose 8002 reply cannot be encoded stays queued, with a clear error', async () => {
  const s = await startServer();
  try {
    // As replayed from a journal written before the enqueue-time check existed.
    const big = `insert into t (a, b) values (1, '${'\u0800'.repeat(20_000)}')`;
    s.queue.restore([{ seq: 1, sql: big }, { seq: 2, sql: 'insert into t (a) values (2)' }], 3);
    const [a, b] = await exchange(s.port, [encodeFrame(8002, ''), encodeFrame(8002, '')]);
    for (const f of [a, b]) {
      assert.equal(errCode(f), 'ENTRY_TOO_LARGE');
      assert.match((bodyJson(f) as { msg: string }).msg, /seq 1.*stays in the queue/);
    }
    assert.equal(s.queue.length, 2, 'nothing was removed');
    assert.equal(s.queue.peekBatch(1)[0].sql, big);
  } finally {
    await s.close();
  }
});

test('an exception while handling one connection closes that connection (logged, counted), not the process', async () => {
  class BrokenLength extends Queue {
    broken = false;
    override get length(): number {
      if (this.broken) throw new TypeError('simulated bug in the queue');
      return super.length;
    }
  }
  const logged: Array<{ event: string; fields?: Record<string, unknown> }> = [];
  const log: Logger = {
    info() {},
    warn() {},
    error: (event, fields) => logged.push({ event, fields }),
  };
  const queue = new BrokenLength();
  const { QueueServer } = await import('../src/server.js');
  const server = new QueueServer({ queue, log });
  const { port } = await server.listen(0, '127.0.0.1');
  try {
    const bystander = await Client.connect(port);
    const victim = await Client.connect(port);
    queue.broken = true;
    victim.write(Buffer.concat([enqueueFrame('insert into t (a) values (%d)'), encodeFrame(8003, '')]));
    await victim.waitClosed();
    queue.broken = false;
    assert.equal(victim.frames.length, 1, 'the reply produced before the failure was still sent');
    assert.equal(victim.frames[0].cmd, 8001);
    await waitFor(() => server.rejectedCounts().internal_error === 1, { timeoutMs: 5000, what: 'internal_error counted' });
    assert.equal(logged[0]?.event, 'connection_failed');
    assert.match(String(logged[0]?.fields?.err), /simulated bug/);
    bystander.write(encodeFrame(8003, ''));
    const [len] = await bystander.waitFrames(1);
    assert.equal(len.body.toString(), '1');
    bystander.close();
  } finally {
    await server.close();
  }
});
