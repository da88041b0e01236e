// The drain's MySQL connections: a statement pool for the claim, the release and the statement-by-statement
// path, and a pool of one multi-statement connection that only ever carries SQL the writer built (the fast
// path). Every session is made strict first; every connection has a connect timeout and keep-alive.
import mysql from 'mysql2/promise';
import type { Pool } from 'mysql2/promise';
import { DATABASE } from '@eserver-lab/common/stack-spec';

// A session strict for every engine; the rest of the server's sql_mode is kept, so client SQL means the same.
const STRICT_SQL_MODE = "SET SESSION sql_mode = CONCAT_WS(',', NULLIF(@@SESSION.sql_mode, ''), 'STRICT_ALL_TABLES', 'NO_ENGINE_SUBSTITUTION')";

export const CONNECT_TIMEOUT_MS = 3000;

export function poolOptionsFromUrl(url: string): mysql.PoolOptions {
  const u = new URL(url);
  if (u.protocol !== 'mysql:' && u.protocol !== 'mariadb:') throw new Error(`mysql url must start with mysql:// (got ${u.protocol})`);
  const socketPath = u.searchParams.get('socketPath') ?? u.searchParams.get('socket') ?? undefined;
  return {
    host: u.hostname || '127.0.0.1',
    port: u.port ? Number(u.port) : 3306,
    socketPath,
    user: decodeURIComponent(u.username || 'root'),
    password: decodeURIComponent(u.password),
    database: decodeURIComponent(u.pathname.replace(/^\//, '')) || DATABASE.database,
  };
}

function createPool(po: mysql.PoolOptions, connectionLimit: number, multipleStatements: boolean, queryTimeoutMs: number): Pool {
  const pool = mysql.createPool({
    ...po,
    connectionLimit,
    waitForConnections: true,
    connectTimeout: CONNECT_TIMEOUT_MS,
    enableKeepAlive: true,
    charset: 'utf8mb4',
    multipleStatements,
    supportBigNumbers: true,
    // Client SQL is sent untouched: without this, mysql2 would scan every (large) batch for `?` placeholders.
    queryFormat: (sql: string, values: unknown) =>
      values === undefined || values === null || (Array.isArray(values) && values.length === 0) ? sql : mysql.format(sql, values as mysql.QueryOptions['values'] as never),
  });
  // Errors of idle pooled connections (MySQL restarted) must not crash the process.
  (pool as unknown as { on(ev: string, f: (e: unknown) => void): void }).on('error', () => {});
  // Queued before anything else on each new connection; a session that cannot be made strict is dropped.
  (pool as unknown as { on(ev: 'connection', f: (c: { query(o: { sql: string; timeout: number }, cb: (e: unknown) => void): void; destroy(): void }) => void): void }).on(
    'connection',
    (c) => c.query({ sql: STRICT_SQL_MODE, timeout: queryTimeoutMs }, (e) => e && c.destroy()),
  );
  return pool;
}

export class DrainPools {
  /** 2 connections, one statement per query. */
  statements!: Pool;
  /** 1 connection with multiple statements on, for the two-round-trip batches: only the writer's own SQL. */
  fast!: Pool;

  constructor(
    private readonly po: mysql.PoolOptions,
    private readonly queryTimeoutMs: number,
  ) {
    this.open();
  }

  /** New pools at once; the old ones end in the background (an abandoned attempt may still hold a connection). */
  replace(): void {
    const old = [this.statements, this.fast];
    this.open();
    for (const p of old) void p.end().catch(() => undefined);
  }

  async end(): Promise<void> {
    await this.statements.end().catch(() => {});
    await this.fast.end().catch(() => {});
  }

  private open(): void {
    this.statements = createPool(this.po, 2, false, this.queryTimeoutMs);
    this.fast = createPool(this.po, 1, true, this.queryTimeoutMs);
  }
}
