// The one resolver: a stack's options plus the environment, turned into every value the stack will run with
// (ports, CPU budget with its period and weight, memory, listen backlog, account, run directory, Docker's
// cgroup parent and project name, the queue server's runtime and entry script). Both runtimes call it first
// in `up` and read nothing else, so a default is decided here once and the same overrides work in both.
// Precedence: an option (a CLI flag), then the environment (the Compose variable names: HTTP_PORT...,
// QUEUE_RUNTIME, CGROUP_PARENT, COMPOSE_PROJECT_NAME), then the stack spec's default.
import { resolve } from 'node:path';
import { freePorts } from '@eserver-lab/common/free-port';
import {
  DATABASE,
  DEFAULT_CGROUP_PARENT,
  DEFAULT_CPU_PERIOD_US,
  DEFAULT_COMPOSE_PROJECT,
  DEFAULT_LISTEN_BACKLOG,
  DEFAULT_MEMORY,
  DEFAULT_PORTS,
  LOCAL_ADDRESSES,
  PORTS,
  SERVICE_MEMORY,
  assertDistinctPorts,
  stackCpuShares,
  type LabPorts,
  type ServiceName,
  type StackAddresses,
} from '@eserver-lab/common/stack-spec';
import { queueRuntimeName, type QueueRuntimeName } from '@eserver-lab/queue-server/runtime';
import { parseMemory, quotaFor } from '../host/cgroup.js';
import { parseListenBacklog } from '../host/sysctl.js';
import { stackBudget, type BudgetHost } from './budget.js';
import { sources } from './paths.js';
import type { CalibrationUse, RuntimeName, UpOptions } from './types.js';

export interface ResolvedBudget {
  cpus: number;
  quotaUs: number;
  periodUs: number;
  /** v1 cpu.shares (v2: cpu.weight from it). */
  shares: number;
  memory: string;
  memoryBytes: number;
  /** Each service's own memory limit below the stack's (the stack spec's SERVICE_MEMORY), bytes. */
  serviceMemoryBytes: Record<ServiceName, number>;
  /** Where the CPU figure came from (--cpus, a calibration file, or the whole machine). */
  use: CalibrationUse;
}

export interface ResolvedStack {
  runtime: RuntimeName;
  runDir: string;
  ports: LabPorts;
  budget: ResolvedBudget;
  listenBacklog: number;
  /** Where the entry points listen besides loopback, and the account's client (loopback both by default). */
  addresses: StackAddresses;
  database: typeof DATABASE;
  /** Docker: the parent cgroup of the four containers and the Compose project. */
  cgroupParent: string;
  project: string;
  queueImpl: 'ts' | 'seed2013';
  queueRuntime: QueueRuntimeName;
  queueArgs: string[];
  /** The queue server's CLI script (absolute): the repo's build unless another was given. */
  queueEntry: string;
  /** A host directory for the journal instead of the run directory's own, or null. */
  journalDir: string | null;
}

/** Ports named in the environment under their Compose names (HTTP_PORT...), as a by-hand `docker-compose up` reads them. */
export function portsFromEnv(env: NodeJS.ProcessEnv): Partial<LabPorts> {
  const out: Partial<LabPorts> = {};
  for (const k of Object.keys(PORTS) as (keyof LabPorts)[]) {
    const v = env[PORTS[k].variable];
    if (v === undefined || v === '') continue;
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1 || n > 65535) throw new Error(`${PORTS[k].variable}=${v} is not a port number (1-65535); fix or unset it`);
    out[k] = n;
  }
  return out;
}

/** Only the values a caller gave: a CLI passes every key, undefined when its flag was not used. */
function given<T extends object>(o: T | undefined): Partial<T> {
  return Object.fromEntries(Object.entries(o ?? {}).filter(([, v]) => v !== undefined && v !== null)) as Partial<T>;
}

/** SERVICE_MEMORY in bytes, per service. */
function serviceMemory(): Record<ServiceName, number> {
  return Object.fromEntries(Object.entries(SERVICE_MEMORY).map(([k, v]) => [k, parseMemory(v)])) as Record<ServiceName, number>;
}

/**
 * `host`: the machine the stack runs on when it is not this one (a remote Docker engine's): its calibration
 * and core count decide the budget.
 */
export async function resolveStack(
  runtime: RuntimeName, o: UpOptions, defaultRunDir: string, env: NodeJS.ProcessEnv = process.env, host?: BudgetHost,
): Promise<ResolvedStack> {
  let ports: LabPorts = { ...DEFAULT_PORTS, ...portsFromEnv(env), ...given(o.ports) };
  if (o.freePorts) {
    // Distinct by construction: separate bind(0)s can hand out the same port twice.
    const [http, fpm, queue, metrics, mysql] = await freePorts(5);
    ports = { http: http!, fpm: fpm!, queue: queue!, metrics: metrics!, mysql: mysql!, ...given(o.ports) };
  }
  assertDistinctPorts(ports);
  const b = stackBudget({ cpus: o.cpus, cpuPeriodUs: o.cpuPeriodUs, ...(host ? { host } : {}) });
  const q = quotaFor(b.cpus, b.periodUs ?? DEFAULT_CPU_PERIOD_US);
  const memory = o.memory ?? DEFAULT_MEMORY;
  const use: CalibrationUse = { ...b.use, quota_us: b.use.quota_us ?? q.quotaUs, period_us: b.use.period_us ?? q.periodUs };
  const queueImpl = o.queueImpl ?? 'ts';
  return {
    runtime,
    runDir: resolve(o.runDir ?? defaultRunDir),
    ports,
    budget: { cpus: b.cpus, quotaUs: q.quotaUs, periodUs: q.periodUs, shares: stackCpuShares(b.cpus, host?.cores), memory, memoryBytes: parseMemory(memory), serviceMemoryBytes: serviceMemory(), use },
    listenBacklog: o.listenBacklog === undefined ? DEFAULT_LISTEN_BACKLOG : parseListenBacklog(String(o.listenBacklog)),
    addresses: o.addresses ?? LOCAL_ADDRESSES,
    database: DATABASE,
    cgroupParent: o.cgroupParent ?? (env.CGROUP_PARENT || DEFAULT_CGROUP_PARENT),
    project: o.project ?? (env.COMPOSE_PROJECT_NAME || DEFAULT_COMPOSE_PROJECT),
    queueImpl,
    queueRuntime: o.queueRuntime ?? queueRuntimeName(env.QUEUE_RUNTIME),
    queueArgs: [...(o.queueArgs ?? [])],
    queueEntry: resolve(o.queueEntry ?? sources.queueCli),
    journalDir: o.journalDir ? resolve(o.journalDir) : null,
  };
}
