// Which MySQL errors mean "try again later" (the server, the connection or a lock) and which mean "this
// statement will never succeed" (it goes to the dead-letter table). When in doubt an error is transient:
// retrying forever is visible and safe, dead-lettering a good statement is data loss.

const TRANSIENT_ERRNO = new Set([
  1021, // disk full
  1030, // got error from storage engine
  1037, 1038, 1041, // out of memory
  1040, // too many connections
  1044, 1045, // access denied (configuration, not the statement)
  1049, // unknown database
  1053, // server shutdown in progress
  1077, 1078, 1079, 1080, // shutdown
  1114, // table is full
  1152, 1153, 1154, 1155, 1156, 1157, 1158, 1159, 1160, 1161, // network read/write errors
  1180, 1181, // error during COMMIT / ROLLBACK
  1184, // aborted new connection
  1203, // max user connections
  1205, // lock wait timeout
  1213, // deadlock
  1290, // --read-only
  1615, // prepared statement needs re-preparing
  1792, // read-only transaction
  1836, // read-only mode
  1927, // connection was killed
  1969, // statement timeout
  4031, // disconnected by the server for inactivity
  2002, 2003, 2006, 2013, 2055,
]);

interface MaybeMysqlError {
  errno?: number;
  code?: string;
  fatal?: boolean;
  sqlState?: string;
}

/** True when the error is about the connection or the server, not about the statement that was sent. */
export function isTransient(err: unknown): boolean {
  const e = (err ?? {}) as MaybeMysqlError;
  if (e.fatal === true) return true;
  if (typeof e.errno !== 'number' || typeof e.sqlState !== 'string') return true; // not a server verdict on SQL
  if (TRANSIENT_ERRNO.has(e.errno)) return true;
  // SQLSTATE class 08 = connection exception, 40 = transaction rollback, HY000 with the numbers above.
  if (e.sqlState.startsWith('08') || e.sqlState.startsWith('40')) return true;
  return false;
}

export function describe(err: unknown): { errno: number | null; code: string | null; message: string } {
  const e = (err ?? {}) as MaybeMysqlError & { message?: string };
  return {
    errno: typeof e.errno === 'number' ? e.errno : null,
    code: typeof e.code === 'string' ? e.code : null,
    message: String(e.message ?? err).slice(0, 4000),
  };
}
