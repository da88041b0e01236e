// kill -9 of the queue server mid-load (fsync=always), restart: every acknowledged entry is in MySQL exactly
// once. Runs the real CLI (dist/src/cli.js) against a MariaDB started by the test.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import type { RowDataPacket } from 'mysql2/promise';
import { mariadbUnavailable, startMariaDb, type MariaDb } from '@eserver-lab/common/mariadb';
import { repoRoot } from '@eserver-lab/common/repo-root';
import { RUNTIME } from './helpers/cli.js';
import { waitFor } from '@eserver-lab/common/wait';

const CLI = path.join(repoRoot, 'queue-server', 'dist', 'src', 'cli.js');
const skip = mariadbUnavailable() ?? (fs.existsSync(CLI) ? null : `queue server CLI not built (${CLI})`);
if (skip !== null) console.log(`# skipping crash test: ${skip}`);

interface Server {
  child: ChildProcess;
  port: number;
  metricsPort: number;
  exited: Promise<number | null>;
  stderr: () => string;
}

function startServer(db: MariaDb, journalDir: string): Promise<Server> {
  const child = spawn(
    RUNTIME.bin,
    [
      CLI,
      '--host', '127.0.0.1',
      '--port', '0',
      '--metrics-port', '0',
      '--mysql-url', db.url,
      '--journal-dir', journalDir,
      '--fsync', 'always',
      '--allow-tables', 'bench_events,crash_events',
      '--stream', 'crash',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let err = '';
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`server did not start: ${err}`)), 30_000);
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (d: string) => {
      err += d;
      if (err.length > 1 << 20) err = err.slice(-(1 << 19));
      for (const line of err.split('\n')) {
        if (!line.includes('"event":"listening"')) continue;
        const rec = JSON.parse(line) as { port: number; metricsPort: number };
        clearTimeout(t);
        resolve({ child, port: rec.port, metricsPort: rec.metricsPort, exited, stderr: () => err });
        return;
      }
    });
    void exited.then((code) => reject(new Error(`server exited (${code}) during start: ${err}`)));
  });
}

function frame(cmd: number, body: string): Buffer {
  const b = Buffer.from(body, 'utf8');
  const h = Buffer.alloc(4);
  h.writeUInt16BE(cmd, 0);
  h.writeUInt16BE(b.length, 2);
  return Buffer.concat([h, b]);
}

/** One persistent connection sending 8001s one after another; records the tags the server acknowledged. */
function loadClient(port: number, id: number, acked: Set<string>, stopAt: () => boolean): Promise<void> {
  return new Promise((resolve) => {
    const sock = net.connect(port, '127.0.0.1');
    let n = 0;
    let buf = Buffer.alloc(0);
    let inflight = '';
    const send = (): void => {
      if (stopAt()) {
        sock.end();
        return;
      }
      inflight = `c${id}-r${++n}`;
      sock.write(frame(8001, JSON.stringify({ sql: `insert into crash_events (num, tag) values (%d, '${inflight}')` })));
    };
    sock.on('connect', send);
    sock.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      while (buf.length >= 4) {
        const len = buf.readUInt16BE(2);
        if (buf.length < 4 + len) return;
        const cmd = buf.readUInt16BE(0);
        const body = buf.toString('utf8', 4, 4 + len);
        buf = buf.subarray(4 + len);
        if (cmd === 8001 && body === '{"msg": "success"}') acked.add(inflight);
        send();
      }
    });
    sock.on('error', () => {});
    sock.on('close', () => resolve());
  });
}

async function metricsText(port: number): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`);
  return res.text();
}

function metricValue(text: string, name: string): number {
  const m = new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(text);
  return m ? Number(m[1]) : NaN;
}

describe('crash: kill -9 of the queue server mid-load (fsync always)', { skip: skip ?? false, timeout: 100_000 }, () => {
  let db: MariaDb;
  let journalDir: string;

  before(async () => {
    db = await startMariaDb();
    await db.exec(
      'USE eserver; CREATE TABLE crash_events (num BIGINT NOT NULL UNIQUE, tag VARCHAR(64) NOT NULL UNIQUE) ENGINE=InnoDB;',
    );
    journalDir = fs.mkdtempSync(path.join(os.tmpdir(), 'eserver-crash-journal-'));
  });
  after(async () => {
    await db?.destroy();
    if (journalDir) fs.rmSync(journalDir, { recursive: true, force: true });
  });

  it('every acknowledged entry is in MySQL exactly once after a restart', async () => {
    const s1 = await startServer(db, journalDir);
    const acked = new Set<string>();
    let stop = false;
    const clients = Array.from({ length: 32 }, (_, i) => loadClient(s1.port, i, acked, () => stop));
    // Let load run, then kill -9 while clients are mid-request.
    await waitFor(() => acked.size >= 3000, { timeoutMs: 30_000, intervalMs: 20, what: '3000 acknowledged entries before the kill' });
    s1.child.kill('SIGKILL');
    await s1.exited;
    stop = true;
    await Promise.all(clients);
    assert.ok(acked.size > 0, 'load was acknowledged before the kill');

    const s2 = await startServer(db, journalDir);
    try {
      // Wait until the replayed backlog is drained.
      await waitFor(
        async () => {
          const m = await metricsText(s2.metricsPort);
          return metricValue(m, 'eserver_queue_depth') === 0 && metricValue(m, 'eserver_mysql_up') === 1;
        },
        { timeoutMs: 40_000, intervalMs: 50, what: 'the replayed backlog drained (queue depth 0, MySQL up)' },
      );
      const replay = /"event":"journal_replayed"[^\n]*"entries":(\d+)/.exec(s2.stderr());
      console.log(`# acked before kill -9: ${acked.size}; replayed from the journal at restart: ${replay?.[1] ?? '?'}`);
      const c = await db.connect();
      try {
        const [rows] = await c.query<RowDataPacket[]>('SELECT num, tag FROM crash_events ORDER BY num');
        const tags = rows.map((r) => String(r.tag));
        const present = new Set(tags);
        const missing = [...acked].filter((t) => !present.has(t));
        assert.deepEqual(missing.slice(0, 10), [], `${missing.length} acknowledged entries missing`);
        assert.equal(present.size, tags.length, 'no tag twice');
        // The journal is written in seq order, so what survived is a gap-free prefix 1..M.
        const nums = rows.map((r) => Number(r.num));
        assert.deepEqual(nums, Array.from({ length: nums.length }, (_, i) => i + 1));
        const [dl] = await c.query<RowDataPacket[]>('SELECT COUNT(*) AS n FROM dead_letters');
        assert.equal(Number(dl[0].n), 0, 'nothing was rejected (a duplicate would be)');
        // New entries continue above the recovered seq.
        const more = new Set<string>();
        let stop2 = false;
        const cl = loadClient(s2.port, 999, more, () => stop2 || more.size >= 5);
        await cl;
        stop2 = true;
        const fresh = await waitFor(
          async () => {
            const [r2] = await c.query<RowDataPacket[]>("SELECT MIN(num) AS lo, COUNT(*) AS n FROM crash_events WHERE tag LIKE 'c999-%'");
            return Number(r2[0].n) === 5 ? { lowest: Number(r2[0].lo) } : null;
          },
          { timeoutMs: 20_000, intervalMs: 50, what: 'the 5 new entries drained' },
        );
        assert.ok(fresh.lowest > nums.length, 'seq continued after the recovered ones');
      } finally {
        await c.end();
      }
    } finally {
      s2.child.kill('SIGTERM');
      const code = await s2.exited;
      assert.equal(code, 0, `graceful exit: ${s2.stderr().slice(-2000)}`);
    }
  });
});
