// What a result records about listen queues: the kernel limits in force during the profile, the backlog
// each service was configured with, and the overflow / drop / SYN-retransmit counts over its window.
// Those counters are the first thing to read when p99 is in seconds: a dropped SYN costs a client 1 s,
// 3 s, 7 s... of idle backoff, and the figure then swings with the backoff instead of with the stack.
import { effectiveBacklog, readListenSysctls, type ListenSysctl } from '../host/sysctl.js';
import { listenerDrops } from './listener-drops.js';
import { counterDelta, listenCounters, parseNetstat, readListenCounters, type ListenCounters } from './netstat.js';

export interface ListenQueuesRecord {
  sysctl: Record<ListenSysctl, number | null>;
  /** Configured backlog per service (the kernel caps each at somaxconn); null without a stack of ours. */
  backlog: { nginx: number; 'php-fpm': number; 'queue-server': number } | null;
  effective_backlog: number | null;
  /** Deltas of /proc/net/netstat TcpExt over the warm-up and the measured window (whole machine). */
  counters: ListenCounters;
  /**
   * Drops counted by each service's own listening sockets over the same window (overflows included):
   * this stack's alone, whatever else runs on the machine. Null without a stack of ours or without `ss`.
   */
  listener_drops: Record<string, number | null> | null;
  /**
   * Where the sysctls and the listeners' counters were read when not this machine (a stack on a remote
   * engine: its host's, through the engine); TCPSynRetrans, counted by the clients' kernel, stays this one's.
   */
  stack_host?: string;
  note: string;
}

/** A stack's host other than this machine: its listen sysctls and TcpExt counters, read through its engine. */
export interface ListenSource {
  /** Names that host in the record and the line. */
  where: string;
  read(): Promise<{ counters: ListenCounters | null; sysctl: Record<ListenSysctl, number | null> }>;
}

/** The services whose listeners are watched, and the port that is theirs (the queue server's first: the queue). */
export type Listeners = Array<{ name: string; ports: number[] }>;
const LISTENING_SERVICES = ['nginx', 'php-fpm', 'queue-server'];

/** The backlog a stack was started with (StackInfo.config.listen.backlog), when it says. */
export function stackBacklog(config: Record<string, unknown> | null | undefined): number | null {
  const listen = config?.['listen'] as { backlog?: unknown } | undefined;
  return typeof listen?.backlog === 'number' ? listen.backlog : null;
}

/** What remote-host.sh `listen` prints (a host's /proc/net/netstat, then "sysctl SOMAXCONN SYN_BACKLOG"), parsed. */
export function parseRemoteListen(text: string): Awaited<ReturnType<ListenSource['read']>> {
  const i = text.lastIndexOf('\nsysctl ');
  if (i < 0) throw new Error(`no sysctl line in the stack host's listen state: ${JSON.stringify(text.slice(-80))}`);
  const [somaxconn, syn] = text.slice(i + '\nsysctl '.length).trim().split(/\s+/).map(Number);
  const num = (n: number | undefined) => (n !== undefined && Number.isInteger(n) ? n : null);
  return {
    counters: listenCounters(parseNetstat(text.slice(0, i))),
    sysctl: { 'net.core.somaxconn': num(somaxconn), 'net.ipv4.tcp_max_syn_backlog': num(syn) },
  };
}

/**
 * Starts counting; call the returned function when the load has stopped. With `remote`, the stack runs on
 * another host: its sysctls and its listeners' overflows and drops are that host's (its own listeners' drops
 * are not read: `ss` would have to run there), the clients' SYN retransmits this machine's.
 */
export async function watchListenQueues(
  stackConfig: Record<string, unknown> | null, services: Listeners | null, remote?: ListenSource,
): Promise<() => Promise<ListenQueuesRecord>> {
  // In the order the report prints them; MariaDB's listener is not on the HTTP path.
  const own = LISTENING_SERVICES.flatMap((name) => {
    const s = remote ? undefined : services?.find((x) => x.name === name);
    return s && s.ports.length > 0 ? [{ name, port: s.ports[0]! }] : [];
  });
  const ports = own.map((s) => s.port);
  const dropsBefore = ports.length > 0 ? await listenerDrops(ports) : null;
  const before = readListenCounters();
  const remoteBefore = remote ? await remote.read() : null;
  return async () => {
    let counters = counterDelta(before, readListenCounters());
    let sysctl = readListenSysctls();
    if (remote) {
      const after = await remote.read();
      const there = counterDelta(remoteBefore!.counters, after.counters);
      counters = { ...counters, ListenOverflows: there.ListenOverflows, ListenDrops: there.ListenDrops };
      sysctl = after.sysctl;
    }
    const dropsAfter = dropsBefore ? await listenerDrops(ports) : null;
    const listener_drops = dropsBefore && dropsAfter
      ? Object.fromEntries(own.map((s) => {
        const a = dropsBefore.get(s.port);
        const b = dropsAfter.get(s.port);
        return [s.name, a === undefined || b === undefined ? null : b - a];
      }))
      : null;
    const n = stackBacklog(stackConfig);
    return {
      sysctl,
      backlog: n === null ? null : { nginx: n, 'php-fpm': n, 'queue-server': n },
      effective_backlog: n === null ? null : effectiveBacklog(n, sysctl['net.core.somaxconn']),
      counters,
      listener_drops,
      ...(remote ? { stack_host: remote.where } : {}),
      note: remote
        ? `the sysctls, ListenOverflows and ListenDrops are ${remote.where}'s (its whole network namespace), TCPSynRetrans this machine's (the clients'); its listeners' own drops are not read`
        : 'counters are the whole network namespace (other load on the machine counts too); listener_drops are this stack\'s own listening sockets',
    };
  };
}

/** One line for the summary, beside webbench's two. */
export function listenLine(r: ListenQueuesRecord): string {
  const c = r.counters;
  const backlog = r.backlog ? `backlog ${r.backlog.nginx}${r.effective_backlog !== r.backlog.nginx ? ` (capped to ${r.effective_backlog})` : ''}, ` : '';
  return `Listen queues: ${backlog}somaxconn ${r.sysctl['net.core.somaxconn'] ?? '?'}, tcp_max_syn_backlog ${r.sysctl['net.ipv4.tcp_max_syn_backlog'] ?? '?'}; ` +
    (r.stack_host
      ? `ListenOverflows ${c.ListenOverflows ?? '?'}, ListenDrops ${c.ListenDrops ?? '?'} (${r.stack_host}), TCPSynRetrans ${c.TCPSynRetrans ?? '?'} (the generator's host)`
      : `ListenOverflows ${c.ListenOverflows ?? '?'}, ListenDrops ${c.ListenDrops ?? '?'}, TCPSynRetrans ${c.TCPSynRetrans ?? '?'} (whole machine)`) +
    (r.listener_drops ? `; this stack's listeners dropped ${Object.entries(r.listener_drops).map(([k, v]) => `${k} ${v ?? '?'}`).join(', ')}` : '');
}
