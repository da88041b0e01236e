// The throwaway MariaDB: several at once must not disturb each other. A mariadbd that starts deletes every
// #sql* file in its tmpdir (left-over temporary tables, it assumes), so servers sharing /tmp delete each
// other's live temporary tables; mariadb-install-db runs on that and failed when several ran at once.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { mariadbUnavailable } from '../src/mariadb-binaries.js';
import { startMariaDb } from '../src/mariadb.js';

const skip = mariadbUnavailable() ?? false;

test('a second throwaway MariaDB starting leaves the first one\'s temporary tables alone', { skip, timeout: 180_000 }, async () => {
  const a = await startMariaDb();
  try {
    const conn = await a.connect();
    try {
      await conn.query('CREATE TEMPORARY TABLE scratch (n INT) ENGINE=MyISAM');
      await conn.query('INSERT INTO scratch VALUES (1), (2), (3)');
      const [[row]] = (await conn.query('SELECT @@tmpdir AS tmp, CONNECTION_ID() AS id')) as unknown as [[{ tmp: string; id: number }]];
      // MyISAM temporary tables live in tmpdir as #sql-temptable-<server pid, hex>-<thread id>-<n>.MYD/.MYI.
      const prefix = `#sql-temptable-${a.pid.toString(16)}-${row.id.toString(16)}-`;
      const ours = (): string[] => readdirSync(row.tmp).filter((f) => f.startsWith(prefix));
      assert.ok(ours().length > 0, `the temporary table's files are in ${row.tmp}`);
      const b = await startMariaDb();
      try {
        assert.notEqual(b.dir, a.dir);
        assert.ok(ours().length > 0, `server b's start deleted server a's temporary table files in ${row.tmp}`);
        await conn.query('DROP TEMPORARY TABLE scratch');
        const [warnings] = (await conn.query('SHOW WARNINGS')) as unknown as [{ Message: string }[]];
        assert.deepEqual(warnings, []);
      } finally {
        await b.destroy();
      }
    } finally {
      await conn.end();
    }
  } finally {
    await a.destroy();
  }
  assert.equal(existsSync(a.dir), false, 'destroy removes the directory');
});

test('throwaway MariaDBs installed at the same time all start', { skip, timeout: 240_000 }, async () => {
  const dbs = await Promise.allSettled([startMariaDb(), startMariaDb(), startMariaDb(), startMariaDb()]);
  await Promise.all(dbs.map((r) => (r.status === 'fulfilled' ? r.value.destroy() : undefined)));
  assert.deepEqual(dbs.filter((r) => r.status === 'rejected').map((r) => String((r as PromiseRejectedResult).reason).slice(0, 400)), []);
});
