// Port checks before a service starts, so that "address in use" names the port and, when /proc tells,
// the process that holds it, instead of surfacing as a service that failed its health check.
import { createServer } from 'node:net';
import { readdir, readFile, readlink } from 'node:fs/promises';
import { readTcpSockets, TCP_STATE } from '../host/tcp-sockets.js';

export interface PortOwner {
  pid: number;
  command: string;
}

export class PortInUseError extends Error {
  constructor(
    readonly port: number,
    readonly service: string,
    readonly owner: PortOwner | null,
    flag: string,
  ) {
    const who = owner ? `by pid ${owner.pid} (${owner.command})` : 'by another process';
    super(
      `port ${port} for ${service} is already in use ${who}. ` +
        `Stop that process, or pick another port with ${flag}.`,
    );
  }
}

/** True when 127.0.0.1:port can be bound right now. */
export function portIsFree(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(false));
    srv.listen({ port, host, exclusive: true }, () => srv.close(() => resolve(true)));
  });
}

/** Socket inodes listening on `port`. */
async function listeningInodes(port: number): Promise<Set<string>> {
  const sockets = await readTcpSockets();
  return new Set(sockets.filter((s) => s.localPort === port && s.state === TCP_STATE.LISTEN).map((s) => s.inode));
}

/** The process holding a listening socket on `port`, when /proc lets us see it. */
export async function findPortOwner(port: number): Promise<PortOwner | null> {
  const inodes = await listeningInodes(port);
  if (inodes.size === 0) return null;
  const wanted = new Set([...inodes].map((i) => `socket:[${i}]`));
  const pids = (await readdir('/proc')).filter((d) => /^\d+$/.test(d));
  for (const pid of pids) {
    let fds: string[];
    try {
      fds = await readdir(`/proc/${pid}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      try {
        if (wanted.has(await readlink(`/proc/${pid}/fd/${fd}`))) {
          const cmd = (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0').filter(Boolean).join(' ');
          return { pid: Number(pid), command: cmd || '?' };
        }
      } catch {
        /* fd closed meanwhile */
      }
    }
  }
  return null;
}

/** Throws PortInUseError (with the owner when known) when the port cannot be bound. */
export async function assertPortFree(port: number, service: string, flag: string): Promise<void> {
  if (await portIsFree(port)) return;
  throw new PortInUseError(port, service, await findPortOwner(port), flag);
}
