// The native lab stack with real processes: MariaDB, the queue server, php-fpm and nginx inside a cgroup.
// One stack serves the page/row/cgroup checks; `down` is checked on a stack of its own.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createConnection } from 'mysql2/promise';
import { nativeRuntime, readState, type LabState } from '../src/lab/native/index.js';
import { PortInUseError } from '../src/lab/ports.js';
import { DATABASE, SERVICE_MEMORY, mysqlUrl } from '@eserver-lab/common/stack-spec';
import { parseMemory } from '../src/host/cgroup.js';
import { queueLength } from '../src/lab/seed2013.js';
import type { StackInfo } from '../src/lab/types.js';
import { processesUsing } from './lab-procs.js';
import { freePorts } from '@eserver-lab/common/free-port';
import { isRunning } from '@eserver-lab/common/proc-stat';
import { waitFor } from '@eserver-lab/common/wait';

const ports = async () => {
  const [http, fpm, queue, metrics, mysql] = await freePorts(5);
  return { http: http!, fpm: fpm!, queue: queue!, metrics: metrics!, mysql: mysql! };
};

/** How long a condition of the live stack may take: a generous bound for a loaded machine, no timing assertion. */
const LIVE = { timeoutMs: 30_000, intervalMs: 50 };

const cgroupProcs = (dir: string) =>
  readFileSync(join(dir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).map(Number);

// The checks share one stack for speed, but none relies on another having run first: each reads the stack's
// current state, and a check that breaks something (kills the queue server) waits for it to come back
// before it ends. So any one of them passes alone (`--test-name-pattern`) or in any order.
describe('native lab stack', { timeout: 180_000 }, () => {
  const runDir = mkdtempSync(join(tmpdir(), 'eserver-lab-test-'));
  let info: StackInfo;

  before(async () => {
    const t0 = process.hrtime.bigint();
    info = await nativeRuntime.up({ runDir, ports: await ports(), cpus: 2, memory: '2g', log: () => {} });
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    // A figure for the README, not an assertion (the machine is shared and noisy).
    console.log(`# native lab stack up in ${(ms / 1000).toFixed(2)} s`);
  });

  after(async () => {
    await nativeRuntime.down(runDir).catch(() => {});
    // Each run directory holds a ~110 MB MariaDB datadir.
    if (processesUsing(runDir).length === 0) rmSync(runDir, { recursive: true, force: true });
  });

  /** The stack as it is now: a supervised service's pid changes with every restart. */
  const current = async () => (await readState(runDir))!;
  const queueServerHealthy = async () =>
    (await nativeRuntime.status(runDir))?.services.find((x) => x.name === 'queue-server')?.healthy === true;
  const nums = async (): Promise<number[]> => {
    const c = await createConnection({ socketPath: info.mysql.socket, user: info.mysql.user, password: info.mysql.password, database: info.mysql.database });
    try {
      const [rows] = (await c.query('SELECT num FROM bench_events ORDER BY num')) as unknown as [{ num: number }[]];
      return rows.map((r) => Number(r.num));
    } finally {
      await c.end();
    }
  };
  /** The rows once every acknowledged entry has reached MySQL (the queue server answers and holds none). */
  const settledNums = async (): Promise<number[]> => {
    await waitFor(queueServerHealthy, { ...LIVE, what: 'the queue server to answer /healthz' });
    await waitFor(async () => (await queueLength(info.queue.host, info.queue.port).catch(() => -1)) === 0, { ...LIVE, what: 'the queue to drain into MySQL' });
    return nums();
  };
  /** One more row, numbered right after the ones before: the entry reached MySQL exactly once. */
  const expectOneMoreRow = async (before: number[]) => {
    let now = before;
    await waitFor(async () => (now = await nums()).length > before.length, { ...LIVE, what: 'the new row in MySQL' });
    assert.deepEqual(now, [...before, (before.at(-1) ?? 0) + 1]);
  };

  test('every service is up and healthy, with a pid recorded in the run directory', async () => {
    const st = (await nativeRuntime.status(runDir))!;
    assert.deepEqual(
      st.services.map((s) => s.name),
      ['mysql', 'queue-server', 'php-fpm', 'nginx'],
    );
    for (const s of st.services) assert.ok(s.healthy, `${s.name} healthy`);
    const state = await current();
    for (const s of state.services) assert.ok(existsSync(`/proc/${s.pid}`), `${s.name} pid ${s.pid} exists`);
    assert.equal(state.complete, true);
    // The seed's shape, read back from the rendered configs.
    const cfg = info.config as { nginx: Record<string, string>; phpFpm: Record<string, string> };
    assert.equal(cfg.nginx.worker_processes, '8');
    assert.equal(cfg.phpFpm.pm, 'static');
    assert.equal(cfg.phpFpm['pm.max_children'], '12');
    assert.equal(cfg.phpFpm.listen, `127.0.0.1:${state.ports.fpm}`);
    assert.ok(Number(cfg.nginx.worker_rlimit_nofile) <= 20000);
    assert.match(info.versions.nginx ?? '', /^\d+\.\d+/);
    assert.match(info.versions.php ?? '', /^\d+\.\d+/);
    assert.match(info.versions.mariadb ?? '', /^\d+\.\d+/);
  });

  test('one database account, the stack spec\'s: StackInfo names it and the queue server drains as it', () => {
    assert.deepEqual({ user: info.mysql.user, password: info.mysql.password, database: info.mysql.database }, DATABASE);
    const q = info.services.find((s) => s.name === 'queue-server')!;
    const argv = readFileSync(`/proc/${q.pid}/cmdline`, 'utf8').split('\0');
    assert.equal(argv[argv.indexOf('--mysql-url') + 1], mysqlUrl(info.mysql.port));
  });

  test('the baseline page answers 200 with its small body', async () => {
    const res = await fetch(info.pages.baseline);
    assert.equal(res.status, 200);
    assert.equal(await res.text(), 'ok');
  });

  test('GET client.php answers 200 and its row reaches MySQL, numbered next', async () => {
    const before = await settledNums();
    const res = await fetch(info.pages.client);
    const body = await res.text();
    assert.equal(res.status, 200, `client.php body: ${body}`);
    assert.equal(body, 'ok');
    await expectOneMoreRow(before);
  });

  test('all services run inside the cgroup, whose files hold the 2-CPU/2 GB limits, each service in its own memory group', async () => {
    const state = await current();
    assert.ok(state.cgroup, `a cgroup was created (${info.limits.note ?? ''})`);
    const rec = state.cgroup!;
    assert.equal(info.limits.cpus, 2);
    assert.equal(info.limits.memoryBytes, 2 * 1024 ** 3);
    const own = Object.fromEntries(Object.entries(SERVICE_MEMORY).map(([k, v]) => [k, parseMemory(v)]));
    assert.deepEqual(info.limits.serviceMemoryBytes, own);
    // Each service's own group, with its own limit, holds the service and its workers.
    const inOwnGroup = (memDir: string, file: string) => {
      let procs = 0;
      for (const s of state.services) {
        const dir = join(memDir, s.name);
        assert.equal(Number(readFileSync(join(dir, file), 'utf8')), own[s.name], `${s.name}'s own limit`);
        const mine = new Set(cgroupProcs(dir));
        assert.ok(mine.has(s.pid), `${s.name} (pid ${s.pid}) in ${dir}`);
        procs += mine.size;
      }
      // Workers forked by the masters are inside too: 8 nginx workers + 12 php-fpm children at least.
      assert.ok(procs >= 4 + 8 + 12, `${procs} processes in the services' groups`);
    };
    if (rec.version === 'v1') {
      const [cpuDir, memDir] = rec.dirs as [string, string];
      const quota = Number(readFileSync(join(cpuDir, 'cpu.cfs_quota_us'), 'utf8'));
      const period = Number(readFileSync(join(cpuDir, 'cpu.cfs_period_us'), 'utf8'));
      assert.equal(quota / period, 2);
      assert.equal(Number(readFileSync(join(memDir, 'memory.limit_in_bytes'), 'utf8')), 2 * 1024 ** 3);
      // The CPU is shared: every process sits in the stack's cpu group itself.
      const procs = new Set(cgroupProcs(cpuDir));
      for (const s of state.services) assert.ok(procs.has(s.pid), `${s.name} (pid ${s.pid}) in ${cpuDir}`);
      assert.ok(procs.size >= 4 + 8 + 12, `${procs.size} processes in ${cpuDir}`);
      inOwnGroup(memDir, 'memory.limit_in_bytes');
    } else {
      const dir = rec.dirs[0]!;
      assert.equal(readFileSync(join(dir, 'cpu.max'), 'utf8').trim(), '40000 20000'); // 2 CPUs at the 20 ms period
      assert.equal(Number(readFileSync(join(dir, 'memory.max'), 'utf8')), 2 * 1024 ** 3);
      inOwnGroup(dir, 'memory.max');
    }
  });

  test('a second up on a live run directory is refused with the fix', async () => {
    await assert.rejects(nativeRuntime.up({ runDir, ports: await ports(), log: () => {} }), /already running.*make lab-down/s);
    assert.equal(processesUsing(runDir).length >= 4, true, 'the live stack was left alone');
  });

  test('status reports every service healthy', async () => {
    const st = await nativeRuntime.status(runDir);
    assert.ok(st);
    assert.deepEqual(st.services.map((s) => [s.name, s.healthy]), [
      ['mysql', true],
      ['queue-server', true],
      ['php-fpm', true],
      ['nginx', true],
    ]);
  });

  test('client_persistent.php enqueues through the persistent mode: its row reaches MySQL, numbered next', async () => {
    const before = await settledNums();
    const res = await fetch(info.pages.persistent);
    assert.equal(res.status, 200, await res.clone().text());
    assert.equal(await res.text(), 'ok');
    await expectOneMoreRow(before);
  });

  test('client.php answers 503 "err CODE" when the queue server is gone', async () => {
    await waitFor(queueServerHealthy, { ...LIVE, what: 'the queue server to answer /healthz' });
    const q = (await current()).services.find((s) => s.name === 'queue-server')!;
    // Its supervisor is held still, so that the server stays gone while we look.
    process.kill(q.supervisor!.pid, 'SIGSTOP');
    try {
      process.kill(q.pid, 'SIGKILL');
      await waitFor(async () => !existsSync(`/proc/${q.pid}/cmdline`) || readFileSync(`/proc/${q.pid}/cmdline`).length === 0, { ...LIVE, what: `pid ${q.pid} to be gone` });
      const res = await fetch(info.pages.client);
      assert.equal(res.status, 503);
      assert.match(await res.text(), /^err [A-Z_]+$/);
      const st = await nativeRuntime.status(runDir);
      assert.equal(st?.services.find((s) => s.name === 'queue-server')?.healthy, false);
    } finally {
      process.kill(q.supervisor!.pid, 'SIGCONT');
    }
    // Leave the stack as it was found: the supervisor restarts the server.
    await waitFor(queueServerHealthy, { ...LIVE, what: 'the restarted queue server to answer /healthz' });
  });

  test('a queue server killed with -9 is restarted by its supervisor, and client.php works again', async () => {
    await waitFor(queueServerHealthy, { ...LIVE, what: 'the queue server to answer /healthz' });
    const killed = (await current()).services.find((x) => x.name === 'queue-server')!;
    process.kill(killed.pid, 'SIGKILL');
    await waitFor(async () => {
      const now = (await current()).services.find((x) => x.name === 'queue-server')!;
      return now.pid !== killed.pid && (await queueServerHealthy());
    }, { ...LIVE, what: 'a new queue server pid that answers /healthz' });
    const before = await settledNums();
    const res = await fetch(info.pages.client);
    assert.equal(res.status, 200, await res.clone().text());
    // Numbering goes on across the restart: the journal remembers where it was.
    await expectOneMoreRow(before);
    const log = readFileSync(killed.supervisor!.logFile, 'utf8');
    assert.match(log, new RegExp(`pid ${killed.pid} ended \\(signal SIGKILL\\)`));
  });
});

test('down leaves no process and no cgroup', { timeout: 120_000 }, async () => {
  const runDir = mkdtempSync(join(tmpdir(), 'eserver-lab-test-'));
  try {
    await nativeRuntime.up({ runDir, ports: await ports(), cpus: 2, memory: '2g', log: () => {} });
    const state = (await readState(runDir))!;
    assert.ok(processesUsing(runDir).length >= 4, 'the stack ran');
    await nativeRuntime.down(runDir);
    assert.deepEqual(processesUsing(runDir), []);
    for (const s of state.services) {
      assert.ok(s.supervisor, `${s.name} is supervised`);
      assert.equal(isRunning(s.supervisor.pid), false, `${s.name}'s supervisor pid ${s.supervisor.pid} is gone`);
      assert.equal(isRunning(s.pid), false, `${s.name} pid ${s.pid} is gone`);
    }
    for (const d of state.cgroup?.dirs ?? []) assert.equal(existsSync(d), false, `${d} removed`);
    assert.equal(await nativeRuntime.status(runDir), null);
  } finally {
    await nativeRuntime.down(runDir).catch(() => {});
    if (processesUsing(runDir).length === 0) rmSync(runDir, { recursive: true, force: true });
  }
});

test('a port conflict is refused before anything starts, naming the port and its owner', async () => {
  const runDir = mkdtempSync(join(tmpdir(), 'eserver-lab-test-'));
  const blocker = createServer();
  await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
  const taken = (blocker.address() as { port: number }).port;
  try {
    const p = { ...(await ports()), fpm: taken };
    await assert.rejects(nativeRuntime.up({ runDir, ports: p, log: () => {} }), (e: unknown) => {
      assert.ok(e instanceof PortInUseError, String(e));
      assert.match(e.message, new RegExp(`port ${taken} for php-fpm is already in use by pid ${process.pid}`));
      return true;
    });
    assert.deepEqual(processesUsing(runDir), []);
  } finally {
    await new Promise((r) => blocker.close(r));
    rmSync(runDir, { recursive: true, force: true });
  }
});

test('a stale run directory (recorded pids dead) is cleaned up with a message', async () => {
  const runDir = mkdtempSync(join(tmpdir(), 'eserver-lab-test-'));
  const { writeFileSync } = await import('node:fs');
  writeFileSync(join(runDir, '.eserver-lab-run'), '');
  writeFileSync(join(runDir, 'leftover.txt'), 'from a crashed run');
  const dead = { pid: 2 ** 22 + 1, startTime: '1' };
  writeFileSync(
    join(runDir, 'state.json'),
    JSON.stringify({ runDir, runner: dead, complete: true, services: [{ ...dead, name: 'nginx', ports: [1], logFile: 'x' }], cgroup: null }),
  );
  // Block a port so that `up` stops right after the clean-up, without starting the stack.
  const blocker = createServer();
  await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
  const taken = (blocker.address() as { port: number }).port;
  const lines: string[] = [];
  try {
    await assert.rejects(
      nativeRuntime.up({ runDir, ports: { ...(await ports()), http: taken }, log: (l) => lines.push(l) }),
      PortInUseError,
    );
    assert.ok(lines.some((l) => /removing stale run directory/.test(l)), lines.join('\n'));
    assert.equal(existsSync(join(runDir, 'leftover.txt')), false);
  } finally {
    await new Promise((r) => blocker.close(r));
    rmSync(runDir, { recursive: true, force: true });
  }
});

test('a service that fails its health check is named with its last log lines, and the rest is torn down', { timeout: 60_000 }, async () => {
  const runDir = mkdtempSync(join(tmpdir(), 'eserver-lab-test-'));
  try {
    // An invalid queue-server flag makes it exit at start, after MariaDB is already up.
    await assert.rejects(
      nativeRuntime.up({ runDir, ports: await ports(), queueArgs: ['--fsync', 'sometimes'], log: () => {} }),
      (e: unknown) => {
        const msg = (e as Error).message;
        assert.match(msg, /^queue-server failed its health check: the process \(pid \d+\) exited/);
        assert.match(msg, /--- last lines of .*queue-server\.out:\n.*sometimes/s);
        return true;
      },
    );
    assert.deepEqual(processesUsing(runDir), [], 'MariaDB was stopped too');
    assert.equal(await nativeRuntime.status(runDir), null);
  } finally {
    rmSync(runDir, { recursive: true, force: true });
  }
});
