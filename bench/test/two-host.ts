// Two hosts on one machine for the tests (issue 25): the second engine of make docker-engine-remote, a
// `make bench` run against it with every docker and compose call recorded, and what must be gone afterwards.
// Used by docker-remote-e2e.test.ts and by two-host-child.ts (the same flow, interrupted by a Ctrl-C).
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { appendFileSync, chmodSync, copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { repoRoot } from '@eserver-lab/common/repo-root';
import { remoteEngineLeftovers, stopRemoteEngine, type RemoteEngineNames } from '../src/lab/docker/remote-engine.js';

export const BENCH_CLI = fileURLToPath(new URL('../src/cli.js', import.meta.url));

/** One docker or docker-compose invocation as the shim saw it. */
export interface DockerCall {
  prog: string;
  /** DOCKER_HOST in its environment, null when unset. */
  host: string | null;
  context: string | null;
  args: string;
}

/**
 * A directory to put first on PATH: `docker` and `docker-compose` that append their engine variables and
 * arguments to `log`, then exec the real programs. Every call the lab makes, the engine API's dial-stdio and
 * the scripts' included, goes through them.
 */
export function dockerCallRecorder(dir: string, log: string): string {
  const bin = join(dir, 'shim');
  mkdirSync(bin, { recursive: true });
  writeFileSync(log, '');
  for (const prog of ['docker', 'docker-compose']) {
    const real = execFileSync('bash', ['-c', `command -v ${prog} || true`], { encoding: 'utf8' }).trim();
    if (!real) continue;
    const f = join(bin, prog);
    writeFileSync(f, [
      '#!/bin/bash',
      `printf '%s\\t%s\\t%s\\t%s\\n' ${prog} "\${DOCKER_HOST-<unset>}" "\${DOCKER_CONTEXT-<unset>}" "$*" >> ${JSON.stringify(log)}`,
      `exec ${JSON.stringify(real)} "$@"`,
      '',
    ].join('\n'));
    chmodSync(f, 0o755);
  }
  return bin;
}

export function readDockerCalls(log: string): DockerCall[] {
  return readFileSync(log, 'utf8').split('\n').filter(Boolean).map((l) => {
    const [prog, host, context, ...rest] = l.split('\t');
    return { prog: prog!, host: host === '<unset>' ? null : host!, context: context === '<unset>' ? null : context!, args: rest.join('\t') };
  });
}

/** The calls that did not go to `host` alone: another DOCKER_HOST, a context, or a -H/--host/--context flag. */
export function callsElsewhere(calls: readonly DockerCall[], host: string): DockerCall[] {
  return calls.filter((c) => c.host !== host || c.context !== null || /(^|\s)(-H|--host|--context|-c)(\s|=)/.test(c.args));
}

export interface BenchRun {
  child: ChildProcess;
  output: () => string;
  closed: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/**
 * `make bench RUNTIME=<runtime> PROFILE=smoke` as its recipe runs it (bench/dist/src/cli.js run), with the
 * engine variables in `env`, its own run dir, results dir, free ports and cgroup parent (other stacks run on
 * this machine), and the recording docker first on PATH.
 */
export function runBench(o: { dir: string; runtime: 'docker' | 'auto'; env: NodeJS.ProcessEnv; shim: string; cgroupParent: string; tee?: string }): BenchRun {
  mkdirSync(o.dir, { recursive: true });
  copyFileSync(join(repoRoot, 'results', 'seed.json'), join(o.dir, 'seed.json'));
  const env: NodeJS.ProcessEnv = { ...process.env, ...o.env, PATH: `${o.shim}:${process.env.PATH}`, CGROUP_PARENT: o.cgroupParent };
  for (const k of ['DOCKER_HOST', 'DOCKER_CONTEXT'] as const) if (!(k in o.env)) delete env[k];
  const args = [BENCH_CLI, 'run', '--profile', 'smoke', '--runtime', o.runtime, '--out', o.dir, '--run-dir', join(o.dir, 'lab'), '--free-ports'];
  const child = spawn(process.execPath, args, { cwd: repoRoot, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const add = (d: string) => {
    out += d;
    if (o.tee) appendFileSync(o.tee, d);
  };
  child.stdout!.setEncoding('utf8').on('data', add);
  child.stderr!.setEncoding('utf8').on('data', add);
  const closed = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => child.on('close', (code, signal) => r({ code, signal })));
  return { child, output: () => out, closed };
}

/** Directories named `name` anywhere in the cgroup trees (the stack's parent, in every hierarchy). */
export function cgroupDirsNamed(name: string): string[] {
  return execFileSync('find', ['/sys/fs/cgroup', '-maxdepth', '7', '-type', 'd', '-name', name], { encoding: 'utf8' }).split('\n').filter(Boolean);
}

/** What a two-host run leaves on this machine: the engine's namespace, veth and processes, the stack's cgroups. */
export function twoHostLeftovers(names: RemoteEngineNames, cgroupParent: string): string[] {
  return [...remoteEngineLeftovers(names), ...cgroupDirsNamed(cgroupParent).map((d) => `cgroup ${d}`)];
}

let stopping: Promise<string> | null = null;

/** Stops the second engine once, whoever asks first (the end of a test, or a signal): the same promise after. */
export function stopRemoteEngineOnce(): Promise<string> {
  stopping ??= stopRemoteEngine();
  return stopping;
}

let interrupted = false;

/** True once a signal started the teardown: the flow that was running must leave the rest to it. */
export const wasInterrupted = () => interrupted;

/**
 * On Ctrl-C (SIGINT to the terminal's process group, the bench included) or the test runner's SIGTERM (to
 * this process alone, passed on to the bench as its Ctrl-C): let the bench tear its stack down, then stop the
 * second engine, then exit 130. Once: a second signal during that is ignored.
 */
export function stopEverythingOnSignal(current: () => BenchRun | null, log: (l: string) => void): void {
  const onSignal = (sig: NodeJS.Signals) => {
    if (interrupted) return;
    interrupted = true;
    log(`${sig}: taking the stack and the second engine down`);
    void (async () => {
      const b = current();
      if (b && b.child.exitCode === null && b.child.signalCode === null) {
        if (sig !== 'SIGINT') b.child.kill('SIGINT');
        await b.closed;
      }
      log(await stopRemoteEngineOnce().catch((e: Error) => e.message));
      process.exit(130);
    })();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
}

/**
 * An ssh server on the engine's host, stood in by an `ssh` put in `bin` (first on PATH): the Docker CLI and
 * Compose reach an ssh:// engine by running `ssh [options] -- <host> docker system dial-stdio` and speaking
 * HTTP over its stdin and stdout. This one runs that command in the engine's namespace, against the engine
 * there, as sshd would run it on the server; it refuses any other host or command. Each call goes to `log`.
 */
export function sshIntoEngine(bin: string, names: RemoteEngineNames, log: string): void {
  mkdirSync(bin, { recursive: true });
  writeFileSync(log, '');
  const realDocker = execFileSync('bash', ['-c', 'command -v docker'], { encoding: 'utf8' }).trim();
  const f = join(bin, 'ssh');
  writeFileSync(f, [
    '#!/bin/bash',
    `printf '%s\\n' "$*" >> ${JSON.stringify(log)}`,
    'while [ "$#" -gt 0 ] && [ "$1" != "--" ]; do shift; done',
    'shift; host="${1:-}"; shift || true',
    `if [ "$host" != ${JSON.stringify(names.engineAddr)} ] || [ "$*" != "docker system dial-stdio" ]; then`,
    '  echo "ssh stand-in: only docker system dial-stdio on the second engine, not [$host] $*" >&2; exit 255',
    'fi',
    `exec nsenter --net=/run/netns/${names.ns} env DOCKER_HOST=tcp://${names.engineAddr}:2375 ${realDocker} system dial-stdio`,
    '',
  ].join('\n'));
  chmodSync(f, 0o755);
}
