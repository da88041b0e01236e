// Health checks, each retried until a deadline, and the error that carries a service's last log lines.
import { existsSync, readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { createConnection } from 'mysql2/promise';
import { httpGet } from '../http.js';
import type { HealthCheck } from '@eserver-lab/common/stack-spec';
import { isAlive, type ProcRecord } from './procs.js';

export class HealthCheckError extends Error {}
export class AbortedError extends Error {}

export function tailLines(file: string, n = 20): string[] {
  if (!existsSync(file)) return [];
  const lines = readFileSync(file, 'utf8').split('\n');
  if (lines.at(-1) === '') lines.pop();
  return lines.slice(-n);
}

function failure(service: string, why: string, logs: string[]): HealthCheckError {
  const parts = [`${service} failed its health check: ${why}`];
  for (const f of logs) {
    const t = tailLines(f);
    parts.push(t.length ? `--- last lines of ${f}:\n${t.join('\n')}` : `--- ${f} is empty or missing`);
  }
  return new HealthCheckError(parts.join('\n'));
}

/**
 * Polls `probe` until it returns true. Fails early when the process died (with its log tail), at the
 * deadline, or when `signal` aborts (Ctrl-C during up).
 */
export async function waitHealthy(
  service: string,
  proc: ProcRecord,
  logs: string[],
  probe: () => Promise<boolean>,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer yet';
  while (Date.now() < deadline) {
    if (signal?.aborted) throw new AbortedError(`interrupted while waiting for ${service}`);
    if (!isAlive(proc)) throw failure(service, `the process (pid ${proc.pid}) exited`, logs);
    try {
      if (await probe()) return;
    } catch (err) {
      last = err instanceof Error ? err.message : String(err);
    }
    await sleep(50);
  }
  throw failure(service, `no healthy answer within ${timeoutMs / 1000} s (last: ${last})`, logs);
}

export function tcpAnswers(port: number, host = '127.0.0.1', timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ port, host });
    const done = (ok: boolean) => {
      s.destroy();
      resolve(ok);
    };
    s.setTimeout(timeoutMs, () => done(false));
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
  });
}

export async function httpOk(url: string, timeoutMs = 2000): Promise<boolean> {
  const res = await httpGet(url, timeoutMs);
  if (res.status !== 200) throw new Error(`GET ${url} answered ${res.status}`);
  return true;
}

/** The stack spec's health check of a service, in Node; true when healthy, else false or a thrown reason. */
export async function checkHealth(h: HealthCheck): Promise<boolean> {
  switch (h.kind) {
    case 'http':
      return httpOk(`http://${h.host}:${h.port}${h.path}`);
    case 'tcp':
      return tcpAnswers(h.port, h.host);
    case 'mysql': {
      const c = await createConnection({ host: h.host, port: h.port, user: h.user, password: h.password, database: h.database, connectTimeout: 1000 });
      try {
        await c.ping();
        return true;
      } finally {
        await c.end();
      }
    }
  }
}

/** MariaDB answers root on its socket: the init step can run (before the lab's account exists). */
export async function mysqlPing(socketPath: string): Promise<boolean> {
  const c = await createConnection({ socketPath, user: 'root', connectTimeout: 1000 });
  try {
    await c.ping();
    return true;
  } finally {
    await c.end();
  }
}
