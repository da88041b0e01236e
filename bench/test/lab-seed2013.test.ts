// The native stack with the 2013-style queue server (--queue-impl seed2013) under a fractional CPU quota:
// client.php works unchanged against it, every service (python included) sits in the stack's cgroup,
// whose quota and 20 ms period are read back from the files; down leaves nothing.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { nativeRuntime, readState, type LabState } from '../src/lab/native/index.js';
import { queueLength } from '../src/lab/seed2013.js';
import type { StackInfo } from '../src/lab/types.js';
import { processesUsing } from './lab-procs.js';
import { freePorts } from '@eserver-lab/testkit/free-port';

const cgroupProcs = (dir: string) => readFileSync(join(dir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).map(Number);

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
    for (const dir of state.cgroup.dirs) {
      const procs = new Set(cgroupProcs(dir));
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
