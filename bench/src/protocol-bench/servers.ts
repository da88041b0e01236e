// Starts the servers the protocol benchmark compares: our TypeScript queue server (on node or bun), the C
// reference and the minimal node and Bun servers (bench/ref/). Each is a child process of the benchmark,
// stopped by its pid; nothing here finds processes by name.
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { queueRuntime, type QueueRuntimeName } from '@eserver-lab/queue-server/runtime';
import { track } from '../host/on-signal.js';
import { connect } from 'node:net';
import { closeSync, existsSync, mkdirSync, openSync, rmSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { repoRoot } from '@eserver-lab/common/repo-root';
import { CONTROL_CMD_ENV, controlCommand, controlNotExecd, seed2013Env, seed2013Launch } from '../lab/seed2013.js';
import { freePorts } from '@eserver-lab/common/free-port';

export const REF_SOURCE = join(repoRoot, 'bench', 'ref', 'eserver-ref.c');
export const QUEUE_CLI = join(repoRoot, 'queue-server', 'dist', 'src', 'cli.js');

const MIN_NODE = join(repoRoot, 'bench', 'ref', 'min-node.mjs');
const MIN_BUN = join(repoRoot, 'bench', 'ref', 'min-bun.mjs');

/**
 * The minimal servers, run as they are by their runtime: the runtime's own floor for the same work. The
 * journal kinds also write every statement to a file with one O_DSYNC write per group before replying: the
 * floor of the queue server's journal under `--fsync always` on that runtime and disk.
 */
export const MIN_SERVERS = {
  'min-node': { runtime: 'node', source: MIN_NODE, journal: false, label: 'minimal Node `net` server' },
  'min-bun': { runtime: 'bun', source: MIN_BUN, journal: false, label: 'minimal Bun `Bun.listen` server' },
  'min-node-journal': { runtime: 'node', source: MIN_NODE, journal: true, label: 'minimal Node `net` server + O_DSYNC group journal' },
  'min-bun-journal': { runtime: 'bun', source: MIN_BUN, journal: true, label: 'minimal Bun `Bun.listen` server + O_DSYNC group journal' },
} as const satisfies Record<string, { runtime: QueueRuntimeName; source: string; journal: boolean; label: string }>;
export type MinServerKind = keyof typeof MIN_SERVERS;

export interface RunningServer {
  kind: 'ts' | 'c-ref' | 'seed2013' | 'control' | MinServerKind;
  /** The JavaScript runtime that runs it (none for the C reference). */
  runtime?: QueueRuntimeName;
  label: string;
  pid: number;
  host: string;
  port: number;
  metricsPort?: number;
  /** The journal file of a minimal server's journal kind. */
  journalFile?: string;
  /** Last lines of the server's stderr/stdout, for error messages. */
  logTail(): string;
  stop(): Promise<number | null>;
}

/** Compiles the C reference server with `cc -O2` into runDir when the binary is missing or older than the source. */
export function buildRefServer(runDir: string): string {
  mkdirSync(runDir, { recursive: true });
  const bin = join(runDir, 'eserver-ref');
  if (!existsSync(bin) || statSync(bin).mtimeMs < statSync(REF_SOURCE).mtimeMs) {
    execFileSync('cc', ['-O2', '-Wall', '-o', bin, REF_SOURCE], { stdio: ['ignore', 'inherit', 'inherit'] });
  }
  return bin;
}

function keepTail(child: ChildProcess): () => string {
  let tail = '';
  const add = (b: Buffer): void => {
    tail = (tail + b.toString('utf8')).slice(-4000);
  };
  child.stdout?.on('data', add);
  child.stderr?.on('data', add);
  return () => tail;
}

function stopChild(child: ChildProcess, graceMs = 5000): Promise<number | null> {
  return new Promise((res) => {
    if (child.exitCode !== null || child.signalCode !== null) return res(child.exitCode);
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      res(code);
    });
    child.kill('SIGTERM');
  });
}

async function waitForTcp(host: string, port: number, child: ChildProcess, tail: () => string, timeoutMs = 15000): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`server exited (${child.exitCode ?? child.signalCode}) before listening:\n${tail()}`);
    }
    const ok = await new Promise<boolean>((r) => {
      const s = connect({ host, port });
      s.once('connect', () => {
        s.destroy();
        r(true);
      });
      s.once('error', () => r(false));
    });
    if (ok) return;
    if (Date.now() > until) throw new Error(`server did not listen on ${host}:${port} within ${timeoutMs} ms:\n${tail()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Reads the "port N" line that the reference and minimal servers print once they listen. */
function announcedPort(child: ChildProcess, tail: () => string, what: string): Promise<number> {
  return new Promise<number>((res, rej) => {
    let buf = '';
    const onData = (b: Buffer): void => {
      buf += b.toString('utf8');
      const m = /port (\d+)/.exec(buf);
      if (m) {
        child.stdout?.off('data', onData);
        res(Number(m[1]));
      }
    };
    child.stdout?.on('data', onData);
    child.once('exit', (c) => rej(new Error(`${what} exited ${c}: ${tail()}`)));
  });
}

export async function startRefServer(runDir: string, host = '127.0.0.1'): Promise<RunningServer> {
  const bin = buildRefServer(runDir);
  const child = track(spawn(bin, [host, '0'], { stdio: ['ignore', 'pipe', 'pipe'] }));
  const tail = keepTail(child);
  const port = await announcedPort(child, tail, 'eserver-ref');
  return {
    kind: 'c-ref',
    label: 'C epoll reference (ours)',
    pid: child.pid!,
    host,
    port,
    logTail: tail,
    stop: () => stopChild(child),
  };
}

/** Starts bench/ref/min-node.mjs on node or bench/ref/min-bun.mjs on bun. */
/**
 * Starts a minimal server on a free port. A journal kind writes its journal in runDir (required for those
 * kinds); the file is removed when the server is stopped.
 */
export async function startMinServer(kind: MinServerKind, opts: { host?: string; runDir?: string } = {}): Promise<RunningServer> {
  const { runtime, source, journal, label } = MIN_SERVERS[kind];
  const host = opts.host ?? '127.0.0.1';
  if (journal && !opts.runDir) throw new Error(`${kind} needs a runDir for its journal file`);
  const journalFile = journal ? join(opts.runDir!, `${kind}-${process.pid}.journal`) : null;
  if (journalFile) rmSync(journalFile, { force: true });
  const child = track(spawn(queueRuntime(runtime).bin, [source, host, '0', ...(journalFile ? [journalFile] : [])], { stdio: ['ignore', 'pipe', 'pipe'] }));
  const tail = keepTail(child);
  const stop = async (): Promise<number | null> => {
    const code = await stopChild(child);
    if (journalFile) rmSync(journalFile, { force: true });
    return code;
  };
  let port: number;
  try {
    port = await announcedPort(child, tail, kind);
    await waitForTcp(host, port, child, tail);
  } catch (e) {
    await stop();
    throw e;
  }
  return { kind, runtime, label, pid: child.pid!, host, port, journalFile: journalFile ?? undefined, logTail: tail, stop };
}

/**
 * The 2013-style Python server (bench/seed2013/eserver2013.py) on a free port, its print of every request
 * going to a file as in the lab: what its CPU per enqueue costs beside the C reference.
 */
export async function startSeed2013Server(runDir: string, host = '127.0.0.1'): Promise<RunningServer> {
  mkdirSync(runDir, { recursive: true });
  const out = openSync(join(runDir, 'eserver2013-requests.log'), 'w');
  // The stand-in, even when ESERVER_CONTROL_CMD is set: that one is the `control` server.
  // The load driver spreads its connections over 127.0.0.1-16: all of them are let through the allow-list.
  const allow = Array.from({ length: 16 }, (_, i) => ['--allow', `127.0.0.${i + 1}`]).flat();
  const child = track(
    spawn('python3', [join(repoRoot, 'bench', 'seed2013', 'eserver2013.py'), '--host', host, '--port', '0', ...allow], { stdio: ['ignore', out, 'pipe'], env: seed2013Env(process.env) }),
  );
  closeSync(out);
  const tail = keepTail(child);
  const port = await new Promise<number>((res, rej) => {
    let buf = '';
    const onData = (b: Buffer): void => {
      buf += b.toString('utf8');
      const m = /listening on [^:]+:(\d+)/.exec(buf);
      if (m) {
        child.stderr?.off('data', onData);
        res(Number(m[1]));
      }
    };
    child.stderr?.on('data', onData);
    child.once('exit', (c) => rej(new Error(`eserver2013 exited ${c}: ${tail()}`)));
  });
  return { kind: 'seed2013', label: '2013-style Python server (bench/seed2013)', pid: child.pid!, host, port, logTail: tail, stop: () => stopChild(child) };
}

/**
 * The user's control command (ESERVER_CONTROL_CMD, a copy of the 2013 original, say) on a free port, as
 * the lab starts it: what the stand-in's CPU per enqueue is checked against (bench/seed2013/README.md).
 */
export async function startControlServer(runDir: string, host = '127.0.0.1'): Promise<RunningServer> {
  if (controlCommand(process.env) === null) throw new Error(`the control server runs ${CONTROL_CMD_ENV}, which is not set: see bench/seed2013/README.md`);
  mkdirSync(runDir, { recursive: true });
  const [port] = await freePorts(1);
  const dir = join(runDir, `control-${process.pid}`);
  rmSync(dir, { recursive: true, force: true });
  const how = seed2013Launch({ env: process.env, python: () => 'python3', repoRoot, host, port: port!, dir });
  const out = openSync(join(runDir, 'control-requests.log'), 'w');
  const child = track(spawn(how.argv[0]!, how.argv.slice(1), { stdio: ['ignore', out, 'pipe'], env: how.env }));
  closeSync(out);
  const tail = keepTail(child);
  const stop = async (): Promise<number | null> => {
    const code = await stopChild(child);
    rmSync(dir, { recursive: true, force: true });
    return code;
  };
  try {
    await waitForTcp(host, port!, child, tail);
    const notExecd = controlNotExecd(child.pid!);
    if (notExecd) throw new Error(notExecd);
  } catch (e) {
    await stop();
    throw e;
  }
  return { kind: 'control', label: `control (${CONTROL_CMD_ENV})`, pid: child.pid!, host, port: port!, logTail: tail, stop };
}

export interface QueueServerOptions {
  host?: string;
  /** Extra CLI flags, e.g. ['--fsync', 'always', '--journal-dir', dir]. */
  args?: string[];
  env?: NodeJS.ProcessEnv;
  label?: string;
  /** node or bun; default QUEUE_RUNTIME (bun when unset). */
  runtime?: QueueRuntimeName;
  /** The CLI script to run instead of this checkout's (the CI gate's reference build of another commit). */
  entry?: string;
}

/**
 * Starts queue-server/dist/src/cli.js with --port 0 --metrics-port 0 and reads the bound ports from its
 * "listening" log event. Picking a free port ourselves would race with the load's own ephemeral ports.
 */
export async function startQueueServer(opts: QueueServerOptions = {}): Promise<RunningServer> {
  const entry = opts.entry ?? QUEUE_CLI;
  if (!existsSync(entry)) throw new Error(`${entry} is missing: build with \`npx tsc -b queue-server\``);
  const host = opts.host ?? '127.0.0.1';
  const args = [entry, '--host', host, '--port', '0', '--metrics-port', '0', ...(opts.args ?? [])];
  const runtime = queueRuntime(opts.runtime);
  const child = track(
    spawn(runtime.bin, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...opts.env },
    }),
  );
  const tail = keepTail(child);
  let ports: { port: number; metricsPort: number };
  try {
    ports = await new Promise<{ port: number; metricsPort: number }>((res, rej) => {
      let buf = '';
      const timer = setTimeout(() => rej(new Error(`eserver-queue did not log "listening" within 15 s:\n${tail()}`)), 15_000);
      const onData = (b: Buffer): void => {
        buf += b.toString('utf8');
        let nl: number;
        while ((nl = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          if (!line.includes('"listening"')) continue;
          try {
            const ev = JSON.parse(line) as { event?: string; port?: number; metricsPort?: number };
            if (ev.event === 'listening' && typeof ev.port === 'number') {
              clearTimeout(timer);
              child.stdout?.off('data', onData);
              child.stderr?.off('data', onData);
              res({ port: ev.port, metricsPort: ev.metricsPort ?? 0 });
            }
          } catch {
            /* not a JSON log line */
          }
        }
      };
      child.stdout?.on('data', onData);
      child.stderr?.on('data', onData);
      child.once('exit', (c) => {
        clearTimeout(timer);
        rej(new Error(`server exited (${c}) before listening:\n${tail()}`));
      });
    });
    await waitForTcp(host, ports.port, child, tail);
  } catch (e) {
    await stopChild(child);
    throw e;
  }
  return {
    kind: 'ts',
    runtime: runtime.name,
    label: opts.label ?? `eserver-queue (TypeScript${runtime.name === 'node' ? '' : `, on ${runtime.name}`})`,
    pid: child.pid!,
    host,
    port: ports.port,
    metricsPort: ports.metricsPort,
    logTail: tail,
    stop: () => stopChild(child, 15000),
  };
}

export function defaultRunDir(): string {
  return resolve(repoRoot, 'run', 'proto');
}
