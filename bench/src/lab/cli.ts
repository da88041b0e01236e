#!/usr/bin/env node
// `eserver-lab up|down|status|logs`: the lab stack by hand (make lab-up / lab-down / lab-status / lab-logs).
import { existsSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import { getRuntime, type RuntimeChoice } from './index.js';
import { tailLines } from './native/health.js';
import { nativeRuntime, readState, type NativeUpOptions } from './native/index.js';
import { defaultRunDir } from './paths.js';
import { DEFAULT_CPU_PERIOD_US, DEFAULT_LISTEN_BACKLOG, DEFAULT_MEMORY, DEFAULT_PORTS, PORTS, defaultCpus } from '@eserver-lab/common/stack-spec';
import { QUEUE_IMPLS, type QueueImpl } from './seed2013.js';
import { QUEUE_RUNTIMES, type QueueRuntimeName } from '@eserver-lab/queue-server/runtime';
import { LISTEN_SYSCTLS, parseListenBacklog, readListenSysctls } from '../host/sysctl.js';
import type { StackInfo } from './types.js';

const int = (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw new InvalidArgumentError('a port number 1-65535');
  return n;
};
const positive = (v: string) => {
  const n = Number(v);
  if (!(n > 0)) throw new InvalidArgumentError('a positive number');
  return n;
};
const backlogArg = (v: string) => {
  try {
    return parseListenBacklog(v);
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
};
const runtimeOpt = () =>
  new Option('--runtime <name>', 'native, docker or auto (docker when an engine answers)')
    .choices(['native', 'docker', 'auto'])
    .default('auto');
// No default here: each runtime has its own (native run/lab, docker run/lab-docker).
const runDirOpt = () => new Option('--run-dir <dir>', `run directory (native default ${defaultRunDir})`);
const dirOf = (o: { runDir?: string }) => (o.runDir ? resolve(o.runDir) : undefined);

/** down/status: a run directory that a native `up` wrote is native, whatever engine answers now. */
async function runtimeFor(choice: RuntimeChoice, runDir: string | undefined) {
  if (choice === 'auto' && (await readState(runDir ?? defaultRunDir).catch(() => null))) return nativeRuntime;
  return getRuntime(choice);
}

function printInfo(info: StackInfo): void {
  const l = info.limits;
  console.log(`runtime   ${info.runtime}   run dir ${info.runDir}`);
  console.log(`pages     ${info.pages.client}  ${info.pages.baseline}  ${info.pages.persistent}`);
  console.log(`queue     ${info.queue.host}:${info.queue.port} (metrics :${info.queue.metricsPort})`);
  console.log(`mysql     ${info.mysql.user}@${info.mysql.host}:${info.mysql.port}/${info.mysql.database}`);
  console.log(
    `limits    ${l.cgroup ? `${l.cpus ?? 'unlimited'} CPUs${l.cpuPeriodUs ? ` (quota ${l.cpuQuotaUs ?? '-'} µs per ${l.cpuPeriodUs} µs, weight ${l.cpuWeight ?? '-'})` : ''}, ${l.memoryBytes ? `${l.memoryBytes / 1024 ** 2} MiB` : 'unlimited memory'} in ${l.cgroupVersion} cgroup ${l.cgroup}` : 'NONE'}${l.note ? ` (${l.note})` : ''}`,
  );
  const backlog = (info.config['listen'] as { backlog?: number } | undefined)?.backlog;
  const sysctl = readListenSysctls();
  console.log(`listen    backlog ${backlog ?? 'unknown'} (nginx, php-fpm, queue server); ${LISTEN_SYSCTLS.map((k) => `${k} ${sysctl[k] ?? '?'}`).join(', ')}`);
  for (const s of info.services) {
    console.log(
      `${s.name.padEnd(13)} pid ${String(s.pid ?? '-').padEnd(8)} ports ${s.ports.join(',').padEnd(11)} ${s.healthy ? 'healthy' : 'NOT HEALTHY'}   ${s.logFile ?? ''}`,
    );
  }
}

const program = new Command('eserver-lab').description('the lab stack: nginx -> php-fpm -> queue server -> MariaDB');

program
  .command('up')
  .description(`start the stack (MariaDB, queue server, php-fpm, nginx) inside one cgroup (default: the whole machine's CPUs, ${DEFAULT_MEMORY})`)
  .addOption(runtimeOpt())
  .addOption(runDirOpt())
  .option('--cpus <n>', 'CPU budget of the cgroup, fractions allowed (e.g. 0.33)', positive, defaultCpus())
  .option('--cpu-period-us <us>', 'CFS period of the CPU quota, µs (raised when the quota would be < 1 ms)', positive, DEFAULT_CPU_PERIOD_US)
  .addOption(new Option('--queue-impl <impl>', 'queue server: ts (ours) or seed2013 (the 2013-style Python stand-in, no drain; ESERVER_CONTROL_CMD runs a copy of the 2013 original instead, see bench/seed2013/README.md)').choices([...QUEUE_IMPLS]).default('ts'))
  .addOption(new Option('--queue-runtime <name>', 'what runs our queue server (default: QUEUE_RUNTIME, else bun)').choices([...QUEUE_RUNTIMES]))
  .option('--memory <size>', 'memory budget of the cgroup, e.g. 1g', DEFAULT_MEMORY)
  .option('--listen-backlog <n>', `listen backlog of nginx, php-fpm and the queue server (default ${DEFAULT_LISTEN_BACKLOG}; 128 = the 2013 kernel default, the shallow-queue regime)`, backlogArg)
  .option(`${PORTS.http.flag} <n>`, `nginx port (default: ${PORTS.http.variable} in the environment, else ${DEFAULT_PORTS.http})`, int)
  .option(`${PORTS.fpm.flag} <n>`, `php-fpm port (default: ${PORTS.fpm.variable} in the environment, else ${DEFAULT_PORTS.fpm})`, int)
  .option(`${PORTS.queue.flag} <n>`, `queue server port (default: ${PORTS.queue.variable} in the environment, else ${DEFAULT_PORTS.queue})`, int)
  .option(`${PORTS.metrics.flag} <n>`, `queue server metrics port (default: ${PORTS.metrics.variable} in the environment, else ${DEFAULT_PORTS.metrics})`, int)
  .option(`${PORTS.mysql.flag} <n>`, `MariaDB port (default: ${PORTS.mysql.variable} in the environment, else ${DEFAULT_PORTS.mysql})`, int)
  .option('--json', 'print the stack description as JSON')
  .allowExcessArguments(false)
  .argument('[queueArgs...]', 'extra queue server flags, after --')
  .action(async (queueArgs: string[], o) => {
    const rt = await getRuntime(o.runtime as RuntimeChoice, (l) => console.error(l));
    // Ctrl-C during up: stop waiting, tear down what was started (the runtime does that on abort).
    const ac = new AbortController();
    const onInt = () => {
      console.error('lab: interrupted; tearing down what was started');
      ac.abort();
    };
    process.on('SIGINT', onInt);
    process.on('SIGTERM', onInt);
    const opts: NativeUpOptions = {
      runDir: dirOf(o),
      cpus: o.cpus,
      cpuPeriodUs: o.cpuPeriodUs,
      queueImpl: o.queueImpl as QueueImpl,
      queueRuntime: o.queueRuntime as QueueRuntimeName | undefined,
      memory: o.memory,
      listenBacklog: o.listenBacklog,
      queueArgs,
      ports: { http: o.httpPort, fpm: o.fpmPort, queue: o.queuePort, metrics: o.metricsPort, mysql: o.mysqlPort },
      signal: ac.signal,
    };
    const info = await rt.up(opts);
    process.off('SIGINT', onInt);
    process.off('SIGTERM', onInt);
    if (o.json) console.log(JSON.stringify(info, null, 2));
    else printInfo(info);
    // The services are detached; nothing of ours (e.g. an idle keep-alive socket) should delay the exit.
    process.exit(0);
  });

program
  .command('down')
  .description('stop every process of the stack by pid and remove its cgroup')
  .addOption(runtimeOpt())
  .addOption(runDirOpt())
  .action(async (o) => {
    const rt = await runtimeFor(o.runtime as RuntimeChoice, dirOf(o));
    const before = await rt.status(dirOf(o));
    if (!before) {
      console.log(`lab: no ${rt.name} stack${o.runDir ? ` in ${o.runDir}` : ''}; nothing to stop`);
      return;
    }
    await rt.down(before.runDir);
    console.log(`lab: stopped ${before.services.map((s) => `${s.name} (pid ${s.pid})`).join(', ')}; nothing left`);
  });

program
  .command('status')
  .description('every service, its pid, ports and health')
  .addOption(runtimeOpt())
  .addOption(runDirOpt())
  .option('--json', 'as JSON')
  .action(async (o) => {
    const rt = await runtimeFor(o.runtime as RuntimeChoice, dirOf(o));
    const info = await rt.status(dirOf(o));
    if (!info) {
      console.log(`lab: no ${rt.name} stack${o.runDir ? ` in ${o.runDir}` : ''} (start one with make lab-up)`);
      return;
    }
    if (o.json) console.log(JSON.stringify(info, null, 2));
    else printInfo(info);
    if (!info.services.every((s) => s.healthy)) process.exitCode = 1;
  });

program
  .command('logs')
  .description("the last lines of every service's logs")
  .addOption(runDirOpt())
  .option('-n, --lines <n>', 'lines per file', (v) => Number(v), 30)
  .option('--service <name>', 'only files whose name starts with this (mysql, queue-server, php-fpm, nginx)')
  .addOption(runtimeOpt())
  .action(async (o: { runDir?: string; lines: number; service?: string; runtime: RuntimeChoice }) => {
    const runDir = dirOf(o);
    // auto: the native stack when its run directory has one, else a docker stack when there is one.
    const nativeUp = o.runtime === 'auto' && (await readState(runDir ?? defaultRunDir).catch(() => null)) !== null;
    if (o.runtime === 'docker' || (o.runtime === 'auto' && !nativeUp)) {
      const { dockerLogs } = await import('./docker/index.js');
      const out = await dockerLogs(runDir, o.lines, o.service);
      if (out !== null) {
        process.stdout.write(out);
        return;
      }
      if (o.runtime === 'docker') {
        console.log(`lab: no docker stack${runDir ? ` in ${runDir}` : ''} (start one with make lab-up RUNTIME=docker)`);
        return;
      }
    }
    const dir = join(runDir ?? defaultRunDir, 'logs');
    if (!existsSync(dir)) {
      console.log(`lab: no logs in ${dir}`);
      return;
    }
    for (const f of readdirSync(dir).sort()) {
      if (o.service && !f.startsWith(o.service)) continue;
      console.log(`==> ${join(dir, f)} <==`);
      for (const l of tailLines(join(dir, f), o.lines)) console.log(l);
    }
  });

program
  .command('env')
  .description('the variables docker-compose.yml reads, for the default stack (this is .env)')
  .action(async () => {
    const { envExample } = await import('./docker/compose-env.js');
    process.stdout.write(envExample());
  });

program.parseAsync(process.argv).catch((err: unknown) => {
  console.error(`eserver-lab: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
