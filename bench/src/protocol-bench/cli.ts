#!/usr/bin/env node
// `make bench-proto`: the queue server's protocol, connection, drain and fsync benchmark. Prints a markdown
// table and writes it with the raw figures as JSON into results/.
import { Command } from 'commander';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runProtoBench, type ProtoPart, type ServerKind } from './bench.js';
import type { ProtoMode } from './load-worker.js';
import { defaultRunDir } from './servers.js';
import { renderMarkdown } from './report.js';
import { TABLE_CONFIGS, type TableConfig } from './runtimes.js';
import { QUEUE_RUNTIMES, type QueueRuntimeName } from '@eserver-lab/queue-server/runtime';
import { repoRoot } from '@eserver-lab/common/repo-root';
import { teardownOnLostOutput } from '../host/on-signal.js';

// `... | head`: its stacks are taken down when the reader goes, not left running.
teardownOnLostOutput();


const list = (v: string): string[] => v.split(',').map((s) => s.trim()).filter(Boolean);
const ints = (v: string): number[] => list(v).map((s) => {
  const n = Number(s);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`not a positive integer: ${s}`);
  return n;
});
function oneOf<T extends string>(allowed: readonly T[]): (v: string) => T[] {
  return (v) => list(v).map((s) => {
    if (!allowed.includes(s as T)) throw new Error(`"${s}" is not one of ${allowed.join(', ')}`);
    return s as T;
  });
}

const program = new Command()
  .name('bench-proto')
  .description('Drive the queue server (and a C epoll reference) directly over the eserver protocol')
  .option('--parts <list>', 'table,proto,hold,drain,fsync', oneOf<ProtoPart>(['table', 'proto', 'hold', 'drain', 'fsync']), ['table', 'proto', 'hold', 'drain', 'fsync'] as ProtoPart[])
  .option('--runtimes <list>', 'runtimes of the table and the hold part: node,bun', oneOf<QueueRuntimeName>(QUEUE_RUNTIMES), [...QUEUE_RUNTIMES] as QueueRuntimeName[])
  .option('--configs <list>', `queue server configurations of the table: ${TABLE_CONFIGS.join(',')}`, oneOf<TableConfig>(TABLE_CONFIGS), [...TABLE_CONFIGS] as TableConfig[])
  .option('--table-concurrency <n>', 'clients of the table (a new connection per request)', Number, 12)
  .option('--table-duration <s>', 'seconds per table cell', Number, 8)
  .option('--table-warmup <s>', 'seconds of unmeasured load before each table cell (a JIT keeps compiling for longer than the default)', Number, 1)
  .option('-r, --repeat <n>', 'repetitions of the table (medians are reported)', Number, 3)
  .option('--quick', 'a short check of everything: 2 s cells, 1 repetition, C=100 only, hold 2000, drain 30000 rows')
  .option('--servers <list>', 'ts,c-ref,seed2013,control (control: the command in ESERVER_CONTROL_CMD); repeat them to alternate', oneOf<ServerKind>(['ts', 'c-ref', 'seed2013', 'control']), ['ts', 'c-ref'] as ServerKind[])
  .option('--modes <list>', 'conn-per-req,persistent', oneOf<ProtoMode>(['conn-per-req', 'persistent']), ['conn-per-req', 'persistent'] as ProtoMode[])
  .option('-c, --concurrency <list>', 'client counts', ints, [100, 1000])
  .option('-d, --duration <s>', 'seconds per measured cell', Number, 10)
  .option('--warmup <s>', 'seconds of unmeasured load before each proto cell', Number, 1)
  .option('--threads <n>', 'load-driver threads (default: one per CPU)', Number)
  .option('--hold <n>', 'connections held open for the RSS reading', Number, 10_000)
  .option('--drain-rows <n>', 'rows for the drain and raw INSERT measurements', Number, 300_000)
  .option('--fsync-concurrency <n>', 'clients for the fsync comparison', Number, 1000)
  .option('--fsync-mode <mode>', 'conn-per-req or persistent', 'persistent')
  .option('--queue-arg <arg...>', 'extra flag(s) for the queue server', [] as string[])
  .option('--out <dir>', 'results directory', join(repoRoot, 'results'))
  .option('--run-dir <dir>', 'scratch directory (binaries, journals, MariaDB datadir)', defaultRunDir());

program.parse();
const o = program.opts<{
  parts: ProtoPart[]; servers: ServerKind[]; modes: ProtoMode[]; concurrency: number[]; duration: number; warmup: number; threads?: number;
  hold: number; drainRows: number; fsyncConcurrency: number; fsyncMode: ProtoMode; queueArg: string[]; out: string; runDir: string;
  runtimes: QueueRuntimeName[]; configs: TableConfig[]; tableConcurrency: number; tableDuration: number; tableWarmup: number; repeat: number; quick?: boolean;
}>();
if (o.quick) {
  // Only what the user did not set: --quick shortens the defaults, it does not override explicit options.
  const given = (name: string): boolean => program.getOptionValueSource(name) === 'cli';
  if (!given('duration')) o.duration = 2;
  if (!given('tableDuration')) o.tableDuration = 2;
  if (!given('tableWarmup')) o.tableWarmup = 0.5;
  if (!given('repeat')) o.repeat = 1;
  if (!given('concurrency')) o.concurrency = [100];
  if (!given('hold')) o.hold = 2000;
  if (!given('drainRows')) o.drainRows = 30_000;
  if (!given('fsyncConcurrency')) o.fsyncConcurrency = 100;
}
for (const [name, v] of [['--table-concurrency', o.tableConcurrency], ['--table-duration', o.tableDuration], ['--repeat', o.repeat]] as const) {
  if (!Number.isFinite(v) || v <= 0) throw new Error(`${name} must be a positive number (got ${v})`);
}
if (!Number.isFinite(o.tableWarmup) || o.tableWarmup < 0) throw new Error(`--table-warmup must be a number of seconds >= 0 (got ${o.tableWarmup})`);

const report = await runProtoBench({
  parts: o.parts,
  servers: o.servers,
  modes: o.modes,
  concurrency: o.concurrency,
  durationMs: o.duration * 1000,
  warmupMs: o.warmup * 1000,
  threads: o.threads,
  holdConnections: o.hold,
  drainRows: o.drainRows,
  fsyncConcurrency: o.fsyncConcurrency,
  fsyncMode: o.fsyncMode,
  runDir: o.runDir,
  queueArgs: o.queueArg,
  runtimes: o.runtimes,
  table: { configs: o.configs, concurrency: o.tableConcurrency, durationMs: o.tableDuration * 1000, warmupMs: o.tableWarmup * 1000, repeat: o.repeat },
  command: `make bench-proto${process.argv.length > 2 ? ` ARGS="${process.argv.slice(2).join(' ')}"` : ''}`,
  log: (l) => process.stderr.write(`[bench-proto] ${l}\n`),
});
const md = renderMarkdown(report);
mkdirSync(o.out, { recursive: true });
const stamp = report.startedAt.replace(/[:.]/g, '-');
writeFileSync(join(o.out, `proto-${stamp}.json`), JSON.stringify(report, null, 2) + '\n');
writeFileSync(join(o.out, `proto-${stamp}.md`), md);
process.stdout.write(md);
process.stderr.write(`[bench-proto] wrote ${join(o.out, `proto-${stamp}.{json,md}`)}\n`);
