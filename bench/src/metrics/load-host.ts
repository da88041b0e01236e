// What a result records about where the load ran when it ran in a load namespace (host/netns.ts): the
// namespace and its addresses, its own client-side sysctls, the TCP counters of its own stack (the
// generator's SYN retransmissions are counted there, not in the stack's namespace), which addresses the
// stack's nginx saw connections from, and which side of the connections closed first (the side that closes
// first keeps the TIME_WAIT socket), the figures that explain a tool's pages/min differing from another's.
import { readInside, type LoadNamespace } from '../host/netns.js';
import { parseTcpSockets, readTcpSockets, TCP_STATE, type TcpSocket } from '../host/tcp-sockets.js';
import { counterDelta, listenCounters, parseNetstat, type ListenCounters } from './netstat.js';

export interface LoadHostRecord {
  kind: 'netns';
  netns: string;
  veth: { host: string; ns: string; mtu: number | null };
  /** The stack listens on `stack`, the generator's packets leave from `generator`. */
  addresses: { stack: string; generator: string; prefix: number };
  /** The namespace's own sysctls (a fresh namespace has the kernel's defaults, as a second machine would). */
  sysctl: Record<string, string | null>;
  /** TcpExt deltas inside the namespace over the load (warm-up included); null when unreadable. */
  counters: ListenCounters | null;
  /** Connections on the stack's HTTP port, by peer address, at the middle of the measured window. */
  peers: Record<string, number> | null;
  /** TIME_WAIT sockets of this load's connections right after it: on the stack's side and on the generator's. */
  time_wait: { stack_side: number; generator_side: number | null } | null;
}

/** Where a stack's nginx listens: its address and port. */
export interface Endpoint {
  address: string;
  port: number;
}

/** A socket of the endpoint itself: its port on its address (the same port on another is another socket's). */
const isAt = (s: TcpSocket, at: Endpoint) => s.localPort === at.port && s.localAddress === at.address;

/** Connections (every state but LISTEN) accepted at `at`, by peer address. */
export function peersOf(sockets: readonly TcpSocket[], at: Endpoint): Record<string, number> {
  const out: Record<string, number> = {};
  for (const s of sockets) if (isAt(s, at) && s.state !== TCP_STATE.LISTEN) out[s.remoteAddress] = (out[s.remoteAddress] ?? 0) + 1;
  return out;
}

/** The peers of the stack's nginx now, as this (the stack's) namespace sees them. */
export async function peersNow(at: Endpoint): Promise<Record<string, number>> {
  return peersOf(await readTcpSockets(), at);
}

/** The endpoint of a URL (an IPv4 address and an explicit port, as the lab's stacks give them). */
export function endpointOf(url: string): Endpoint {
  const u = new URL(url);
  return { address: u.hostname, port: Number(u.port) };
}

async function countersInside(ns: LoadNamespace): Promise<ListenCounters | null> {
  const text = await readInside(ns, '/proc/net/netstat');
  try {
    return text === null ? null : listenCounters(parseNetstat(text));
  } catch {
    return null;
  }
}

/**
 * Starts watching a load from `ns` on the stack's nginx at `at`; the returned function, called when the
 * load has stopped, gives the record (the peers are the caller's mid-window reading).
 */
export async function watchLoadHost(
  ns: LoadNamespace, at: Endpoint, settings: { sysctl: Record<string, string | null>; mtu: number | null },
): Promise<(peers: Record<string, number> | null) => Promise<LoadHostRecord>> {
  const before = await countersInside(ns);
  return async (peers) => {
    const [after, stackSide, inside] = await Promise.all([countersInside(ns), readTcpSockets(), readInside(ns, '/proc/net/tcp')]);
    return {
      kind: 'netns',
      netns: ns.name,
      veth: { host: ns.veth.host, ns: ns.veth.ns, mtu: settings.mtu },
      addresses: { stack: ns.addresses.host, generator: ns.addresses.ns, prefix: ns.addresses.prefix },
      sysctl: settings.sysctl,
      counters: before && after ? counterDelta(before, after) : null,
      peers,
      time_wait: {
        stack_side: stackSide.filter((s) => s.state === TCP_STATE.TIME_WAIT && isAt(s, at)).length,
        generator_side: inside === null ? null : parseTcpSockets(inside).filter((s) => s.state === TCP_STATE.TIME_WAIT && s.remotePort === at.port && s.remoteAddress === at.address).length,
      },
    };
  };
}

/** One line for the summary. */
export function loadHostLine(r: LoadHostRecord): string {
  const peers = r.peers ? Object.entries(r.peers).map(([a, n]) => `${a} ${n}`).join(', ') || 'none' : '?';
  const c = r.counters;
  return `Load namespace ${r.netns}: from ${r.addresses.generator} to ${r.addresses.stack} (MTU ${r.veth.mtu ?? '?'}); ` +
    `nginx's connections mid-window by peer: ${peers}; TIME_WAIT after: stack side ${r.time_wait?.stack_side ?? '?'}, generator side ${r.time_wait?.generator_side ?? '?'}; ` +
    `generator's TCPSynRetrans ${c?.TCPSynRetrans ?? '?'}`;
}
