// Disk faults under the journal, on a real small filesystem (tmpfs with a size or inode limit): the process
// stays up, a refused entry never becomes visible, /healthz says why, and what was acknowledged survives.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { runCli, scrape } from './helpers/cli.js';
import { Client, enqueueFrame, errCode } from './helpers/net.js';
import { exhaustInodes, mountTmpfs } from './helpers/tmpfs.js';
import { waitFor } from '@eserver-lab/common/wait';
import { encodeFrame } from '../src/codec.js';
import { mariadbUnavailable, startMariaDb } from '@eserver-lab/common/mariadb';
import type { RowDataPacket } from 'mysql2/promise';

const BASE = ['--host', '127.0.0.1', '--port', '0', '--metrics-port', '0', '--no-guard'];

function bigSql(kb: number): string {
  return `insert into t (a, pad) values (%d, '${'x'.repeat(kb * 1024)}')`;
}

async function health(metricsPort: number): Promise<{ status: number; body: string }> {
  const r = await fetch(`http://127.0.0.1:${metricsPort}/healthz`);
  return { status: r.status, body: await r.text() };
}

/** Replays the copied journal in a fresh server and pops everything: the seqs a restart still holds. */
async function replaySeqs(journalCopy: string): Promise<number[]> {
  const cli = await runCli([...BASE, '--journal-dir', journalCopy, '--fsync', 'off']);
  try {
    const m = await scrape(cli.metricsPort);
    const depth = m.get('eserver_queue_depth')!;
    const c = await Client.connect(cli.port);
    for (let i = 0; i < depth; i++) c.write(encodeFrame(8002, ''));
    const frames = await c.waitFrames(depth);
    c.close();
    return frames.map((f) => Number(/values \((\d+),/.exec(JSON.parse(f.body.toString()) as string)![1]));
  } finally {
    await cli.stop();
  }
}

test('disk full under the journal: refused entries are not queued, /healthz turns 503, the process lives', async (t) => {
  const fsys = mountTmpfs('size=256k');
  if (typeof fsys === 'string') return t.skip(fsys);
  const copy = fs.mkdtempSync(path.join(os.tmpdir(), 'eserver-jcopy-'));
  try {
    const jdir = path.join(fsys.dir, 'journal');
    let acked = 0;
    const cli = await runCli([...BASE, '--journal-dir', jdir, '--fsync', 'always']);
    try {
      const c = await Client.connect(cli.port);
      const n = 12; // 12 × 40 KiB > 256 KiB: some are refused
      for (let i = 0; i < n; i++) c.write(enqueueFrame(bigSql(40)));
      const frames = await c.waitFrames(n, 20_000);
      acked = frames.filter((f) => f.cmd === 8001).length;
      const refused = frames.filter((f) => f.cmd === 9000 && errCode(f) === 'JOURNAL_FAILED').length;
      assert.equal(acked + refused, n);
      assert.ok(refused > 0, 'the disk filled up');
      // What the clients were told failed is not in the queue: depth counts only the acknowledged entries.
      const m = await scrape(cli.metricsPort);
      assert.equal(m.get('eserver_queue_depth'), acked, 'refused entries must not stay queued');
      c.write(encodeFrame(8003, ''));
      const [len] = (await c.waitFrames(n + 1)).slice(n);
      assert.equal(len.body.toString(), String(acked));
      const h = await health(cli.metricsPort);
      assert.equal(h.status, 503);
      assert.match(h.body, /journal/i);
      assert.match(h.body, /ENOSPC|no space/i);
      assert.ok(cli.logs().some((l) => l.level === 'error' && l.event === 'journal_failed'), 'logged as an error');
      c.close();
      assert.equal(cli.proc.exitCode, null);
      fs.cpSync(jdir, copy, { recursive: true });
    } finally {
      await cli.stop('SIGKILL');
    }
    // Every acknowledged entry is in the journal once; nothing refused came back.
    const seqs = await replaySeqs(copy);
    assert.deepEqual(seqs, [...new Set(seqs)].sort((a, b) => a - b));
    assert.equal(seqs.length, acked, 'a refused entry partly written before the disk filled must not replay');
  } finally {
    fsys.release();
    fs.rmSync(copy, { recursive: true, force: true });
  }
});

test('disk full, then space freed: the journal writes again without a restart, and every ack replays once', async (t) => {
  const fsys = mountTmpfs('size=512k');
  if (typeof fsys === 'string') return t.skip(fsys);
  const copy = fs.mkdtempSync(path.join(os.tmpdir(), 'eserver-jcopy-'));
  try {
    const jdir = path.join(fsys.dir, 'journal');
    const filler = path.join(fsys.dir, 'filler');
    fs.writeFileSync(filler, Buffer.alloc(300 * 1024));
    let acked = 0;
    const cli = await runCli([...BASE, '--journal-dir', jdir, '--fsync', 'always']);
    try {
      const c = await Client.connect(cli.port);
      let sent = 0;
      const send = async (n: number) => {
        for (let i = 0; i < n; i++) c.write(enqueueFrame(bigSql(40)));
        sent += n;
        return (await c.waitFrames(sent, 20_000)).slice(sent - n);
      };
      const first = await send(8);
      assert.ok(first.some((f) => f.cmd === 9000 && errCode(f) === 'JOURNAL_FAILED'), 'the disk filled up');
      assert.equal((await health(cli.metricsPort)).status, 503);
      fs.rmSync(filler);
      // No restart: within a few recovery attempts the journal writes a fresh segment and health is back.
      await waitFor(async () => (await health(cli.metricsPort)).status === 200, { timeoutMs: 15_000, intervalMs: 50, what: '/healthz to answer 200 again' });
      assert.ok(cli.logs().some((l) => l.event === 'journal_recovered'), 'the recovery is logged');
      const after = await send(3);
      assert.ok(after.every((f) => f.cmd === 8001), 'entries are acknowledged again after the space came back');
      acked = [...first, ...after].filter((f) => f.cmd === 8001).length;
      assert.equal((await scrape(cli.metricsPort)).get('eserver_queue_depth'), acked);
      c.close();
      fs.cpSync(jdir, copy, { recursive: true });
    } finally {
      await cli.stop('SIGKILL');
    }
    // Every acknowledged entry replays exactly once; none that was refused.
    const seqs = await replaySeqs(copy);
    assert.deepEqual(seqs, [...new Set(seqs)].sort((a, b) => a - b));
    assert.equal(seqs.length, acked, 'what was acknowledged, before and after the disk filled, and nothing refused');
  } finally {
    fsys.release();
    fs.rmSync(copy, { recursive: true, force: true });
  }
});

test('a failing segment rotation (no inode left) refuses entries but does not end the process', async (t) => {
  const fsys = mountTmpfs('size=4m,nr_inodes=64');
  if (typeof fsys === 'string') return t.skip(fsys);
  const copy = fs.mkdtempSync(path.join(os.tmpdir(), 'eserver-jcopy-'));
  try {
    const jdir = path.join(fsys.dir, 'journal');
    const cli = await runCli([...BASE, '--journal-dir', jdir, '--fsync', 'always', '--journal-segment-bytes', '4096']);
    try {
      // Everything the journal opened at start exists; now the filesystem has no inode for a new segment.
      assert.ok(exhaustInodes(fsys.dir) > 0);
      const c = await Client.connect(cli.port);
      let acked = 0;
      let refused = 0;
      // One at a time, each 1 KiB: the 5th crosses 4 KiB and needs a new segment.
      for (let i = 0; i < 12; i++) {
        c.write(enqueueFrame(bigSql(1)));
        const f = (await c.waitFrames(i + 1))[i];
        if (f.cmd === 8001) acked++;
        else {
          assert.equal(errCode(f), 'JOURNAL_FAILED');
          refused++;
        }
      }
      assert.ok(acked > 0 && refused > 0, `acked ${acked}, refused ${refused}`);
      const h = await health(cli.metricsPort);
      assert.equal(h.status, 503);
      assert.match(h.body, /ENOSPC|no space/i);
      const m = await scrape(cli.metricsPort);
      assert.equal(m.get('eserver_queue_depth'), acked);
      assert.equal(m.get('eserver_journal_up'), 0);
      // It answered both after the refusals; and it has not gone since.
      assert.equal(cli.proc.exitCode, null, 'the process is still up');
      assert.equal(cli.proc.signalCode, null);
      c.close();
      fs.cpSync(jdir, copy, { recursive: true });
      const seqs = await replaySeqs(copy);
      assert.equal(seqs.length, acked);
    } finally {
      await cli.stop('SIGKILL');
    }
  } finally {
    fsys.release();
    fs.rmSync(copy, { recursive: true, force: true });
  }
});

test('disk full with a drain into MySQL: an entry refused with JOURNAL_FAILED never reaches MySQL', { skip: mariadbUnavailable() ?? false, timeout: 120_000 }, async (t) => {
  const fsys = mountTmpfs('size=256k');
  if (typeof fsys === 'string') return t.skip(fsys);
  const db = await startMariaDb();
  try {
    await db.exec('USE eserver; CREATE TABLE pad_events (num BIGINT NOT NULL PRIMARY KEY, pad MEDIUMTEXT NOT NULL) ENGINE=InnoDB;');
    const jdir = path.join(fsys.dir, 'journal');
    const cli = await runCli(['--host', '127.0.0.1', '--port', '0', '--metrics-port', '0', '--mysql-url', db.url, '--allow-tables', 'pad_events', '--journal-dir', jdir, '--fsync', 'always']);
    try {
      const c = await Client.connect(cli.port);
      const n = 12;
      const sql = `insert into pad_events (num, pad) values (%d, '${'p'.repeat(40 * 1024)}')`;
      for (let i = 0; i < n; i++) c.write(enqueueFrame(sql));
      const frames = await c.waitFrames(n, 20_000);
      c.close();
      const acked = frames.filter((f) => f.cmd === 8001).length;
      assert.ok(acked < n, 'the disk filled up');
      const conn = await db.connect();
      try {
        const rows = async (): Promise<number> => Number((await conn.query<RowDataPacket[]>('SELECT COUNT(*) AS n FROM pad_events'))[0][0].n);
        await waitFor(async () => (await rows()) >= acked, { timeoutMs: 30_000, intervalMs: 20, what: 'the acknowledged entries in MySQL' });
        // Drained what was acknowledged; nothing refused may follow (the writer has nothing else to take).
        const m = await scrape(cli.metricsPort);
        assert.equal(m.get('eserver_queue_depth'), 0);
        assert.equal(await rows(), acked);
        const [dl] = await conn.query<RowDataPacket[]>('SELECT COUNT(*) AS n FROM dead_letters');
        assert.equal(Number(dl[0].n), 0);
      } finally {
        await conn.end();
      }
    } finally {
      await cli.stop('SIGKILL');
    }
  } finally {
    await db.destroy();
    fsys.release();
  }
});
