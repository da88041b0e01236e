// Restarts of a journal-backed server: the consumed position of a pure queue (8002) survives kill -9, the
// queue is bounded by bytes as well as entries, and a journal that holds more than fits says what to do.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { runCli, runCliToExit, scrape } from './helpers/cli.js';
import { Client, enqueueFrame, errCode } from './helpers/net.js';
import { encodeFrame, type Frame } from '../src/codec.js';

const BASE = ['--host', '127.0.0.1', '--port', '0', '--metrics-port', '0'];
const SQL = 'insert into bench_events (num) values (%d)';

function tmp(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'eserver-jrestart-'));
}

/** Sends n copies of a frame pipelined on one connection and returns the n replies. */
async function pipeline(c: Client, frame: Buffer, n: number): Promise<Frame[]> {
  const before = c.frames.length;
  const chunk = Buffer.concat(Array.from({ length: Math.min(n, 1000) }, () => frame));
  let sent = 0;
  while (sent < n) {
    const k = Math.min(1000, n - sent);
    c.write(k === 1000 ? chunk : chunk.subarray(0, k * frame.length));
    sent += k;
    await c.waitFrames(before + sent, 30_000);
  }
  return c.frames.slice(before, before + n);
}

function seqOf(f: Frame): number {
  assert.equal(f.cmd, 8002, f.body.toString());
  return Number(/values \((\d+)\)/.exec(JSON.parse(f.body.toString()) as string)![1]);
}

for (const policy of ['always', 'interval', 'off'] as const) {
  test(`pure queue, fsync ${policy}: 20,000 enqueues and 20,000 8002 pops through capacity 10,000, kill -9, restart`, async () => {
    const dir = tmp();
    const args = [...BASE, '--journal-dir', dir, '--fsync', policy, '--capacity', '10000'];
    try {
      const a = await runCli(args);
      try {
        const c = await Client.connect(a.port);
        for (let round = 0; round < 4; round++) {
          const acks = await pipeline(c, enqueueFrame(SQL), 5000);
          assert.ok(acks.every((f) => f.cmd === 8001));
          const pops = await pipeline(c, encodeFrame(8002, ''), 5000);
          assert.equal(seqOf(pops[0]), round * 5000 + 1);
        }
        // 30 more acknowledged, 10 of them popped: only the 20 unpopped may come back.
        assert.ok((await pipeline(c, enqueueFrame(SQL), 30)).every((f) => f.cmd === 8001));
        assert.deepEqual((await pipeline(c, encodeFrame(8002, ''), 10)).map(seqOf), Array.from({ length: 10 }, (_, i) => 20_001 + i));
        c.close();
      } finally {
        await a.stop('SIGKILL');
      }
      const b = await runCli(args);
      try {
        const m = await scrape(b.metricsPort);
        assert.equal(m.get('eserver_queue_depth'), 20);
        assert.equal(m.get('eserver_next_seq'), 20_031);
        const c = await Client.connect(b.port);
        assert.deepEqual((await pipeline(c, encodeFrame(8002, ''), 20)).map(seqOf), Array.from({ length: 20 }, (_, i) => 20_011 + i));
        assert.equal((await pipeline(c, enqueueFrame(SQL), 1))[0].cmd, 8001);
        assert.equal(seqOf((await pipeline(c, encodeFrame(8002, ''), 1))[0]), 20_031);
        c.close();
        assert.ok(!b.stderr().includes('journal_corrupt'), 'consumed entries are not mistaken for damage');
        assert.equal(fs.existsSync(path.join(dir, 'damaged')), false);
      } finally {
        await b.stop('SIGKILL');
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
}

test('the queue is bounded by bytes: QUEUE_FULL names the byte budget, and room comes back after 8002', async () => {
  const cli = await runCli([...BASE, '--max-queue-bytes', String(128 * 1024), '--no-guard']);
  try {
    const c = await Client.connect(cli.port);
    // Each entry is charged 20,037 + 64 bytes: 6 fit in 128 KiB, the 7th does not.
    const big = enqueueFrame(`insert into t (a, b) values (%d, '${'y'.repeat(20_000)}')`);
    const replies = await pipeline(c, big, 10);
    const ok = replies.filter((f) => f.cmd === 8001).length;
    assert.equal(ok, 6);
    const full = replies.find((f) => f.cmd === 9000)!;
    assert.equal(errCode(full), 'QUEUE_FULL');
    assert.match(full.body.toString(), /bytes/);
    const m = await scrape(cli.metricsPort);
    assert.ok(m.get('eserver_queue_bytes')! > 6 * 20_000 && m.get('eserver_queue_bytes')! <= 128 * 1024);
    assert.equal(m.get('eserver_queue_max_bytes'), 128 * 1024);
    assert.equal((await pipeline(c, encodeFrame(8002, ''), 1))[0].cmd, 8002);
    assert.equal((await pipeline(c, big, 1))[0].cmd, 8001);
    c.close();
  } finally {
    await cli.stop();
  }
});

test('a journal holding more than the queue takes refuses to start, saying which limit to raise', async () => {
  const dir = tmp();
  try {
    const a = await runCli([...BASE, '--journal-dir', dir, '--fsync', 'off', '--no-guard']);
    try {
      const c = await Client.connect(a.port);
      const acks = await pipeline(c, enqueueFrame(`insert into t (a, b) values (%d, '${'z'.repeat(1000)}')`), 300);
      assert.ok(acks.every((f) => f.cmd === 8001));
      c.close();
    } finally {
      await a.stop('SIGKILL');
    }
    const byCount = await runCliToExit([...BASE, '--journal-dir', dir, '--capacity', '100', '--no-guard']);
    assert.equal(byCount.code, 1);
    assert.match(byCount.stderr, /300 entries/);
    assert.match(byCount.stderr, /--capacity/);
    const byBytes = await runCliToExit([...BASE, '--journal-dir', dir, '--max-queue-bytes', String(100 * 1024), '--no-guard']);
    assert.equal(byBytes.code, 1);
    assert.match(byBytes.stderr, /--max-queue-bytes/);
    // Nothing was lost by refusing: with room enough, all 300 come back.
    const b = await runCli([...BASE, '--journal-dir', dir, '--no-guard']);
    try {
      assert.equal((await scrape(b.metricsPort)).get('eserver_queue_depth'), 300);
    } finally {
      await b.stop('SIGKILL');
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
