// The contract between the lab runtimes (native, docker) and everything that drives a stack
// (the bench runner, the CI gate, tests). Both runtimes return the same shape, so a bench run
// never needs to know which one it got.

export type RuntimeName = 'native' | 'docker';
export type ServiceName = 'mysql' | 'queue-server' | 'php-fpm' | 'nginx';

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

export interface AppliedLimits {
  /** Absolute cgroup path (host view), or null when nothing could be limited. */
  cgroup: string | null;
  cgroupVersion: 'v1' | 'v2' | null;
  /** CPUs read back from the cgroup files (quota / period), null when unlimited. */
  cpus: number | null;
  /** Memory limit in bytes read back from the cgroup files, null when unlimited. */
  memoryBytes: number | null;
  /** Human explanation when limits are missing or approximate. */
  note?: string;
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
}

export interface UpOptions {
  runDir?: string;
  cpus?: number;
  memory?: string; // e.g. "2g"
  /** Extra environment / flags for the queue server (e.g. fsync policy, test-only hooks). */
  queueArgs?: string[];
  /**
   * An empty host directory for the queue journal instead of the run's own (make chaos mounts a small
   * filesystem there to fill the disk under the journal). Docker bind-mounts it at the journal's path.
   */
  journalDir?: string;
  log?: (line: string) => void;
}

export interface LabRuntime {
  name: RuntimeName;
  up(opts?: UpOptions): Promise<StackInfo>;
  status(runDir?: string): Promise<StackInfo | null>;
  down(runDir?: string): Promise<void>;
}
