// What docker-compose.yml gets from the stack spec: the variables it interpolates. Each service's container
// receives its command line (Compose's `command:`, which the image's entrypoint passes to the program), its
// health check (LAB_HEALTH, run by the image's lab-health) and the config tokens (LAB_<TOKEN>, which the
// entrypoints' render-tokens puts into the config files). The committed .env is these variables for the
// default stack (`eserver-lab env`), so that docker-compose works in a fresh clone; bench/test/docker-config.test.ts checks both files against this module.
import * as spec from '@eserver-lab/common/stack-spec';
import { DEFAULT_LISTEN_BACKLOG, LOCAL_ADDRESSES, type LabPorts, type ServiceName, type StackAddresses } from '@eserver-lab/common/stack-spec';
import { DEFAULT_QUEUE_RUNTIME, type QueueRuntimeName } from '@eserver-lab/queue-server/runtime';

/** The run directory inside every container; the images keep nothing else there. */
export const CONTAINER_RUN_DIR = '/run/eserver-lab';
export const containerLayout = spec.runLayout(CONTAINER_RUN_DIR);
/** The OS user that the mysql image's mariadbd runs as (Debian's package creates it). */
const MYSQL_OS_USER = 'mysql';
export const BASE_IMAGE_TAG = 'eserver-lab/bookworm-base:latest';

export interface ComposeStack {
  ports: LabPorts;
  backlog: number;
  queueArgs: readonly string[];
  /** What the queue-server image runs the server on (its entrypoint reads QUEUE_RUNTIME; the image has both). */
  queueRuntime: QueueRuntimeName;
  cgroupParent: string;
  baseImage: string;
  /** Where the stack is reached from: loopback, or a remote engine's address (stack spec's StackAddresses). */
  addresses: StackAddresses;
}

export const DEFAULT_COMPOSE_STACK: ComposeStack = {
  ports: spec.DEFAULT_PORTS,
  backlog: DEFAULT_LISTEN_BACKLOG,
  queueArgs: [],
  queueRuntime: DEFAULT_QUEUE_RUNTIME,
  cgroupParent: spec.DEFAULT_CGROUP_PARENT,
  baseImage: BASE_IMAGE_TAG,
  addresses: LOCAL_ADDRESSES,
};

/** Each service's command line inside its container, after the program's name. */
export function containerArgs(s: Pick<ComposeStack, 'ports' | 'backlog' | 'queueArgs' | 'addresses'>): Record<ServiceName, string[]> {
  const layout = containerLayout;
  return {
    mysql: spec.mariadbdArgs({ defaultsFile: layout.conf.my, osUser: MYSQL_OS_USER, layout, port: s.ports.mysql, addresses: s.addresses }),
    'queue-server': spec.queueServerArgs({ ports: s.ports, journalDir: layout.journalDir, backlog: s.backlog, extra: s.queueArgs, addresses: s.addresses }),
    // The images run as root; -R lets php-fpm's master do so (its children are www-data).
    'php-fpm': spec.phpFpmArgs(layout.conf.fpm, true),
    nginx: spec.nginxArgs(layout, `${layout.logs}/nginx-error.log`),
  };
}

/** The environment every container gets: the config tokens that follow from the stack, as LAB_<TOKEN>. */
export function tokenEnv(s: Pick<ComposeStack, 'ports' | 'backlog' | 'addresses'>): Record<string, string> {
  const tokens = spec.stackTokens({ layout: containerLayout, ports: s.ports, backlog: s.backlog, addresses: s.addresses });
  return Object.fromEntries(Object.entries(tokens).map(([k, v]) => [`LAB_${k}`, String(v)]));
}

/** One service's container environment: the tokens, its health check, and for the queue server its runtime. */
export function containerEnv(s: Pick<ComposeStack, 'ports' | 'backlog' | 'queueRuntime' | 'addresses'>, svc: ServiceName): Record<string, string> {
  return {
    ...tokenEnv(s),
    LAB_HEALTH: spec.healthArgs(spec.healthCheck(svc, s.ports, s.addresses)).join(' '),
    ...(svc === 'queue-server' ? { QUEUE_RUNTIME: s.queueRuntime } : {}),
  };
}

/** A service's name in a variable: queue-server -> QUEUE_SERVER. */
export const serviceVariable = (svc: ServiceName) => svc.toUpperCase().replace(/-/g, '_');

/** Compose splits a command given as one string on blanks; an argument with a blank would come apart. */
function joinArgs(args: readonly string[], what: string): string {
  const bad = args.find((a) => a === '' || /\s/.test(a));
  if (bad !== undefined) throw new Error(`${what}: the argument ${JSON.stringify(bad)} cannot pass through compose (no blanks, not empty)`);
  return args.join(' ');
}

/**
 * The variables docker-compose.yml interpolates, for one stack: each token under its own name (HTTP_PORT,
 * MYSQL_USER...), each service's command line (<SERVICE>_ARGS), health check (<SERVICE>_HEALTH) and own
 * memory limit (<SERVICE>_MEMORY, below the shared parent's budget), and the
 * queue server's runtime (QUEUE_RUNTIME, the same name the native lab reads).
 */
export function composeVariables(s: ComposeStack): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(tokenEnv(s))) out[k.replace(/^LAB_/, '')] = v;
  const args = containerArgs(s);
  for (const svc of spec.SERVICES) {
    out[`${serviceVariable(svc)}_ARGS`] = joinArgs(args[svc], `${svc}'s command line`);
    out[`${serviceVariable(svc)}_HEALTH`] = containerEnv(s, svc).LAB_HEALTH!;
    out[`${serviceVariable(svc)}_MEMORY`] = spec.SERVICE_MEMORY[svc];
  }
  out.QUEUE_RUNTIME = s.queueRuntime;
  out.CGROUP_PARENT = s.cgroupParent;
  out.BASE_IMAGE = s.baseImage;
  return out;
}

/** The committed .env: the default stack's variables, with the note that says where they come from. */
export function envExample(): string {
  const vars = composeVariables(DEFAULT_COMPOSE_STACK);
  const lines = [
    '# Generated from common/src/stack-spec.ts by `node bench/dist/src/lab/cli.js env > .env`: do not edit.',
    '# docker-compose reads it for a by-hand `docker-compose up` in the repo root (the lab runtime passes these variables itself).',
    `# The lab's account is ${spec.DATABASE.user}; every service listens on 127.0.0.1 only (network_mode: host).`,
    ...Object.entries(vars).map(([k, v]) => `${k}=${v}`),
  ];
  return lines.join('\n') + '\n';
}
