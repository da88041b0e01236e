#!/usr/bin/env node
// `node bench/dist/src/enqueue-cost/cli.js`: CPU per enqueue of the queue server, pure and with its journal
// and drain, interleaved in one run (see cost.ts). Prints a markdown table, writes it with the raw cells
// to results/enqueue-cost-<time>.{md,json}.
import { Command } from 'commander';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { defaultRunDir } from '../protocol-bench/servers.js';
import { COST_CONFIGS, measureCost, renderCost, type CostConfig } from './cost.js';
import { repoRoot } from '@eserver-lab/common/repo-root';
import { teardownOnLostOutput } from '../host/on-signal.js';

// `... | head`: its stacks are taken down when the reader goes, not left running.
teardownOnLostOutput();


const list = (v: string): string[] => v.split(',').map((s) => s.trim()).filter(Boolean);
const configs = (v: string): CostConfig[] =>
  list(v).map((s) => {
    if (!COST_CONFIGS.includes(s as CostConfig)) throw new Error(`"${s}" is not one of ${COST_CONFIGS.join(', ')}`);
    return s as CostConfig;
  });

const o = new Command()
  .name('bench-enqueue-cost')
  .description('CPU per enqueue: pure queue, + drain, + journal interval + drain, + journal always + drain')
  .option('--configs <list>', COST_CONFIGS.join(','), configs, [...COST_CONFIGS])
  .option('-r, --repetitions <n>', 'interleaved repetitions', Number, 5)
  .option('-d, --duration <s>', 'seconds per measured cell', Number, 5)
  .option('-c, --concurrency <n>', 'clients (php-fpm has 12 children)', Number, 12)
  .option('--queue-arg <arg...>', 'extra flag(s) for every queue server', [] as string[])
  .option('--shipped-arg <arg...>', 'extra flag(s) for the journal + drain configurations only', [] as string[])
  .option('--cpu-prof <dir>', 'profile the queue servers (inspector sampling profiler), .cpuprofile files written to this directory')
  .option('--out <dir>', 'results directory', join(repoRoot, 'results'))
  .option('--run-dir <dir>', 'scratch directory', join(defaultRunDir(), '..', 'enqueue-cost'))
  .parse()
  .opts<{ configs: CostConfig[]; repetitions: number; duration: number; concurrency: number; queueArg: string[]; shippedArg: string[]; cpuProf?: string; out: string; runDir: string }>();

// node refuses --cpu-prof in NODE_OPTIONS; a preloaded module runs the same sampling profiler instead.
const preload = new URL('./cpu-prof.js', import.meta.url).href;
const env = o.cpuProf ? { NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --import ${preload}`.trim(), ESERVER_CPU_PROF_DIR: o.cpuProf } : undefined;
const startedAt = new Date().toISOString();
const rep = await measureCost({
  configs: o.configs,
  repetitions: o.repetitions,
  durationS: o.duration,
  concurrency: o.concurrency,
  // mariadbd resolves a relative datadir against its own cwd, not ours.
  runDir: resolve(o.runDir),
  queueArgs: o.queueArg,
  shippedArgs: o.shippedArg,
  env,
  log: (l) => process.stderr.write(`[enqueue-cost] ${l}\n`),
});
const command = `node bench/dist/src/enqueue-cost/cli.js${process.argv.length > 2 ? ' ' + process.argv.slice(2).join(' ') : ''}`;
const md = `${startedAt}, \`${command}\`\n\n${renderCost(rep, { ...o, durationS: o.duration })}`;
mkdirSync(o.out, { recursive: true });
const stamp = startedAt.replace(/[:.]/g, '-');
writeFileSync(join(o.out, `enqueue-cost-${stamp}.json`), JSON.stringify({ startedAt, command, options: o, ...rep }, null, 2) + '\n');
writeFileSync(join(o.out, `enqueue-cost-${stamp}.md`), md);
process.stdout.write(md);
process.exitCode = rep.failed > 0 ? 1 : 0;
