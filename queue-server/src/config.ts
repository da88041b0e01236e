// Configuration: defaults < config file (JSON, `--config`) < environment (ESERVER_*) < command-line flags.
// One table describes every option, so the CLI, the env names, the file keys and --help never drift apart.
import { readFileSync } from 'node:fs';
import { DEFAULT_LIMITS } from './limits.js';
import { DEFAULT_ALLOW } from './allowlist.js';
import { DEFAULT_CAPACITY } from './ring.js';
import { DEFAULT_MAX_BYTES } from './queue.js';
import { ENTRY_OVERHEAD } from './entry.js';
import { FSYNC_POLICIES, type FsyncPolicy } from './journal.js';
import { LOG_LEVELS, type LogLevel } from './log.js';
import { DEFAULT_PORTS } from '@eserver-lab/common/stack-spec';

export interface Config {
  port: number;
  host: string;
  metricsPort: number;
  metricsHost: string;
  allow: string[];
  capacity: number;
  maxQueueBytes: number;
  maxBody: number;
  backlog: number;
  maxConnections: number;
  idleTimeoutMs: number;
  slowSenderMs: number;
  maxBufferedBytes: number;
  shutdownGraceMs: number;
  logLevel: LogLevel;
  mysqlUrl: string | null;
  stream: string;
  batchSize: number;
  batchMs: number;
  maxBackoffMs: number;
  drainTimeoutMs: number;
  journalDir: string | null;
  fsync: FsyncPolicy;
  fsyncIntervalMs: number;
  commitDelayMs: number;
  journalSegmentBytes: number;
  guard: boolean;
  allowTables: string[];
}

type Kind = 'int' | 'string' | 'list' | 'bool' | 'enum';

export interface OptionSpec {
  key: keyof Config;
  flag: string; // long flag name without dashes
  kind: Kind;
  help: string;
  /** Value placeholder in --help. */
  arg?: string;
  min?: number;
  max?: number;
  choices?: readonly string[];
  /** The value is optional (empty = unset), e.g. mysqlUrl. */
  nullable?: boolean;
}

export const DEFAULTS: Config = {
  // The original's port, as the lab's stack spec states it.
  port: DEFAULT_PORTS.queue,
  host: '0.0.0.0',
  metricsPort: 8889,
  metricsHost: '127.0.0.1',
  allow: [...DEFAULT_ALLOW],
  capacity: DEFAULT_CAPACITY,
  maxQueueBytes: DEFAULT_MAX_BYTES,
  maxBody: 65535,
  backlog: 1024,
  ...DEFAULT_LIMITS,
  shutdownGraceMs: 5000,
  logLevel: 'info',
  mysqlUrl: null,
  stream: 'default',
  batchSize: 5000,
  // 250 ms, not 50: on the emulated box (~1,000 enqueues/s) MariaDB spends about 0.65 ms of CPU per batch
  // (commit, redo flush, round trips) whatever its size, so 50 ms batches of ~65 rows cost it 17 µs per page
  // and 250 ms batches 6 µs (docs/experiments/2026-12-06-seed-path-cpu.md, lever 2; 5 ms made batches of ~30
  // at 3-4k enqueues/s: 2026-11-28-journal-and-drain-cost.md). Rows reach MySQL at most 250 ms later; the
  // ack never waited for MySQL, and the journal holds them until they are committed there.
  batchMs: 250,
  maxBackoffMs: 5000,
  drainTimeoutMs: 10_000,
  journalDir: null,
  fsync: 'always',
  fsyncIntervalMs: 10,
  commitDelayMs: 0,
  journalSegmentBytes: 64 * 1024 * 1024,
  guard: true,
  allowTables: ['bench_events'],
};

export const OPTION_SPECS: readonly OptionSpec[] = [
  { key: 'port', flag: 'port', kind: 'int', min: 0, max: 65535, arg: 'n', help: 'TCP port of the queue protocol (file key queue.port, as the original)' },
  { key: 'host', flag: 'host', kind: 'string', arg: 'addr', help: 'address to listen on' },
  { key: 'metricsPort', flag: 'metrics-port', kind: 'int', min: 0, max: 65535, arg: 'n', help: 'HTTP port for /metrics and /healthz (0 = any free port)' },
  { key: 'metricsHost', flag: 'metrics-host', kind: 'string', arg: 'addr', help: 'address of the metrics endpoint' },
  { key: 'allow', flag: 'allow', kind: 'list', arg: 'list', help: 'client IPs/CIDRs allowed to connect, comma separated ("*" = any)' },
  { key: 'capacity', flag: 'capacity', kind: 'int', min: 1, max: 50_000_000, arg: 'n', help: 'ring capacity in entries' },
  { key: 'maxQueueBytes', flag: 'max-queue-bytes', kind: 'int', min: 4096, arg: 'bytes', help: 'byte budget of the queued entries (SQL length + 64 each); QUEUE_FULL beyond it' },
  { key: 'maxBody', flag: 'max-body', kind: 'int', min: 16, max: 65535, arg: 'bytes', help: 'largest request body; longer frames get BODY_TOO_LARGE' },
  { key: 'backlog', flag: 'backlog', kind: 'int', min: 1, max: 65535, arg: 'n', help: 'listen backlog (capped by net.core.somaxconn)' },
  { key: 'maxConnections', flag: 'max-connections', kind: 'int', min: 0, arg: 'n', help: 'concurrent connections (0 = unlimited)' },
  { key: 'idleTimeoutMs', flag: 'idle-timeout-ms', kind: 'int', min: 0, arg: 'ms', help: 'close connections idle this long (0 = never)' },
  { key: 'slowSenderMs', flag: 'slow-sender-ms', kind: 'int', min: 0, arg: 'ms', help: 'shed a peer whose frame is incomplete after this long (0 = never)' },
  { key: 'maxBufferedBytes', flag: 'max-buffered-bytes', kind: 'int', min: 0, arg: 'bytes', help: 'bytes buffered per connection (partial frame + unread replies) before it is shed' },
  { key: 'shutdownGraceMs', flag: 'shutdown-grace-ms', kind: 'int', min: 0, arg: 'ms', help: 'time given to in-flight frames at shutdown' },
  { key: 'logLevel', flag: 'log-level', kind: 'enum', choices: LOG_LEVELS, arg: 'level', help: 'log level' },
  { key: 'mysqlUrl', flag: 'mysql-url', kind: 'string', nullable: true, arg: 'url', help: 'drain into MySQL, e.g. mysql://user:pass@127.0.0.1:3306/eserver (unset = pure queue, 8002 allowed)' },
  { key: 'stream', flag: 'stream', kind: 'string', arg: 'name', help: 'stream name in the offsets table' },
  { key: 'batchSize', flag: 'batch-size', kind: 'int', min: 1, max: 1_000_000, arg: 'n', help: 'entries per MySQL transaction at most' },
  { key: 'batchMs', flag: 'batch-ms', kind: 'int', min: 0, arg: 'ms', help: 'wait this long for a batch to fill' },
  { key: 'maxBackoffMs', flag: 'max-backoff-ms', kind: 'int', min: 1, arg: 'ms', help: 'cap of the retry backoff while MySQL is unavailable' },
  { key: 'drainTimeoutMs', flag: 'drain-timeout-ms', kind: 'int', min: 0, arg: 'ms', help: 'at shutdown, time allowed to drain the queue into MySQL' },
  { key: 'journalDir', flag: 'journal-dir', kind: 'string', nullable: true, arg: 'dir', help: 'append-only journal directory (unset = no journal, acks are in-memory only)' },
  { key: 'fsync', flag: 'fsync', kind: 'enum', choices: FSYNC_POLICIES, arg: 'policy', help: 'journal fsync policy: always (group commit before ack), interval, off' },
  { key: 'fsyncIntervalMs', flag: 'fsync-interval-ms', kind: 'int', min: 1, arg: 'ms', help: 'fsync period of the interval policy' },
  {
    key: 'commitDelayMs',
    flag: 'commit-delay-ms',
    kind: 'int',
    min: 0,
    max: 1000,
    arg: 'ms',
    help: 'fsync always: while clients arrive together, a journal group waits this long after its first entry for others to join it (fewer syncs, later acks)',
  },
  { key: 'journalSegmentBytes', flag: 'journal-segment-bytes', kind: 'int', min: 4096, arg: 'bytes', help: 'start a new journal segment past this size (committed segments are deleted whole)' },
  { key: 'guard', flag: 'guard', kind: 'bool', help: 'SQL guard: only INSERT INTO <allowed table> (...) VALUES (<literals>) (--no-guard disables)' },
  { key: 'allowTables', flag: 'allow-tables', kind: 'list', arg: 'list', help: 'tables the SQL guard allows, comma separated' },
];

export class ConfigError extends Error {
  constructor(msg: string) {
    super(msg);
    this.name = 'ConfigError';
  }
}

/** ESERVER_ + the key in upper snake case: metricsPort -> ESERVER_METRICS_PORT. */
export function envName(key: string): string {
  return 'ESERVER_' + key.replace(/[A-Z]/g, (c) => '_' + c).toUpperCase();
}

export interface ConfigSources {
  /** Parsed config file: `{"queue": {"port": 8888, ...}}`. */
  file?: unknown;
  filePath?: string;
  env?: NodeJS.ProcessEnv;
  /** Values from the command line, keyed by Config key (strings, or booleans for bool options). */
  flags?: Partial<Record<keyof Config, unknown>>;
}

export function readConfigFile(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read config file ${path}: ${(err as Error).message}`);
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new ConfigError(`config file ${path} is not valid JSON: ${(err as Error).message}`);
  }
}

export function resolveConfig(src: ConfigSources): Config {
  const env = src.env ?? {};
  const out: Record<string, unknown> = { ...DEFAULTS, allow: [...DEFAULTS.allow], allowTables: [...DEFAULTS.allowTables] };
  const setBy: Partial<Record<keyof Config, string>> = {};
  const byKey = new Map(OPTION_SPECS.map((s) => [s.key, s]));

  if (src.file !== undefined) {
    const where = src.filePath ?? 'config file';
    const f = src.file;
    if (typeof f !== 'object' || f === null || Array.isArray(f)) throw new ConfigError(`${where}: expected a JSON object`);
    const q = (f as Record<string, unknown>).queue;
    if (q !== undefined) {
      if (typeof q !== 'object' || q === null || Array.isArray(q)) throw new ConfigError(`${where}: "queue" must be an object`);
      for (const [k, v] of Object.entries(q)) {
        const spec = byKey.get(k as keyof Config);
        if (!spec) throw new ConfigError(`${where}: unknown key queue.${k} (known: ${OPTION_SPECS.map((s) => s.key).join(', ')})`);
        out[k] = convert(spec, v, `${where}: queue.${k}`);
        setBy[spec.key] = 'file';
      }
    }
    for (const k of Object.keys(f)) {
      if (k !== 'queue') throw new ConfigError(`${where}: unknown top-level key "${k}" (options live under "queue")`);
    }
  }
  for (const spec of OPTION_SPECS) {
    const name = envName(spec.key);
    const v = env[name];
    if (v !== undefined && v !== '') {
      out[spec.key] = convert(spec, v, `env ${name}`);
      setBy[spec.key] = 'env';
    }
  }
  for (const spec of OPTION_SPECS) {
    const v = src.flags?.[spec.key];
    if (v !== undefined) {
      out[spec.key] = convert(spec, v, `--${spec.flag}`);
      setBy[spec.key] = 'flag';
    }
  }
  const cfg = out as unknown as Config;
  check(cfg);
  return cfg;
}

function convert(spec: OptionSpec, v: unknown, where: string): unknown {
  switch (spec.kind) {
    case 'int': {
      const n = typeof v === 'number' ? v : typeof v === 'string' && /^\s*-?\d+\s*$/.test(v) ? Number(v) : NaN;
      if (!Number.isSafeInteger(n)) throw new ConfigError(`${where}: expected an integer, got ${JSON.stringify(v)}`);
      if (spec.min !== undefined && n < spec.min) throw new ConfigError(`${where}: must be >= ${spec.min}, got ${n}`);
      if (spec.max !== undefined && n > spec.max) throw new ConfigError(`${where}: must be <= ${spec.max}, got ${n}`);
      return n;
    }
    case 'bool': {
      if (typeof v === 'boolean') return v;
      if (typeof v === 'string' && /^(1|true|yes|on)$/i.test(v)) return true;
      if (typeof v === 'string' && /^(0|false|no|off)$/i.test(v)) return false;
      throw new ConfigError(`${where}: expected true/false, got ${JSON.stringify(v)}`);
    }
    case 'enum': {
      if (typeof v !== 'string' || !spec.choices?.includes(v)) {
        throw new ConfigError(`${where}: expected one of ${spec.choices?.join(', ')}, got ${JSON.stringify(v)}`);
      }
      return v;
    }
    case 'list': {
      const items = Array.isArray(v) ? v : typeof v === 'string' ? v.split(',') : null;
      if (items === null || !items.every((x) => typeof x === 'string')) throw new ConfigError(`${where}: expected a comma-separated list or array of strings`);
      const list = (items as string[]).map((x) => x.trim()).filter((x) => x.length > 0);
      if (list.length === 0) throw new ConfigError(`${where}: the list is empty`);
      return list;
    }
    case 'string': {
      if (v === null && spec.nullable) return null;
      if (typeof v !== 'string') throw new ConfigError(`${where}: expected a string, got ${JSON.stringify(v)}`);
      if (v === '' && spec.nullable) return null;
      if (v === '') throw new ConfigError(`${where}: must not be empty`);
      return v;
    }
  }
}

const TABLE_NAME = /^[A-Za-z_][A-Za-z0-9_$]*$/;

function check(c: Config): void {
  if (c.maxBufferedBytes < c.maxBody + 4) {
    throw new ConfigError(`maxBufferedBytes (${c.maxBufferedBytes}) must be at least maxBody + 4 (${c.maxBody + 4}) to hold one frame`);
  }
  // The largest statement: a whole body of SQL, its %d replaced by up to 16 digits.
  const largest = c.maxBody + 14 + ENTRY_OVERHEAD;
  if (c.maxQueueBytes < largest) {
    throw new ConfigError(`maxQueueBytes (${c.maxQueueBytes}) must hold at least one entry of maxBody (${largest} bytes)`);
  }
  if (c.mysqlUrl !== null) {
    let u: URL;
    try {
      u = new URL(c.mysqlUrl);
    } catch {
      throw new ConfigError(`mysqlUrl is not a URL: ${redact(c.mysqlUrl)}`);
    }
    if (u.protocol !== 'mysql:' && u.protocol !== 'mariadb:') throw new ConfigError(`mysqlUrl must start with mysql:// (got ${u.protocol}//)`);
  }
  for (const t of c.allowTables) if (!TABLE_NAME.test(t)) throw new ConfigError(`allowTables: "${t}" is not a plain table name`);
  if (!/^[A-Za-z0-9_.-]{1,64}$/.test(c.stream)) throw new ConfigError('stream must be 1-64 characters of [A-Za-z0-9_.-]');
}

/** A URL with its password hidden, for logs and errors. */
export function redact(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return url.replace(/:[^:@/]*@/, ':***@');
  }
}

/** The config as it may be logged (no secrets). */
export function publicConfig(c: Config): Record<string, unknown> {
  return { ...c, mysqlUrl: c.mysqlUrl === null ? null : redact(c.mysqlUrl) };
}
