// Did the stack get its CPU budget, and what did the load generator cost? Read from the two cgroups
// (the stack's and the generator's, siblings) and /proc/stat at the start and end of the measured window.
import { clockTicksPerSecond, hostCpuTimes } from '@eserver-lab/common/proc-stat';
import { cpuThrottling, cpuUsageNs, type Throttling } from '../host/cgroup.js';
import type { AppliedLimits } from '../lab/types.js';

export interface BudgetSnapshot {
  /** Monotonic time, ms. */
  at: number;
  stackNs: number | null;
  /** v1/v2 cpu.stat of the stack: periods and throttled periods. */
  nrPeriods: number | null;
  nrThrottled: number | null;
  throttledNs: number | null;
  generatorNs: number | null;
  /** Host CPU time spent busy (all CPUs), from /proc/stat, ns. */
  hostBusyNs: number | null;
}

export interface CpuBudget {
  window_s: number;
  host_cpus: number;
  stack: {
    cgroup: string | null;
    cpus: number | null;
    quota_us: number | null;
    period_us: number | null;
    weight: number | null;
    cpu_s: number | null;
    /** Stack CPU ÷ (window × quota): 1 = it used its whole quota. */
    used_of_quota: number | null;
    nr_periods: number | null;
    nr_throttled: number | null;
    /** Share of the periods in which the quota ran out. */
    throttled_share: number | null;
  };
  generator: {
    cgroup: string | null;
    weight: number | null;
    cpu_s: number | null;
    cpu_us_per_request: number | null;
    /** Generator CPU ÷ (window × host CPUs). */
    host_share: number | null;
    /** Generator CPU ÷ (window × the CPUs the stack's quota leaves to it). */
    used_of_rest: number | null;
    /** The runner's pid was outside the stack's group during the load (checked, not assumed). */
    outside_stack: boolean | null;
  };
  /** Busy CPU outside the two groups (other users of a shared machine), seconds. */
  others_cpu_s: number | null;
  warnings: string[];
}

/** Busy CPU time of the host (all CPUs) so far, ns, from /proc/stat in its real clock ticks. */
function hostBusyNs(): number | null {
  const t = hostCpuTimes();
  return t === null ? null : ((t.total - t.idle) * 1e9) / clockTicksPerSecond();
}

const NO_THROTTLING: Throttling = { nrPeriods: null, nrThrottled: null, throttledNs: null };

/**
 * `stackNs`: the stack's CPU time when it is read elsewhere (a stack on another machine, through its engine),
 * with its parent's throttling when that host's cpu.stat could be read.
 */
export function snapshot(
  limits: AppliedLimits | null, generatorUsage: () => number | null, stackNs?: { ns: number | null; at: number; throttling?: Throttling | null },
): BudgetSnapshot {
  const dirs = limits?.usageDirs;
  const version = limits?.cgroupVersion ?? null;
  if (stackNs) {
    return { at: stackNs.at, stackNs: stackNs.ns, ...(stackNs.throttling ?? NO_THROTTLING), generatorNs: generatorUsage(), hostBusyNs: hostBusyNs() };
  }
  const stackNs0 = dirs && version ? cpuUsageNs(dirs.cpuacct, version) : null;
  const t = cpuThrottling(limits?.cgroup ?? null);
  return { at: performance.now(), stackNs: stackNs0, ...t, generatorNs: generatorUsage(), hostBusyNs: hostBusyNs() };
}

const diff = (a: number | null, b: number | null) => (a === null || b === null ? null : b - a);
const round = (x: number | null, d = 3) => (x === null ? null : Math.round(x * 10 ** d) / 10 ** d);

export interface EvaluateInput {
  start: BudgetSnapshot;
  end: BudgetSnapshot;
  limits: AppliedLimits | null;
  hostCpus: number;
  /** Requests completed in the window (succeeded + failed). */
  requests: number;
  generator: { cgroup: string | null; weight: number | null; outsideStack: boolean | null };
  /**
   * Other stacks loaded at the same time (the 2013-style control beside ours): their quotas leave less CPU
   * to the generator, and their CPU is theirs, not other users'.
   */
  siblings?: { cpus: number; cpuNs: number | null };
  /**
   * The generator runs on another machine than the stack (a remote Docker engine): all of its `cpus` are the
   * generator's, `hostCpus` are the stack's host's, and host busy time (this machine's) less the generator's
   * is others' work on the generator's machine.
   */
  generatorHost?: { cpus: number };
}

/** Below this share of its quota the stack did not get (or did not need) its budget. */
export const QUOTA_REACHED = 0.9;
/** The generator counts as saturated above this share of the CPU left to it. */
const GENERATOR_SATURATED = 0.9;

/** The stack's CPU between two snapshots ÷ its quota over that time (1 = it used its whole budget). */
export function usedOfQuota(start: BudgetSnapshot, end: BudgetSnapshot, cpus: number | null): number | null {
  const stackNs = diff(start.stackNs, end.stackNs);
  const windowS = (end.at - start.at) / 1000;
  return stackNs !== null && cpus && windowS > 0 ? stackNs / 1e9 / (windowS * cpus) : null;
}

/** The figures and the warnings; pure, so that every warning can be tested. */
export function evaluateBudget(i: EvaluateInput): CpuBudget {
  const windowS = (i.end.at - i.start.at) / 1000;
  const stackNs = diff(i.start.stackNs, i.end.stackNs);
  const genNs = diff(i.start.generatorNs, i.end.generatorNs);
  const hostNs = diff(i.start.hostBusyNs, i.end.hostBusyNs);
  const cpus = i.limits?.cpus ?? null;
  const periods = diff(i.start.nrPeriods, i.end.nrPeriods);
  const throttled = diff(i.start.nrThrottled, i.end.nrThrottled);
  const usedQuota = usedOfQuota(i.start, i.end, cpus);
  const rest = i.generatorHost ? i.generatorHost.cpus : cpus !== null ? Math.max(0, i.hostCpus - cpus - (i.siblings?.cpus ?? 0)) : null;
  const usedOfRest = genNs !== null && rest ? genNs / 1e9 / (windowS * rest) : null;
  const throttledShare = periods && throttled !== null ? throttled / periods : null;
  const warnings: string[] = [];
  if (i.generator.outsideStack === false) warnings.push("the load generator ran inside the stack's cgroup: the stack's budget paid for it");
  // On the whole machine (quota = every CPU) the generator shares the CPUs: the quota is no target then.
  if (usedQuota !== null && cpus !== null && cpus < i.hostCpus && usedQuota < QUOTA_REACHED) {
    const pct = Math.round(usedQuota * 100);
    if (usedOfRest !== null && usedOfRest >= GENERATOR_SATURATED) {
      warnings.push(
        `the load generator was the bottleneck: its cgroup used ${Math.round(usedOfRest * 100)}% of the ${rest} CPU left to it, ` +
          `while the stack used only ${pct}% of its ${cpus}-CPU quota` +
          (throttledShare !== null ? ` (throttled in ${Math.round(throttledShare * 100)}% of periods)` : '') +
          '. The figure is the generator\'s limit, not the stack\'s',
      );
    } else {
      warnings.push(
        `the stack used only ${pct}% of its ${cpus}-CPU quota: it did not reach its budget ` +
          '(not enough load, waiting on something other than CPU, or starved by other work on the host)',
      );
    }
  }
  const siblingNs = i.siblings ? i.siblings.cpuNs : 0;
  const others = i.generatorHost
    ? (hostNs !== null && genNs !== null ? Math.max(0, hostNs - genNs) / 1e9 : null)
    : hostNs !== null && stackNs !== null && genNs !== null && siblingNs !== null ? Math.max(0, hostNs - stackNs - genNs - siblingNs) / 1e9 : null;
  return {
    window_s: round(windowS, 2)!,
    host_cpus: i.hostCpus,
    stack: {
      cgroup: i.limits?.cgroup ?? null,
      cpus,
      quota_us: i.limits?.cpuQuotaUs ?? null,
      period_us: i.limits?.cpuPeriodUs ?? null,
      weight: i.limits?.cpuWeight ?? null,
      cpu_s: round(stackNs === null ? null : stackNs / 1e9),
      used_of_quota: round(usedQuota),
      nr_periods: periods,
      nr_throttled: throttled,
      throttled_share: round(throttledShare),
    },
    generator: {
      cgroup: i.generator.cgroup,
      weight: i.generator.weight,
      cpu_s: round(genNs === null ? null : genNs / 1e9),
      cpu_us_per_request: genNs !== null && i.requests > 0 ? round(genNs / 1000 / i.requests, 1) : null,
      host_share: round(genNs === null ? null : genNs / 1e9 / (windowS * (i.generatorHost?.cpus ?? i.hostCpus))),
      used_of_rest: round(usedOfRest),
      outside_stack: i.generator.outsideStack,
    },
    others_cpu_s: round(others),
    warnings,
  };
}

/** One line for the summary. */
export function budgetLine(b: CpuBudget): string {
  const s = b.stack;
  const g = b.generator;
  const pct = (x: number | null) => (x === null ? '?' : `${Math.round(x * 100)}%`);
  return (
    `CPU budget: stack ${s.cpu_s ?? '?'} CPU-s = ${pct(s.used_of_quota)} of its ${s.cpus ?? 'unlimited'}-CPU quota` +
    (s.period_us
      ? ` (${s.quota_us} µs per ${s.period_us} µs, ${s.throttled_share === null ? 'throttling not read' : `throttled in ${pct(s.throttled_share)} of periods`})`
      : '') +
    `; generator ${g.cpu_s ?? '?'} CPU-s, ${g.cpu_us_per_request ?? '?'} µs/request, ${pct(g.host_share)} of the host` +
    `; others ${b.others_cpu_s ?? '?'} CPU-s over ${b.window_s} s.`
  );
}
