// Samples every second, while a profile runs: CPU% and RSS per service (its process tree), the
// load generator itself, the stack's cgroup totals, and the queue's depth and drain rate.
import { cpuUsageNs, memoryUsageBytes } from '../host/cgroup.js';
import { snapshot, tree, type ProcStat } from './proc.js';
import { clockTicksPerSecond } from '@eserver-lab/common/proc-stat';
import { fetchQueueMetrics } from './queue-metrics.js';

export interface ServiceSample {
  cpu_pct: number;
  rss_bytes: number;
  procs: number;
  /** Worker / child processes only (not the master): what the seed's "15 MB per nginx worker" means. */
  child_rss_avg_bytes: number | null;
  child_rss_max_bytes: number | null;
}

export interface Sample {
  t: number;
  services: Record<string, ServiceSample>;
  cgroup: { cpu_pct: number | null; memory_bytes: number | null } | null;
  queue: { depth: number | null; enqueued: number | null; drained: number | null; drain_per_s: number | null } | null;
}

/** One service's figures at an instant, as the host it runs on read them (a remote engine's stats). */
export interface ProbedService {
  /** When they were read (that host's clock), ms. */
  readAt: number;
  cpuNs: number;
  rssBytes: number | null;
  memoryBytes: number | null;
  procs: number | null;
}

/** Where the services of a stack on another machine are read: its latest figures per service. */
export interface ServiceProbe {
  latest: ReadonlyMap<string, ProbedService>;
}

export interface SamplerTargets {
  /** Service name -> main pid (host view). The load generator is added as "loadgen". */
  services: Record<string, number | null>;
  /** Main pids of other stacks started by this process (loaded at the same time): not the load generator. */
  notGenerator?: number[];
  /** The stack's group: where its CPU time and memory usage are read. */
  cgroup?: { version: 'v1' | 'v2'; cpuacct: string | null; memory: string | null } | null;
  queue?: { host: string; metricsPort: number } | null;
  /**
   * A stack on another machine: its services' CPU and memory come from here (that host's engine), not from
   * this host's /proc; its `services` pids are then null and `cgroup` is the sum of its containers.
   */
  probe?: ServiceProbe | null;
  intervalMs?: number;
  /** Where the process table and the clock come from: /proc and performance.now() unless a test gives its own. */
  source?: SampleSource;
}

export interface SampleSource {
  snapshot(): Map<number, ProcStat>;
  /** Milliseconds, monotonic. */
  now(): number;
}

const PROC: SampleSource = { snapshot, now: () => performance.now() };

export class Sampler {
  readonly samples: Sample[] = [];
  private timer: NodeJS.Timeout | null = null;
  private t0 = 0;
  private lastTicks = new Map<string, number>();
  private lastAt = 0;
  private lastCg: number | null = null;
  /** The last good scrape's drained count and when it was taken: a failed scrape in between must not shorten the window. */
  private lastDrained: { rows: number; at: number } | null = null;
  /** Per probed service: the figures of the previous tick and the CPU share last computed from them. */
  private lastProbed = new Map<string, { at: ProbedService; pct: number }>();
  private busy = false;

  private readonly source: SampleSource;

  constructor(private readonly targets: SamplerTargets) {
    this.source = targets.source ?? PROC;
  }

  /** When the samples' t = 0 is (epoch ms), so that a window timed from the load's start can be cut from them. */
  get startedAt(): number {
    return this.t0;
  }

  start(): void {
    this.t0 = Date.now();
    this.lastAt = this.source.now();
    this.prime();
    // A failed sample (e.g. EMFILE while 10k sockets are open) is skipped, never fatal to the run.
    this.timer = setInterval(() => void this.sample().catch(() => {}), this.targets.intervalMs ?? 1000);
  }

  async stop(): Promise<Sample[]> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    return this.samples;
  }

  private pids(): Array<[string, number]> {
    const out: Array<[string, number]> = [];
    for (const [name, pid] of Object.entries(this.targets.services)) if (pid) out.push([name, pid]);
    out.push(['loadgen', process.pid]);
    return out;
  }

  /**
   * Each service's process tree; the load generator is this process's tree minus the services,
   * since the native runtime starts the services as this process's children.
   */
  private trees(all: Map<number, ProcStat>): Map<string, ProcStat[]> {
    const out = new Map<string, ProcStat[]>();
    const taken = new Set<number>();
    for (const [name, pid] of this.pids()) {
      if (name === 'loadgen') continue;
      const t = tree(pid, all);
      for (const p of t) taken.add(p.pid);
      out.set(name, t);
    }
    for (const pid of this.targets.notGenerator ?? []) for (const p of tree(pid, all)) taken.add(p.pid);
    out.set('loadgen', tree(process.pid, all).filter((p) => !taken.has(p.pid)));
    return out;
  }

  /** A probed service's sample: its CPU share between the engine's two latest readings (kept while no new one came). */
  private probed(name: string, now: ProbedService): ServiceSample {
    const prev = this.lastProbed.get(name);
    let pct = prev?.pct ?? 0;
    if (prev && now.readAt > prev.at.readAt) pct = Math.max(0, round1(((now.cpuNs - prev.at.cpuNs) / 1e6 / (now.readAt - prev.at.readAt)) * 100));
    if (!prev || now.readAt > prev.at.readAt) this.lastProbed.set(name, { at: now, pct });
    return { cpu_pct: pct, rss_bytes: now.rssBytes ?? 0, procs: now.procs ?? 0, child_rss_avg_bytes: null, child_rss_max_bytes: null };
  }

  private prime(): void {
    const all = this.source.snapshot();
    for (const [name, procs] of this.trees(all)) this.lastTicks.set(name, sumTicks(procs));
    const cg = this.targets.cgroup;
    if (cg) this.lastCg = cpuUsageNs(cg.cpuacct, cg.version);
    for (const [name, now] of this.targets.probe?.latest ?? []) this.lastProbed.set(name, { at: now, pct: 0 });
  }

  /**
   * Takes one sample now (the timer calls it every interval). A read that fails throws and leaves the previous
   * figures in place, so the next sample's window runs from the last good one, not from the failed attempt.
   */
  async sample(): Promise<void> {
    if (this.busy) return; // a slow /metrics answer must not pile up samples
    this.busy = true;
    try {
      const all = this.source.snapshot();
      const now = this.source.now();
      const dtS = (now - this.lastAt) / 1000;
      this.lastAt = now;
      const hz = clockTicksPerSecond();
      const services: Record<string, ServiceSample> = {};
      for (const [name, procs] of this.trees(all)) {
        const ticks = sumTicks(procs);
        const prev = this.lastTicks.get(name) ?? ticks;
        this.lastTicks.set(name, ticks);
        const kids = procs.slice(1);
        const childRss = kids.map((p) => p.rssBytes);
        services[name] = {
          // A child that exits takes its ticks with it: never report a negative share.
          cpu_pct: Math.max(0, round1(((ticks - prev) / hz / dtS) * 100)),
          rss_bytes: procs.reduce((a, p) => a + p.rssBytes, 0),
          procs: procs.length,
          child_rss_avg_bytes: childRss.length ? Math.round(childRss.reduce((a, b) => a + b, 0) / childRss.length) : null,
          child_rss_max_bytes: childRss.length ? Math.max(...childRss) : null,
        };
      }
      let cgroup: Sample['cgroup'] = null;
      const cg = this.targets.cgroup;
      const probe = this.targets.probe;
      if (probe) {
        for (const [name, now] of probe.latest) services[name] = this.probed(name, now);
        const all = [...probe.latest.keys()].map((n) => services[n]!);
        const mem = [...probe.latest.values()].map((v) => v.memoryBytes);
        cgroup = {
          cpu_pct: round1(all.reduce((a, x) => a + x.cpu_pct, 0)),
          memory_bytes: mem.every((m) => m !== null) ? mem.reduce((a, m) => a! + m!, 0) : null,
        };
      } else if (cg) {
        const cpuNs = cpuUsageNs(cg.cpuacct, cg.version);
        const cpuPct = cpuNs !== null && this.lastCg !== null ? round1(((cpuNs - this.lastCg) / 1e9 / dtS) * 100) : null;
        this.lastCg = cpuNs;
        cgroup = { cpu_pct: cpuPct, memory_bytes: memoryUsageBytes(cg.memory, cg.version) };
      }
      let queue: Sample['queue'] = null;
      const q = this.targets.queue;
      if (q) {
        const m = await fetchQueueMetrics(q.host, q.metricsPort, 800);
        if (m) {
          const drained = m.drained ?? m.dequeued;
          const last = this.lastDrained;
          const rate = drained !== null && last !== null && now > last.at ? round1((drained - last.rows) / ((now - last.at) / 1000)) : null;
          this.lastDrained = drained === null ? null : { rows: drained, at: now };
          queue = { depth: m.depth, enqueued: m.enqueued, drained, drain_per_s: rate };
        }
      }
      this.samples.push({ t: round1((Date.now() - this.t0) / 1000), services, cgroup, queue });
    } finally {
      this.busy = false;
    }
  }
}

function sumTicks(ps: ProcStat[]): number {
  return ps.reduce((a, p) => a + p.ticks, 0);
}

const round1 = (x: number) => Math.round(x * 10) / 10;
