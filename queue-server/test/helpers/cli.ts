// Spawns the real CLI (dist/src/cli.js) and reads its structured log for the bound ports.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { queueRuntime, type QueueRuntime } from '../../src/runtime.js';
import { bySample, parseScrape } from '@eserver-lab/common/scrape';

export const CLI = fileURLToPath(new URL('../../src/cli.js', import.meta.url));
/** The test-only entry: cli.js's flags plus the CPU burn (src/test-hooks/burn-cli.ts). */
export const BURN_CLI = fileURLToPath(new URL('../../src/test-hooks/burn-cli.js', import.meta.url));

/**
 * The executable that runs the server under test: the one QUEUE_RUNTIME names, else the runtime that runs
 * the tests (node under node's runner, bun under `bun test`). Not the shipped default: `make test` runs
 * these files once under each runtime (runtime-bun.test.ts), and each pass must spawn its own.
 */
export const RUNTIME = queueRuntime(process.env.QUEUE_RUNTIME?.trim() ? undefined : process.versions.bun ? 'bun' : 'node');

export interface CliProcess {
  proc: ChildProcess;
  port: number;
  metricsPort: number;
  stderr(): string;
  logs(): Array<Record<string, unknown>>;
  /** Resolves with the exit code. */
  exited: Promise<number | null>;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** `runtime`: another than RUNTIME (make fuzz runs the shipped default). */
export function runCli(args: string[], env: NodeJS.ProcessEnv = {}, opts: { ulimit?: number; entry?: string; runtime?: QueueRuntime } = {}): Promise<CliProcess> {
  const fullEnv = { ...process.env, ESERVER_CONFIG: '', ...env };
  const entry = opts.entry ?? CLI;
  const bin = (opts.runtime ?? RUNTIME).bin;
  const proc = opts.ulimit
    ? spawn('bash', ['-c', `ulimit -n ${opts.ulimit}; exec "$0" "$@"`, bin, entry, ...args], { env: fullEnv, stdio: ['ignore', 'pipe', 'pipe'] })
    : spawn(bin, [entry, ...args], { env: fullEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)));
  const logs = (): Array<Record<string, unknown>> =>
    err
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`CLI did not start:\n${err}`));
    }, 15_000);
    proc.stdout!.on('data', () => {});
    proc.stderr!.on('data', (d: Buffer) => {
      err += d.toString();
      const l = logs().find((x) => x.event === 'listening');
      if (l) {
        clearTimeout(timer);
        resolve({
          proc,
          port: l.port as number,
          metricsPort: l.metricsPort as number,
          stderr: () => err,
          logs,
          exited,
          stop: async (signal: NodeJS.Signals = 'SIGTERM') => {
            if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
            return exited;
          },
        });
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(Object.assign(new Error(`CLI exited with ${code} before listening:\n${err}`), { code, stderr: err }));
    });
  });
}

/** Runs the CLI expecting it to exit by itself (bad config...). */
export function runCliToExit(args: string[], env: NodeJS.ProcessEnv = {}, entry = CLI): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const proc = spawn(RUNTIME.bin, [entry, ...args], { env: { ...process.env, ESERVER_CONFIG: '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    proc.stderr.on('data', (d: Buffer) => (err += d.toString()));
    proc.stdout.on('data', (d: Buffer) => (err += d.toString()));
    const t = setTimeout(() => proc.kill('SIGKILL'), 15_000);
    proc.on('exit', (code) => {
      clearTimeout(t);
      resolve({ code, stderr: err });
    });
  });
}

export function rssBytes(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : NaN;
}

export async function scrape(metricsPort: number): Promise<Map<string, number>> {
  const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
  return bySample(parseScrape(text));
}

