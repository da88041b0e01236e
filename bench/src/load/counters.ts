// Plain counters a worker keeps and the main thread sums. Kept as flat numbers (no Maps in the
// hot path) so a request only increments fields.

export type ErrorKind = 'ECONNREFUSED' | 'ECONNRESET' | 'timeout' | 'EADDRNOTAVAIL' | 'other';
export const ERROR_KINDS: ErrorKind[] = ['ECONNREFUSED', 'ECONNRESET', 'timeout', 'EADDRNOTAVAIL', 'other'];

export interface Counters {
  /** webbench "susceed": the read reached EOF (or was cut by the end of the run after some bytes). */
  succeeded: number;
  /** webbench "failed": connect failure, write failure, read error. */
  failed: number;
  /** Bytes read from responses (headers included), as webbench counts them. */
  bytes: number;
  /** HTTP 200 and the page's success signal. */
  strictOk: number;
  /** Requests in flight at the end whose read was cut by the timer after some bytes (counted as success, like webbench). */
  cutAtEnd: number;
  /** Status code -> count, for completed responses. Code 0 = no parsable status line. */
  status: Record<string, number>;
  errors: Record<ErrorKind, number>;
}

export function emptyCounters(): Counters {
  return {
    succeeded: 0,
    failed: 0,
    bytes: 0,
    strictOk: 0,
    cutAtEnd: 0,
    status: {},
    errors: { ECONNREFUSED: 0, ECONNRESET: 0, timeout: 0, EADDRNOTAVAIL: 0, other: 0 },
  };
}

export function addCounters(into: Counters, from: Counters): Counters {
  into.succeeded += from.succeeded;
  into.failed += from.failed;
  into.bytes += from.bytes;
  into.strictOk += from.strictOk;
  into.cutAtEnd += from.cutAtEnd;
  for (const [k, v] of Object.entries(from.status)) into.status[k] = (into.status[k] ?? 0) + v;
  for (const k of ERROR_KINDS) into.errors[k] += from.errors[k];
  return into;
}

export function errorKind(err: NodeJS.ErrnoException): ErrorKind {
  switch (err.code) {
    case 'ECONNREFUSED':
    case 'ECONNRESET':
    case 'EADDRNOTAVAIL':
      return err.code;
    case 'ETIMEDOUT':
    case 'ERR_SOCKET_TIMEOUT':
      return 'timeout';
    case 'EMFILE':
    case 'ENFILE':
      // Out of descriptors on our side: not a server failure, but webbench counts it as failed too.
      return 'other';
    case 'EPIPE':
      // A write into a socket the server already reset: the same event seen from the write side.
      return 'ECONNRESET';
    default:
      return 'other';
  }
}
