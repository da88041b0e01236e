// The 2013-style queue server (bench/seed2013/eserver2013.py) as a lab service: how to start it (or, with
// ESERVER_CONTROL_CMD, a user's copy of the 2013 original in its place), and the one question it can answer
// about itself (8003, the queue's length). It has no metrics endpoint and no MySQL drain, like the
// original, so the lab checks it and counts its acknowledgements through the wire.
import { mkdirSync, readlinkSync, realpathSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';

/** Which queue server the stack runs: ours (TypeScript, journal + drain) or the 2013-style stand-in. */
export type QueueImpl = 'ts' | 'seed2013';
export const QUEUE_IMPLS: readonly QueueImpl[] = ['ts', 'seed2013'];

export function parseQueueImpl(v: string): QueueImpl {
  if ((QUEUE_IMPLS as readonly string[]).includes(v)) return v as QueueImpl;
  throw new Error(`--queue-impl must be one of ${QUEUE_IMPLS.join(', ')}, got ${JSON.stringify(v)}`);
}

export function seed2013Script(repoRoot: string): string {
  return join(repoRoot, 'bench', 'seed2013', 'eserver2013.py');
}

/**
 * The command line. `-u` is deliberately absent: the original printed every request to a block-buffered
 * stdout (a file), and that is the cost to keep.
 */
export function seed2013Argv(python: string, script: string, host: string, port: number, extra: string[] = []): string[] {
  return [python, script, '--host', host, '--port', String(port), ...extra];
}

/**
 * A command line of the user's that runs instead of the stand-in: the 2013 original from a copy of it,
 * say (this project ships none). Run by /bin/sh with {host}, {port} and {dir} (an empty directory of its
 * own) filled in; it must exec the server, whose pid the lab puts in the stack's cgroup and stops.
 */
export const CONTROL_CMD_ENV = 'ESERVER_CONTROL_CMD';

const CONTROL_EXAMPLE =
  `${CONTROL_CMD_ENV}='cp -r /tmp/EasyPy/. {dir} && cd {dir} && sed -i "/^\\[queue\\]/,/^\\[/s/^port = .*/port = {port}/" EasyPy/Conf/Config.ini && PYTHONPATH=.:EasyPy/Lib:EasyPy/Common exec python3 circularQueue.py'`;

export function controlCommand(env: NodeJS.ProcessEnv): string | null {
  return env[CONTROL_CMD_ENV]?.trim() || null;
}

export interface Seed2013Launch {
  argv: string[];
  env: NodeJS.ProcessEnv;
  /** The control command it runs, or null for the stand-in. */
  control: string | null;
}

/**
 * How to start the 2013-style server on host:port: the stand-in, or the control command of `env` when
 * there is one (then `dir` is created for it, and `extra` must be empty: flags are the stand-in's).
 */
export function seed2013Launch(o: {
  env: NodeJS.ProcessEnv;
  python: () => string;
  repoRoot: string;
  host: string;
  port: number;
  dir: string;
  extra?: string[];
}): Seed2013Launch {
  const env = seed2013Env(o.env);
  const control = controlCommand(o.env);
  if (control === null) return { argv: seed2013Argv(o.python(), seed2013Script(o.repoRoot), o.host, o.port, o.extra), env, control };
  if (!control.includes('{port}')) {
    throw new Error(`${CONTROL_CMD_ENV} has no {port}: the lab chooses the queue port and the server must listen on it. For example:\n  ${CONTROL_EXAMPLE}`);
  }
  if (o.extra?.length) throw new Error(`queue server flags (${o.extra.join(' ')}) are the stand-in's; with ${CONTROL_CMD_ENV} put them in the command`);
  mkdirSync(o.dir, { recursive: true });
  const filled = control.replaceAll('{host}', o.host).replaceAll('{port}', String(o.port)).replaceAll('{dir}', o.dir);
  return { argv: ['/bin/sh', '-c', filled], env, control };
}

/** Why a started control command's pid is not its server's (the shell did not exec it), or null. */
export function controlNotExecd(pid: number): string | null {
  let exe: string;
  try {
    exe = readlinkSync(`/proc/${pid}/exe`);
  } catch {
    return null; // gone or unreadable: the health check says what happened
  }
  if (exe !== realpathSync('/bin/sh')) return null;
  return `${CONTROL_CMD_ENV} left its server under a shell (pid ${pid} is ${exe}): end the command with exec, so that the lab can put the server's pid in the stack's cgroup and stop it. For example:\n  ${CONTROL_EXAMPLE}`;
}

/**
 * The queue's length, by 8003. The 2013 original has one reply slot for all connections, so under load
 * an 8003 can get a concurrent enqueue's reply: then it asks again, until `timeoutMs` has passed.
 * Rejects on no reply, a wrong cmd that persists, or a timeout.
 */
export async function queueLength(host: string, port: number, timeoutMs = 2000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  let wrong: { cmd: number; tries: number } | null = null;
  const wrongCmd = (w: { cmd: number; tries: number }) =>
    new Error(`8003 to ${host}:${port}: reply cmd ${w.cmd}, expected 8003 (${w.tries} ${w.tries === 1 ? 'try' : 'tries'} in ${timeoutMs} ms)`);
  for (let tries = 1; ; tries++) {
    let r: Awaited<ReturnType<typeof askLength>>;
    try {
      r = await askLength(host, port, Math.max(1, deadline - Date.now()));
    } catch (e) {
      // Out of time on a retry: what went wrong is the reply meant for someone else.
      if (wrong && e instanceof NoReplyInTime) throw wrongCmd(wrong);
      throw e;
    }
    if (typeof r === 'number') return r;
    wrong = { cmd: r.wrongCmd, tries };
    if (Date.now() >= deadline) throw wrongCmd(wrong);
  }
}

class NoReplyInTime extends Error {}

/** One 8003 on a connection of its own: the length, or the cmd of a reply meant for someone else. */
function askLength(host: string, port: number, timeoutMs: number): Promise<number | { wrongCmd: number }> {
  return new Promise((resolve, reject) => {
    const s = connect({ host, port });
    let buf = Buffer.alloc(0);
    const fail = (why: string, E: new (message: string) => Error = Error) => {
      s.destroy();
      reject(new E(`8003 to ${host}:${port}: ${why}`));
    };
    s.setTimeout(timeoutMs, () => fail('no reply in time', NoReplyInTime));
    s.once('error', (e) => fail(e.message));
    s.once('connect', () => s.write(Buffer.from([0x1f, 0x43, 0x00, 0x02, 0x7b, 0x7d]))); // 8003 {}
    s.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      if (buf.length < 4) return;
      const cmd = buf.readUInt16BE(0);
      const len = buf.readUInt16BE(2);
      if (cmd !== 8003) {
        s.destroy();
        resolve({ wrongCmd: cmd });
        return;
      }
      if (buf.length < 4 + len) return;
      s.destroy();
      const n = Number(JSON.parse(buf.subarray(4, 4 + len).toString('utf8')));
      if (Number.isInteger(n) && n >= 0) resolve(n);
      else reject(new Error(`8003 to ${host}:${port}: not a length: ${buf.subarray(4, 4 + len).toString('utf8')}`));
    });
    s.once('end', () => fail('closed without a reply'));
  });
}

/**
 * The environment of the 2013-style server: the caller's, without its PYTHON* variables. They change what
 * a request costs (PYTHONUNBUFFERED=1 makes each print two writes to the file), so the control must not
 * depend on the shell it was started from.
 */
export function seed2013Env(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(env).filter(([k]) => !k.startsWith('PYTHON')));
}
