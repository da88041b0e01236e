// Starting while MySQL is down. With a journal: listen at once, continue the sequence from the journal, and
// drain exactly once when MySQL answers. Without one: say plainly what the server waits for and how to fix it.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { RowDataPacket } from 'mysql2/promise';
import { mariadbUnavailable, startMariaDb, type MariaDb } from '@eserver-lab/common/mariadb';
import { CLI, runCli, scrape } from './helpers/cli.js';
import { Client, enqueueFrame } from './helpers/net.js';
import { waitFor } from '@eserver-lab/common/wait';

const skip = mariadbUnavailable();
const SQL = 'insert into bench_events (num) values (%d)';

async function enqueue(port: number, n: number): Promise<void> {
  const c = await Client.connect(port);
  for (let i = 0; i < n; i++) c.write(enqueueFrame(SQL));
  const frames = await c.waitFrames(n);
  c.close();
  assert.ok(frames.every((f) => f.cmd === 8001), frames.map((f) => f.body.toString()).find((b) => !b.includes('success')));
}

describe('start-up while MySQL is down', { skip: skip ?? false, timeout: 300_000 }, () => {
  let db: MariaDb;
  const dirs: string[] = [];
  before(async () => {
    db = await startMariaDb();
  });
  after(async () => {
    await db?.destroy();
    for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  });

  it('with a journal: listens at once, seq continues from the journal, drained exactly once when MySQL is back', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'eserver-down-'));
    dirs.push(dir);
    const args = ['--host', '127.0.0.1', '--port', '0', '--metrics-port', '0', '--mysql-url', db.url, '--journal-dir', dir, '--stream', 'down1', '--max-backoff-ms', '200'];
    const a = await runCli(args);
    await enqueue(a.port, 50);
    const drained = async (n: number): Promise<void> => {
      const c = await db.connect();
      try {
        const rows = async (): Promise<number> => Number((await c.query<RowDataPacket[]>('SELECT COUNT(*) AS n FROM bench_events'))[0][0].n);
        await waitFor(async () => (await rows()) >= n, { timeoutMs: 60_000, intervalMs: 50, what: `${n} rows in bench_events` });
      } finally {
        await c.end();
      }
    };
    await drained(50);
    // 20 more that MySQL never sees before the kill: they wait in the journal.
    await db.stop();
    await enqueue(a.port, 20);
    await a.stop('SIGKILL');

    const b = await runCli(args); // runCli gives up after 15 s without a `listening` line
    try {
      await enqueue(b.port, 30);
      const m = await scrape(b.metricsPort);
      assert.equal(m.get('eserver_next_seq'), 101, 'seq continues from the journal, not from MySQL');
      assert.equal(m.get('eserver_mysql_up'), 0);
      await db.start();
      await drained(100);
      const c = await db.connect();
      try {
        const [rows] = await c.query<RowDataPacket[]>('SELECT num FROM bench_events ORDER BY num');
        assert.deepEqual(
          rows.map((r) => Number(r.num)),
          Array.from({ length: 100 }, (_, i) => i + 1),
        );
        const [off] = await c.query<RowDataPacket[]>("SELECT last_seq FROM queue_offsets WHERE stream = 'down1'");
        assert.equal(Number(off[0].last_seq), 100);
      } finally {
        await c.end();
      }
    } finally {
      await b.stop();
    }
  });

  for (const kind of ['no journal', 'a new journal'] as const) {
    it(`${kind}: says what it waits for and how to fix it`, async () => {
      await db.stop();
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'eserver-down-'));
      dirs.push(dir);
      try {
        const args = [CLI, '--host', '127.0.0.1', '--port', '0', '--metrics-port', '0', '--mysql-url', db.url];
        if (kind === 'a new journal') args.push('--journal-dir', path.join(dir, 'j'));
        const proc = spawn(process.execPath, args, { env: { ...process.env, ESERVER_CONFIG: '' }, stdio: ['ignore', 'ignore', 'pipe'] });
        let err = '';
        proc.stderr!.on('data', (d: Buffer) => (err += d.toString()));
        try {
          await waitFor(() => err.includes('"event":"waiting_for_mysql"'), { timeoutMs: 15_000, what: 'a waiting_for_mysql log line' });
          const line = JSON.parse(err.split('\n').find((l) => l.includes('"event":"waiting_for_mysql"'))!) as { msg: string; level: string };
          assert.equal(line.level, 'warn');
          assert.match(line.msg, /not listening/i);
          assert.match(line.msg, kind === 'no journal' ? /without a journal/ : /journal .* is new/);
          assert.match(line.msg, /--journal-dir/);
          assert.ok(!err.includes('"event":"listening"'));
        } finally {
          proc.kill('SIGKILL');
        }
      } finally {
        await db.start();
      }
    });
  }

  it('a drain stopped by a configuration error turns /healthz to 503 with the reason, and keeps the entries', async () => {
    await db.exec('CREATE TABLE IF NOT EXISTS eserver.blocked_events (num INT) ENGINE=InnoDB');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'eserver-blocked-'));
    dirs.push(dir);
    const a = await runCli(['--host', '127.0.0.1', '--port', '0', '--metrics-port', '0', '--mysql-url', db.url, '--journal-dir', dir, '--stream', 'blocked1', '--allow-tables', 'bench_events,blocked_events']);
    try {
      const health = async () => {
        const r = await fetch(`http://127.0.0.1:${a.metricsPort}/healthz`);
        return { status: r.status, body: await r.text() };
      };
      assert.equal((await health()).status, 200);
      // The table disappears after the server accepted it: 1146 is a configuration error, not a poison entry.
      await db.exec('DROP TABLE eserver.blocked_events');
      const c = await Client.connect(a.port);
      c.write(enqueueFrame('insert into blocked_events (num) values (%d)'));
      const [f] = await c.waitFrames(1);
      c.close();
      assert.equal(f.cmd, 8001);
      const h = await waitFor(
        async () => {
          const r = await health();
          return r.status === 503 ? r : null;
        },
        { timeoutMs: 30_000, intervalMs: 50, what: '/healthz to answer 503' },
      );
      assert.match(h.body, /drain stopped \(configuration, errno 1146\)/);
      const m = await scrape(a.metricsPort);
      assert.equal(m.get('eserver_queue_depth'), 1, 'the entry is kept, not dead-lettered');
      // Fixing MySQL resumes the drain and the health check without a restart.
      await db.exec('CREATE TABLE eserver.blocked_events (num INT) ENGINE=InnoDB');
      await waitFor(async () => (await health()).status === 200, { timeoutMs: 30_000, intervalMs: 50, what: '/healthz to answer 200 again' });
    } finally {
      await a.stop();
    }
  });
});
