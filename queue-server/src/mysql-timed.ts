// Every statement the drain sends carries a timeout. A server that hangs without closing its connections
// (SIGSTOP, a stalled disk, a link TCP has not yet given up on) must become an error the drain counts and
// retries, never a wait without end. A statement sent without one also stalls every statement queued behind
// it on that connection: mysql2 starts a statement's timer only when the statement itself starts.
import type { Connection, QueryOptions } from 'mysql2/promise';

/** A query function on one connection whose statements all carry the same timeout. */
export type TimedQuery = <T extends Awaited<ReturnType<Connection['query']>>[0]>(sql: string, values?: unknown) => Promise<T>;

export function timedQuery(conn: Pick<Connection, 'query'>, timeoutMs: number): TimedQuery {
  return async <T extends Awaited<ReturnType<Connection['query']>>[0]>(sql: string, values?: unknown): Promise<T> => {
    const opts: QueryOptions = { sql, timeout: timeoutMs };
    if (values !== undefined) opts.values = values as QueryOptions['values'];
    const [res] = await conn.query<T>(opts);
    return res;
  };
}
