// The drain benchmark's MariaDB is common's throwaway server (the one the queue server's tests use): it
// lives under the run directory, the queue server's URL reaches it, emptyTables() empties the tables
// between cells, and destroy leaves neither process nor directory.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import mysql from 'mysql2/promise';
import { isRunning } from '@eserver-lab/common/proc-stat';
import { mariadbUnavailable } from '@eserver-lab/common/mariadb';
import { startBenchDb } from '../src/protocol-bench/mariadb.js';

test('startBenchDb: a MariaDB under the run directory, reachable by its URL, emptied by emptyTables()', { skip: mariadbUnavailable() ?? false, timeout: 180_000 }, async () => {
  const runDir = mkdtempSync(join(tmpdir(), 'proto-mariadb-'));
  try {
    const db = await startBenchDb(runDir);
    const pid = db.pid;
    try {
      assert.equal(dirname(db.dir), runDir);
      const conn = await mysql.createConnection(db.url);
      try {
        await conn.query('INSERT INTO bench_events (num) VALUES (1), (2)');
        await conn.query("INSERT INTO queue_offsets (stream, last_seq) VALUES ('s', 2)");
        await db.emptyTables();
        const [rows] = (await conn.query('SELECT (SELECT COUNT(*) FROM bench_events) + (SELECT COUNT(*) FROM queue_offsets) AS n')) as unknown as [{ n: number }[]];
        assert.equal(Number(rows[0]!.n), 0);
      } finally {
        await conn.end();
      }
    } finally {
      await db.destroy();
    }
    assert.equal(isRunning(pid), false, `mariadbd pid ${pid} stopped`);
    assert.equal(existsSync(db.dir), false, 'its directory removed');
  } finally {
    rmSync(runDir, { recursive: true, force: true });
  }
});
