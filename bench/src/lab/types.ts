// The contract between the lab runtimes (native, docker) and everything that drives a stack
// (the bench runner, the CI gate, tests). Both runtimes return the same shape, so a bench run
// never needs to know which one it got.

import type { LabPorts, ServiceName, StackAddresses } from '@eserver-lab/common/stack-spec';
import type { CgroupLimits } from '../host/cgroup.js';

export type RuntimeName = 'native' | 'docker';

export interface MysqlEndpoint {
  host: string;
  port: number;
  /** Unix socket, when the runtime exposes one on the host. */
  socket?: string;
  user: string;
  password: string;
  database: string;
}

export interface ServiceInfo {
  name: ServiceName;
  /** Main pid as seen from the host (master process for nginx / php-fpm). */
  pid: number | null;
  ports: number[];
  healthy: boolean;
  /** Where this service's log can be read on the host. */
  logFile?: string;
}

/** The stack's budget as the kernel holds it (read back from the cgroup files), and where it came from. */
export interface AppliedLimits extends CgroupLimits {
  /** Each service's own memory limit below the stack's (the stack spec's SERVICE_MEMORY), bytes; absent when not applied. */
  serviceMemoryBytes?: Record<string, number> | null;
  /** Where the CPU budget came from: a calibration file, or the whole machine (see calibrate/). */
  calibration?: CalibrationUse | null;
  /** Human explanation when limits are missing or approximate. */
  note?: string;
}

export interface CalibrationUse {
  /** The calibration file applied, relative to the repo, or null when none matched. */
  file: string | null;
  cpu_model: string;
  /** The CPU fraction applied (quota / period), null when the stack ran on the whole machine. */
  cpus: number | null;
  quota_us: number | null;
  period_us: number | null;
  note: string;
}

/** The machine a stack runs on when it is not the generator's (a remote Docker engine's host). */
export interface StackHost {
  /** The engine's DOCKER_HOST and how it was chosen. */
  engine: string;
  name: string;
  cpu_model: string;
  cores: number;
  memory_bytes: number;
  kernel: string;
  os: string;
  docker_version: string;
  cgroup: { version: string; driver: string };
}

/**
 * A stack on another machine: that machine, and its containers, whose CPU time and memory are read through
 * the engine (lab/docker/engine-api.ts), never from this host's /proc or cgroup files. Its services' pids are
 * null and its limits carry no directory of this host.
 */
export interface RemoteStack {
  host: StackHost;
  containers: Record<ServiceName, string>;
  /** The stack's parent cgroup in the cpu hierarchy, a path on that host (its quota and throttling). */
  cpuCgroup: string | null;
}

export interface StackInfo {
  runtime: RuntimeName;
  runDir: string;
  /** nginx, e.g. http://127.0.0.1:18080 */
  httpBase: string;
  pages: { client: string; baseline: string; persistent: string };
  queue: { host: string; port: number; metricsPort: number };
  mysql: MysqlEndpoint;
  services: ServiceInfo[];
  limits: AppliedLimits;
  /** Versions of nginx, php, mariadb, node actually running. */
  versions: Record<string, string>;
  /** The rendered config values (ports, worker counts, queue options) for the results file. */
  config: Record<string, unknown>;
  /** Set when the stack runs on another machine than this process (a remote Docker engine). */
  remote?: RemoteStack;
}

/** What a caller may ask of a stack; lab/resolve.ts turns it (with the environment) into the values it runs with. */
export interface UpOptions {
  /** Ports to use instead of the defaults (or of HTTP_PORT... in the environment), e.g. for a stack beside another. */
  ports?: Partial<LabPorts>;
  /** Free ports (bind 0) for every port not given in `ports`, instead of the defaults. */
  freePorts?: boolean;
  runDir?: string;
  /** The CPU budget. Unset: this CPU model's calibration (results/calibration/), else the whole machine; 'all': the whole machine on purpose. */
  cpus?: number | 'all';
  /** CFS period of the CPU quota, µs (default: the calibration's, else the stack spec's DEFAULT_CPU_PERIOD_US). */
  cpuPeriodUs?: number;
  /** Which queue server the stack runs (default 'ts', ours). */
  queueImpl?: 'ts' | 'seed2013';
  /** The runtime of our queue server, for this stack alone (default: QUEUE_RUNTIME, else bun). */
  queueRuntime?: 'node' | 'bun';
  /**
   * The queue server's CLI script to run (absolute; default the repo's queue-server/dist/src/cli.js): a
   * reference build of another commit, or a test-only entry. Native runtime only.
   */
  queueEntry?: string;
  memory?: string; // e.g. "2g"
  /** Listen backlog of nginx, php-fpm and the queue server (default DEFAULT_LISTEN_BACKLOG of the stack spec; 128 = the 2013 kernel's). */
  listenBacklog?: number;
  /** Extra environment / flags for the queue server (e.g. fsync policy, test-only hooks). */
  queueArgs?: string[];
  /**
   * An empty host directory for the queue journal instead of the run's own (make chaos mounts a small
   * filesystem there to fill the disk under the journal). Docker bind-mounts it at the journal's path.
   */
  journalDir?: string;
  /**
   * Where the stack's entry points listen besides loopback, and the one client address its account admits
   * (the stack spec's StackAddresses; default loopback both). Native: the load namespace's veth pair
   * (host/netns.ts), so that a generator there reaches nginx. A remote Docker engine decides its own.
   */
  addresses?: StackAddresses;
  /** Docker: the Compose project name (default: COMPOSE_PROJECT_NAME, else the spec's). */
  project?: string;
  /** Docker: the parent cgroup's name, relative to dockerd's own (default: CGROUP_PARENT, else the spec's). */
  cgroupParent?: string;
  log?: (line: string) => void;
  /** Aborting it (Ctrl-C) stops the start-up and takes down what was started; `up` then rejects. */
  signal?: AbortSignal;
}

export interface LabRuntime {
  name: RuntimeName;
  up(opts?: UpOptions): Promise<StackInfo>;
  status(runDir?: string): Promise<StackInfo | null>;
  down(runDir?: string): Promise<void>;
}
