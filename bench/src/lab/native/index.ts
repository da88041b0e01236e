// The native lab runtime: MariaDB, the queue server, php-fpm and nginx as plain processes, started in
// dependency order inside one cgroup (the stack's budget), each health-checked before the next. What each
// service runs and how it is checked is the stack spec's (../stack-spec.ts).
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, rmdirSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { userInfo } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { createConnection } from 'mysql2/promise';
import {
  CgroupUnavailable,
  cgroupExists,
  cgroupPids,
  createBudgetCgroup,
  createServiceMemoryGroups,
  readLimits,
  removeCgroup,
  type CgroupRecord,
} from '../../host/cgroup.js';
import { assertPortFree } from '../ports.js';
import { CONTROL_CMD_ENV, controlCommand, controlNotExecd, queueLength, seed2013Launch } from '../seed2013.js';
import { renderFile, type TokenValues } from '@eserver-lab/common/render';
import {
  DATABASE,
  LOCAL_ADDRESSES,
  LOOPBACK,
  PORTS,
  SERVICES,
  healthCheck,
  mariadbdArgs,
  nginxArgs,
  phpFpmArgs,
  queueServerArgs,
  runLayout,
  stackTokens, type ServiceName, type LabPorts } from '@eserver-lab/common/stack-spec';
import { prepareListenQueues } from '../../host/sysctl.js';
import type { AppliedLimits, LabRuntime, ServiceInfo, StackInfo, UpOptions } from '../types.js';
import { findBinaries, requireBinary } from './binaries.js';
import { resolveStack, type ResolvedBudget } from '../resolve.js';
import { freshDatadir } from './datadir.js';
import { AbortedError, checkHealth, mysqlPing, tailLines, waitHealthy } from './health.js';
import { defaultRunDir, repoRoot, sources } from '../paths.js';
import { webTierConfig } from '../conf-values.js';
import {
  isAlive,
  killPids,
  readSupervisedStatus,
  runOnce,
  spawnSupervised,
  startTimeOf,
  stopProcess,
  stopSupervisor,
  type ProcRecord,
} from './procs.js';
import { liveServices, readState, stateFile, writeState, type LabState, type ServiceRecord } from './state.js';

const run = promisify(execFile);

/** Marks a directory as a lab run directory, so only such a directory is ever wiped. */
const MARKER = '.eserver-lab-run';
const STOP_ORDER: ServiceName[] = [...SERVICES].reverse();
const GRACE_MS: Record<ServiceName, number> = { nginx: 5000, 'php-fpm': 5000, 'queue-server': 15000, mysql: 20000 };

/** Native-only options on top of the shared UpOptions contract. */
export interface NativeUpOptions extends UpOptions {
  /** Health-check time per service, ms. */
  healthTimeoutMs?: number;
}

export class LabBusyError extends Error {}

function groupName(gid: number): string {
  try {
    const line = readFileSync('/etc/group', 'utf8').split('\n').find((l) => l.split(':')[2] === String(gid));
    if (line) return line.split(':')[0]!;
  } catch {
    /* fall through */
  }
  return String(gid);
}

/** Settings read back from a rendered config (`key value;` or `key = value`), for the results file. */
async function versionOf(cmd: string, args: string[], pattern: RegExp): Promise<string> {
  try {
    const { stdout, stderr } = await run(cmd, args);
    return pattern.exec(stdout + stderr)?.[1] ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

/**
 * Makes sure `runDir` may be used: a live stack there is refused (with the fix), a stale one (every
 * recorded process dead) is cleaned up with a message, and only a directory we created is ever wiped.
 */
async function prepareRunDir(runDir: string, log: (l: string) => void): Promise<void> {
  const state = await readState(runDir).catch(() => null);
  if (state) {
    const live = liveServices(state);
    const starting = !state.complete && isAlive(state.runner) && state.runner.pid !== process.pid;
    if (starting || live.length > 0) {
      if (!starting && !state.complete) {
        log(`lab: a previous 'lab up' (pid ${state.runner.pid}) died while starting; stopping what it left`);
        await nativeRuntime.down(runDir);
      } else {
        const what = live.map((s) => `${s.name} pid ${s.pid}`).join(', ') || `lab up pid ${state.runner.pid}`;
        throw new LabBusyError(
          `a lab stack is already running in ${runDir} (${what}). ` +
            `Stop it with 'make lab-down' (or 'eserver-lab down --run-dir ${runDir}'), or use another --run-dir.`,
        );
      }
    } else {
      log(`lab: removing stale run directory ${runDir} (no process of the previous run is alive)`);
      if (state.cgroup && cgroupExists(state.cgroup)) await removeCgroup(state.cgroup);
    }
  }
  if (existsSync(runDir)) {
    const entries = readdirSync(runDir);
    // Another runtime's record (docker-state.json): wiping it would lose track of a running stack.
    const foreign = entries.filter((e) => e.endsWith('-state.json'));
    if (foreign.length > 0) {
      throw new LabBusyError(
        `${runDir} holds another runtime's stack (${foreign.join(', ')}). Stop it first ` +
          `('make lab-down RUNTIME=docker' or 'eserver-lab down --runtime docker --run-dir ${runDir}'), or use another --run-dir.`,
      );
    }
    if (entries.length > 0 && !entries.includes(MARKER)) {
      throw new LabBusyError(`${runDir} is not empty and is not a lab run directory; choose another --run-dir`);
    }
    await rm(runDir, { recursive: true, force: true });
  }
  for (const d of ['logs', 'conf', 'mysql/tmp', 'nginx', 'php-fpm', 'queue/journal', 'supervise']) {
    await mkdir(join(runDir, d), { recursive: true });
  }
  await writeFile(join(runDir, MARKER), 'created by eserver-lab; wiped by the next lab up\n');
}

async function setUpCgroup(budget: ResolvedBudget, log: (l: string) => void) {
  try {
    const rec = await createBudgetCgroup(`eserver-lab-${process.pid}-${Date.now().toString(36)}`, budget);
    // What was applied, as the kernel holds it, and where the figure came from.
    const limits: AppliedLimits = { ...(await readLimits(rec)), calibration: budget.use };
    // Each service's own memory limit below the shared budget, as the Compose file gives each container.
    let services: Record<ServiceName, CgroupRecord> | null = null;
    try {
      services = await createServiceMemoryGroups(rec, budget.serviceMemoryBytes);
      limits.serviceMemoryBytes = { ...budget.serviceMemoryBytes };
    } catch (err) {
      log(`lab: warning: no per-service memory limits (${(err as Error).message}); the services share the stack's ${budget.memory} only`);
    }
    return { rec, limits, services };
  } catch (err) {
    if (!(err instanceof CgroupUnavailable)) throw err;
    const note = `UNLIMITED: ${err.message}. The stack runs without the ${budget.cpus}-CPU/${budget.memory} budget.`;
    log('!'.repeat(100));
    log(`lab: WARNING ${note}`);
    log('!'.repeat(100));
    const limits: AppliedLimits = { cgroup: null, cgroupVersion: null, cpus: null, memoryBytes: null, calibration: budget.use, note };
    return { rec: null as CgroupRecord | null, limits, services: null };
  }
}

function buildInfo(state: LabState, health: Map<ServiceName, boolean>): StackInfo {
  const p = state.ports;
  // nginx and our queue server's metrics listen on the stack's address only; the 2013-style server has no
  // metrics, and its queue port, like ours, stays on loopback (only PHP uses it).
  const at = (state.addresses ?? LOCAL_ADDRESSES).listen;
  const httpBase = `http://${at}:${p.http}`;
  return {
    runtime: 'native',
    runDir: state.runDir,
    httpBase,
    pages: {
      client: `${httpBase}/client.php`,
      baseline: `${httpBase}/baseline.php`,
      persistent: `${httpBase}/client_persistent.php`,
    },
    queue: { host: state.config.queueImpl === 'seed2013' ? LOOPBACK : at, port: p.queue, metricsPort: p.metrics },
    mysql: { host: LOOPBACK, port: p.mysql, socket: runLayout(state.runDir).mysqlSocket, ...DATABASE },
    services: state.services.map(
      (s): ServiceInfo => ({
        name: s.name,
        pid: s.pid,
        ports: s.ports,
        healthy: health.get(s.name) ?? false,
        logFile: s.logFile,
      }),
    ),
    limits: state.limits,
    versions: state.versions,
    config: state.config,
  };
}

async function up(opts: NativeUpOptions = {}): Promise<StackInfo> {
  const t0 = Date.now();
  const log = opts.log ?? ((l: string) => console.error(l));
  const r = await resolveStack('native', opts, defaultRunDir);
  const { runDir, ports } = r;
  const healthMs = opts.healthTimeoutMs ?? 30_000;
  const signal = opts.signal;
  const check = () => {
    if (signal?.aborted) throw new AbortedError('interrupted');
  };

  const bins = findBinaries(r.queueRuntime);
  if (r.queueImpl === 'ts' && !existsSync(r.queueEntry)) {
    throw new Error(
      r.queueEntry === sources.queueCli
        ? `the queue server is not built (${r.queueEntry} missing): run 'make build'`
        : `the queue server entry ${r.queueEntry} does not exist: give the path of a built cli.js`,
    );
  }
  const layout = runLayout(runDir);
  const journalDir = r.journalDir ?? layout.journalDir;
  if (r.journalDir && (!existsSync(journalDir) || readdirSync(journalDir).some((e) => e !== 'lost+found'))) {
    throw new Error(`--journal-dir ${journalDir} must be an existing empty directory (a journal left there would be replayed into a fresh MySQL)`);
  }
  await prepareRunDir(runDir, log);
  for (const k of Object.keys(ports) as (keyof LabPorts)[]) await assertPortFree(ports[k], PORTS[k].service, PORTS[k].flag);

  const listen = prepareListenQueues(r.listenBacklog, log);
  const user = userInfo();
  const isRoot = user.uid === 0;
  const sock = layout.mysqlSocket;
  const tokens: TokenValues = {
    ...stackTokens({ layout, ports, backlog: listen.backlog, addresses: r.addresses }),
    DOC_ROOT: sources.docRoot,
    USER: user.username,
    GROUP: groupName(user.gid),
  };
  const conf = layout.conf;
  await renderFile(sources.nginxConf, conf.nginx, tokens);
  await renderFile(sources.fpmConf, conf.fpm, tokens);
  await renderFile(sources.labUserSql, conf.labUser, tokens);
  const haveMyCnf = existsSync(sources.myCnf);
  if (haveMyCnf) await renderFile(sources.myCnf, conf.my, tokens);
  else log(`lab: warning: ${sources.myCnf} is missing; MariaDB runs with its built-in defaults`);

  const { rec: cgroup, limits, services: serviceGroups } = await setUpCgroup(r.budget, log);
  const queueImpl = r.queueImpl;
  const versionsP = Promise.all([
    versionOf(bins.nginx, ['-v'], /nginx\/(\S+)/),
    versionOf(bins.phpFpm, ['-v'], /PHP (\S+)/),
    versionOf(bins.mariadbd, ['--version'], /Ver (\S+)/),
    // The queue server's own runtime (node's is this process's, recorded below).
    r.queueImpl === 'ts' && r.queueRuntime === 'bun' ? versionOf(bins.queueRuntime, ['--version'], /^(\S+)/) : Promise.resolve(null),
  ]);
  const state: LabState = {
    runtime: 'native',
    runDir,
    runner: { pid: process.pid, startTime: startTimeOf(process.pid) ?? '' },
    complete: false,
    ports,
    addresses: r.addresses,
    cgroup,
    limits,
    services: [],
    versions: { node: process.version },
    config: {
      ports,
      ...webTierConfig(conf.nginx, conf.fpm),
      mysql: { conf: haveMyCnf ? conf.my : null },
      queueArgs: r.queueArgs,
      queueImpl,
      queueRuntime: queueImpl === 'ts' ? bins.queueRuntime : null,
      ...(r.queueEntry !== sources.queueCli ? { queueEntry: r.queueEntry } : {}),
      controlCmd: queueImpl === 'seed2013' ? controlCommand(process.env) : null,
      listen,
      budget: { cpus: r.budget.cpus, memory: r.budget.memory, periodUs: limits.cpuPeriodUs ?? null },
    },
    startedAt: new Date().toISOString(),
  };
  await writeState(state);

  const start = async (name: ServiceName, argv: string[], svcPorts: number[], logFile: string, env?: NodeJS.ProcessEnv) => {
    check();
    const out = join(runDir, 'logs', `${name}.out`);
    // Every service restarts when it exits, as under systemd's Restart=always or Compose's restart: always.
    const files = { statusFile: join(runDir, 'supervise', `${name}.json`), logFile: join(runDir, 'logs', `${name}.supervisor.log`) };
    const { child: proc, supervisor } = await spawnSupervised(name, argv, out, serviceGroups?.[name] ?? cgroup, files, env);
    const rec: ServiceRecord = { ...proc, name, ports: svcPorts, logFile, supervisor };
    state.services.push(rec);
    await writeState(state);
    return { proc, logs: [...new Set([logFile, out])] };
  };

  // Per-step durations in the log lines, to see where start-up time goes.
  let stepAt = Date.now();
  const took = () => {
    const now = Date.now();
    const ms = now - stepAt;
    stepAt = now;
    return `${ms} ms`;
  };
  // If the process exits while starting (a caller's own Ctrl-C handler calling process.exit, say), the
  // detached services would outlive it: kill them synchronously. The next `up` or `down` then finds a
  // stale run directory and removes the cgroup.
  let oneShot: number | null = null;
  const killOnExit = () => {
    if (oneShot) {
      try {
        process.kill(-oneShot, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
    for (const s of state.services) {
      try {
        if (s.supervisor) process.kill(s.supervisor.pid, 'SIGKILL');
      } catch {
        /* gone */
      }
      try {
        process.kill(-(readSupervisedStatus(s.supervisor?.statusFile ?? '')?.pid ?? s.pid), 'SIGKILL');
      } catch {
        /* gone */
      }
    }
    // Only synchronous work is possible here: retry removing the (emptying) cgroup for up to 1 s.
    const pause = new Int32Array(new SharedArrayBuffer(4));
    for (let i = 0; cgroup && i < 50 && cgroup.dirs.some((d) => existsSync(d)); i++) {
      for (const d of cgroup.dirs) {
        try {
          rmdirSync(d);
        } catch {
          /* still busy or gone */
        }
      }
      Atomics.wait(pause, 0, 0, 20);
    }
  };
  process.on('exit', killOnExit);
  try {
    // MariaDB: a fresh datadir per run, so every run starts from the same empty tables.
    const dataDir = layout.datadir;
    const installLog = join(runDir, 'logs', 'mariadb-install.log');
    const how = await freshDatadir(dataDir, bins.mariadbd, user.username, async (dir) => {
      try {
        await runOnce(
          [
            bins.installDb,
            // Not my.cnf: with its 256 MB redo log, install-db writes it out in full; mariadbd resizes the
            // log at its first start in a fraction of that time.
            '--no-defaults',
            `--user=${user.username}`,
            `--datadir=${dir}`,
            `--tmpdir=${layout.mysqlTmp}`,
            '--auth-root-authentication-method=normal',
            '--skip-test-db',
          ],
          installLog,
          signal,
          (pid) => (oneShot = pid),
        );
      } catch (err) {
        check();
        throw new Error(`${(err as Error).message}\n${tailLines(installLog, 10).join('\n')}`);
      }
    });
    log(`lab: mariadb datadir ${how === 'copied' ? 'copied from the cached template' : 'initialised (template cached)'} (${took()})`);
    const mysqlLog = join(runDir, 'logs', 'mysql.err');
    const my = await start(
      'mysql',
      [bins.mariadbd, ...mariadbdArgs({ defaultsFile: haveMyCnf ? conf.my : null, osUser: user.username, layout, port: ports.mysql, errorLog: mysqlLog, addresses: r.addresses })],
      [ports.mysql],
      mysqlLog,
    );
    // The init step, as root over the socket (install-db made root@localhost with no password): the
    // schema and the lab's account. Then the spec's health check, which uses that account.
    await waitHealthy('mysql', my.proc, my.logs, () => mysqlPing(sock), healthMs, signal);
    const init = (await readFile(sources.schema, 'utf8')) + '\n' + (await readFile(conf.labUser, 'utf8'));
    const c = await createConnection({ socketPath: sock, user: 'root', multipleStatements: true });
    try {
      await c.query(init);
    } finally {
      await c.end();
    }
    await waitHealthy('mysql', my.proc, my.logs, () => checkHealth(healthCheck('mysql', ports)), healthMs, signal);
    log(`lab: mysql up on ${LOOPBACK}:${ports.mysql} (pid ${my.proc.pid}), schema and account ${DATABASE.user} loaded (${took()})`);

    const qLog = join(runDir, 'logs', 'queue-server.out');
    if (queueImpl === 'seed2013') {
      // The 2013-style stand-in, or the user's control command: no metrics port, no drain; its stdout (the
      // prints of every request) is qLog.
      const how = seed2013Launch({
        env: process.env,
        python: () => requireBinary('python3 (for the 2013-style queue server)', ['python3'], 'python3'),
        repoRoot, host: LOOPBACK, port: ports.queue, dir: join(runDir, 'control'), extra: r.queueArgs,
      });
      const q = await start('queue-server', how.argv, [ports.queue], qLog, how.env);
      await waitHealthy('queue-server', q.proc, q.logs, async () => (await queueLength(LOOPBACK, ports.queue, 1000)) >= 0, healthMs, signal);
      const notExecd = how.control === null ? null : controlNotExecd(q.proc.pid!);
      if (notExecd) throw new Error(notExecd);
      const what = how.control === null ? '2013-style queue server (seed2013, no drain)' : `control command (${CONTROL_CMD_ENV}, seed2013, no drain)`;
      log(`lab: ${what} up on ${LOOPBACK}:${ports.queue} (pid ${q.proc.pid}) (${took()})`);
    } else {
      const q = await start(
        'queue-server',
        [bins.queueRuntime, r.queueEntry, ...queueServerArgs({ ports, journalDir, backlog: listen.backlog, extra: r.queueArgs, addresses: r.addresses })],
        [ports.queue, ports.metrics],
        qLog,
      );
      await waitHealthy('queue-server', q.proc, q.logs, () => checkHealth(healthCheck('queue-server', ports, r.addresses)), healthMs, signal);
      log(`lab: queue server up on ${LOOPBACK}:${ports.queue}, metrics on ${r.addresses.listen}:${ports.metrics} (pid ${q.proc.pid}) (${took()})`);
    }

    const fpmLog = join(runDir, 'logs', 'php-fpm.log');
    const fpm = await start('php-fpm', [bins.phpFpm, ...phpFpmArgs(conf.fpm, isRoot)], [ports.fpm], fpmLog);
    await waitHealthy('php-fpm', fpm.proc, fpm.logs, () => checkHealth(healthCheck('php-fpm', ports)), healthMs, signal);
    log(`lab: php-fpm up on ${LOOPBACK}:${ports.fpm} (pid ${fpm.proc.pid}) (${took()})`);

    const ngLog = join(runDir, 'logs', 'nginx-error.log');
    const ng = await start('nginx', [bins.nginx, ...nginxArgs(layout, ngLog)], [ports.http], ngLog);
    await waitHealthy('nginx', ng.proc, ng.logs, () => checkHealth(healthCheck('nginx', ports, r.addresses)), healthMs, signal);
    log(`lab: nginx up on ${r.addresses.listen}:${ports.http} (pid ${ng.proc.pid}) (${took()})`);

    const [nginxV, phpV, mariaV, bunV] = await versionsP;
    state.versions = { ...state.versions, nginx: nginxV, php: phpV, mariadb: mariaV, ...(bunV !== null ? { bun: bunV } : {}) };
    state.complete = true;
    state.upMs = Date.now() - t0;
    const info = buildInfo(state, new Map(state.services.map((s) => [s.name, true])));
    state.info = info;
    await writeState(state);
    log(`lab: stack up in ${(state.upMs / 1000).toFixed(1)} s; ${info.pages.client}`);
    return info;
  } catch (err) {
    log(`lab: start-up failed, stopping what was started`);
    await down(runDir).catch((e: unknown) => log(`lab: cleanup after failure: ${String(e)}`));
    throw err;
  } finally {
    process.off('exit', killOnExit);
  }
}

async function probe(s: ServiceRecord, state: LabState): Promise<boolean> {
  if (!isAlive(s)) return false;
  try {
    if (s.name === 'queue-server' && state.config.queueImpl === 'seed2013') return (await queueLength(LOOPBACK, state.ports.queue, 1000)) >= 0;
    return await checkHealth(healthCheck(s.name, state.ports, state.addresses));
  } catch {
    return false;
  }
}

async function status(runDir?: string): Promise<StackInfo | null> {
  const state = await readState(resolve(runDir ?? defaultRunDir));
  if (!state) return null;
  const health = new Map<ServiceName, boolean>();
  await Promise.all(state.services.map(async (s) => health.set(s.name, await probe(s, state))));
  return buildInfo(state, health);
}

/**
 * Stops every recorded service by pid (TERM, wait, KILL), then anything still in the cgroup, removes
 * the cgroup, and checks that nothing is left. Works from the run directory alone.
 */
async function down(runDir?: string): Promise<void> {
  const dir = resolve(runDir ?? defaultRunDir);
  const state = await readState(dir);
  if (!state) return;
  const byName = new Map(state.services.map((s) => [s.name, s]));
  for (const name of STOP_ORDER) {
    const s = byName.get(name);
    if (!s) continue;
    if (s.supervisor) {
      // The supervisor first, or it would restart what we stop; then its latest child (it may have
      // restarted one after the state was read).
      await stopSupervisor(s.supervisor);
      const st = readSupervisedStatus(s.supervisor.statusFile);
      if (st) Object.assign(s, { pid: st.pid, startTime: st.startTime });
    }
    await stopProcess(s, GRACE_MS[name]);
  }
  const problems: string[] = [];
  if (state.cgroup) {
    const stragglers = await cgroupPids(state.cgroup);
    if (stragglers.length > 0) await killPids(stragglers);
    const left = await removeCgroup(state.cgroup);
    if (left.length > 0) problems.push(`cgroup directories not removed: ${left.join(', ')}`);
  }
  const alive = state.services.filter((s) => isAlive(s) || (s.supervisor && isAlive(s.supervisor)));
  if (alive.length > 0) problems.push(`still running: ${alive.map((s) => `${s.name} pid ${s.pid}`).join(', ')}`);
  if (problems.length > 0) throw new Error(`lab down: ${problems.join('; ')}`);
  // Logs and data stay for inspection; without state.json the directory counts as stopped.
  await rm(stateFile(dir), { force: true });
}

export const nativeRuntime: LabRuntime & { up(opts?: NativeUpOptions): Promise<StackInfo> } = {
  name: 'native',
  up,
  status,
  down,
};

/** For tests and the CLI: the raw state (pids, cgroup) behind a run directory. */
export { readState } from './state.js';
export type { LabState, ProcRecord };
