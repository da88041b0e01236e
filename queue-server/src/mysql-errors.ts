// What a MySQL error means for the drain:
//   transient      the server, the connection or a lock: retry the batch with backoff (log mysql_down);
//   configuration  privileges, a missing or read-only table, a read-only server: no statement can succeed
//                  until an operator fixes it. The drain stops loudly, keeps its entries and retries slowly;
//   statement      this statement will never succeed: it goes to the dead-letter table.
// When in doubt an error is transient: retrying forever is visible and safe, dead-lettering a good statement
// is data loss.

export type ErrorClass = 'transient' | 'configuration' | 'statement';

const TRANSIENT_ERRNO = new Set([
  1021, // disk full
  1030, // got error from storage engine
  1037, 1038, 1041, // out of memory
  1040, // too many connections
  1053, // server shutdown in progress
  1077, 1078, 1079, 1080, // shutdown
  1114, // table is full
  1152, 1154, 1155, 1156, 1157, 1158, 1159, 1160, 1161, // network read/write errors
  1180, 1181, // error during COMMIT / ROLLBACK
  1184, // aborted new connection
  1203, // max user connections
  1205, // lock wait timeout (rolls back the whole transaction under innodb_rollback_on_timeout)
  1206, // lock table full: InnoDB rolls back the whole transaction
  1213, // deadlock: InnoDB rolls back the whole transaction
  1317, // query interrupted (KILL QUERY): says nothing about the statement
  1615, // prepared statement needs re-preparing
  1927, // connection was killed
  1969, // statement timeout
  4031, // disconnected by the server for inactivity
  2002, 2003, 2006, 2013, 2055,
]);

/** Errors an operator must fix, with the fix. Keyed by errno. */
const CONFIGURATION_FIX = new Map<number, string>([
  [1044, 'grant the --mysql-url user access to the database'],
  [1045, 'check the user and password in --mysql-url'],
  [1049, 'create the database named in --mysql-url (mysql/schema.sql)'],
  [1142, 'grant the --mysql-url user INSERT (and SELECT, UPDATE for queue_offsets, dead_letters) on the table'],
  [1143, 'grant the --mysql-url user the column privileges the statements need'],
  [1146, 'create the table (mysql/schema.sql for the drain\'s own tables), or remove it from --allow-tables'],
  [1036, 'make the table writable (it is read-only)'],
  [1290, 'turn off read_only on the MySQL server (SET GLOBAL read_only = 0), or point --mysql-url at the primary'],
  [1836, 'turn off read_only on the MySQL server, or point --mysql-url at the primary'],
  [1792, 'the session is read-only: point --mysql-url at a writable server'],
  [1227, 'grant the --mysql-url user the privilege named in the error'],
  [1370, 'grant the --mysql-url user EXECUTE on the routine'],
  [1356, 'fix or recreate the view (it refers to missing tables, columns or privileges)'],
  [1153, 'raise max_allowed_packet on the MySQL server above the largest entry (64 KiB)'],
]);

interface MaybeMysqlError {
  errno?: number;
  code?: string;
  fatal?: boolean;
  sqlState?: string;
}

export function classify(err: unknown): ErrorClass {
  const e = (err ?? {}) as MaybeMysqlError;
  if (typeof e.errno === 'number' && CONFIGURATION_FIX.has(e.errno)) return 'configuration';
  if (e.fatal === true) return 'transient';
  if (typeof e.errno !== 'number' || typeof e.sqlState !== 'string') return 'transient'; // not a server verdict on SQL
  if (TRANSIENT_ERRNO.has(e.errno)) return 'transient';
  // SQLSTATE class 08 = connection exception, 40 = transaction rollback.
  if (e.sqlState.startsWith('08') || e.sqlState.startsWith('40')) return 'transient';
  // SQLSTATE 28000: access denied variants not listed above.
  if (e.sqlState === '28000') return 'configuration';
  return 'statement';
}

/** What the operator should do about a configuration error. */
export function fixFor(err: unknown): string {
  const e = (err ?? {}) as MaybeMysqlError;
  return (typeof e.errno === 'number' ? CONFIGURATION_FIX.get(e.errno) : undefined) ?? 'fix the MySQL configuration named in the error';
}

export function describe(err: unknown): { errno: number | null; code: string | null; message: string } {
  const e = (err ?? {}) as MaybeMysqlError & { message?: string };
  return {
    errno: typeof e.errno === 'number' ? e.errno : null,
    code: typeof e.code === 'string' ? e.code : null,
    message: String(e.message ?? err).slice(0, 4000),
  };
}
