// Socket fuzz against the real CLI process: garbage and mutated frames must leave it up, answering,
// with memory bounded.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { encodeFrame } from '../src/codec.js';
import { enqueueFrame, roundTrip } from './helpers/net.js';
import { rssBytes, runCli, scrape } from './helpers/cli.js';
import { runFuzz } from './helpers/fuzz-frames.js';

// Deterministic PRNG so a failure can be replayed.
function prng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 0x100000000;
  };
}

function sendAndClose(port: number, chunks: Buffer[], localAddress: string): Promise<void> {
  return new Promise((resolve) => {
    const s = net.connect({ port, host: '127.0.0.1', localAddress });
    s.on('error', () => resolve());
    s.on('data', () => {});
    s.on('connect', async () => {
      for (const c of chunks) s.write(c);
      s.end();
    });
    s.on('close', () => resolve());
    setTimeout(() => s.destroy(), 2000);
  });
}

test('socket fuzz: garbage and mutated frames leave the server up, answering, memory bounded', { timeout: 60_000 }, async () => {
  const cli = await runCli(['--port', '0', '--metrics-port', '0', '--capacity', '20000', '--slow-sender-ms', '500', '--idle-timeout-ms', '1000']);
  try {
    const rand = prng(0xe5e7);
    const valid = [enqueueFrame('insert into bench_events (num) values (%d)'), encodeFrame(8003, '{}'), encodeFrame(8002, '{}')];
    const rssStart = rssBytes(cli.proc.pid!);
    let sent = 0;
    for (let round = 0; round < 6; round++) {
      const jobs: Array<Promise<void>> = [];
      for (let i = 0; i < 200; i++) {
        const kind = rand();
        let bytes: Buffer;
        if (kind < 0.35) {
          bytes = Buffer.alloc(1 + Math.floor(rand() * 3000));
          for (let k = 0; k < bytes.length; k++) bytes[k] = Math.floor(rand() * 256);
        } else {
          // A run of valid frames with a few bytes flipped, truncated or duplicated.
          const parts: Buffer[] = [];
          for (let k = 0; k < 1 + Math.floor(rand() * 8); k++) parts.push(valid[Math.floor(rand() * valid.length)]);
          bytes = Buffer.from(Buffer.concat(parts));
          for (let k = 0; k < 1 + Math.floor(rand() * 4); k++) bytes[Math.floor(rand() * bytes.length)] = Math.floor(rand() * 256);
          if (rand() < 0.3) bytes = bytes.subarray(0, Math.floor(rand() * bytes.length));
        }
        sent += bytes.length;
        // Split at random points, like TCP may.
        const chunks: Buffer[] = [];
        let off = 0;
        while (off < bytes.length) {
          const n = 1 + Math.floor(rand() * 64);
          chunks.push(bytes.subarray(off, off + n));
          off += n;
        }
        jobs.push(sendAndClose(cli.port, chunks, `127.0.0.${2 + (i % 200)}`));
      }
      await Promise.all(jobs);
      // Still up and answering correctly between rounds.
      const [f] = await roundTrip(cli.port, encodeFrame(8003, '{}'));
      assert.equal(f.cmd, 8003);
      assert.match(f.body.toString(), /^\d+$/);
    }
    const [ok] = await roundTrip(cli.port, enqueueFrame('insert into bench_events (num) values (%d)'));
    assert.equal(ok.cmd, 8001);
    assert.equal(cli.proc.exitCode, null, 'server still running');
    const m = await scrape(cli.metricsPort);
    assert.ok((m.get('eserver_bytes_in_total') ?? 0) > sent / 2, 'the server really read the fuzz input');
    assert.ok((m.get('eserver_rejected_total{reason="UNKNOWN_CMD"}') ?? 0) > 0);
    const growth = rssBytes(cli.proc.pid!) - rssStart;
    assert.ok(growth < 64 * 1024 * 1024, `RSS grew by ${growth} bytes`);
  } finally {
    assert.equal(await cli.stop(), 0);
  }
});

test('frame fuzz (a short `make fuzz`): maximum-size escape-heavy frames of every command, every frame answered, no acknowledged entry lost', { timeout: 120_000 }, async () => {
  const cli = await runCli(['--host', '127.0.0.1', '--port', '0', '--metrics-port', '0', '--capacity', '50000']);
  try {
    const r = await runFuzz({ port: cli.port, metricsPort: cli.metricsPort, pid: cli.proc.pid!, frames: 10_000, maxSizeEvery: 40, seed: 14 });
    assert.equal(r.frames, 10_000);
    assert.ok(r.maxSizeFrames > 200, `${r.maxSizeFrames} maximum-size frames`);
    for (const code of ['ENTRY_TOO_LARGE', 'SQL_REFUSED', 'BAD_JSON', 'UNKNOWN_CMD']) assert.ok((r.errorCodes[code] ?? 0) > 0, code);
    assert.ok(r.acknowledged > 500 && r.dequeued === r.acknowledged);
    assert.equal(cli.proc.exitCode, null, 'server still running');
    assert.ok(r.rssMaxBytes - r.rssStartBytes < 128 * 1024 * 1024, `RSS grew by ${r.rssMaxBytes - r.rssStartBytes} bytes`);
  } finally {
    assert.equal(await cli.stop(), 0);
  }
});
