// The native stack with the 2013-style queue server (--queue-impl seed2013) under a fractional CPU quota:
// client.php works unchanged against it, every service (python included) sits in the stack's cgroup,
// whose quota and 20 ms period are read back from the files; down leaves nothing. The same with a control
// command (ESERVER_CONTROL_CMD, how a user runs the 2013 original) in place of the stand-in.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { nativeRuntime, readState, type LabState } from '../src/lab/native/index.js';
import { CONTROL_CMD_ENV, controlNotExecd, queueLength, seed2013Launch, seed2013Script } from '../src/lab/seed2013.js';
import type { StackInfo } from '../src/lab/types.js';
import { processesUsing, stackProcs } from './lab-procs.js';
import { dirsOf, type CgroupRecord } from '../src/host/cgroup.js';
import { freePorts } from '@eserver-lab/common/free-port';
import { isRunning } from '@eserver-lab/common/proc-stat';
import { repoRoot } from '@eserver-lab/common/repo-root';
import { waitFor } from '@eserver-lab/common/wait';

/** The stack group's own directories (cpu, cpuacct, memory), without its services' memory groups. */
const stackDirs = (rec: CgroupRecord) => [...new Set(Object.values(dirsOf(rec)).filter((d): d is string => d !== null))];

describe('native lab stack with the 2013-style queue server', { timeout: 120_000 }, () => {
  const runDir = mkdtempSync(join(tmpdir(), 'eserver-lab-seed2013-'));
  let info: StackInfo;
  let state: LabState;

  before(async () => {
    // A caller's PYTHONUNBUFFERED must not reach the server: its prints would cost a write each.
    const callerUnbuffered = process.env.PYTHONUNBUFFERED;
    process.env.PYTHONUNBUFFERED = '1';
    const [http, fpm, queue, metrics, mysql] = await freePorts(5);
    try {
      info = await nativeRuntime.up({
        runDir, ports: { http: http!, fpm: fpm!, queue: queue!, metrics: metrics!, mysql: mysql! },
        cpus: 0.4, memory: '2g', queueImpl: 'seed2013', log: () => {},
      });
    } finally {
      if (callerUnbuffered === undefined) delete process.env.PYTHONUNBUFFERED;
      else process.env.PYTHONUNBUFFERED = callerUnbuffered;
    }
    state = (await readState(runDir))!;
  });

  after(async () => {
    await nativeRuntime.down(runDir).catch(() => {});
    if (processesUsing(runDir).length === 0) rmSync(runDir, { recursive: true, force: true });
  });

  test('client.php answers 200 ok through the Python server, which holds the entry (no drain)', async () => {
    const q = info.services.find((s) => s.name === 'queue-server')!;
    assert.match(readFileSync(`/proc/${q.pid}/cmdline`, 'utf8'), /python3.*eserver2013\.py/);
    const environ = readFileSync(`/proc/${q.pid}/environ`, 'utf8').split('\0');
    assert.deepEqual(environ.filter((v) => v.startsWith('PYTHON')), [], 'no PYTHON* variable from the caller');
    assert.equal((state.config as { queueImpl: string }).queueImpl, 'seed2013');
    const before = await queueLength(info.queue.host, info.queue.port);
    const res = await fetch(info.pages.client);
    assert.deepEqual([res.status, await res.text()], [200, 'ok']);
    assert.equal(await queueLength(info.queue.host, info.queue.port), before + 1);
    const st = await nativeRuntime.status(runDir);
    assert.ok(st!.services.every((s) => s.healthy), 'status probes the Python server through 8003');
  });

  test('the quota (0.4 CPU = 8000 µs per 20000 µs) is read back, and every service is inside the group', (t) => {
    if (!state.cgroup) return t.skip(`no cgroup here: ${info.limits.note ?? ''}`);
    assert.deepEqual([info.limits.cpuQuotaUs, info.limits.cpuPeriodUs, info.limits.cpus], [8000, 20000, 0.4]);
    for (const dir of stackDirs(state.cgroup)) {
      const procs = stackProcs(dir);
      for (const s of info.services) assert.ok(procs.has(s.pid!), `${s.name} (pid ${s.pid}) in ${dir}`);
      assert.equal(procs.has(process.pid), false, 'the runner is not in the stack group');
    }
  });

  test('down leaves no process and no cgroup', async () => {
    await nativeRuntime.down(runDir);
    assert.deepEqual(processesUsing(runDir), []);
    for (const d of state.cgroup?.dirs ?? []) assert.equal(existsSync(d), false, `${d} removed`);
  });
});

/** Runs fn with the environment variable set, and puts the caller's value back. */
async function withEnv<T>(name: string, value: string, fn: () => Promise<T>): Promise<T> {
  const caller = process.env[name];
  process.env[name] = value;
  try {
    return await fn();
  } finally {
    if (caller === undefined) delete process.env[name];
    else process.env[name] = caller;
  }
}

describe('native lab stack with a control command in place of the stand-in', { timeout: 120_000 }, () => {
  const runDir = mkdtempSync(join(tmpdir(), 'eserver-lab-control-'));
  // A tiny fake of the original: the stand-in itself, started the way a copy of the original would be
  // (from a directory of its own, through a shell that execs it).
  const fake = `cd {dir} && exec python3 ${seed2013Script(repoRoot)} --host {host} --port {port}`;
  let info: StackInfo;
  let state: LabState;

  before(async () => {
    const [http, fpm, queue, metrics, mysql] = await freePorts(5);
    info = await withEnv(CONTROL_CMD_ENV, fake, () =>
      nativeRuntime.up({
        runDir, ports: { http: http!, fpm: fpm!, queue: queue!, metrics: metrics!, mysql: mysql! },
        cpus: 0.4, memory: '2g', queueImpl: 'seed2013', log: () => {},
      }),
    );
    state = (await readState(runDir))!;
  });

  after(async () => {
    await nativeRuntime.down(runDir).catch(() => {});
    if (processesUsing(runDir).length === 0) rmSync(runDir, { recursive: true, force: true });
  });

  test('the command runs exec-ed from its own directory with the lab port, in the stack group, and client.php goes through it', async (t) => {
    const q = info.services.find((s) => s.name === 'queue-server')!;
    // The pid is python's (a pyenv shim may have changed argv[0]), with the lab's host and port put in.
    const argv = readFileSync(`/proc/${q.pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
    assert.match(argv[0]!, /python3/);
    assert.deepEqual(argv.slice(-5), [seed2013Script(repoRoot), '--host', '127.0.0.1', '--port', String(info.queue.port)]);
    assert.equal(readlinkSync(`/proc/${q.pid}/cwd`), join(runDir, 'control'));
    assert.equal((state.config as { controlCmd: string }).controlCmd, fake, 'the run records which control it ran');
    const before = await queueLength(info.queue.host, info.queue.port);
    const res = await fetch(info.pages.client);
    assert.deepEqual([res.status, await res.text()], [200, 'ok']);
    assert.equal(await queueLength(info.queue.host, info.queue.port), before + 1);
    if (!state.cgroup) return t.skip(`no cgroup here: ${info.limits.note ?? ''}`);
    for (const dir of stackDirs(state.cgroup)) {
      assert.ok(stackProcs(dir).has(q.pid!), `control pid ${q.pid} in ${dir}`);
    }
  });

  test('down stops it by its pid', async () => {
    const q = info.services.find((s) => s.name === 'queue-server')!;
    await nativeRuntime.down(runDir);
    assert.equal(isRunning(q.pid!), false);
  });
});

test('up refuses a control command that does not exec its server, and leaves nothing running', { timeout: 120_000 }, async () => {
  const runDir = mkdtempSync(join(tmpdir(), 'eserver-lab-control-noexec-'));
  const controlDir = join(runDir, 'control');
  const inControlDir = () =>
    readdirSync('/proc').filter((d) => /^\d+$/.test(d) && isRunning(Number(d)) && (() => {
      try {
        return readlinkSync(`/proc/${d}/cwd`) === controlDir;
      } catch {
        return false;
      }
    })());
  try {
    const [http, fpm, queue, metrics, mysql] = await freePorts(5);
    await assert.rejects(
      withEnv(CONTROL_CMD_ENV, `cd {dir} && python3 ${seed2013Script(repoRoot)} --host {host} --port {port}`, () =>
        nativeRuntime.up({ runDir, ports: { http: http!, fpm: fpm!, queue: queue!, metrics: metrics!, mysql: mysql! }, cpus: 0.4, memory: '2g', queueImpl: 'seed2013', log: () => {} }),
      ),
      new RegExp(`${CONTROL_CMD_ENV} left its server under a shell .*end the command with exec`),
    );
    assert.deepEqual(inControlDir(), [], 'neither the shell nor its python is left');
    assert.deepEqual(processesUsing(runDir), []);
  } finally {
    await nativeRuntime.down(runDir).catch(() => {});
    rmSync(runDir, { recursive: true, force: true });
  }
});

test('a control command without {port}, or with the stand-in\'s flags, is refused with an example of a good one', () => {
  const o = { python: () => 'python3', repoRoot, host: '127.0.0.1', port: 1, dir: join(tmpdir(), 'unused') };
  assert.throws(() => seed2013Launch({ ...o, env: { [CONTROL_CMD_ENV]: 'exec python3 circularQueue.py' } }), /has no \{port\}.*\n.*exec python3 circularQueue\.py/s);
  assert.throws(() => seed2013Launch({ ...o, env: { [CONTROL_CMD_ENV]: 'exec x --port {port}' }, extra: ['--capacity', '2'] }), /--capacity 2.*put them in the command/);
  assert.deepEqual(seed2013Launch({ ...o, env: { [CONTROL_CMD_ENV]: '  ' } }).control, null, 'blank: the stand-in');
});

test('a control command that leaves its server under the shell is named, one that execs it is not', async () => {
  const shell = spawn('/bin/sh', ['-c', 'cd / && sleep 30'], { stdio: 'ignore' });
  const execd = spawn('/bin/sh', ['-c', 'cd / && exec sleep 30'], { stdio: 'ignore' });
  try {
    // Both start as a shell; wait until the second one has exec-ed.
    await waitFor(() => controlNotExecd(execd.pid!) === null, { what: 'the exec of sleep' });
    assert.match(controlNotExecd(shell.pid!) ?? '', new RegExp(`${CONTROL_CMD_ENV} left its server under a shell \\(pid ${shell.pid} is .*\\): end the command with exec`));
  } finally {
    shell.kill('SIGKILL');
    execd.kill('SIGKILL');
  }
});
