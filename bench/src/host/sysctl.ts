// The kernel's listen-queue limits. Every listen backlog is silently capped at net.core.somaxconn, and
// the SYN queue at net.ipv4.tcp_max_syn_backlog: with the Debian defaults (4096 / 2048) a 10k-client run
// overflows the accept queues, dropped SYNs are retried after 1 s, 3 s, 7 s..., and the figure swings
// with that backoff instead of with the stack. So the lab raises both (never lowers them) when it may,
// and otherwise prints the exact command to run.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_LISTEN_BACKLOG } from '@eserver-lab/common/stack-spec';
/** The 2013 kernel default of somaxconn, for `--listen-backlog 128` (the shallow-queue regime on purpose). */
export const KERNEL_2013_BACKLOG = 128;

export const LISTEN_SYSCTLS = ['net.core.somaxconn', 'net.ipv4.tcp_max_syn_backlog'] as const;
export type ListenSysctl = (typeof LISTEN_SYSCTLS)[number];

export const PROC_SYS = '/proc/sys';

const fileOf = (root: string, key: string) => join(root, ...key.split('.'));

/** An integer sysctl, or null when it cannot be read (no such file, not a number). */
export function readSysctl(key: string, root = PROC_SYS): number | null {
  try {
    const n = Number(readFileSync(fileOf(root, key), 'utf8').trim());
    return Number.isInteger(n) ? n : null;
  } catch {
    return null;
  }
}

export function readListenSysctls(root = PROC_SYS): Record<ListenSysctl, number | null> {
  return Object.fromEntries(LISTEN_SYSCTLS.map((k) => [k, readSysctl(k, root)])) as Record<ListenSysctl, number | null>;
}

export interface SysctlStep {
  key: ListenSysctl;
  current: number | null;
  /** The value to write; null when the current one is already at least `min`. */
  raiseTo: number | null;
}

/** Which sysctls need raising to reach `min`. A value already higher is kept: the lab never lowers one. */
export function planListenSysctls(current: Record<ListenSysctl, number | null>, min = DEFAULT_LISTEN_BACKLOG): SysctlStep[] {
  return LISTEN_SYSCTLS.map((key) => {
    const cur = current[key];
    return { key, current: cur, raiseTo: cur !== null && cur >= min ? null : min };
  });
}

/** The command a root user runs to do what the plan could not. */
export function sysctlCommand(steps: SysctlStep[]): string | null {
  const todo = steps.filter((s) => s.raiseTo !== null);
  return todo.length === 0 ? null : `sysctl -w ${todo.map((s) => `${s.key}=${s.raiseTo}`).join(' ')}`;
}

export interface ListenQueueOutcome {
  /** The values in force after the attempt, read back. */
  in_force: Record<ListenSysctl, number | null>;
  /** The sysctls this call raised, as `key: before -> after`. */
  raised: string[];
  /** Set when some value is still below the minimum: what to run as root. */
  command: string | null;
  /** Why a write failed (EACCES when not root, EROFS in a container...). */
  error: string | null;
}

/**
 * Raises net.core.somaxconn and net.ipv4.tcp_max_syn_backlog to at least `min` by writing below `root`
 * (/proc/sys; a temp directory in tests). It just tries: root with a writable /proc/sys succeeds, anyone
 * else gets the exact `sysctl -w` command back. Values already higher stay as they are.
 */
export function ensureListenSysctls(min = DEFAULT_LISTEN_BACKLOG, root = PROC_SYS): ListenQueueOutcome {
  const before = readListenSysctls(root);
  const raised: string[] = [];
  let error: string | null = null;
  for (const step of planListenSysctls(before, min)) {
    if (step.raiseTo === null) continue;
    try {
      writeFileSync(fileOf(root, step.key), `${step.raiseTo}\n`);
      raised.push(`${step.key}: ${step.current ?? 'unreadable'} -> ${step.raiseTo}`);
    } catch (err) {
      error ??= `${step.key}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`;
    }
  }
  const in_force = readListenSysctls(root);
  return { in_force, raised, command: sysctlCommand(planListenSysctls(in_force, min)), error };
}

/** The backlog a listener really gets: the kernel caps the requested one at somaxconn. */
export function effectiveBacklog(requested: number, somaxconn: number | null): number {
  return somaxconn === null ? requested : Math.min(requested, somaxconn);
}

/** Parses --listen-backlog: an integer 1-65535 (every one of the three services takes that range). */
export function parseListenBacklog(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > DEFAULT_LISTEN_BACKLOG) {
    throw new Error(`--listen-backlog must be an integer 1-${DEFAULT_LISTEN_BACKLOG} (e.g. ${KERNEL_2013_BACKLOG}, the 2013 kernel default), got ${JSON.stringify(v)}`);
  }
  return n;
}

/** What a stack's results record about its listen queues (StackInfo.config.listen). */
export interface ListenQueueConfig {
  /** The backlog nginx, php-fpm and the queue server were configured with. */
  backlog: number;
  /** The same after the kernel's cap (somaxconn) at start-up. */
  effective_backlog: number;
  sysctl: Record<ListenSysctl, number | null>;
  raised: string[];
  /** Set when the sysctls stayed below the deep default: the command to run as root. */
  command: string | null;
}

/**
 * Before a stack starts: deep kernel limits (raised when possible, never lowered), whatever backlog the
 * services get, so that `--listen-backlog 128` studies the services' queues and not a kernel leftover.
 */
export function prepareListenQueues(backlog: number, log: (l: string) => void, root = PROC_SYS): ListenQueueConfig {
  const out = ensureListenSysctls(DEFAULT_LISTEN_BACKLOG, root);
  if (out.raised.length > 0) log(`lab: raised ${out.raised.join(', ')} (deep listen queues; never lowered)`);
  if (out.command) {
    log(
      `lab: WARNING listen queues stay shallow (${LISTEN_SYSCTLS.map((k) => `${k}=${out.in_force[k] ?? '?'}`).join(', ')}; ${out.error ?? 'not writable'}): ` +
        `at 10k clients expect listen overflows and SYN retries. Fix, as root: ${out.command}`,
    );
  }
  const somaxconn = out.in_force['net.core.somaxconn'];
  return { backlog, effective_backlog: effectiveBacklog(backlog, somaxconn), sysctl: out.in_force, raised: out.raised, command: out.command };
}
