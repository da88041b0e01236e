// The protocol load driver against a tiny server that this test controls and counts on its own.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, openSync, readSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { runProtocolLoad } from '../src/protocol-bench/driver.js';
import { EXPECTED_OK, frame } from '../src/protocol-bench/frames.js';
import { parseStatusRssBytes, sampleProc } from '../src/protocol-bench/procstat.js';
import { clockTicksPerSecond } from '@eserver-lab/common/proc-stat';

interface Tally {
  connections: number;
  okSent: number;
  errSent: number;
  peers: Set<string>;
}

/** Answers every 8001 frame; every `errorEvery`-th request overall gets a 9000 error frame instead. */
function tinyServer(errorEvery: number): Promise<{ server: Server; port: number; tally: Tally; sockets: Set<Socket> }> {
  const tally: Tally = { connections: 0, okSent: 0, errSent: 0, peers: new Set() };
  const sockets = new Set<Socket>();
  let n = 0;
  const err = frame(9000, '{"code": "TEST", "msg": "injected"}');
  const server = createServer((s) => {
    tally.connections++;
    tally.peers.add(s.remoteAddress ?? '?');
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => {});
    let buf = Buffer.alloc(0);
    s.on('data', (c) => {
      buf = Buffer.concat([buf, c]);
      while (buf.length >= 4 && buf.length >= 4 + buf.readUInt16BE(2)) {
        const len = 4 + buf.readUInt16BE(2);
        buf = buf.subarray(len);
        n++;
        if (errorEvery > 0 && n % errorEvery === 0) {
          tally.errSent++;
          s.write(err);
        } else {
          tally.okSent++;
          s.write(EXPECTED_OK);
        }
      }
    });
  });
  return new Promise((res) => server.listen(0, '127.0.0.1', () => {
    const a = server.address();
    res({ server, port: typeof a === 'object' && a ? a.port : 0, tally, sockets });
  }));
}

async function close(t: { server: Server; sockets: Set<Socket> }): Promise<void> {
  for (const s of t.sockets) s.destroy();
  await new Promise((r) => t.server.close(r));
}

test('conn-per-req: one connection per request, counts match the server, source addresses spread', async () => {
  const t = await tinyServer(0);
  try {
    const r = await runProtocolLoad({ host: '127.0.0.1', port: t.port, mode: 'conn-per-req', concurrency: 20, durationMs: 1500, threads: 2, sourceAddrCount: 4 });
    assert.ok(r.ok > 50, `only ${r.ok} ok`);
    assert.equal(r.failed, 0, JSON.stringify(r.errors));
    // Every request had its own connection; replies that landed after the window are not counted,
    // so the server may have answered at most one more request per client than the driver counted.
    assert.ok(t.tally.okSent >= r.ok && t.tally.okSent <= r.ok + r.unfinished + 20, `server ${t.tally.okSent} vs driver ${r.ok}`);
    assert.ok(t.tally.connections >= r.ok && t.tally.connections <= r.ok + 20 + 20);
    assert.deepEqual([...t.tally.peers].sort(), ['127.0.0.1', '127.0.0.2', '127.0.0.3', '127.0.0.4']);
    assert.ok(r.latencyUs.p50 > 0 && r.latencyUs.p50 <= r.latencyUs.p99 && r.latencyUs.p99 <= r.latencyUs.p999);
    assert.ok(Math.abs(r.reqPerSec - r.ok / 1.5) < 1e-6);
  } finally {
    await close(t);
  }
});

test('conn-per-req by default binds no source address: connect() picks the port, so TIME_WAIT left by earlier cells costs nothing', async () => {
  // With a source address bound before connect, the kernel searches for a free port among every socket
  // bound to it, TIME_WAIT ones included: after a fast cell had left ~90k of them, the next cell's
  // generator spent both CPUs in that search and its server got 300 req/s instead of 3,400
  // (queue-server/README.md, "Benchmark (`make bench-proto`)").
  const t = await tinyServer(0);
  try {
    const r = await runProtocolLoad({ host: '127.0.0.1', port: t.port, mode: 'conn-per-req', concurrency: 8, durationMs: 500, threads: 1 });
    assert.ok(r.ok > 10, `only ${r.ok} ok`);
    assert.deepEqual([...t.tally.peers], ['127.0.0.1']);
  } finally {
    await close(t);
  }
});

test('persistent: C connections reused; error replies are counted as failures by their cmd', async () => {
  const t = await tinyServer(4);
  try {
    const r = await runProtocolLoad({ host: '127.0.0.1', port: t.port, mode: 'persistent', concurrency: 8, durationMs: 1500, threads: 2 });
    assert.ok(r.ok > 100, `only ${r.ok} ok`);
    // A failed request makes the client reconnect, so connections = 8 + failures (within the window).
    assert.equal(Object.keys(r.errors).join(','), 'reply:9000');
    assert.equal(r.errors['reply:9000'], r.failed);
    assert.ok(t.tally.errSent >= r.failed && t.tally.errSent <= r.failed + 8);
    assert.ok(t.tally.okSent >= r.ok && t.tally.okSent <= r.ok + 8);
    // One in four requests got the error, so ok ≈ 3 × failed (±1 per client at the window's edge).
    assert.ok(Math.abs(r.ok - 3 * r.failed) <= 3 * 8 + 8, `ok ${r.ok} failed ${r.failed}`);
    // A failure at the window's edge may end the run before its client reconnects: up to one per client.
    assert.ok(t.tally.connections >= 8 + r.failed - 8 && t.tally.connections <= 8 + r.failed + 8,
      `connections ${t.tally.connections}, failed ${r.failed}`);
  } finally {
    await close(t);
  }
});

test('a refused connection is a counted failure, not a hang', async () => {
  const t = await tinyServer(0);
  await close(t); // nothing listens on this port any more
  const r = await runProtocolLoad({ host: '127.0.0.1', port: t.port, mode: 'conn-per-req', concurrency: 2, durationMs: 300, threads: 1 });
  assert.equal(r.ok, 0);
  assert.ok(r.failed > 0);
  assert.ok((r.errors.ECONNREFUSED ?? 0) > 0, JSON.stringify(r.errors));
});

test('/proc sampling: RSS from VmRSS; CPU ticks grow with work', () => {
  assert.equal(parseStatusRssBytes('Name:\tx\nVmRSS:\t   2048 kB\n'), 2048 * 1024);
  assert.ok(sampleProc(process.pid).rssBytes > 1 << 20);
});

test('/proc CPU of this process: a known CPU burn shows in its ticks, at the real CLK_TCK', () => {
  // The reference is the kernel's own account of the same process in µs (getrusage): a wrong stat field,
  // a wrong tick rate or another pid's stat moves the two apart by far more than a few ticks.
  const ticksPerS = clockTicksPerSecond();
  const ticks0 = sampleProc(process.pid).cpuTicks;
  const ref0 = process.cpuUsage();
  const deadline = Date.now() + 30_000;
  let ref = process.cpuUsage(ref0);
  let x = 0;
  // Burn until 0.3 s of CPU is spent, however much the machine's other work stretches it: user time in
  // arithmetic, system time in the kernel filling buffers from /dev/zero.
  const zero = openSync('/dev/zero', 'r');
  const buf = Buffer.alloc(1 << 20);
  try {
    while (ref.user + ref.system < 300_000 && Date.now() < deadline) {
      for (let i = 0; i < 100_000; i++) x += Math.sqrt(i + x);
      for (let i = 0; i < 20; i++) readSync(zero, buf);
      ref = process.cpuUsage(ref0);
    }
  } finally {
    closeSync(zero);
  }
  const burntS = (sampleProc(process.pid).cpuTicks - ticks0) / ticksPerS;
  const refS = (ref.user + ref.system) / 1e6;
  assert.ok(x > 0 && refS >= 0.3, `the burn got ${refS} s of CPU in 30 s`);
  assert.ok(ref.system >= 0.2 * refS * 1e6, `the burn spent ${ref.system / 1e6} s of ${refS} s in the kernel`);
  // Each end of the tick count may be a tick off, plus what other threads spend between the two reads.
  assert.ok(Math.abs(burntS - refS) <= 3 / ticksPerS + 0.05 * refS, `/proc: ${burntS} s, getrusage: ${refS} s (CLK_TCK ${ticksPerS})`);
});
