// The lab runtime on Docker Compose: the same four services and config files as the native mode, built
// from the repo's Dockerfiles and started by docker-compose.yml, all in one parent cgroup (the stack's budget).
// Ports, budget, account, command lines and health checks are the stack spec's (../stack-spec.ts).
// `auto` picks this runtime only when an engine answers; nothing here starts an engine on its own.
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { repoRoot, sources } from '../paths.js';
import { webTierConfig } from '../conf-values.js';
import { assertPortFree } from '../ports.js';
import { DATABASE, LOCAL_ADDRESSES, PORTS, SERVICES, servicePorts, DEFAULT_LISTEN_BACKLOG, type LabPorts, type ServiceName, type StackAddresses } from '@eserver-lab/common/stack-spec';
import { prepareListenQueues } from '../../host/sysctl.js';
import type { CalibrationUse, LabRuntime, ServiceInfo, StackHost, StackInfo, UpOptions } from '../types.js';
import { BASE_IMAGE_TAG, DEFAULT_COMPOSE_STACK, composeVariables, containerLayout } from './compose-env.js';
import { dockerEngineAnswers, removeParentCgroup, setUpParentCgroup } from './engine.js';
import { baseScript, compose, docker, dockerHost, engine, pickCompose, runCmd } from './exec.js';
import { addressesToward, remoteHostFacts, removeRemoteCgroup, setUpRemoteHost, type RemoteCgroup } from './remote-host.js';
import { limitsOfPid } from '../../host/cgroup.js';
import { resolveStack } from '../resolve.js';
import type { QueueRuntimeName } from '@eserver-lab/queue-server/runtime';

export { dockerEngineAnswers, engine };

/** Why no stack can start: no engine answers where the environment points, said with that place. */
export function noEngineMessage(): string {
  const e = engine();
  return e.remoteHost
    ? `no Docker engine answers on ${e.host} (${e.via}): is it running, and reachable from here? ` +
        'The lab does not fall back to an engine or a stack on this machine'
    : `no Docker engine answers on ${e.host} (${e.via}): start one with 'make docker-engine' (or use --runtime native)`;
}

export const defaultDockerRunDir = join(repoRoot, 'run', 'lab-docker');

/** Docker-only options on top of the shared UpOptions contract. */
export interface DockerUpOptions extends UpOptions {
  /** Time for the whole stack to report healthy, ms. */
  healthTimeoutMs?: number;
}

interface DockerState {
  runtime: 'docker';
  runDir: string;
  project: string;
  ports: LabPorts;
  cgroupParent: string;
  baseImage: string;
  budget: { cpus: number; memory: string };
  /** Where the CPU figure came from (absent in a state file written before it existed). */
  use?: CalibrationUse;
  queueArgs: string[];
  /** What the queue-server image runs the server on; absent in a state file written before it existed (node). */
  queueRuntime?: QueueRuntimeName;
  /** The services' listen backlog (LISTEN_BACKLOG); absent in a state file written before it existed. */
  listenBacklog?: number;
  /** Host directory bind-mounted as the queue's journal (UpOptions.journalDir), through an override file. */
  journalDir?: string;
  startedAt: string;
  /**
   * The DOCKER_HOST the stack was started on (absent in a state file written before it existed): every later
   * call for it (down, status, logs) must go there, never to whichever engine the environment names now.
   */
  engine?: string;
  /** A stack on a remote engine's host: where it is reached, that host, its parent cgroup there. */
  remote?: { addresses: StackAddresses; host: StackHost; cgroup: RemoteCgroup | null };
}

const stateFile = (runDir: string) => join(runDir, 'docker-state.json');
const journalOverrideFile = (runDir: string) => join(runDir, 'compose.journal.yml');

/** Compose's interpolation variables (see .env) for one stack. */
function composeEnv(s: Pick<DockerState, 'ports' | 'cgroupParent' | 'baseImage' | 'queueArgs' | 'queueRuntime' | 'listenBacklog' | 'journalDir' | 'runDir' | 'remote'>): Record<string, string> {
  return {
    ...(s.journalDir ? { LAB_COMPOSE_OVERRIDE: journalOverrideFile(s.runDir) } : {}),
    ...composeVariables({
      ports: s.ports,
      backlog: s.listenBacklog ?? DEFAULT_LISTEN_BACKLOG,
      queueArgs: s.queueArgs,
      queueRuntime: s.queueRuntime ?? 'node',
      cgroupParent: s.cgroupParent,
      baseImage: s.baseImage,
      addresses: s.remote?.addresses ?? LOCAL_ADDRESSES,
    }),
  };
}

async function imageExists(ref: string): Promise<boolean> {
  try {
    await docker(['image', 'inspect', ref], 20_000);
    return true;
  } catch {
    return false;
  }
}

/**
 * The image the Dockerfiles start FROM: $BASE_IMAGE when set, else the lab's debootstrap image, else
 * debian:bookworm-slim if it is already local; otherwise build the lab's (docker-base.sh pulls when a
 * registry answers, and debootstraps when none does).
 */
export async function ensureBaseImage(log: (l: string) => void): Promise<string> {
  if (process.env.BASE_IMAGE) return process.env.BASE_IMAGE;
  if (await imageExists(BASE_IMAGE_TAG)) return BASE_IMAGE_TAG;
  if (await imageExists('debian:bookworm-slim')) return 'debian:bookworm-slim';
  log(`lab: building the base image ${BASE_IMAGE_TAG} (make docker-base)...`);
  const r = await runCmd('bash', [baseScript], { timeoutMs: 600_000 });
  log(r.stdout.trim());
  return BASE_IMAGE_TAG;
}

/** Builds the four images (the classic builder, host network for apt). */
export async function buildImages(baseImage: string, project: string, log: (l: string) => void): Promise<void> {
  const c = await pickCompose();
  const args = c.version === 1 ? ['build', '--parallel'] : ['build'];
  const t = Date.now();
  // Compose interpolates the whole file even to build: the default stack's variables, on this base image.
  await compose(project, args, composeVariables({ ...DEFAULT_COMPOSE_STACK, baseImage }), 900_000);
  log(`lab: images built in ${((Date.now() - t) / 1000).toFixed(1)} s (${c.label})`);
}

/** The service's container, found by the labels that Compose v1 and v2 both set (the docker CLI answers
 * in milliseconds, where each Compose v1 call starts a Python interpreter). */
async function containerId(project: string, _env: Record<string, string>, svc: ServiceName): Promise<string | null> {
  const r = await docker(
    ['ps', '-aq', '--filter', `label=com.docker.compose.project=${project}`, '--filter', `label=com.docker.compose.service=${svc}`],
    20_000,
  );
  return r.stdout.trim().split('\n')[0] || null;
}

interface Inspected {
  id: string;
  initPid: number;
  health: string;
  running: boolean;
  logPath: string;
  image: string;
}

async function inspect(id: string): Promise<Inspected> {
  const fmt = '{{.State.Pid}}|{{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}|{{.State.Running}}|{{.LogPath}}|{{.Image}}';
  const [pid, health, running, logPath, image] = (await docker(['inspect', '-f', fmt, id], 20_000)).stdout.trim().split('|');
  return { id, initPid: Number(pid), health: health!, running: running === 'true', logPath: logPath!, image: image! };
}

/** With init: true the container's pid 1 is docker-init; the service's main process is its child. */
function mainPid(initPid: number): number | null {
  if (!initPid) return null;
  try {
    const kids = readFileSync(`/proc/${initPid}/task/${initPid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean);
    return kids.length > 0 ? Number(kids[0]) : initPid;
  } catch {
    return null;
  }
}

async function packageVersions(id: string, pkgs: string[]): Promise<Record<string, string>> {
  const r = await docker(['exec', id, 'dpkg-query', '-W', '-f=${Package}=${Version}\\n', ...pkgs], 30_000);
  const out: Record<string, string> = {};
  for (const line of r.stdout.trim().split('\n')) {
    const [k, v] = line.split('=');
    if (k && v) out[k] = v;
  }
  return out;
}

async function versionsOf(ids: Record<ServiceName, string>): Promise<Record<string, string>> {
  const [ng, php, my, node, nodeV, bunV, engine, c] = await Promise.all([
    packageVersions(ids.nginx, ['nginx']),
    packageVersions(ids['php-fpm'], ['php8.2-fpm', 'php8.2-cli']),
    packageVersions(ids.mysql, ['mariadb-server']),
    packageVersions(ids['queue-server'], ['nodejs']),
    docker(['exec', ids['queue-server'], 'node', '--version'], 30_000),
    docker(['exec', ids['queue-server'], 'bun', '--version'], 30_000),
    docker(['version', '-f', '{{.Server.Version}}'], 20_000),
    pickCompose(),
  ]);
  return {
    nginx: ng.nginx ?? '?',
    php: php['php8.2-fpm'] ?? '?',
    'php-cli': php['php8.2-cli'] ?? '?',
    mariadb: my['mariadb-server'] ?? '?',
    node: nodeV.stdout.trim(),
    'node-deb': node.nodejs ?? '?',
    bun: bunV.stdout.trim(),
    'docker-engine': engine.stdout.trim(),
    compose: c.label,
  };
}

async function stackInfo(state: DockerState, requireAll: boolean): Promise<StackInfo | null> {
  const env = composeEnv(state);
  const ids = {} as Record<ServiceName, string>;
  const services: ServiceInfo[] = [];
  for (const svc of SERVICES) {
    const id = await containerId(state.project, env, svc);
    if (!id) {
      if (requireAll) throw new Error(`compose has no container for ${svc}`);
      services.push({ name: svc, pid: null, ports: servicePorts(svc, state.ports), healthy: false });
      continue;
    }
    ids[svc] = id;
    const i = await inspect(id);
    // A remote engine's pids and log paths are its host's: nothing of this host's /proc or files names them.
    services.push({
      name: svc,
      pid: i.running && !state.remote ? mainPid(i.initPid) : null,
      ports: servicePorts(svc, state.ports),
      healthy: i.running && i.health === 'healthy',
      ...(state.remote ? {} : { logFile: i.logPath }),
    });
  }
  if (Object.keys(ids).length === 0) return null;
  const pids = services.map((s) => s.pid).filter((p): p is number => p !== null);
  let limits: StackInfo['limits'] = { cgroup: null, cgroupVersion: null, cpus: null, memoryBytes: null, note: 'no container runs' };
  const rc = state.remote?.cgroup;
  if (state.remote && rc) {
    // No directory of this host: the figures are what the remote kernel held after the setup, and the
    // stack's CPU and memory are read through the engine (StackInfo.remote).
    limits = {
      cgroup: null,
      cgroupVersion: null,
      cpus: rc.quota_us === null ? null : rc.quota_us / rc.period_us,
      memoryBytes: rc.memory_bytes,
      cpuQuotaUs: rc.quota_us,
      cpuPeriodUs: rc.period_us,
      cpuWeight: rc.weight,
      calibration: state.use ?? null,
      note:
        `on ${state.remote.host.name}: shared by the containers through cgroup_parent=${state.cgroupParent} ` +
        `(${rc.version}, cpu: ${rc.cpu}, memory: ${rc.memory ?? 'unlimited'} on that host), set up and read through ${state.remote.host.engine}`,
    };
  } else if (pids.length > 0) {
    // Each container has its own memory limit (mem_limit) below the shared parent: the stack's budget is the
    // parent's, the service's own is the one below it.
    const atParent = (m: { cgroup: string }) => m.cgroup.endsWith(`/${state.cgroupParent}`);
    const all = (await Promise.all(pids.map((p) => limitsOfPid(p)))).map((l) => {
      const parent = l.memoryLimits.find(atParent);
      return parent ? { ...l, memoryBytes: parent.bytes, memoryCgroup: parent.cgroup, usageDirs: { cpuacct: l.usageDirs?.cpuacct ?? null, memory: parent.cgroup } } : l;
    });
    const first = all[0]!;
    const shared = all.every((l) => l.cpuCgroup === first.cpuCgroup && l.memoryCgroup === first.memoryCgroup);
    const serviceMemoryBytes: Record<string, number> = {};
    for (const s of services) {
      if (s.pid === null) continue;
      const own = all[pids.indexOf(s.pid)]?.memoryLimits.find((m) => !atParent(m) && m.cgroup.includes(`/${state.cgroupParent}/`));
      if (own) serviceMemoryBytes[s.name] = own.bytes;
    }
    limits = {
      cgroup: first.cgroup,
      cgroupVersion: first.cgroupVersion,
      cpus: first.cpus,
      memoryBytes: first.memoryBytes,
      serviceMemoryBytes,
      cpuQuotaUs: first.cpuQuotaUs ?? null,
      cpuPeriodUs: first.cpuPeriodUs ?? null,
      cpuWeight: first.cpuWeight ?? null,
      usageDirs: first.usageDirs,
      calibration: state.use ?? null,
      note:
        `shared by the ${pids.length} containers through cgroup_parent=${state.cgroupParent}` +
        ` (cpu: ${first.cpuCgroup ?? 'unlimited'}, memory: ${first.memoryCgroup ?? 'unlimited'}` +
        `${first.usageDirs?.cpuacct && first.usageDirs.cpuacct !== first.cpuCgroup ? `, cpuacct at ${first.usageDirs.cpuacct}` : ''})` +
        (shared ? '' : '; WARNING: the containers do not all sit in the same limited parent'),
    };
  }
  const complete = SERVICES.every((s) => ids[s]);
  const p = state.ports;
  // Where the generator, the loss check and the metrics reach the stack (a remote one's queue port stays on
  // its loopback: only PHP uses it).
  const at = (state.remote?.addresses ?? LOCAL_ADDRESSES).listen;
  return {
    runtime: 'docker',
    runDir: state.runDir,
    httpBase: `http://${at}:${p.http}`,
    pages: {
      client: `http://${at}:${p.http}/client.php`,
      baseline: `http://${at}:${p.http}/baseline.php`,
      persistent: `http://${at}:${p.http}/client_persistent.php`,
    },
    queue: { host: at, port: p.queue, metricsPort: p.metrics },
    mysql: { host: at, port: p.mysql, ...DATABASE },
    services,
    limits,
    versions: complete ? await versionsOf(ids) : {},
    config: {
      ports: p,
      project: state.project,
      composeFile: join(repoRoot, 'docker-compose.yml'),
      dockerHost: dockerHost(),
      baseImage: state.baseImage,
      cgroupParent: state.cgroupParent,
      // The images run these same files.
      ...webTierConfig(sources.nginxConf, sources.fpmConf),
      mysql: { conf: 'mysql/my.cnf' },
      queueArgs: state.queueArgs,
      queueRuntime: state.queueRuntime ?? 'node',
      listen: { backlog: state.listenBacklog ?? DEFAULT_LISTEN_BACKLOG },
      budget: state.budget,
      images: Object.fromEntries(SERVICES.map((s) => [s, `eserver-lab/${s}:latest`])),
      ...(state.remote ? { remote: { addresses: state.remote.addresses, cgroup: state.remote.cgroup } } : {}),
    },
    ...(state.remote && complete ? { remote: { host: state.remote.host, containers: ids, cpuCgroup: state.remote.cgroup?.cpu ?? null } } : {}),
  };
}

async function readStateFile(runDir: string): Promise<DockerState | null> {
  try {
    return JSON.parse(await readFile(stateFile(runDir), 'utf8')) as DockerState;
  } catch {
    return null;
  }
}

/**
 * The stack's state, refused when the environment now names another engine than the one it was started on:
 * `lab down` without the DOCKER_HOST of a remote `lab up` would take down the same project on the local engine.
 */
async function readState(runDir: string): Promise<DockerState | null> {
  const state = await readStateFile(runDir);
  const now = dockerHost();
  if (state?.engine && state.engine !== now) {
    throw new Error(
      `the docker stack in ${runDir} (project ${state.project}) runs on the engine ${state.engine}, but this call would go to ${now}: ` +
        `run it again with DOCKER_HOST=${state.engine} (the lab never sends a stack's calls to another engine)`,
    );
  }
  return state;
}

async function waitHealthy(state: DockerState, timeoutMs: number): Promise<void> {
  const env = composeEnv(state);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const bad: string[] = [];
    for (const svc of SERVICES) {
      const id = await containerId(state.project, env, svc);
      const i = id ? await inspect(id) : null;
      if (!i || !i.running) throw new Error(`${svc} is not running:\n${await logsTail(state, svc)}`);
      if (i.health !== 'healthy') bad.push(`${svc} (${i.health})`);
    }
    if (bad.length === 0) return;
    if (Date.now() > deadline) {
      throw new Error(`not healthy after ${timeoutMs / 1000} s: ${bad.join(', ')}\n${await logsTail(state, bad[0]!.split(' ')[0] as ServiceName)}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}

async function logsTail(state: DockerState, svc: ServiceName): Promise<string> {
  try {
    const r = await compose(state.project, ['logs', '--no-color', '--tail=20', svc], composeEnv(state), 30_000);
    return r.stdout + r.stderr;
  } catch (err) {
    return `(no logs: ${(err as Error).message})`;
  }
}

async function up(opts: DockerUpOptions = {}): Promise<StackInfo> {
  const log = opts.log ?? ((l: string) => console.error(l));
  const t0 = Date.now();
  const secs = () => ((Date.now() - t0) / 1000).toFixed(1);
  if (opts.queueImpl && opts.queueImpl !== 'ts') {
    throw new Error(`the ${opts.queueImpl} queue server has no container image: run it with --runtime native (RUNTIME=native)`);
  }
  if (opts.queueEntry && resolve(opts.queueEntry) !== sources.queueCli) {
    throw new Error(`the queue-server image runs the repo's own build; another entry (${opts.queueEntry}) needs --runtime native (RUNTIME=native)`);
  }
  if (!(await dockerEngineAnswers())) throw new Error(noEngineMessage());
  if (!existsSync(sources.queueCli)) {
    throw new Error(`the queue server is not built (${sources.queueCli} missing): run 'make build'`);
  }
  // A remote engine: its host's facts (its calibration and cores decide the budget) and addresses, read through it.
  const eng = engine();
  let remote: { addresses: StackAddresses; host: StackHost } | null = null;
  if (eng.remoteHost) {
    if (opts.journalDir) throw new Error(`a journal directory of this host (${opts.journalDir}) cannot be mounted into a stack on ${eng.remoteHost}: drop it, or use a local engine`);
    const host = await remoteHostFacts(await ensureBaseImage(log), eng.via);
    remote = { addresses: await addressesToward(eng.remoteHost), host };
    log(`lab: remote engine ${eng.via}: host ${host.name}, ${host.cpu_model}, ${host.cores} CPUs, ${(host.memory_bytes / 2 ** 30).toFixed(1)} GiB, ` +
      `cgroup ${host.cgroup.version} (${host.cgroup.driver}); the stack listens on ${remote.addresses.listen}, reached from ${remote.addresses.client}`);
  }
  const r = await resolveStack('docker', opts, defaultDockerRunDir, process.env, remote ? { cpu_model: remote.host.cpu_model, cores: remote.host.cores, label: `stack host ${remote.host.name}` } : undefined);
  const { runDir, ports } = r;
  const old = await readState(runDir);
  if (old) {
    log(`lab: a docker stack (project ${old.project}) was left in ${runDir}; taking it down first`);
    await down(runDir);
  }
  // A remote stack's ports are that host's: compose and the health checks say when one is taken there.
  if (!remote) for (const k of Object.keys(ports) as (keyof LabPorts)[]) await assertPortFree(ports[k], PORTS[k].service, `${PORTS[k].flag} (${PORTS[k].variable})`);
  const state: DockerState = {
    runtime: 'docker',
    runDir,
    project: r.project,
    ports,
    cgroupParent: r.cgroupParent,
    baseImage: await ensureBaseImage(log),
    budget: { cpus: r.budget.cpus, memory: r.budget.memory },
    use: r.budget.use,
    queueArgs: r.queueArgs,
    queueRuntime: r.queueRuntime,
    // network_mode: host: the sysctls are the host's, set (or printed) as natively; a remote host's are set
    // through its engine with the parent cgroup, below.
    listenBacklog: remote ? r.listenBacklog : prepareListenQueues(r.listenBacklog, log).backlog,
    ...(r.journalDir ? { journalDir: r.journalDir } : {}),
    startedAt: new Date().toISOString(),
    engine: dockerHost(),
    ...(remote ? { remote: { ...remote, cgroup: null } } : {}),
  };
  // Refuses, before anything is built or started, a command line that cannot pass through compose.
  composeEnv(state);
  const check = () => {
    if (opts.signal?.aborted) throw new Error('interrupted');
  };
  log(`lab: base image ${state.baseImage} (${secs()} s)`);
  check();
  await buildImages(state.baseImage, state.project, log);
  check();
  // The budget's parent cgroup must exist, limited, before the first container is created in it.
  await mkdir(runDir, { recursive: true });
  if (state.remote) {
    const cg = await setUpRemoteHost(state.baseImage, state.remote.host, state.cgroupParent, r.budget, DEFAULT_LISTEN_BACKLOG);
    state.remote.cgroup = cg;
    // Written at once: down removes the parent on that host even when what follows fails.
    await writeFile(stateFile(runDir), JSON.stringify(state, null, 2));
    log(
      `lab: parent cgroup ${cg.version} ${cg.cpu} on ${state.remote.host.name}: ${cg.quota_us ?? 'no'} µs quota per ${cg.period_us} µs, weight ${cg.weight}, ` +
        `memory ${cg.memory_bytes ?? 'unlimited'} bytes; somaxconn ${cg.somaxconn}, tcp_max_syn_backlog ${cg.tcp_max_syn_backlog} there`,
    );
  } else log(await setUpParentCgroup(r.budget, state.cgroupParent));
  if (state.journalDir) {
    await writeFile(
      journalOverrideFile(runDir),
      `version: "2.4"\nservices:\n  queue-server:\n    volumes: [${JSON.stringify(`${state.journalDir}:${containerLayout.journalDir}`)}]\n`,
    );
  }
  await writeFile(stateFile(runDir), JSON.stringify(state, null, 2));
  const tUp = Date.now();
  try {
    await compose(state.project, ['up', '-d', '--no-build'], composeEnv(state), 300_000);
    log(`lab: compose up returned after ${((Date.now() - tUp) / 1000).toFixed(1)} s`);
    check();
    await waitHealthy(state, opts.healthTimeoutMs ?? 120_000);
  } catch (err) {
    log(`lab: docker up failed; taking the stack down`);
    await down(runDir).catch((e: Error) => log(`lab: down after failed up: ${e.message}`));
    throw err;
  }
  log(`lab: docker stack healthy ${((Date.now() - tUp) / 1000).toFixed(1)} s after 'up' (${secs()} s in all)`);
  const info = await stackInfo(state, true);
  return info!;
}

async function status(runDir?: string): Promise<StackInfo | null> {
  const state = await readState(resolve(runDir ?? defaultDockerRunDir));
  if (!state) return null;
  return stackInfo(state, false);
}

async function down(runDir?: string): Promise<void> {
  const dir = resolve(runDir ?? defaultDockerRunDir);
  const state = await readState(dir);
  if (!state) return;
  // Each service's stop_grace_period (20 s) covers the queue server's drain on SIGTERM.
  await compose(state.project, ['down', '--remove-orphans', '-t', '20'], composeEnv(state), 180_000);
  if (state.remote) {
    if (state.remote.cgroup) await removeRemoteCgroup(state.baseImage, state.remote.cgroup);
  } else await removeParentCgroup(state.cgroupParent).catch(() => {});
  await rm(stateFile(dir), { force: true });
}

export const dockerRuntime: LabRuntime & { up(opts?: DockerUpOptions): Promise<StackInfo> } = { name: 'docker', up, status, down };

/**
 * A service's main pid as seen from the host, in two docker calls (status() also reads versions and
 * limits, seconds on a loaded box): what make chaos signals. Null when the container is not running.
 */
export async function dockerServicePid(runDir: string | undefined, svc: ServiceName): Promise<number | null> {
  const state = await readState(resolve(runDir ?? defaultDockerRunDir));
  if (!state) return null;
  if (state.remote) throw new Error(`the stack runs on ${state.remote.host.name}: its processes cannot be signalled from here (make chaos needs a local engine)`);
  const id = await containerId(state.project, composeEnv(state), svc);
  if (!id) return null;
  const i = await inspect(id);
  return i.running ? mainPid(i.initPid) : null;
}

/** The last lines of every service's output, or of one (`lab logs --runtime docker`); null with no stack. */
export async function dockerLogs(runDir?: string, lines = 40, service?: string): Promise<string | null> {
  const state = await readState(resolve(runDir ?? defaultDockerRunDir));
  if (!state) return null;
  const r = await compose(state.project, ['logs', '--no-color', `--tail=${lines}`, ...(service ? [service] : [])], composeEnv(state), 60_000);
  return r.stdout + r.stderr;
}

/** A container's whole output (stdout and stderr), through the lab's engine: a remote stack's log is read so. */
export async function dockerContainerLog(id: string): Promise<string> {
  const r = await docker(['logs', id], 30_000);
  return r.stdout + r.stderr;
}
