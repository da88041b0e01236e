#!/usr/bin/env node
// eserver-bench: `run` drives the webbench-equivalent load (on a stack it starts, or on --url) and
// writes results + report; `report` re-renders the report from existing result JSON.
import path from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import { parseListenBacklog } from './host/sysctl.js';
import { pickScenarios, SCENARIOS } from './chaos/scenarios.js';
import { parsePage } from './plan/profiles.js';
import { FSYNC_POLICIES, parseFsyncPolicies, parseQueueRuntimes, SHIPPED_FSYNC } from './plan/queue-matrix.js';
import { reexecWithNofile } from './host/nofile.js';
import { logStep } from './run/progress.js';
import { readBatch, readDir } from './results/writer.js';
import { LOAD_HOSTS, runBench, seedFile } from './run/bench.js';
import { stackBudget } from './lab/budget.js';
import { repoRoot } from '@eserver-lab/common/repo-root';
import { DEFAULT_LISTEN_BACKLOG } from '@eserver-lab/common/stack-spec';
import { QUEUE_RUNTIMES, queueRuntimeName } from '@eserver-lab/queue-server/runtime';
import { teardownOnLostOutput } from './host/on-signal.js';

// `... | head`: its stacks are taken down when the reader goes, not left running.
teardownOnLostOutput();

const num = (name: string) => (v: string) => {
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw new InvalidArgumentError(`${name} must be a non-negative number`);
  return n;
};

/** --cpus: a number of CPUs, or 'all' for the whole machine on purpose. */
const cpusArg = (v: string): number | 'all' => {
  if (v === 'all') return 'all';
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError("a positive number of CPUs (fractions allowed), or 'all' for the whole machine");
  return n;
};

const count = (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('an integer >= 1');
  return n;
};
const backlog = (v: string) => {
  try {
    return parseListenBacklog(v);
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
};

/** A parser that reports its error through commander (exit 1 with the option's name), not as a crash. */
const listOf = <T>(parse: (v: string) => T) => (v: string) => {
  try {
    return parse(v);
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
};

const program = new Command('eserver-bench').description('Webbench-equivalent load, metrics, loss check and report for eserver-lab');

program
  .command('run')
  .description('bring a stack up, run the profiles, check for loss, write results and the report, tear down')
  .option('-p, --profile <names>', 'comma-separated profiles: seed, seed2013, baseline, persistent, keepalive, smoke (default: seed,baseline)', process.env.BENCH_PROFILE)
  .option('-c, --concurrency <n>', 'virtual clients (env BENCH_CONCURRENCY)', num('concurrency'))
  .option('-d, --duration <s>', 'measured seconds (env BENCH_DURATION)', num('duration'))
  .option('-w, --warmup <s>', 'warm-up seconds, not counted (env BENCH_WARMUP)', num('warmup'))
  .option('--page <page>', 'client, baseline or persistent (env BENCH_PAGE)', parsePage)
  .option('--signal <text>', 'strict success needs a body starting with this (env BENCH_SIGNAL; "" = status only)')
  .addOption(new Option('--runtime <name>', 'lab runtime').choices(['auto', 'native', 'docker']).default('auto'))
  .addOption(new Option('--tool <name>', 'load generator').choices(['node', 'webbench']).default(process.env.BENCH_TOOL || 'node'))
  .option('--url <url>', 'drive an existing server at this URL; no stack, no loss check')
  .option('--out <dir>', 'results directory', path.join(repoRoot, 'results'))
  .option('--workers <n>', 'load generator threads (default: one per core)', num('workers'))
  .option('--source-addresses <n>', 'spread connections over 127.0.0.1..n (default 0: kernel choice)', num('source-addresses'))
  .option('--timeout <ms>', 'per-request timeout, counted as a failure (default 0: none, as webbench)', num('timeout'))
  .option('--drain-timeout <s>', 'bounded wait for the queue to drain before the loss check', num('drain-timeout'), 120)
  .option('--no-report', 'do not render results/latest.{md,html}')
  .option('--run-dir <dir>', "the stack's run directory (default: the runtime's)")
  .option('--free-ports', 'start the stack on free ports instead of the defaults')
  .option('--reuse-stack', 'one stack for all profiles (default: a fresh stack per profile)')
  .option('--cpus <n|all>', "each stack's CPU budget, fractions allowed (default: this CPU model's calibration, made coarsely first when there is none; 'all': the whole machine on purpose, no 2013-style stack beside ours, no projection)", cpusArg)
  .option('--cpu-period-us <us>', 'CFS period of the quota, µs (default: the calibration\'s, else 20000)', num('cpu-period-us'))
  .option('--calibrate', 'when no calibration matches this CPU model, run make calibrate first (about 15-25 min)')
  .option('--no-control', 'no 2013-style stack beside ours (default: in every repetition of every enqueuing profile, for the projection onto the 2013 box)')
  .addOption(new Option('--pairing <mode>', 'how the 2013-style stack runs beside ours: at-once (both loaded at the same instant) or alternate (one after the other, the order swapped every repetition); default at-once, alternate with --tool webbench').choices(['at-once', 'alternate']))
  .addOption(new Option('--load-host <where>', "where the load runs: here, or netns: a network namespace of its own whose only link to the stacks is a veth pair in 198.19.0.0/16 (RFC 2544), the generator's CPU still in its own cgroup here; native runtime, root (env BENCH_LOAD_HOST)").choices([...LOAD_HOSTS]).default(process.env.BENCH_LOAD_HOST || 'here'))
  .option('--no-generator-cgroup', "leave the load generator in the runner's own cgroup (default: a sibling of the stack's)")
  .option('--repeat <n>', 'run every profile n times, each on a fresh stack, and report the median and spread (env BENCH_REPEAT; default: 5 for seed, 1 for the others)', count, process.env.BENCH_REPEAT ? count(process.env.BENCH_REPEAT) : undefined)
  .option('--listen-backlog <n>', `listen backlog of nginx, php-fpm and the queue server (env BENCH_LISTEN_BACKLOG; default ${DEFAULT_LISTEN_BACKLOG}; 128 = the 2013 kernel default, the shallow-queue regime)`, backlog, process.env.BENCH_LISTEN_BACKLOG ? backlog(process.env.BENCH_LISTEN_BACKLOG) : undefined)
  .option('--queue-runtime <list>', 'runtimes of our queue server, comma-separated: node,bun; every enqueuing profile on our server (seed, persistent, smoke, keepalive) runs once per runtime and fsync policy, each on a fresh stack, --repeat times (env BENCH_QUEUE_RUNTIMES; default: QUEUE_RUNTIME, else bun)', listOf(parseQueueRuntimes), process.env.BENCH_QUEUE_RUNTIMES ? listOf(parseQueueRuntimes)(process.env.BENCH_QUEUE_RUNTIMES) : undefined)
  .option('--fsync <list>', `journal fsync policies of our queue server, comma-separated: ${FSYNC_POLICIES.join(',')} (env BENCH_FSYNC; default: ${SHIPPED_FSYNC}, the lab's shipped policy)`, listOf(parseFsyncPolicies), process.env.BENCH_FSYNC ? listOf(parseFsyncPolicies)(process.env.BENCH_FSYNC) : undefined)
  .action(async (opts) => {
    const reexec = await reexecWithNofile(20000);
    if (reexec !== null) {
      process.exitCode = reexec;
      return;
    }
    const profiles = String(opts.profile ?? '').split(',').map((s: string) => s.trim()).filter(Boolean);
    if (opts.calibrate && !opts.url && opts.cpus === undefined && stackBudget({}).use.cpus === null) {
      logStep('no calibration for this CPU model: running the calibration first (--calibrate)');
      const { runCalibration } = await import('./calibrate/run.js');
      const cal = await runCalibration({ runtime: opts.runtime === 'docker' ? 'docker' : 'native' });
      if (!cal.found) logStep(`calibration found no quota (${cal.reason}); the bench runs on the whole machine`);
    } else if (await (async () => {
      const { coarseCalibrationWanted } = await import('./calibrate/coarse.js');
      // Asked of the engine only for auto: native runs here whatever DOCKER_HOST says.
      const remoteEngine = opts.runtime === 'auto' && (await import('./lab/docker/exec.js')).engine().remoteHost !== null;
      return coarseCalibrationWanted({ url: opts.url, cpus: opts.cpus, runtime: opts.runtime, remoteEngine });
    })()) {
      // No whole-machine headline by default: a CPU model with no calibration gets a coarse one first.
      const { coarseCalibrationIfNeeded, coarseCells, measureControlStacks } = await import('./calibrate/coarse.js');
      const { PROFILES } = await import('./plan/profiles.js');
      const { machineInfo, gitCommit } = await import('./host/machine.js');
      const { seedPagesPerMin } = await import('./results/seed.js');
      const m = machineInfo();
      const cells = coarseCells(PROFILES.seed!);
      await coarseCalibrationIfNeeded({
        repoRoot, cpuModel: m.cpu_model, hostCpus: m.cores, target: seedPagesPerMin(repoRoot), needed: true, log: logStep,
        settings: { concurrency: cells.concurrency, duration_s: cells.durationS, warmup_s: cells.warmupS },
        measure: measureControlStacks({ runtime: 'native', runDir: path.join(repoRoot, 'run', 'calibration-coarse'), ...cells, commit: gitCommit(repoRoot), log: logStep }),
      });
    }
    const out = await runBench({
      profiles: profiles.length > 0 ? profiles : opts.url ? ['smoke'] : [],
      overrides: {
        concurrency: opts.concurrency, durationS: opts.duration, warmupS: opts.warmup, page: opts.page,
        successSignal: opts.signal === undefined ? undefined : opts.signal === '' ? null : opts.signal,
      },
      runtime: opts.runtime, tool: opts.tool, url: opts.url, outDir: path.resolve(opts.out),
      workers: opts.workers, sourceAddresses: opts.sourceAddresses, timeoutMs: opts.timeout,
      drainTimeoutS: opts.drainTimeout, noReport: opts.report === false,
      runDir: opts.runDir ? path.resolve(opts.runDir) : undefined, freePorts: opts.freePorts === true, reuseStack: opts.reuseStack === true,
      cpus: opts.cpus, cpuPeriodUs: opts.cpuPeriodUs, noGeneratorCgroup: opts.generatorCgroup === false,
      repeat: opts.repeat, listenBacklog: opts.listenBacklog,
      queueRuntimes: opts.queueRuntime, fsyncPolicies: opts.fsync,
      control: opts.control !== false, pairing: opts.pairing, loadHost: opts.loadHost,
    });
    for (const d of out.docs) if (!d.verdict.ok) logStep(`${d.profile}: FAILED: ${d.verdict.reasons.join('; ')}`);
    process.exitCode = out.ok ? 0 : 1;
  });

program
  .command('chaos')
  .description('make chaos: the seed load on a fresh stack per scenario, with faults (kill -9, MySQL restart/stop, php-fpm restart, full disk); checks that no acked entry is lost or doubled')
  .addOption(new Option('--runtime <name>', 'lab runtime').choices(['auto', 'native', 'docker']).default('auto'))
  .option('-c, --concurrency <n>', 'virtual clients of the client.php load', num('concurrency'), 200)
  .option('-d, --duration <s>', 'seconds of load per scenario, the faults inside it (default 30, the 5-kill scenarios 45)', num('duration'))
  .option('--only <names>', `comma-separated scenarios (${SCENARIOS.map((s) => s.name).join(', ')})`)
  .option('--skip <names>', 'comma-separated scenarios to leave out')
  .option('--fault-gap <s>', 'seconds before the first fault and between faults', num('fault-gap'), 3)
  .option('--hold <s>', 'how long MySQL stays stopped and the disk full', num('hold'), 10)
  .option('--recover-timeout <s>', 'bounded wait for the stack to serve again after each fault', num('recover-timeout'), 60)
  .option('--drain-timeout <s>', 'bounded wait for the drain after the load', num('drain-timeout'), 120)
  .option('--out <dir>', 'where the chaos result JSON goes', path.join(repoRoot, 'results'))
  .option('--run-dir <dir>', "the stack's run directory (default: the runtime's)")
  .option('--free-ports', 'start the stacks on free ports instead of the defaults')
  .addOption(new Option('--queue-runtime <name>', 'what runs our queue server (default: QUEUE_RUNTIME, else bun)').choices([...QUEUE_RUNTIMES]))
  .action(async (opts) => {
    const reexec = await reexecWithNofile(20000);
    if (reexec !== null) {
      process.exitCode = reexec;
      return;
    }
    const list = (v: unknown) => String(v ?? '').split(',').map((s) => s.trim()).filter(Boolean);
    const { runChaos } = await import('./chaos/run.js');
    const out = await runChaos({
      scenarios: pickScenarios(list(opts.only), list(opts.skip)),
      runtime: opts.runtime, queueRuntime: opts.queueRuntime ?? queueRuntimeName(process.env.QUEUE_RUNTIME),
      concurrency: opts.concurrency, durationS: opts.duration ?? null,
      faultGapMs: opts.faultGap * 1000, holdMs: opts.hold * 1000,
      recoverTimeoutS: opts.recoverTimeout, drainTimeoutS: opts.drainTimeout,
      workDir: path.join(repoRoot, 'run', 'chaos'), outDir: path.resolve(opts.out),
      runDir: opts.runDir ? path.resolve(opts.runDir) : undefined, freePorts: opts.freePorts === true,
    });
    console.log(out.table);
    process.exitCode = out.ok ? 0 : 1;
  });

program
  .command('report')
  .description('re-render results/latest.{md,html} from a result JSON (and the other profiles of its run)')
  .option('-f, --file <json>', 'result file', path.join(repoRoot, 'results/latest.json'))
  .option('--out <dir>', 'where to write the report (default: the file\'s directory)')
  .action(async (opts) => {
    const file = path.resolve(opts.file);
    const docs = readBatch(file);
    const outDir = path.resolve(opts.out ?? path.dirname(file));
    const { renderReport } = await import('./report/index.js');
    const r = await renderReport(docs, outDir, seedFile(outDir));
    console.log(`${r.md}\n${r.html}`);
  });

program
  .command('tool-ratio')
  .description('webbench ÷ ours: a table of the single runs in a results directory (bench/scripts/webbench-vs-ours.sh writes one), with the medians per page')
  .argument('<dir>', 'the directory of result files')
  .action(async (dir: string) => {
    const { toolRatioTable } = await import('./report/tool-ratio.js');
    const docs = readDir(path.resolve(dir));
    if (docs.length === 0) throw new Error(`no result files in ${dir}`);
    console.log(toolRatioTable(docs));
  });

program.parseAsync(process.argv).catch((err: unknown) => {
  process.stderr.write(`eserver-bench: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(2);
});
