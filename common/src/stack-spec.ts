// The one description of the lab stack: its services, default ports, budget, database account, and each
// service's command line and health check. Both lab runtimes read it (bench's native runtime starts the
// processes with these command lines; its docker runtime hands the same command lines to the images'
// entrypoints through Compose), the throwaway MariaDB of the tests takes its account and mariadbd flags from
// it, and the committed .env is generated from it (`eserver-lab env`). It lives in the low-level package so
// that every workspace (the queue server's defaults included) can import it without a cycle. The calibrated
// CPU quota of the emulated 2013 box is not here: it lives in results/calibration/, per CPU model.
import { cpus } from 'node:os';
import { join } from 'node:path';

export type ServiceName = 'mysql' | 'queue-server' | 'php-fpm' | 'nginx';

/** The ports a stack listens on (both runtimes use the host network). */
export interface LabPorts {
  http: number;
  fpm: number;
  queue: number;
  metrics: number;
  mysql: number;
}

/** Start order (each service is health-checked before the next starts); `down` stops them in reverse. */
export const SERVICES: readonly ServiceName[] = ['mysql', 'queue-server', 'php-fpm', 'nginx'];

/** The queue port is the original protocol's 8888 (the 2013 server's start script). */
export const DEFAULT_PORTS: Readonly<LabPorts> = { http: 8080, fpm: 9000, queue: 8888, metrics: 9888, mysql: 3307 };

/**
 * The listen backlog of nginx, php-fpm and the queue server: the deepest they take (the kernel caps it at
 * net.core.somaxconn, which the lab raises). 128, the 2013 kernel's default, is the shallow-queue regime.
 */
export const DEFAULT_LISTEN_BACKLOG = 65535;

/**
 * Docker: the Compose project's name (COMPOSE_PROJECT_NAME) and the parent cgroup that the four containers
 * share (CGROUP_PARENT, relative: runc puts it below dockerd's own cgroup).
 */
export const DEFAULT_COMPOSE_PROJECT = 'eserver-lab';
export const DEFAULT_CGROUP_PARENT = 'eserver-lab';

/** Every service listens on the loopback address only, unless the stack runs on another host (below). */
export const LOOPBACK = '127.0.0.1';

/**
 * Where a stack is reached from. A stack on this machine: loopback both. A stack on a remote Docker engine
 * (issue 25): its entry points (nginx, MariaDB, the queue server's metrics) also listen on `listen`, the
 * address the engine is reached at, and the lab's account may log in from `client`, the address the
 * generator's host reaches that one from. php-fpm and the queue port stay on loopback: only PHP uses them.
 */
export interface StackAddresses {
  listen: string;
  client: string;
}
export const LOCAL_ADDRESSES: Readonly<StackAddresses> = { listen: LOOPBACK, client: LOOPBACK };

/** Who listens on each port, and how a user picks another: the lab CLI's flag, the config token and Compose variable. */
export const PORTS: Readonly<Record<keyof LabPorts, { service: ServiceName; flag: string; variable: string }>> = {
  http: { service: 'nginx', flag: '--http-port', variable: 'HTTP_PORT' },
  fpm: { service: 'php-fpm', flag: '--fpm-port', variable: 'FPM_PORT' },
  queue: { service: 'queue-server', flag: '--queue-port', variable: 'QUEUE_PORT' },
  metrics: { service: 'queue-server', flag: '--metrics-port', variable: 'METRICS_PORT' },
  mysql: { service: 'mysql', flag: '--mysql-port', variable: 'MYSQL_PORT' },
};

/** The ports a service listens on, in a stack with ports `p`. */
export function servicePorts(svc: ServiceName, p: LabPorts): number[] {
  return (Object.keys(PORTS) as (keyof LabPorts)[]).filter((k) => PORTS[k].service === svc).map((k) => p[k]);
}

/** Fails, naming both, when two services were given the same port. */
export function assertDistinctPorts(p: LabPorts): void {
  const seen = new Map<number, string>();
  for (const [k, v] of Object.entries(p)) {
    if (seen.has(v)) throw new Error(`port ${v} is given to both ${seen.get(v)} and ${k}; each service needs its own`);
    seen.set(v, k);
  }
}

/**
 * The stack's memory and CPU budget, shared by the four services (one cgroup). The CPU default is the whole
 * machine; `make bench` applies the calibrated quota of results/calibration/ instead when one matches.
 */
export const DEFAULT_MEMORY = '2g';
export function defaultCpus(): number {
  return cpus().length;
}

/**
 * The CFS period of the stack's quota. The kernel's default of 100 ms lets a group burn its quota in a
 * burst and then sit throttled for the rest of the period: at 0.33 CPU, ~67 ms latency steps. Shorter
 * periods cost throughput instead: measured here (docs/experiments/2026-11-28-cpu-period.md), the same
 * 0.6-CPU quota gave 42-47k pages/min at 100 ms, 43k at 50 ms, 40-41k at 20 ms, 34-37k at 10 ms and 30-34k
 * at 5 ms (the kernel hands out quota in 5 ms slices per CPU, so a 3 ms quota runs on one CPU at a time and
 * every period throttles and wakes the whole group). 20 ms keeps throttles short (~13 ms at 0.33 CPU,
 * invisible beside seconds of queueing at 10k clients) for about a tenth of the throughput.
 */
export const DEFAULT_CPU_PERIOD_US = 20_000;
/** The kernel's default weight (v1 cpu.shares), the one every process at the parent's level has. */
export const DEFAULT_CPU_SHARES = 1024;
/**
 * The stack's weight against everything else in the parent (v1 cpu.shares, max 262144). Every process
 * that runs at the parent's level (10,000 forked webbench clients, other users' jobs) weighs 1024; a
 * group with the default 1024 would get one share among them, so a quota could not be reached.
 */
export const STACK_CPU_SHARES = 262_144;

/**
 * The stack's weight with `cpus` of the host's CPUs. Below the whole machine the group must reach its quota
 * whatever else runs: the highest weight. At the whole machine there is no quota to guarantee, and a high
 * weight would only let the stack starve a load generator that runs beside it (the CI gate's): the default.
 */
export function stackCpuShares(cpus: number, hostCpus = defaultCpus()): number {
  return cpus < hostCpus ? STACK_CPU_SHARES : DEFAULT_CPU_SHARES;
}

/**
 * Each service's own memory limit, below the stack's shared budget (which still caps their sum): what the
 * service needs at the seed load (10,000 clients, our queue server on Bun) with headroom, so that one
 * service that grows is stopped by its own limit (and restarted) instead of starving the others. The
 * native lab gives each service a memory group of this size below the stack's; the Compose file gives each
 * container this mem_limit below the shared parent. The measurements behind the figures:
 * docs/experiments/2026-12-06-memory-per-service.md.
 */
export const SERVICE_MEMORY: Readonly<Record<ServiceName, string>> = {
  // mysql/my.cnf's 512 MB buffer pool and 32 MB log buffer fill as rows accumulate, beyond the 158 MB of a run.
  mysql: '768m',
  // Its own byte budget of queued entries (256 MiB, --max-queue-bytes) must meet QUEUE_FULL before this limit.
  'queue-server': '512m',
  'php-fpm': '256m',
  // 10,000 client connections held by 8 workers: about 200 MB.
  nginx: '384m',
};

/**
 * The one account that the queue server, the loss check and every lab client use, in both runtimes.
 * MariaDB's init step creates it (mysql/lab-user.sql, from the values here); root only runs that step.
 */
export const DATABASE = { user: 'eserver', password: 'eserver', database: 'eserver' } as const;

/**
 * The tokens of mysql/lab-user.sql (the account, and the one more host it may log in from: a remote stack's
 * client, else loopback again): the lab's init step and the throwaway MariaDB render it with these.
 */
export function accountTokens(clientHost: string = LOOPBACK): Record<'MYSQL_USER' | 'MYSQL_PASSWORD' | 'MYSQL_DATABASE' | 'MYSQL_CLIENT_HOST', string> {
  return { MYSQL_USER: DATABASE.user, MYSQL_PASSWORD: DATABASE.password, MYSQL_DATABASE: DATABASE.database, MYSQL_CLIENT_HOST: clientHost };
}

export function mysqlUrl(port: number): string {
  const u = encodeURIComponent(DATABASE.user);
  const p = encodeURIComponent(DATABASE.password);
  return `mysql://${u}:${p}@${LOOPBACK}:${port}/${DATABASE.database}`;
}

/** Where a stack keeps its files below its run directory (the host's natively, /run/eserver-lab in a container). */
export function runLayout(runDir: string) {
  return {
    runDir,
    conf: {
      nginx: join(runDir, 'conf', 'nginx.conf'),
      fpm: join(runDir, 'conf', 'php-fpm.conf'),
      my: join(runDir, 'conf', 'my.cnf'),
      labUser: join(runDir, 'conf', 'lab-user.sql'),
    },
    mysqlDir: join(runDir, 'mysql'),
    datadir: join(runDir, 'mysql', 'data'),
    mysqlSocket: join(runDir, 'mysql', 'mysql.sock'),
    mysqlPidFile: join(runDir, 'mysql', 'mariadbd.pid'),
    // A starting mariadbd deletes every #sql* file in its tmpdir: stacks sharing /tmp delete each other's
    // temporary tables (and mariadb-install-db, which builds the grant tables through them, fails).
    mysqlTmp: join(runDir, 'mysql', 'tmp'),
    nginxPrefix: join(runDir, 'nginx'),
    journalDir: join(runDir, 'queue', 'journal'),
    logs: join(runDir, 'logs'),
  };
}
export type RunLayout = ReturnType<typeof runLayout>;

/**
 * The values of the config files' @@TOKENS@@ (bench/src/lab/tokens.md) that follow from the stack: ports,
 * paths, the account. The runtime adds the ones that depend on where it runs (DOC_ROOT, USER, GROUP).
 */
export function stackTokens(v: { layout: RunLayout; ports: LabPorts; backlog: number; addresses?: StackAddresses }): Record<string, string | number> {
  const a = v.addresses ?? LOCAL_ADDRESSES;
  return {
    RUN_DIR: v.layout.runDir,
    LISTEN_HOST: a.listen,
    ...Object.fromEntries((Object.keys(PORTS) as (keyof LabPorts)[]).map((k) => [PORTS[k].variable, v.ports[k]])),
    MYSQL_SOCKET: v.layout.mysqlSocket,
    MYSQL_DATADIR: v.layout.datadir,
    LISTEN_BACKLOG: v.backlog,
    ...accountTokens(a.client),
  };
}

/** The queue server's flags (after `node cli.js`). `extra` are the caller's own (fsync policy, test hooks). */
export function queueServerArgs(v: { ports: LabPorts; journalDir: string; backlog: number; extra?: readonly string[]; addresses?: StackAddresses }): string[] {
  return [
    '--host', LOOPBACK,
    '--port', String(v.ports.queue),
    '--metrics-host', (v.addresses ?? LOCAL_ADDRESSES).listen,
    '--metrics-port', String(v.ports.metrics),
    '--mysql-url', mysqlUrl(v.ports.mysql),
    '--journal-dir', v.journalDir,
    '--backlog', String(v.backlog),
    ...(v.extra ?? []),
  ];
}

/**
 * mariadbd's flags. The per-run values (paths, port) are flags, so my.cnf needs no token; without the repo's
 * my.cnf (defaultsFile null) /etc/mysql is ignored entirely. --defaults-file must come first.
 */
export function mariadbdArgs(v: { defaultsFile: string | null; osUser: string; layout: RunLayout; port: number; errorLog?: string; addresses?: StackAddresses }): string[] {
  const listen = (v.addresses ?? LOCAL_ADDRESSES).listen;
  return [
    v.defaultsFile ? `--defaults-file=${v.defaultsFile}` : '--no-defaults',
    `--user=${v.osUser}`,
    `--datadir=${v.layout.datadir}`,
    `--socket=${v.layout.mysqlSocket}`,
    `--pid-file=${v.layout.mysqlPidFile}`,
    `--tmpdir=${v.layout.mysqlTmp}`,
    ...(v.errorLog ? [`--log-error=${v.errorLog}`] : []),
    `--port=${v.port}`,
    // The queue server and the health check use loopback; a remote stack's loss check comes in on `listen`.
    `--bind-address=${listen === LOOPBACK ? LOOPBACK : `${LOOPBACK},${listen}`}`,
  ];
}

/** php-fpm's flags: in the foreground, on the rendered pool file (-R: allowed to run as root). */
export function phpFpmArgs(conf: string, asRoot: boolean): string[] {
  return ['-F', ...(asRoot ? ['-R'] : []), '-y', conf];
}

/** nginx's flags: the rendered config, its prefix (temp dirs) and the error log of its start-up. */
export function nginxArgs(layout: RunLayout, errorLog: string): string[] {
  return ['-p', layout.nginxPrefix, '-c', layout.conf.nginx, '-e', errorLog];
}

/**
 * What "healthy" means for each service. Each runtime implements the three kinds: native/health.ts in Node,
 * the images' lab-health script in bash (from healthArgs).
 *  - http: GET host:port + path answers 200 (nginx's goes through php-fpm: the whole HTTP path);
 *  - tcp: the port accepts a connection;
 *  - mysql: the lab account opens the lab database (so the schema is loaded and the account exists).
 * The host is where the service listens: the stack's listen address for nginx and the queue's metrics,
 * loopback for php-fpm and MariaDB (which listens there too).
 */
export type HealthCheck =
  | { kind: 'http'; host: string; port: number; path: string }
  | { kind: 'tcp'; host: string; port: number }
  | { kind: 'mysql'; host: string; port: number; user: string; password: string; database: string };

export function healthCheck(svc: ServiceName, p: LabPorts, addresses: StackAddresses = LOCAL_ADDRESSES): HealthCheck {
  switch (svc) {
    case 'mysql':
      return { kind: 'mysql', host: LOOPBACK, port: p.mysql, ...DATABASE };
    case 'queue-server':
      return { kind: 'http', host: addresses.listen, port: p.metrics, path: '/healthz' };
    case 'php-fpm':
      return { kind: 'tcp', host: LOOPBACK, port: p.fpm };
    case 'nginx':
      return { kind: 'http', host: addresses.listen, port: p.http, path: '/baseline.php' };
  }
}

/** A health check as the images' lab-health script takes it: the kind, then its values. */
export function healthArgs(h: HealthCheck): string[] {
  switch (h.kind) {
    case 'http':
      return ['http', h.host, String(h.port), h.path];
    case 'tcp':
      return ['tcp', h.host, String(h.port)];
    case 'mysql':
      return ['mysql', h.host, String(h.port), h.user, h.password, h.database];
  }
}
