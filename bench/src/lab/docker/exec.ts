// Runs the docker and compose CLIs. Every call gets the lab's DOCKER_HOST and the classic builder
// (DOCKER_BUILDKIT=0): the Docker CLI on the lab machines has no buildx, and Compose v1 builds through it.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { repoRoot } from '../paths.js';
import { ENGINE_VARIABLES, resolveEngine, type Engine } from './endpoint.js';

const run = promisify(execFile);

export const engineScript = join(repoRoot, 'bench', 'scripts', 'docker-engine.sh');
export const baseScript = join(repoRoot, 'bench', 'scripts', 'docker-base.sh');
export const composeFile = join(repoRoot, 'docker-compose.yml');

/** The lab engine's socket (make docker-engine): used when neither DOCKER_HOST nor a Docker context names an engine. */
export const labSocket = join(repoRoot, 'run', 'docker', 'docker.sock');

let resolved: { key: string; engine: Engine } | null = null;

/** The engine every call goes to (endpoint.ts), decided again only when the variables that choose it change. */
export function engine(): Engine {
  const key = JSON.stringify([...ENGINE_VARIABLES.map((k) => process.env[k] ?? null), existsSync(labSocket)]);
  if (resolved?.key !== key) resolved = { key, engine: resolveEngine(process.env, labSocket) };
  return resolved.engine;
}

export function dockerHost(): string {
  return engine().host;
}

export function dockerEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  // The engine's own variables only: a DOCKER_CONTEXT left beside its resolved DOCKER_HOST would only warn.
  for (const k of ENGINE_VARIABLES) delete env[k];
  return { ...env, ...engine().env, DOCKER_BUILDKIT: '0', COMPOSE_DOCKER_CLI_BUILD: '0', ...extra };
}

export interface RunResult {
  stdout: string;
  stderr: string;
}

export class CommandError extends Error {
  constructor(
    message: string,
    readonly stderr: string,
  ) {
    super(message);
  }
}

export async function runCmd(
  file: string,
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number; cwd?: string } = {},
): Promise<RunResult> {
  try {
    const r = await run(file, args, {
      env: opts.env ?? dockerEnv(),
      cwd: opts.cwd ?? repoRoot,
      timeout: opts.timeoutMs ?? 600_000,
      maxBuffer: 64 * 1024 * 1024,
    });
    return { stdout: String(r.stdout), stderr: String(r.stderr) };
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: string; stdout?: string };
    if (e.code === 'ENOENT') throw new CommandError(`${file} not found (install docker.io / docker-compose)`, '');
    const tail = String(e.stderr ?? '').trim().split('\n').slice(-15).join('\n');
    throw new CommandError(`${file} ${args.join(' ')} failed: ${tail || e.message}`, String(e.stderr ?? ''));
  }
}

export function docker(args: string[], timeoutMs?: number): Promise<RunResult> {
  return runCmd('docker', args, { timeoutMs });
}

/** Compose v2 (`docker compose`) or v1 (`docker-compose`), whichever this machine has. */
export interface ComposeCli {
  file: string;
  prefix: string[];
  version: 1 | 2;
  label: string;
}

let picked: ComposeCli | null = null;

// Generous: Compose v1 is a Python program, and on a loaded machine its start alone can take seconds.
const VERSION_TIMEOUT_MS = 60_000;

export async function pickCompose(): Promise<ComposeCli> {
  if (picked) return picked;
  try {
    const r = await runCmd('docker', ['compose', 'version', '--short'], { timeoutMs: VERSION_TIMEOUT_MS });
    picked = { file: 'docker', prefix: ['compose'], version: 2, label: `docker compose ${r.stdout.trim()}` };
    return picked;
  } catch {
    /* no v2 plugin: try v1 */
  }
  try {
    const r = await runCmd('docker-compose', ['version', '--short'], { timeoutMs: VERSION_TIMEOUT_MS });
    picked = { file: 'docker-compose', prefix: [], version: 1, label: `docker-compose ${r.stdout.trim()}` };
    return picked;
  } catch {
    throw new Error('neither `docker compose` (v2) nor `docker-compose` (v1) works: apt-get install -y docker-compose');
  }
}

/** Runs compose on the repo's docker-compose.yml for one project. */
export async function compose(
  project: string,
  args: string[],
  env: Record<string, string>,
  timeoutMs?: number,
): Promise<RunResult> {
  const c = await pickCompose();
  // A run's own override file (e.g. the journal on a host directory) is layered on the repo's file.
  const files = ['-f', composeFile, ...(env.LAB_COMPOSE_OVERRIDE ? ['-f', env.LAB_COMPOSE_OVERRIDE] : [])];
  try {
    return await runCmd(c.file, [...c.prefix, ...files, '-p', project, ...args], { env: dockerEnv(env), timeoutMs });
  } catch (err) {
    // Compose v1 imports paramiko for any ssh:// engine (even when it shells out to ssh), and Debian's
    // docker-compose does not pull it in without its recommends: the way to a real server would end in a traceback.
    if (err instanceof CommandError && /Install paramiko package to enable ssh:\/\/ support/.test(err.stderr)) {
      throw new CommandError(
        `${c.label} reaches an ssh:// engine (${dockerHost()}) through the Python package paramiko, which is missing: ` +
          'apt-get install -y python3-paramiko (make setup does, as root on Debian), or pip install paramiko for a pip-installed docker-compose, ' +
          'or use Compose v2 (docker compose)',
        err.stderr,
      );
    }
    throw err;
  }
}
