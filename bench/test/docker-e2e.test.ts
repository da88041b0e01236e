// The Docker mode end to end, with a real engine: start the lab's engine when none answers (root on Debian),
// build the base image and the four images, then
//   1. run them with testcontainers 11 (its container API on the images built here; its compose support
//      needs Compose v2's CLI, which this machine lacks): client.php -> row in MySQL, the limits of the
//      shared parent cgroup read back from the cgroup files, the worker counts, the queue server on Bun by
//      default and on node when QUEUE_RUNTIME=node;
//   2. bring the same stack up through docker-compose.yml with the lab runtime, and take it down.
// Everything it started (containers, parent cgroups, the engine) is gone afterwards. Where no engine
// answers and none can be started, the suite is skipped with the reason, never passed.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { basename } from 'node:path';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createConnection } from 'mysql2/promise';
import { buildImages, dockerRuntime, ensureBaseImage } from '../src/lab/docker/index.js';
import { DEFAULT_COMPOSE_STACK, containerArgs, containerEnv } from '../src/lab/docker/compose-env.js';
import { cannotStartEngine, dockerEngineAnswers, removeParentCgroup, setUpParentCgroup, startEngine, stopEngine } from '../src/lab/docker/engine.js';
import { docker, dockerHost } from '../src/lab/docker/exec.js';
import { cgroupsOf, limitsOfPid } from '../src/host/cgroup.js';
import { parseMemory } from '../src/host/cgroup.js';
import { freePorts } from '@eserver-lab/common/free-port';
import { DATABASE, SERVICES, SERVICE_MEMORY, type LabPorts } from '@eserver-lab/common/stack-spec';
import { scrapeQueueServer } from '../src/metrics/queue-metrics.js';
import { waitFor } from '@eserver-lab/common/wait';
import type { StackInfo } from '../src/lab/types.js';
import type { GenericContainer } from 'testcontainers';
import { stackLimits } from './helper.js';

// A budget of its own rather than the default (the whole machine): what is checked is that the limits asked
// for are the ones the four containers share, and one CPU fits below a parent that is itself capped.
const CPUS = 1;
const MEMORY = '1g';
const MEMORY_BYTES = parseMemory(MEMORY);
const log = (l: string) => console.log(`# ${l.replace(/\n/g, '\n# ')}`);

const engineAnswered = await dockerEngineAnswers();
const skipReason = engineAnswered ? null : cannotStartEngine();
if (skipReason) console.log(`# docker e2e SKIPPED: no Docker engine answers on ${dockerHost()} and none can be started: ${skipReason}`);

let startedEngine = false;
const t0 = Date.now();
const since = () => `${((Date.now() - t0) / 1000).toFixed(1)} s`;

/** Main pid of a container: with init the container's pid 1 is docker-init, the service is its child. */
function childOf(pid: number): number {
  const kids = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean);
  return kids.length ? Number(kids[0]) : pid;
}
const childrenOf = (pid: number) =>
  readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);

/** Directories called `name` anywhere in the cgroup trees (runc creates a parent in every hierarchy). */
function cgroupDirsNamed(name: string): string[] {
  const out = execFileSync('find', ['/sys/fs/cgroup', '-maxdepth', '6', '-type', 'd', '-name', name], { encoding: 'utf8' });
  return out.split('\n').filter(Boolean);
}

/** The queue server's eserver_runtime_info labels from its /metrics. */
async function runtimeInfo(metricsPort: number): Promise<Record<string, string> | undefined> {
  return (await scrapeQueueServer('127.0.0.1', metricsPort)).find((s) => s.name === 'eserver_runtime_info')?.labels;
}

/** The rows of bench_events once there is one (the queue server drains in the background). */
async function waitForRow(port: number): Promise<number[]> {
  const c = await createConnection({ host: '127.0.0.1', port, ...DATABASE });
  try {
    const rows = await waitFor(async () => {
      const [r] = (await c.query('SELECT num FROM bench_events')) as unknown as [{ num: number }[]];
      return r.length > 0 ? r : null;
    }, { timeoutMs: 10_000, intervalMs: 50, what: 'a row in bench_events' });
    return rows.map((r) => Number(r.num));
  } finally {
    await c.end();
  }
}

// A skipped test (not a skipped suite), so that node's summary counts it under "skipped".
if (skipReason) test('docker compose stack, end to end', { skip: `no Docker engine: ${skipReason}` }, () => {});
else describe('docker compose stack, end to end', { timeout: 300_000 }, () => {
  before(async () => {
    if (!engineAnswered) {
      log((await startEngine()).trim());
      startedEngine = true;
      log(`engine started (${since()})`);
    }
    process.env.DOCKER_HOST = dockerHost();
    // Ryuk's image cannot be pulled with no registry; this suite removes what it starts itself.
    process.env.TESTCONTAINERS_RYUK_DISABLED = 'true';
    // With --bridge=none there is no "bridge" network, whose gateway testcontainers would otherwise ask for
    // the host's address; every service listens on the host's loopback anyway.
    process.env.TESTCONTAINERS_HOST_OVERRIDE = '127.0.0.1';
    const base = await ensureBaseImage(log);
    log(`base image ${base} (${since()})`);
    await buildImages(base, `esl-test-${process.pid}`, log);
    log(`images built (${since()})`);
  });

  after(async () => {
    if (startedEngine) {
      log((await stopEngine()).trim());
      assert.equal(await dockerEngineAnswers(), false, 'the engine this test started is stopped');
    }
    log(`docker e2e done in ${since()}`);
  });

  describe('testcontainers on the built images', () => {
    const cg = `eserver-lab-tc-${process.pid}`;
    type Started = { getId(): string; stop(o?: { timeout?: number }): Promise<unknown>; exec(cmd: string[]): Promise<{ output: string; exitCode: number }> };
    const started = new Map<string, Started>();
    let ports: LabPorts;
    let labContainer: (image: string) => GenericContainer;

    before(async () => {
      const { GenericContainer, Wait } = await import('testcontainers');
      // GenericContainer has no option for these two HostConfig fields; the subclass sets them as compose does.
      class LabContainer extends GenericContainer {
        constructor(image: string) {
          super(image);
          this.hostConfig.CgroupParent = cg;
          this.hostConfig.Init = true;
        }
      }
      labContainer = (image: string) => new LabContainer(image);
      log(await setUpParentCgroup(stackLimits(CPUS, MEMORY_BYTES), cg));
      const [http, fpm, queue, metrics, mysql] = await freePorts(5);
      ports = { http: http!, fpm: fpm!, queue: queue!, metrics: metrics!, mysql: mysql! };
      // What compose would pass: the command lines, health checks and tokens the stack spec renders.
      const stack = { ...DEFAULT_COMPOSE_STACK, ports };
      const args = containerArgs(stack);
      const tUp = Date.now();
      for (const svc of SERVICES) {
        const c = await new LabContainer(`eserver-lab/${svc}:latest`)
          .withNetworkMode('host')
          .withEnvironment(containerEnv(stack, svc))
          .withCommand(args[svc])
          .withUlimits({ nofile: { soft: 20000, hard: 20000 } })
          .withWaitStrategy(Wait.forHealthCheck())
          .withStartupTimeout(120_000)
          .start();
        started.set(svc, c as unknown as Started);
      }
      log(`testcontainers: 4 containers healthy in ${((Date.now() - tUp) / 1000).toFixed(1)} s`);
    });

    after(async () => {
      for (const svc of [...SERVICES].reverse()) await started.get(svc)?.stop({ timeout: 20_000 });
      const left = (await docker(['ps', '-aq', '--filter', `id=${[...started.values()].map((c) => c.getId()).join(',')}`])).stdout.trim();
      await removeParentCgroup(cg);
      assert.equal(left, '', 'no container left');
      assert.deepEqual(cgroupDirsNamed(cg), [], 'the parent cgroup is gone from every hierarchy');
    });

    test('GET client.php answers 200 and the row reaches MySQL with num 1', async () => {
      const res = await fetch(`http://127.0.0.1:${ports.http}/client.php`);
      const body = await res.text();
      assert.equal(res.status, 200, `client.php body: ${body}`);
      assert.equal(body, 'ok');
      assert.deepEqual(await waitForRow(ports.mysql), [1]);
    });

    test('the four containers share one parent cgroup limited to the budget', async () => {
      const parents = new Set<string>();
      for (const svc of SERVICES) {
        const c = started.get(svc)!;
        const initPid = Number((await docker(['inspect', '-f', '{{.State.Pid}}', c.getId()])).stdout.trim());
        const pid = childOf(initPid);
        // From the host's cgroup files: the limit that applies to the service's main process.
        const l = await limitsOfPid(pid);
        assert.equal(l.cpus, CPUS, `${svc}: cpus`);
        assert.equal(l.memoryBytes, MEMORY_BYTES, `${svc}: memory`);
        assert.ok(l.cpuCgroup?.endsWith(`/${cg}`), `${svc}: cpu limit on the parent (${l.cpuCgroup})`);
        assert.ok(l.memoryCgroup?.endsWith(`/${cg}`), `${svc}: memory limit on the parent (${l.memoryCgroup})`);
        parents.add(`${l.cpuCgroup}|${l.memoryCgroup}`);
        assert.equal(Number(readFileSync(`${l.cpuCgroup}/cpu.cfs_quota_us`, 'utf8')), CPUS * Number(readFileSync(`${l.cpuCgroup}/cpu.cfs_period_us`, 'utf8')));
        // From inside the container: it sits below the parent, in every controller.
        const inside = await c.exec(['cat', '/proc/self/cgroup']);
        assert.equal(inside.exitCode, 0);
        const mem = /^\d+:memory:(.*)$/m.exec(inside.output)?.[1] ?? cgroupsOf(pid).get('memory');
        assert.ok(mem?.includes(`/${cg}/${c.getId()}`), `${svc}: memory cgroup ${mem}`);
      }
      assert.equal(parents.size, 1, 'one parent for all four');
    });

    test('the queue server runs on Bun by default: its executable and its /metrics say so', async () => {
      const pid = childOf(Number((await docker(['inspect', '-f', '{{.State.Pid}}', started.get('queue-server')!.getId()])).stdout.trim()));
      assert.equal(basename(readlinkSync(`/proc/${pid}/exe`)), 'bun');
      const info = await runtimeInfo(ports.metrics);
      assert.equal(info?.runtime, 'bun');
      assert.match(info?.version ?? '', /^\d+\.\d+\.\d+/);
    });

    test('QUEUE_RUNTIME=node: the same image starts the server on node', async () => {
      const { Wait } = await import('testcontainers');
      const [queue, metrics] = await freePorts(2);
      // A queue-only server (no journal, no drain) beside the stack: the runtime is what is checked here.
      const stack = { ...DEFAULT_COMPOSE_STACK, ports: { ...ports, queue: queue!, metrics: metrics! }, queueRuntime: 'node' as const };
      const c = (await labContainer('eserver-lab/queue-server:latest')
        .withNetworkMode('host')
        .withEnvironment(containerEnv(stack, 'queue-server'))
        .withCommand(['--host', '127.0.0.1', '--port', String(queue), '--metrics-port', String(metrics)])
        .withWaitStrategy(Wait.forHealthCheck())
        .withStartupTimeout(60_000)
        .start()) as unknown as Started;
      try {
        const pid = childOf(Number((await docker(['inspect', '-f', '{{.State.Pid}}', c.getId()])).stdout.trim()));
        assert.equal(basename(readlinkSync(`/proc/${pid}/exe`)), 'node');
        const info = await runtimeInfo(metrics!);
        assert.equal(info?.runtime, 'node');
        assert.match(info?.version ?? '', /^\d+\.\d+\.\d+/);
      } finally {
        await c.stop({ timeout: 20_000 });
      }
    });

    test('nginx runs 8 workers and php-fpm 12 children, as in the native mode', async () => {
      const pidOf = async (svc: string) => childOf(Number((await docker(['inspect', '-f', '{{.State.Pid}}', started.get(svc)!.getId()])).stdout.trim()));
      assert.equal(childrenOf(await pidOf('nginx')).length, 8);
      assert.equal(childrenOf(await pidOf('php-fpm')).length, 12);
    });

    test('each service stops cleanly on its stop signal (exit 0, not killed after the grace time)', async () => {
      for (const svc of [...SERVICES].reverse()) {
        const id = started.get(svc)!.getId();
        await docker(['stop', '-t', '20', id], 60_000);
        const [code, oom] = (await docker(['inspect', '-f', '{{.State.ExitCode}} {{.State.OOMKilled}}', id])).stdout.trim().split(' ');
        assert.equal(code, '0', `${svc} exit code (137 = killed after ignoring the stop signal)`);
        assert.equal(oom, 'false');
      }
    });
  });

  describe('docker-compose.yml through the lab runtime', () => {
    const runDir = mkdtempSync(join(tmpdir(), 'esl-docker-test-'));
    const cg = `eserver-lab-compose-${process.pid}`;
    let info: StackInfo;

    before(async () => {
      const [http, fpm, queue, metrics, mysql] = await freePorts(5);
      const t = Date.now();
      info = await dockerRuntime.up({
        runDir,
        project: `esl-test-${process.pid}`,
        cgroupParent: cg,
        cpus: CPUS,
        memory: MEMORY,
        ports: { http: http!, fpm: fpm!, queue: queue!, metrics: metrics!, mysql: mysql! },
        log,
      });
      log(`compose: stack up in ${((Date.now() - t) / 1000).toFixed(1)} s (images cached)`);
    });

    after(async () => {
      await dockerRuntime.down(runDir);
      rmSync(runDir, { recursive: true, force: true });
    });

    test('every service is healthy and the page and row work through compose', async () => {
      assert.deepEqual(info.services.map((s) => [s.name, s.healthy]), SERVICES.map((s) => [s, true]));
      for (const s of info.services) assert.ok(s.pid && existsSync(`/proc/${s.pid}`), `${s.name} pid ${s.pid}`);
      const res = await fetch(info.pages.client);
      assert.equal(res.status, 200, await res.text());
      assert.deepEqual(await waitForRow(info.mysql.port), [1]);
    });

    test('StackInfo records the runtime, the limits read back and the images\' versions', () => {
      assert.equal(info.runtime, 'docker');
      // Read from the files the images run, as natively (lab-native.test.ts), not restated.
      const web = info.config as { nginx: Record<string, string>; phpFpm: Record<string, string> };
      assert.equal(web.nginx.worker_processes, '8');
      assert.equal(web.phpFpm['pm.max_children'], '12');
      assert.equal(info.limits.cpus, CPUS);
      assert.equal(info.limits.memoryBytes, MEMORY_BYTES);
      // Each container's own mem_limit below the shared parent, from the stack spec.
      assert.deepEqual(info.limits.serviceMemoryBytes, Object.fromEntries(SERVICES.map((s) => [s, parseMemory(SERVICE_MEMORY[s])])));
      assert.doesNotMatch(info.limits.note ?? '', /WARNING/);
      assert.match(info.versions.nginx ?? '', /^1\.22\./);
      assert.match(info.versions.mariadb ?? '', /10\.11\./);
      assert.match(info.versions.node ?? '', /^v\d+\./);
      assert.match(info.versions.bun ?? '', /^\d+\.\d+\.\d+/);
      assert.equal((info.config as { queueRuntime?: string }).queueRuntime, 'bun');
      const q = info.services.find((s) => s.name === 'queue-server')!;
      assert.equal(basename(readlinkSync(`/proc/${q.pid}/exe`)), 'bun', 'the default stack runs the queue server on Bun');
    });

    test('down removes every container', async () => {
      const project = `esl-test-${process.pid}`;
      await dockerRuntime.down(runDir);
      const left = (await docker(['ps', '-aq', '--filter', `label=com.docker.compose.project=${project}`])).stdout.trim();
      assert.equal(left, '');
      assert.equal(await dockerRuntime.status(runDir), null);
      assert.deepEqual(cgroupDirsNamed(cg), [], 'the parent cgroup is gone from every hierarchy');
    });
  });
});
