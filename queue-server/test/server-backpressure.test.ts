// Issue 14, defect 11: a burst of 8002 frames in one read must not pop entries whose replies are then
// dropped. The server stops consuming a connection's frames once its unsent replies reach
// --max-buffered-bytes, pauses the socket, and resumes when the peer has read them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { encodeFrame } from '../src/codec.js';
import { Client, startServer } from './helpers/net.js';
import { waitFor } from '@eserver-lab/common/wait';

const BURST = 16_384; // 64 KB of empty 8002 frames: one socket read

function fill(q: { enqueue(sql: string): unknown }, n: number, pad: number): void {
  const s = 'x'.repeat(pad);
  for (let i = 0; i < n; i++) q.enqueue(`insert into t (a, s) values (%d, '${s}')`);
}

function seqOf(body: Buffer): number {
  return Number(/values \((\d+),/.exec(JSON.parse(body.toString()) as string)![1]);
}

test('16k 8002 frames in one write to a reading peer: every popped entry is answered, in order', { timeout: 60_000 }, async () => {
  const s = await startServer({ queue: { capacity: 40_000 } });
  try {
    fill(s.queue, 20_000, 200); // ~250-byte replies: 4 MB for the burst, 4x the default cap
    const c = await Client.connect(s.port);
    c.write(Buffer.concat(Array.from({ length: BURST }, () => encodeFrame(8002, ''))));
    const frames = await c.waitFrames(BURST, 30_000);
    frames.forEach((f, i) => {
      assert.equal(f.cmd, 8002);
      assert.equal(seqOf(f.body), i + 1);
    });
    assert.equal(s.queue.length, 20_000 - BURST);
    assert.equal(s.server.rejectedCounts().buffer_cap, 0);
    c.close();
  } finally {
    await s.close();
  }
});

test('a peer that reads late: reading pauses at the cap, nothing popped is dropped, all replies arrive once it reads', { timeout: 60_000 }, async () => {
  const s = await startServer({ queue: { capacity: 40_000 }, server: { limits: { maxBufferedBytes: 256 * 1024, slowSenderMs: 0 } } });
  try {
    fill(s.queue, 20_000, 2000); // ~2 KB replies: 32 MB for the burst, beyond what the kernel buffers hold
    const c = await Client.connect(s.port);
    c.socket.pause();
    c.write(Buffer.concat(Array.from({ length: BURST }, () => encodeFrame(8002, ''))));
    await waitFor(() => s.server.metrics().some((m) => m.name === 'eserver_read_paused_total' && m.value > 0), { timeoutMs: 20_000, what: 'reading paused' });
    const popped = 20_000 - s.queue.length;
    assert.ok(popped < BURST, `only what the buffers hold was popped (${popped})`);
    c.socket.resume();
    const frames = await c.waitFrames(BURST, 30_000);
    frames.forEach((f, i) => assert.equal(seqOf(f.body), i + 1));
    assert.equal(s.queue.length, 20_000 - BURST);
    assert.equal(s.server.rejectedCounts().buffer_cap, 0);
    c.close();
  } finally {
    await s.close();
  }
});

test('shutdown while reading is paused: the held frames are answered (SHUTTING_DOWN), no popped entry is dropped', { timeout: 60_000 }, async () => {
  const s = await startServer({ queue: { capacity: 40_000 }, server: { shutdownGraceMs: 20_000, limits: { maxBufferedBytes: 128 * 1024, slowSenderMs: 0, idleTimeoutMs: 0 } } });
  fill(s.queue, 20_000, 2000);
  const c = await Client.connect(s.port);
  c.socket.pause();
  c.write(Buffer.concat(Array.from({ length: BURST }, () => encodeFrame(8002, ''))));
  await waitFor(() => s.server.metrics().some((m) => m.name === 'eserver_read_paused_total' && m.value > 0), { timeoutMs: 20_000, what: 'reading paused' });
  const closing = s.close();
  c.socket.resume();
  await c.waitClosed(30_000);
  await closing;
  const got = c.frames.filter((f) => f.cmd === 8002);
  const refused = c.frames.filter((f) => f.cmd === 9000);
  assert.ok(refused.length > 0, 'frames read after the shutdown began are refused');
  assert.ok(refused.every((f) => /SHUTTING_DOWN/.test(f.body.toString())));
  got.forEach((f, i) => assert.equal(seqOf(f.body), i + 1));
  assert.equal(got.length + s.queue.length, 20_000, 'every popped entry reached the peer');
});
