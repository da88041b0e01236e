// Which Docker engine the lab talks to, decided once per process: every docker and compose call, and every
// call to the engine's API (engine-api.ts), gets the DOCKER_HOST (and TLS variables) decided here, so none
// can go elsewhere. In the Docker CLI's own order: DOCKER_HOST, then DOCKER_CONTEXT, then the CLI's current
// context (`docker context use`); only when none names an engine, the lab's own (make docker-engine), else
// the system's socket. A context that does not exist is an error, never a fall back to a local engine.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

export interface Engine {
  /** The DOCKER_HOST every call gets. */
  host: string;
  /** How it was chosen, for logs and the result file. */
  via: string;
  /** The environment every docker/compose call gets on top of the process's (DOCKER_HOST, TLS). */
  env: Record<string, string>;
  /** The engine's host name or address when it runs on another machine (tcp:// or ssh://, not loopback), else null. */
  remoteHost: string | null;
}

/** The variables that choose an engine: the lab sets them itself, so the caller's must not linger. */
export const ENGINE_VARIABLES = ['DOCKER_HOST', 'DOCKER_CONTEXT', 'DOCKER_TLS_VERIFY', 'DOCKER_CERT_PATH'] as const;

const LOOPBACK_NAMES = new Set(['localhost', '::1', '[::1]', 'ip6-localhost']);

/** The host part of a tcp:// or ssh:// DOCKER_HOST when it is not this machine, else null. */
export function remoteHostOf(dockerHost: string): string | null {
  let u: URL;
  try {
    u = new URL(dockerHost);
  } catch {
    return null;
  }
  if (u.protocol !== 'tcp:' && u.protocol !== 'ssh:' && u.protocol !== 'http:' && u.protocol !== 'https:') return null;
  const h = u.hostname.toLowerCase();
  if (!h || LOOPBACK_NAMES.has(h) || /^127\./.test(h) || h === '0.0.0.0') return null;
  return h.replace(/^\[|\]$/g, '');
}

interface ContextInspect {
  Name: string;
  Endpoints: { docker?: { Host?: string; SkipTLSVerify?: boolean } };
  TLSMaterial?: { docker?: string[] };
  Storage?: { TLSPath?: string };
}

/** How the docker CLI is asked about contexts; tests replace it. */
export type CliRunner = (args: string[], env: NodeJS.ProcessEnv) => string;

const runCli: CliRunner = (args, env) => execFileSync('docker', args, { env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 30_000 });

/** The caller's environment without the engine variables (a context is inspected as itself). */
function bareEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const out = { ...env };
  for (const k of ENGINE_VARIABLES) delete out[k];
  return out;
}

function fromContext(name: string, env: NodeJS.ProcessEnv, cli: CliRunner, via: string): Engine {
  let ctx: ContextInspect;
  try {
    ctx = (JSON.parse(cli(['context', 'inspect', name], bareEnv(env))) as ContextInspect[])[0]!;
  } catch (err) {
    const why = String((err as { stderr?: string }).stderr ?? (err as Error).message).trim().split('\n')[0];
    throw new Error(`${via}: the Docker context "${name}" cannot be read (${why}): create it (docker context create ${name} --docker host=ssh://user@server) or unset DOCKER_CONTEXT`);
  }
  const host = ctx.Endpoints.docker?.Host;
  if (!host) throw new Error(`${via}: the Docker context "${name}" names no docker endpoint: fix it with docker context update ${name} --docker host=...`);
  const envOut: Record<string, string> = { DOCKER_HOST: host };
  if ((ctx.TLSMaterial?.docker ?? []).length > 0 && ctx.Storage?.TLSPath) {
    envOut.DOCKER_CERT_PATH = join(ctx.Storage.TLSPath, 'docker');
    if (!ctx.Endpoints.docker?.SkipTLSVerify) envOut.DOCKER_TLS_VERIFY = '1';
  }
  return { host, via: `${via} (${host})`, env: envOut, remoteHost: remoteHostOf(host) };
}

/** The engine, from the environment and the lab's socket; pure but for the CLI's context commands. */
export function resolveEngine(env: NodeJS.ProcessEnv, labSocket: string, cli: CliRunner = runCli): Engine {
  const tls = (): Record<string, string> => Object.fromEntries(
    (['DOCKER_TLS_VERIFY', 'DOCKER_CERT_PATH'] as const).filter((k) => env[k]).map((k) => [k, env[k]!]),
  );
  if (env.DOCKER_HOST) {
    return { host: env.DOCKER_HOST, via: `DOCKER_HOST=${env.DOCKER_HOST}`, env: { DOCKER_HOST: env.DOCKER_HOST, ...tls() }, remoteHost: remoteHostOf(env.DOCKER_HOST) };
  }
  if (env.DOCKER_CONTEXT) return fromContext(env.DOCKER_CONTEXT, env, cli, `DOCKER_CONTEXT=${env.DOCKER_CONTEXT}`);
  let current = 'default';
  try {
    current = cli(['context', 'show'], bareEnv(env)).trim() || 'default';
  } catch {
    /* no docker CLI: the calls fail later with their own message */
  }
  if (current !== 'default') return fromContext(current, env, cli, `the current Docker context "${current}"`);
  if (existsSync(labSocket)) return { host: `unix://${labSocket}`, via: "the lab's engine (make docker-engine)", env: { DOCKER_HOST: `unix://${labSocket}` }, remoteHost: null };
  return { host: 'unix:///var/run/docker.sock', via: "the system's engine", env: { DOCKER_HOST: 'unix:///var/run/docker.sock' }, remoteHost: null };
}
