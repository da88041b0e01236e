// This network namespace's TCP sockets as /proc/net/tcp and /proc/net/tcp6 list them (proc_net_tcp(5)): the
// one reader of those files. Ports are hex after the address's last ':', the state is a hex code.
import { readFile } from 'node:fs/promises';

/** The `st` codes the lab looks for (include/net/tcp_states.h). */
export const TCP_STATE = { TIME_WAIT: '06', LISTEN: '0A' } as const;

export interface TcpSocket {
  /** This end's address, as `remoteAddress` (a port bound to one address may be another's ephemeral port). */
  localAddress: string;
  localPort: number;
  remotePort: number;
  /** The peer's address: dotted IPv4 (an IPv4-mapped IPv6 one too), else the 32 hex digits as written. */
  remoteAddress: string;
  /** Hex state code as written, e.g. '0A' (LISTEN). */
  state: string;
  /** The socket's inode: a process holds it as fd -> `socket:[inode]`. */
  inode: string;
}

const portOf = (address: string): number => parseInt(address.slice(address.lastIndexOf(':') + 1), 16);

/** The kernel writes each 32-bit word in host order (little-endian here): 0100007F is 127.0.0.1. */
const word = (hex: string): string => [6, 4, 2, 0].map((i) => parseInt(hex.slice(i, i + 2), 16)).join('.');

function addressOf(address: string): string {
  const hex = address.slice(0, address.lastIndexOf(':'));
  if (hex.length === 8) return word(hex);
  // ::ffff:a.b.c.d, word by word: 0, 0, ffff in the third word's high half, then the IPv4 address.
  if (hex.length === 32 && /^0{16}FFFF0000$/i.test(hex.slice(0, 24))) return word(hex.slice(24));
  return hex;
}

/** The rows of /proc/net/tcp-format text (IPv4 or IPv6); the header and short lines are skipped. */
export function parseTcpSockets(text: string): TcpSocket[] {
  const out: TcpSocket[] = [];
  for (const line of text.split('\n')) {
    // "   0: 0100007F:1F90 0100007F:C350 06 00000000:00000000 03:00001770 00000000     0        0 0 3"
    const f = line.trim().split(/\s+/);
    if (f.length < 10 || !f[0]!.endsWith(':')) continue;
    out.push({ localAddress: addressOf(f[1]!), localPort: portOf(f[1]!), remotePort: portOf(f[2]!), remoteAddress: addressOf(f[2]!), state: f[3]!, inode: f[9]! });
  }
  return out;
}

/** Every TCP socket now, IPv4 and IPv6; a file that cannot be read (no IPv6, not Linux) adds none. */
export async function readTcpSockets(): Promise<TcpSocket[]> {
  const texts = await Promise.all(['/proc/net/tcp', '/proc/net/tcp6'].map((f) => readFile(f, 'utf8').catch(() => '')));
  // A busy machine lists 100k sockets and more: no spread into push().
  return texts.flatMap(parseTcpSockets);
}
