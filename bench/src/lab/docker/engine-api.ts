// The Docker engine's HTTP API, reached the way the docker CLI reaches it: through `docker system dial-stdio`
// with the lab's engine environment (exec.ts), so a unix socket, tcp:// (with TLS) and ssh:// all work, and
// the API goes to the very engine that the CLI and compose calls go to. The stack on a remote engine is
// measured from here: each container's CPU time and memory from /containers/<id>/stats (the engine reads
// them from the container's cgroup on its own host), never from this host's /proc.
import http from 'node:http';
import { spawn } from 'node:child_process';
import { Duplex } from 'node:stream';
import { dockerEnv } from './exec.js';
import { measuringCommand } from '../../host/measuring-home.js';

/** One connection to the engine: a dial-stdio process whose stdin/stdout carry the HTTP exchange. */
function dial(): Duplex {
  const c = measuringCommand('docker', ['system', 'dial-stdio']);
  const child = spawn(c.cmd, c.args, { env: dockerEnv(), stdio: ['pipe', 'pipe', 'ignore'] });
  const d = Duplex.from({ readable: child.stdout, writable: child.stdin });
  d.on('close', () => child.kill());
  child.on('error', (e) => d.destroy(e));
  return d;
}

/** A GET on the engine's API; resolves with the response once its head arrived. */
export function engineGet(path: string, timeoutMs = 20_000): Promise<http.IncomingMessage> {
  return new Promise((resolve, reject) => {
    const req = http.request({ path, method: 'GET', headers: { host: 'docker' }, createConnection: dial }, (res) => {
      clearTimeout(timer);
      if ((res.statusCode ?? 500) >= 300) {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => reject(new Error(`engine API GET ${path}: ${res.statusCode} ${body.trim()}`)));
        return;
      }
      resolve(res);
    });
    const timer = setTimeout(() => req.destroy(new Error(`engine API GET ${path}: no answer in ${timeoutMs} ms`)), timeoutMs);
    req.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    req.end();
  });
}

export async function engineGetJson<T>(path: string, timeoutMs?: number): Promise<T> {
  const res = await engineGet(path, timeoutMs);
  let body = '';
  for await (const c of res) body += (c as Buffer).toString();
  return JSON.parse(body) as T;
}

/** The parts of a stats record the lab reads (API 1.41+, cgroup v1 and v2). */
export interface RawStats {
  read: string;
  cpu_stats?: { cpu_usage?: { total_usage?: number } };
  memory_stats?: { usage?: number; stats?: Record<string, number> };
  pids_stats?: { current?: number };
}

/** One container's figures at one instant, as the engine read them. */
export interface ContainerStats {
  /** When the engine read them (its clock), ms since the epoch. */
  readAt: number;
  /** CPU time of everything in the container since it started, ns. */
  cpuNs: number;
  /** Resident anonymous memory (v1 total_rss or rss, v2 anon): what /proc's RSS counts, minus shared files. */
  rssBytes: number | null;
  /** The container's memory charge (page cache included). */
  memoryBytes: number | null;
  procs: number | null;
}

export function parseStats(s: RawStats): ContainerStats | null {
  const cpu = s.cpu_stats?.cpu_usage?.total_usage;
  if (cpu === undefined) return null;
  const m = s.memory_stats?.stats ?? {};
  return {
    readAt: Date.parse(s.read),
    cpuNs: cpu,
    rssBytes: m.total_rss ?? m.rss ?? m.anon ?? null,
    memoryBytes: s.memory_stats?.usage ?? null,
    procs: s.pids_stats?.current ?? null,
  };
}

/** One container's figures now (one-shot: no wait for a second sample). */
export async function containerStats(id: string): Promise<ContainerStats> {
  const s = parseStats(await engineGetJson<RawStats>(`/containers/${encodeURIComponent(id)}/stats?stream=false&one-shot=true`));
  if (!s) throw new Error(`the engine gave no CPU figures for container ${id} (is it running?)`);
  return s;
}

/** Keeps the latest figures of each container from the engine's stats streams (one record a second each). */
export class StatsStreams {
  readonly latest = new Map<string, ContainerStats>();
  private readonly responses: http.IncomingMessage[] = [];
  private closed = false;

  constructor(private readonly containers: Readonly<Record<string, string>>) {}

  async open(): Promise<void> {
    await Promise.all(Object.entries(this.containers).map(async ([name, id]) => {
      const res = await engineGet(`/containers/${encodeURIComponent(id)}/stats?stream=true`);
      if (this.closed) {
        res.destroy();
        return;
      }
      this.responses.push(res);
      let buf = '';
      res.on('data', (c: Buffer) => {
        buf += c.toString();
        let nl: number;
        while ((nl = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, nl).trim();
          buf = buf.slice(nl + 1);
          if (!line) continue;
          try {
            const s = parseStats(JSON.parse(line) as RawStats);
            if (s) this.latest.set(name, s);
          } catch {
            /* a record cut short by close() */
          }
        }
      });
      res.on('error', () => {});
    }));
  }

  close(): void {
    this.closed = true;
    for (const r of this.responses) r.destroy();
    this.responses.length = 0;
  }
}

/**
 * The CPU time of the containers together (a remote stack's budget window), ns, with the local monotonic
 * instant it stands for: the middle of the calls, which run at once.
 */
export async function containersCpuNs(ids: readonly string[]): Promise<{ ns: number; at: number }> {
  const t0 = performance.now();
  const all = await Promise.all(ids.map((id) => containerStats(id)));
  const t1 = performance.now();
  return { ns: all.reduce((a, s) => a + s.cpuNs, 0), at: (t0 + t1) / 2 };
}
