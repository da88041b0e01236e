// TCP sockets in TIME_WAIT, from /proc/net/tcp and tcp6: every closed loopback connection leaves one for
// 60 s, and a table of 100k of them makes connect() and accept() dearer. The gate counts them before each
// measured cell (all of them, and those on a stack's own ports) so that a level shift can be traced.
import { parseTcpSockets, readTcpSockets, TCP_STATE, type TcpSocket } from '../host/tcp-sockets.js';

export interface TimeWaitCount {
  total: number;
  /** Those with a local or remote port among the given ones. */
  onPorts: number;
}

function count(sockets: readonly TcpSocket[], ports: ReadonlySet<number>): TimeWaitCount {
  let total = 0;
  let onPorts = 0;
  for (const s of sockets) {
    if (s.state !== TCP_STATE.TIME_WAIT) continue;
    total++;
    if (ports.has(s.localPort) || ports.has(s.remotePort)) onPorts++;
  }
  return { total, onPorts };
}

/** Counts TIME_WAIT rows of /proc/net/tcp-format text; `ports` selects the rows with either port in it. */
export function countTimeWait(text: string, ports: ReadonlySet<number> = new Set()): TimeWaitCount {
  return count(parseTcpSockets(text), ports);
}

/** This network namespace's TIME_WAIT sockets now (IPv4 and IPv6). */
export async function timeWaitNow(ports: Iterable<number> = []): Promise<TimeWaitCount> {
  return count(await readTcpSockets(), new Set(ports));
}
