// What a result records about listen queues: the kernel limits in force during the profile, the backlog
// each service was configured with, and the overflow / drop / SYN-retransmit counts over its window.
// Those counters are the first thing to read when p99 is in seconds: a dropped SYN costs a client 1 s,
// 3 s, 7 s... of idle backoff, and the figure then swings with the backoff instead of with the stack.
import { effectiveBacklog, readListenSysctls, type ListenSysctl } from './lab/sysctl.js';
import { counterDelta, readListenCounters, type ListenCounters } from './metrics/netstat.js';

export interface ListenQueuesRecord {
  sysctl: Record<ListenSysctl, number | null>;
  /** Configured backlog per service (the kernel caps each at somaxconn); null without a stack of ours. */
  backlog: { nginx: number; 'php-fpm': number; 'queue-server': number } | null;
  effective_backlog: number | null;
  /** Deltas of /proc/net/netstat TcpExt over the warm-up and the measured window. */
  counters: ListenCounters;
  note: string;
}

/** The backlog a stack was started with (StackInfo.config.listen.backlog), when it says. */
export function stackBacklog(config: Record<string, unknown> | null | undefined): number | null {
  const listen = config?.['listen'] as { backlog?: unknown } | undefined;
  return typeof listen?.backlog === 'number' ? listen.backlog : null;
}

/** Starts counting; call the returned function when the load has stopped. */
export function watchListenQueues(stackConfig: Record<string, unknown> | null): () => ListenQueuesRecord {
  const before = readListenCounters();
  return () => {
    const counters = counterDelta(before, readListenCounters());
    const sysctl = readListenSysctls();
    const n = stackBacklog(stackConfig);
    return {
      sysctl,
      backlog: n === null ? null : { nginx: n, 'php-fpm': n, 'queue-server': n },
      effective_backlog: n === null ? null : effectiveBacklog(n, sysctl['net.core.somaxconn']),
      counters,
      note: 'counters are the whole network namespace: other load on the machine during the window counts too',
    };
  };
}

/** One line for the summary, beside webbench's two. */
export function listenLine(r: ListenQueuesRecord): string {
  const c = r.counters;
  const backlog = r.backlog ? `backlog ${r.backlog.nginx}${r.effective_backlog !== r.backlog.nginx ? ` (capped to ${r.effective_backlog})` : ''}, ` : '';
  return `Listen queues: ${backlog}somaxconn ${r.sysctl['net.core.somaxconn'] ?? '?'}, tcp_max_syn_backlog ${r.sysctl['net.ipv4.tcp_max_syn_backlog'] ?? '?'}; ` +
    `ListenOverflows ${c.ListenOverflows ?? '?'}, ListenDrops ${c.ListenDrops ?? '?'}, TCPSynRetrans ${c.TCPSynRetrans ?? '?'}`;
}
