// The sampler reads real processes from /proc, and cgroup files in the v1 and v2 layouts.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { execFileSync } from 'node:child_process';
import { cpuThrottling, cpuUsageNs, memoryUsageBytes, parseCpuStat } from '../src/host/cgroup.js';
import { evaluateBudget, snapshot as budgetSnapshot } from '../src/metrics/cpu-budget.js';
import { repoRoot } from '../src/lab/paths.js';
import { snapshot, tree, type ProcStat } from '../src/metrics/proc.js';
import { clockTicksPerSecond } from '@eserver-lab/common/proc-stat';
import { Sampler } from '../src/metrics/sampler.js';
import { waitFor } from '@eserver-lab/common/wait';

test('a service is its process tree, and the load generator excludes the services it started', async () => {
  // A "service" child that forks a grandchild which burns CPU, like a master and its worker.
  const svc = spawn('sh', ['-c', 'sh -c "while :; do :; done" & wait'], { stdio: 'ignore' });
  try {
    const sampler = new Sampler({ services: { svc: svc.pid! }, intervalMs: 300 });
    sampler.start();
    let samples;
    try {
      // Until a sample sees both processes of the tree and the busy grandchild's CPU (or the wait fails). The
      // service's own shell only waits: any CPU at all is the grandchild's, even when a loaded machine gives
      // the busy loop a small share of a core.
      await waitFor(() => sampler.samples.length >= 2 && sampler.samples.some((s) => s.services.svc?.procs === 2 && s.services.svc.cpu_pct > 2), {
        what: 'a sample with both processes of svc using CPU',
        timeoutMs: 30_000,
      });
    } finally {
      // Stopped whatever happens: its timer would otherwise keep a failed run of this file from exiting.
      samples = await sampler.stop();
    }
    assert.ok(samples.length >= 2);
    const last = samples[samples.length - 1];
    assert.equal(last.services.svc.procs, 2);
    assert.ok(last.services.svc.rss_bytes > 0);
    assert.ok(last.services.svc.child_rss_avg_bytes! > 0);
    assert.ok(samples.some((s) => s.services.svc.cpu_pct > 2), 'the busy grandchild shows up in the service CPU');
    assert.equal(last.services.loadgen.procs, 1, 'the service tree is not counted as load generator');
  } finally {
    // Children first, by the pids the process tree gives, then the service itself.
    for (const p of tree(svc.pid!, snapshot()).slice(1)) process.kill(p.pid, 'SIGKILL');
    svc.kill('SIGKILL');
  }
});

test('cgroup v1 and v2 totals are read from their files', () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'cg-'));
  try {
    // v1 with cpuacct and memory as separate hierarchies, the memory group nested elsewhere than the cpu one.
    fs.mkdirSync(path.join(root, 'cpuacct/lab'), { recursive: true });
    fs.mkdirSync(path.join(root, 'memory/outer/lab'), { recursive: true });
    fs.writeFileSync(path.join(root, 'cpuacct/lab/cpuacct.usage'), '5000000000\n');
    fs.writeFileSync(path.join(root, 'memory/outer/lab/memory.usage_in_bytes'), '1048576\n');
    assert.equal(cpuUsageNs(path.join(root, 'cpuacct/lab'), 'v1'), 5e9);
    assert.equal(memoryUsageBytes(path.join(root, 'memory/outer/lab'), 'v1'), 1048576);
    fs.mkdirSync(path.join(root, 'v2/lab'), { recursive: true });
    fs.writeFileSync(path.join(root, 'v2/lab/cpu.stat'), 'usage_usec 250\nuser_usec 200\nnr_periods 10\nnr_throttled 4\nthrottled_usec 7\n');
    fs.writeFileSync(path.join(root, 'v2/lab/memory.current'), '4096\n');
    assert.equal(cpuUsageNs(path.join(root, 'v2/lab'), 'v2'), 250000);
    assert.equal(memoryUsageBytes(path.join(root, 'v2/lab'), 'v2'), 4096);
    assert.deepEqual(cpuThrottling(path.join(root, 'v2/lab')), { nrPeriods: 10, nrThrottled: 4, throttledNs: 7000 });
    // A group that is gone reads as unknown, never as zero.
    assert.equal(cpuUsageNs(path.join(root, 'gone'), 'v1'), null);
    assert.equal(memoryUsageBytes(null, 'v2'), null);
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});

test("a remote stack's throttling: remote-host.sh cpustat prints its parent's cpu.stat, and the window's share is read from it", () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'cg-'));
  try {
    // The script as the one-off container on the stack's host runs it, on a stand-in cgroup directory.
    const script = path.join(repoRoot, 'bench', 'scripts', 'remote-host.sh');
    const cpustat = (dir: string) => execFileSync('bash', [script, 'cpustat', dir], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    fs.mkdirSync(path.join(root, 'cpu/esl'), { recursive: true });
    fs.writeFileSync(path.join(root, 'cpu/esl/cpu.stat'), 'nr_periods 100\nnr_throttled 20\nthrottled_time 5000000\n');
    const start = parseCpuStat(cpustat(path.join(root, 'cpu/esl')));
    assert.deepEqual(start, { nrPeriods: 100, nrThrottled: 20, throttledNs: 5e6 });
    fs.writeFileSync(path.join(root, 'cpu/esl/cpu.stat'), 'nr_periods 250\nnr_throttled 80\nthrottled_time 9000000\n');
    const end = parseCpuStat(cpustat(path.join(root, 'cpu/esl')));
    assert.throws(() => cpustat(path.join(root, 'gone')), /no cpu\.stat in/);
    // The window's snapshots carry it beside the CPU time read through the engine.
    const limits = { cgroup: null, cgroupVersion: null, cpus: 0.45, memoryBytes: null, cpuQuotaUs: 9000, cpuPeriodUs: 20000, cpuWeight: 262144 } as const;
    const a = budgetSnapshot(limits, () => 0, { ns: 0, at: 0, throttling: start });
    const b = budgetSnapshot(limits, () => 1e8, { ns: 1.35e9, at: 3000, throttling: end });
    const budget = evaluateBudget({ start: a, end: b, limits, hostCpus: 2, requests: 100, generator: { cgroup: null, weight: null, outsideStack: true }, generatorHost: { cpus: 2 } });
    assert.deepEqual([budget.stack.nr_periods, budget.stack.nr_throttled, budget.stack.throttled_share], [150, 60, 0.4]);
    // Unread (the helper failed): unknown, not zero.
    const c = budgetSnapshot(limits, () => 1e8, { ns: 1.35e9, at: 3000, throttling: null });
    assert.equal(evaluateBudget({ start: a, end: c, limits, hostCpus: 2, requests: 100, generator: { cgroup: null, weight: null, outsideStack: true } }).stack.throttled_share, null);
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});

test('a sample that fails to read /proc does not shorten the next one: its CPU share spans the whole gap', async () => {
  // A hand-driven clock and process table: one service whose process used 2 s of CPU over 2 s, with the read
  // in between failing (as it does with EMFILE while 10k sockets are open). The share must be 100%, not the
  // 200% a window counted from the failed read's instant gives.
  const hz = clockTicksPerSecond();
  let clock = 0;
  let ticks = 0;
  let failing = false;
  const read = (): Map<number, ProcStat> => {
    if (failing) throw Object.assign(new Error('EMFILE: too many open files'), { code: 'EMFILE' });
    return new Map([[4242, { pid: 4242, ppid: 1, ticks, rssBytes: 4096 }]]);
  };
  const sampler = new Sampler({ services: { svc: 4242 }, intervalMs: 3_600_000, source: { snapshot: read, now: () => clock } });
  sampler.start();
  try {
    clock = 1000;
    ticks = hz;
    failing = true;
    await assert.rejects(sampler.sample(), /EMFILE/);
    clock = 2000;
    ticks = 2 * hz;
    failing = false;
    await sampler.sample();
  } finally {
    await sampler.stop();
  }
  assert.equal(sampler.samples.length, 1, 'the failed read left no sample');
  assert.equal(sampler.samples[0]!.services.svc!.cpu_pct, 100);
});

test('a failed /metrics scrape does not shorten the next drain rate: it spans back to the last good scrape', async () => {
  // 100 rows drained per second of a hand-driven clock; the middle scrape answers 500. The third sample's rate
  // is (300 - 100) rows over 2 s, not over the 1 s since the failed scrape.
  let clock = 0;
  let drained = 0;
  let fail = false;
  const server = http.createServer((_req, res) => {
    if (fail) return void res.writeHead(500).end();
    res.writeHead(200, { 'content-type': 'text/plain' }).end(`eserver_drained_total ${drained}\neserver_queue_depth 0\n`);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  const sampler = new Sampler({
    services: {},
    queue: { host: '127.0.0.1', metricsPort: port },
    intervalMs: 3_600_000,
    source: { snapshot: () => new Map(), now: () => clock },
  });
  sampler.start();
  try {
    for (const [t, rows, failing] of [[1000, 100, false], [2000, 200, true], [3000, 300, false]] as const) {
      clock = t;
      drained = rows;
      fail = failing;
      await sampler.sample();
    }
  } finally {
    await sampler.stop();
    server.close();
  }
  assert.deepEqual(sampler.samples.map((s) => s.queue?.drain_per_s ?? null), [null, null, 100]);
});
