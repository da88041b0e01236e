#!/usr/bin/env node
// Where each stack's CPU goes, per page: stacks already up (`eserver-lab up --run-dir <dir> ...`, from any
// tree) take client.php at the same instant, each load in a process of its own (a process holds at most
// 20,000 open files) and all of them in a cgroup outside every stack's budget. Per repetition and per stack:
// pages/min, then CPU per completed page of each service's process tree (nginx, php-fpm, queue-server,
// mysql), of the stack's whole cgroup, and of what the cgroup spent outside the four trees. The CPU window
// runs from just before the clients start to the moment the drain has committed every acknowledged entry,
// so our queue server's drain and MariaDB's commits are in it; pages are every page completed, warm-up
// included. Loads start in the other order of sides every repetition.
//
// usage: node bench/scripts/stack-cpu-split.mjs --side ours=/tmp/run-a --side seed2013=/tmp/run-b
//          [--reps 5] [--clients 10000] [--warmup 5] [--duration 30] [--json out.json]
import { parseArgs } from 'node:util';
import { writeFileSync } from 'node:fs';
import { getRuntime } from '../dist/src/lab/index.js';
import { snapshot, tree } from '../dist/src/metrics/proc.js';
import { cpuUsageNs } from '../dist/src/host/cgroup.js';
import { runLoadsTogether } from '../dist/src/load/in-child.js';
import { enterGeneratorCgroup, leaveGeneratorCgroup, generatorUsageNs } from '../dist/src/load/generator-cgroup.js';
import { queueLength } from '../dist/src/lab/seed2013.js';
import { settledLength } from '../dist/src/check/ack-check.js';
import { fetchQueueMetrics } from '../dist/src/metrics/queue-metrics.js';
import { clockTicksPerSecond } from '@eserver-lab/common/proc-stat';
import { median } from '@eserver-lab/common/stats';

const { values } = parseArgs({
  options: {
    side: { type: 'string', multiple: true },
    reps: { type: 'string', default: '5' },
    clients: { type: 'string', default: '10000' },
    warmup: { type: 'string', default: '5' },
    duration: { type: 'string', default: '30' },
    json: { type: 'string' },
  },
});
if (!values.side || values.side.length < 1) throw new Error('give at least one --side label=<run dir of a stack that is up>');
const SERVICES = ['nginx', 'php-fpm', 'queue-server', 'mysql'];
const hz = clockTicksPerSecond();
const runtime = await getRuntime('native');
const sides = [];
for (const s of values.side) {
  const [label, runDir] = s.split('=');
  const info = await runtime.status(runDir);
  if (!info) throw new Error(`no stack is up in ${runDir} (start it with eserver-lab up --run-dir ${runDir})`);
  const seed = info.config?.queueImpl === 'seed2013';
  sides.push({ label, runDir, info, seed });
}

/** Our server's acknowledged enqueues, or the 2013-style server's queue length. */
async function acked(side) {
  if (side.seed) return queueLength(side.info.queue.host, side.info.queue.port);
  const m = await fetchQueueMetrics(side.info.queue.host, side.info.queue.metricsPort);
  return m?.enqueued ?? null;
}

/** Waits until the queue is drained (ours: eserver_drained_total reaches eserver_enqueued_total) or settled. */
async function settle(side) {
  if (side.seed) return settledLength(side.info.queue.host, side.info.queue.port, 60);
  const deadline = Date.now() + 120_000;
  for (;;) {
    const m = await fetchQueueMetrics(side.info.queue.host, side.info.queue.metricsPort);
    if (m && m.depth === 0) return m;
    if (Date.now() > deadline) throw new Error(`${side.label}: the queue did not drain within 120 s`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function mark(side) {
  const all = snapshot();
  const by = {};
  for (const name of SERVICES) {
    const pid = side.info.services.find((x) => x.name === name)?.pid;
    by[name] = pid ? tree(pid, all).reduce((a, p) => a + p.ticks, 0) / hz : 0;
  }
  const dirs = side.info.limits.usageDirs;
  const cg = dirs ? cpuUsageNs(dirs.cpuacct, side.info.limits.cgroupVersion) : null;
  return { at: performance.now(), by, cgroupS: cg === null ? null : cg / 1e9 };
}

const rows = [];
const reps = Number(values.reps);
for (let r = 1; r <= reps; r++) {
  const order = r % 2 === 1 ? sides : [...sides].reverse();
  const before = await Promise.all(order.map(async (s) => ({ acked: await acked(s), m: mark(s) })));
  const gen = await enterGeneratorCgroup(`cpu-split-gen-${process.pid}-${r}`);
  const g0 = generatorUsageNs(gen);
  let results;
  let atLoadEnd;
  try {
    results = await runLoadsTogether(
      order.map((s) => ({ url: s.info.pages.client, clients: Number(values.clients), durationS: Number(values.duration), warmupS: Number(values.warmup), successSignal: 'ok' })),
    );
    atLoadEnd = { epochMs: Date.now(), marks: order.map((s) => mark(s)) };
  } finally {
    const g1 = generatorUsageNs(gen);
    await leaveGeneratorCgroup(gen);
    if (g0 !== null && g1 !== null) console.error(`rep ${r}: generator ${((g1 - g0) / 1e9).toFixed(1)} CPU-s`);
  }
  for (let i = 0; i < order.length; i++) {
    const s = order[i];
    await settle(s);
    const end = mark(s);
    const res = results[i];
    const b = before[i];
    const pages = res.counters.succeeded + res.counters.failed + res.warmup.succeeded + res.warmup.failed;
    const cpu = {};
    let sum = 0;
    for (const name of SERVICES) {
      cpu[name] = ((end.by[name] - b.m.by[name]) * 1e6) / pages;
      sum += cpu[name];
    }
    const cg = end.cgroupS !== null && b.m.cgroupS !== null ? ((end.cgroupS - b.m.cgroupS) * 1e6) / pages : null;
    const ackedNow = await acked(s);
    // The stack's use of its quota while the clients ran (from their start to the load's end).
    const loadS = (atLoadEnd.epochMs - res.startedAt) / 1000;
    const cgLoad = atLoadEnd.marks[i].cgroupS;
    const cpus = s.info.limits.cpus;
    const usedOfQuota = cgLoad !== null && b.m.cgroupS !== null && cpus ? (cgLoad - b.m.cgroupS) / (loadS * cpus) : null;
    const row = {
      rep: r,
      side: s.label,
      pagesPerMin: res.webbench.pagesPerMin,
      failed: res.counters.failed,
      notOk: Math.max(0, res.counters.succeeded - res.counters.cutAtEnd - res.counters.strictOk),
      pages,
      acked: ackedNow !== null && b.acked !== null ? ackedNow - b.acked : null,
      windowS: Math.round(end.at - b.m.at) / 1000,
      usedOfQuota,
      usPerPage: { ...cpu, services: sum, cgroup: cg, other: cg === null ? null : cg - sum },
    };
    rows.push(row);
    const f = (x) => (x === null ? '?' : x.toFixed(0));
    console.log(
      `rep ${r} ${s.label.padEnd(10)} ${String(row.pagesPerMin).padStart(6)} pages/min  failed ${row.failed} notOk ${row.notOk}  quota ${usedOfQuota === null ? '?' : Math.round(usedOfQuota * 100)}%  µs/page: ` +
        SERVICES.map((n) => `${n} ${f(cpu[n])}`).join('  ') + `  services ${f(sum)}  cgroup ${f(cg)}  other ${f(row.usPerPage.other)}`,
    );
  }
}

console.log('\nmedians over repetitions:');
const keys = [...SERVICES, 'services', 'cgroup', 'other'];
console.log(`| µs CPU per page | ${sides.map((s) => s.label).join(' | ')} |`);
console.log(`|---|${sides.map(() => '---').join('|')}|`);
const med = (label, get) => median(rows.filter((x) => x.side === label).map(get).filter((x) => x !== null));
console.log(`| pages/min | ${sides.map((s) => Math.round(med(s.label, (x) => x.pagesPerMin))).join(' | ')} |`);
console.log(`| used of quota | ${sides.map((s) => med(s.label, (x) => x.usedOfQuota)?.toFixed(2)).join(' | ')} |`);
for (const k of keys) console.log(`| ${k} | ${sides.map((s) => med(s.label, (x) => x.usPerPage[k])?.toFixed(1)).join(' | ')} |`);
if (sides.length >= 2) {
  const [a, b] = sides;
  const ratios = [];
  for (let r = 1; r <= reps; r++) {
    const xa = rows.find((x) => x.rep === r && x.side === a.label);
    const xb = rows.find((x) => x.rep === r && x.side === b.label);
    if (xa && xb) ratios.push([xa.pagesPerMin / xb.pagesPerMin, xb.usPerPage.cgroup / xa.usPerPage.cgroup]);
  }
  const show = (k, what) => `${what} ${a.label} ÷ ${b.label}, per repetition: ${ratios.map((x) => x[k].toFixed(3)).join(', ')}; median ${median(ratios.map((x) => x[k])).toFixed(3)}`;
  console.log('\n' + show(0, 'pages/min'));
  console.log(show(1, 'pages per stack CPU-second'));
}
if (values.json) writeFileSync(values.json, JSON.stringify({ argv: process.argv.slice(2), at: new Date().toISOString(), rows }, null, 2));
