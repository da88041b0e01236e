// The load's own host on this machine (issue 25 item 3): a network namespace whose only link is a veth pair
// to this one, so that the generator's packets cross a link to the stack as webbench's crossed the LAN in
// 2013 (its own TCP stack, ports, SYN retries and sysctls), while its CPU stays in its cgroup on this host.
// Addresses come from 198.19.0.0/16, half of RFC 2544's benchmarking range: the other half, 198.18.0.0/16,
// is the second Docker engine's (bench/scripts/docker-engine-remote.sh), and nothing outside the range is
// ever used. Each run takes a /30 of its own, named after its pid, so two runs at once do not collide.
//
// nsenter --net, not `ip netns exec`: the latter remounts /sys, which would hide the cgroup tree from the
// generator (it enters its cgroup by writing there).
import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import { teardownOnSignal } from './on-signal.js';
import { measuringCommand } from './measuring-home.js';

const run = promisify(execFile);

/** The part of 198.18.0.0/15 (RFC 2544) the load namespaces take their /30s from. */
export const LOAD_NET = '198.19.0.0/16';

export interface LoadNamespace {
  name: string;
  /** The pair's two ends: this namespace's, and the load namespace's. */
  veth: { host: string; ns: string };
  /** The stack listens on `host` (this namespace's end); the generator's packets come from `ns`. */
  addresses: { host: string; ns: string; prefix: 30 };
  /** nsenter's handle on the namespace. */
  path: string;
}

/** Whether `addr` is an IPv4 address inside 198.18.0.0/15, the only range a load namespace may use. */
export function inBenchmarkRange(addr: string): boolean {
  const m = /^198\.(18|19)\.(\d{1,3})\.(\d{1,3})$/.exec(addr);
  return m !== null && Number(m[2]) <= 255 && Number(m[3]) <= 255;
}

/**
 * Names and addresses of run `pid`'s namespace: its /30 is the first one of 198.19.0.0/16 from the pid's
 * slot on that holds none of `used` (the IPv4 addresses already on this machine's interfaces).
 */
export function planLoadNamespace(pid: number, used: ReadonlySet<string>): LoadNamespace {
  const slots = 1 << 14; // /30s in a /16
  for (let k = 0; k < slots; k++) {
    const i = (pid + k) % slots;
    const quad = [0, 1, 2, 3].map((d) => `198.19.${i >> 6}.${((i & 63) << 2) + d}`);
    if (quad.some((q) => used.has(q))) continue;
    const name = `esl-load-${pid}`;
    return {
      name,
      // Interface names: 15 characters at most; a pid has at most 7 digits.
      veth: { host: `esll${pid}h`, ns: `esll${pid}n` },
      addresses: { host: quad[1]!, ns: quad[2]!, prefix: 30 },
      path: `/run/netns/${name}`,
    };
  }
  throw new Error(`no free /30 left in ${LOAD_NET}`);
}

/** The IPv4 addresses on this namespace's interfaces. */
async function addressesInUse(): Promise<Set<string>> {
  const { stdout } = await run('ip', ['-4', '-o', 'addr', 'show']);
  return new Set([...stdout.matchAll(/\sinet (\d+\.\d+\.\d+\.\d+)\//g)].map((m) => m[1]!));
}

/** A command line as run somewhere else than here (inside a load namespace). */
export type CommandWrap = (cmd: string, args: readonly string[]) => { cmd: string; args: string[] };

/** `cmd args` as run inside the namespace. */
export function wrap(ns: LoadNamespace, cmd: string, args: readonly string[]): { cmd: string; args: string[] } {
  return { cmd: 'nsenter', args: [`--net=${ns.path}`, '--', cmd, ...args] };
}

/** Why a network namespace with a veth pair (a load's, the second Docker engine's) cannot be made here, or null. */
export function cannotMakeNetworkNamespace(): string | null {
  if (process.platform !== 'linux') return `not Linux (${process.platform})`;
  if (process.getuid?.() !== 0) return 'not root (a network namespace and a veth pair need root)';
  for (const [cmd, args, pkg] of [['ip', ['netns', 'list'], 'iproute2'], ['nsenter', ['--version'], 'util-linux']] as const) {
    try {
      execFileSync(cmd, args, { stdio: 'ignore' });
    } catch {
      return `'${cmd} ${args.join(' ')}' does not work here (apt-get install -y ${pkg}, as root)`;
    }
  }
  return null;
}

/** What is left on this machine of a namespace and the host's end of its pair. Empty: nothing. */
export function namespaceLeftovers(name: string, vethHost: string): string[] {
  const left: string[] = [];
  const list = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' }).split('\n').map((l) => l.split(' ')[0]);
  if (list.includes(name)) left.push(`network namespace ${name}`);
  try {
    execFileSync('ip', ['link', 'show', vethHost], { stdio: 'ignore' });
    left.push(`veth ${vethHost}`);
  } catch {
    /* gone */
  }
  return left;
}

/** What is left of a load namespace on this machine. Empty: nothing. */
export function loadNamespaceLeftovers(ns: Pick<LoadNamespace, 'name' | 'veth'>): string[] {
  return namespaceLeftovers(ns.name, ns.veth.host);
}

/** Deletes the namespace (its end of the pair with it, and so the pair) and the host's end if still there. */
function removeSync(ns: LoadNamespace): void {
  try {
    execFileSync('ip', ['netns', 'del', ns.name], { stdio: 'ignore' });
  } catch {
    /* not there */
  }
  try {
    execFileSync('ip', ['link', 'del', ns.veth.host], { stdio: 'ignore' });
  } catch {
    /* gone with the namespace */
  }
}

/** Namespaces made and not yet removed: a process.exit (a crash's) removes them synchronously. */
const made = new Set<LoadNamespace>();
function removeMadeSync(): void {
  for (const ns of made) removeSync(ns);
  made.clear();
}

/**
 * Makes this run's namespace and its veth pair, both ends up, with the /30's addresses; the generator's
 * end has no route beyond the /30, so the stack's address is the only one it can reach. A Ctrl-C (the
 * project's one handler) or an exit removes it; otherwise the caller calls `removeLoadNamespace`.
 */
export async function createLoadNamespace(log: (l: string) => void, pid = process.pid): Promise<LoadNamespace> {
  const why = cannotMakeNetworkNamespace();
  if (why) throw new Error(`--load-host netns: cannot make a network namespace here: ${why}`);
  const ns = planLoadNamespace(pid, await addressesInUse());
  for (const a of [ns.addresses.host, ns.addresses.ns]) if (!inBenchmarkRange(a)) throw new Error(`${a} is outside 198.18.0.0/15`);
  const stale = loadNamespaceLeftovers(ns);
  if (stale.length > 0) {
    // A run with this pid that was killed outright: its leftovers are ours by name.
    log(`load namespace: removing ${stale.join(' and ')} left by an earlier run with pid ${pid}`);
    removeSync(ns);
  }
  if (made.size === 0) process.on('exit', removeMadeSync);
  made.add(ns);
  const untrap = teardownOnSignal(() => removeLoadNamespace(ns), { label: 'load namespace: ' });
  untraps.set(ns, untrap);
  const ip = async (...args: string[]) => {
    await run('ip', args).catch((e: Error & { stderr?: string }) => {
      throw new Error(`ip ${args.join(' ')}: ${e.stderr?.trim() || e.message}`);
    });
  };
  try {
    const { host, ns: inside, prefix } = ns.addresses;
    await ip('netns', 'add', ns.name);
    await ip('link', 'add', ns.veth.host, 'type', 'veth', 'peer', 'name', ns.veth.ns);
    await ip('link', 'set', ns.veth.ns, 'netns', ns.name);
    await ip('addr', 'add', `${host}/${prefix}`, 'dev', ns.veth.host);
    await ip('link', 'set', ns.veth.host, 'up');
    await ip('-n', ns.name, 'addr', 'add', `${inside}/${prefix}`, 'dev', ns.veth.ns);
    await ip('-n', ns.name, 'link', 'set', ns.veth.ns, 'up');
    await ip('-n', ns.name, 'link', 'set', 'lo', 'up');
    // A fresh namespace reuses TIME_WAIT ports for new connections on loopback only (tcp_tw_reuse 2). A
    // webbench run's clients close first when its alarm fires, so a run leaves 10,000 TIME_WAIT sockets here
    // for 60 s: over the veth the next run's 10,000 connect()s then search a port range two-thirds taken, its
    // clients spin runnable, its forks crawl, and a run lasted 89 s for -t 30 (2026-12-06, after a warm-up
    // run, since dropped). Reuse, as loopback has it in this namespace's place, takes that away.
    for (const [key, value] of CLIENT_TUNING) {
      const w = wrap(ns, 'sh', ['-c', 'echo "$2" > "/proc/sys/$1"', 'sh', key.replace(/\./g, '/'), value]);
      await run(w.cmd, w.args);
    }
  } catch (err) {
    await removeLoadNamespace(ns);
    throw err;
  }
  log(`load namespace ${ns.name}: the generator at ${ns.addresses.ns} (${ns.veth.ns}), the stack at ${ns.addresses.host} (${ns.veth.host})`);
  return ns;
}

const untraps = new Map<LoadNamespace, () => void>();

/** Removes the namespace and the pair; throws, naming them, when something is left. */
export async function removeLoadNamespace(ns: LoadNamespace): Promise<void> {
  removeSync(ns);
  made.delete(ns);
  if (made.size === 0) process.off('exit', removeMadeSync);
  untraps.get(ns)?.();
  untraps.delete(ns);
  const left = loadNamespaceLeftovers(ns);
  if (left.length > 0) throw new Error(`load namespace: still there: ${left.join(', ')}`);
}

/** What the namespace sets on its own kernel defaults (recorded, with the rest, in CLIENT_SYSCTLS). */
export const CLIENT_TUNING: ReadonlyArray<readonly [string, string]> = [['net.ipv4.tcp_tw_reuse', '1']];

/** The namespace's own sysctls that shape the client side of a connection (read inside it). */
export const CLIENT_SYSCTLS = [
  'net.ipv4.ip_local_port_range',
  'net.ipv4.tcp_tw_reuse',
  'net.ipv4.tcp_syncookies',
  'net.ipv4.tcp_syn_retries',
  'net.ipv4.tcp_fin_timeout',
] as const;

/** The namespace's sysctls (read inside it) and the generator's end's MTU (netlink: nsenter keeps this /sys). */
export async function loadNamespaceSettings(ns: LoadNamespace): Promise<{ sysctl: Record<string, string | null>; mtu: number | null }> {
  const sysctl: Record<string, string | null> = {};
  for (const k of CLIENT_SYSCTLS) sysctl[k] = (await readInside(ns, `/proc/sys/${k.replace(/\./g, '/')}`))?.trim().replace(/\s+/g, ' ') || null;
  const link = await run('ip', ['-n', ns.name, '-o', 'link', 'show', 'dev', ns.veth.ns]).then((r) => r.stdout, () => '');
  const mtu = /\smtu (\d+)/.exec(link);
  return { sysctl, mtu: mtu ? Number(mtu[1]) : null };
}

/** A file of /proc as a process inside the namespace sees it (its /proc/net is the namespace's), or null. */
export async function readInside(ns: LoadNamespace, file: string): Promise<string | null> {
  const w = wrap(ns, 'cat', [file]);
  const c = measuringCommand(w.cmd, w.args);
  try {
    // /proc/net/tcp under 10,000 clients is megabytes: execFile's 1 MB default would cut it off (an error).
    return (await run(c.cmd, c.args, { maxBuffer: 512 * 1024 * 1024 })).stdout;
  } catch {
    return null;
  }
}
