// Drops counted by each listening socket itself (the kernel's sk_drops, which tcp_listendrop increments
// for every SYN or handshake dropped at that listener: accept-queue overflows included). Unlike the
// namespace-wide ListenDrops of /proc/net/netstat, it belongs to one port, so another stack overflowing
// on the same machine does not count. Read through `ss -tlnm` (iproute2: inet_diag's skmem `d` field).
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { measuringCommand } from '../host/measuring-home.js';

const run = promisify(execFile);

export interface Listener {
  local: string;
  port: number;
  /** Accept queue now (Recv-Q) and its size (Send-Q). */
  queued: number;
  backlog: number;
  drops: number;
}

/** Parses `ss -Htlnm` output: a `LISTEN ...` line, then its `skmem:(...,d<drops>)` line. */
export function parseSsListeners(text: string): Listener[] {
  const out: Listener[] = [];
  let cur: Omit<Listener, 'drops'> | null = null;
  for (const line of text.split('\n')) {
    const l = /^\s*LISTEN\s+(\d+)\s+(\d+)\s+(\S+):(\d+)\s/.exec(line);
    if (l) {
      cur = { queued: Number(l[1]), backlog: Number(l[2]), local: l[3]!, port: Number(l[4]) };
      continue;
    }
    const m = /skmem:\(([^)]*)\)/.exec(line);
    if (m && cur) {
      const d = /(?:^|,)d(\d+)(?:,|$)/.exec(m[1]!);
      out.push({ ...cur, drops: d ? Number(d[1]) : 0 });
      cur = null;
    }
  }
  return out;
}

/** Drops per port, summed over the port's sockets (nginx's reuseport gives one per worker); null without ss. */
export async function listenerDrops(ports: number[]): Promise<Map<number, number> | null> {
  try {
    const c = measuringCommand('ss', ['-Htlnm']);
    const { stdout } = await run(c.cmd, c.args, { maxBuffer: 16 * 1024 * 1024 });
    const want = new Set(ports);
    const out = new Map<number, number>(ports.map((p) => [p, 0]));
    for (const l of parseSsListeners(stdout)) if (want.has(l.port)) out.set(l.port, out.get(l.port)! + l.drops);
    return out;
  } catch {
    return null;
  }
}
