// TCP sockets in TIME_WAIT, from /proc/net/tcp and tcp6: every closed loopback connection leaves one for
// 60 s, and a table of 100k of them makes connect() and accept() dearer. The gate counts them before each
// measured cell (all of them, and those on a stack's own ports) so that a level shift can be traced.
import { readFile } from 'node:fs/promises';

const TIME_WAIT = '06';

export interface TimeWaitCount {
  total: number;
  /** Those with a local or remote port among the given ones. */
  onPorts: number;
}

/** Counts TIME_WAIT rows of /proc/net/tcp-format text; `ports` selects the rows with either port in it. */
export function countTimeWait(text: string, ports: ReadonlySet<number> = new Set()): TimeWaitCount {
  let total = 0;
  let onPorts = 0;
  for (const line of text.split('\n')) {
    // "  sl  local_address rem_address   st ...": "0: 0100007F:1F90 0100007F:C350 06 ..."
    const f = line.trim().split(/\s+/);
    if (f.length < 4 || f[3] !== TIME_WAIT) continue;
    total++;
    if (ports.size === 0) continue;
    const local = parseInt(f[1]!.slice(f[1]!.lastIndexOf(':') + 1), 16);
    const remote = parseInt(f[2]!.slice(f[2]!.lastIndexOf(':') + 1), 16);
    if (ports.has(local) || ports.has(remote)) onPorts++;
  }
  return { total, onPorts };
}

/** This network namespace's TIME_WAIT sockets now (IPv4 and IPv6). */
export async function timeWaitNow(ports: Iterable<number> = []): Promise<TimeWaitCount> {
  const set = new Set(ports);
  const out: TimeWaitCount = { total: 0, onPorts: 0 };
  for (const f of ['/proc/net/tcp', '/proc/net/tcp6']) {
    const text = await readFile(f, 'utf8').catch(() => '');
    const c = countTimeWait(text, set);
    out.total += c.total;
    out.onPorts += c.onPorts;
  }
  return out;
}
