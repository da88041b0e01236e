// IP allow-list checked at accept: exact addresses and CIDRs, IPv4, IPv6, and IPv4-mapped IPv6
// (a dual-stack listener reports IPv4 peers as ::ffff:a.b.c.d). IPv4 rules are also compiled to
// (network, mask) pairs: BlockList.check builds a SocketAddress per call, which showed up at ~3% of the
// server's CPU with a new connection per request from many source addresses. IPv6 goes to BlockList.
import { BlockList, isIP } from 'node:net';

export const DEFAULT_ALLOW = ['127.0.0.0/8', '::1'];

const MAPPED_V4 = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i;

export class AllowList {
  readonly rules: readonly string[];
  private readonly list = new BlockList();
  private readonly allowAll: boolean;
  private readonly v4: Array<[number, number]> = []; // [network, mask], unsigned 32-bit
  // Clients come back from a handful of addresses; remembering verdicts keeps BlockList off the accept path.
  private readonly cache = new Map<string, boolean>();

  constructor(rules: readonly string[] = DEFAULT_ALLOW) {
    this.rules = [...rules];
    let all = false;
    for (const raw of rules) {
      const rule = raw.trim();
      if (rule === '*' || rule === '0.0.0.0/0') {
        all = true;
        continue;
      }
      const slash = rule.indexOf('/');
      const addr = normalize(slash < 0 ? rule : rule.slice(0, slash));
      const family = isIP(addr);
      if (family === 0) throw new Error(`allow-list: "${raw}" is not an IP address or CIDR`);
      const type = family === 4 ? 'ipv4' : 'ipv6';
      if (family === 4) {
        const bits = slash < 0 ? 32 : Number(rule.slice(slash + 1));
        if (slash >= 0 && (!/^\d+$/.test(rule.slice(slash + 1)) || bits > 32)) throw new Error(`allow-list: "${raw}" has a bad prefix length`);
        const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
        this.v4.push([((parseV4(addr) as number) & mask) >>> 0, mask]);
      }
      if (slash < 0) {
        this.list.addAddress(addr, type);
      } else {
        const bitsText = rule.slice(slash + 1);
        const bits = Number(bitsText);
        const max = family === 4 ? 32 : 128;
        if (!/^\d+$/.test(bitsText) || bits > max) throw new Error(`allow-list: "${raw}" has a bad prefix length`);
        this.list.addSubnet(addr, bits, type);
      }
    }
    this.allowAll = all;
  }

  allows(address: string | undefined): boolean {
    if (address === undefined) return false;
    if (this.allowAll) return true;
    const ip = parseV4(address.length > 7 && address.charCodeAt(0) === 58 ? normalize(address) : address);
    if (ip !== null) {
      for (let i = 0; i < this.v4.length; i++) if (((ip & this.v4[i][1]) >>> 0) === this.v4[i][0]) return true;
      return false;
    }
    const hit = this.cache.get(address);
    if (hit !== undefined) return hit;
    const addr = normalize(address);
    const family = isIP(addr);
    const ok = family !== 0 && this.list.check(addr, family === 4 ? 'ipv4' : 'ipv6');
    if (this.cache.size >= 4096) this.cache.clear();
    this.cache.set(address, ok);
    return ok;
  }
}

function normalize(address: string): string {
  const m = MAPPED_V4.exec(address);
  return m ? m[1] : address;
}

/** Dotted-quad IPv4 to an unsigned 32-bit number; null when it is not one. */
function parseV4(s: string): number | null {
  let out = 0;
  let part = 0;
  let digits = 0;
  let dots = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 46) {
      if (digits === 0 || ++dots > 3) return null;
      out = out * 256 + part;
      part = 0;
      digits = 0;
    } else if (c >= 48 && c <= 57) {
      part = part * 10 + (c - 48);
      if (++digits > 3 || part > 255) return null;
    } else {
      return null;
    }
  }
  if (dots !== 3 || digits === 0) return null;
  return out * 256 + part;
}
