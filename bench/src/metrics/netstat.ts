// The kernel's TCP counters that show listen-queue trouble: ListenOverflows (accept queue full),
// ListenDrops (SYN dropped at a listener, overflows included) and TCPSynRetrans (SYNs the clients had to
// send again, each after 1 s, 3 s, 7 s...). They live in /proc/net/netstat (TcpExt) and count for the
// whole network namespace since boot, so a run records their difference over its own window.
import { readFileSync } from 'node:fs';

export const LISTEN_COUNTERS = ['ListenOverflows', 'ListenDrops', 'TCPSynRetrans'] as const;
export type ListenCounter = (typeof LISTEN_COUNTERS)[number];
export type ListenCounters = Record<ListenCounter, number | null>;

/**
 * Parses /proc/net/netstat or /proc/net/snmp: pairs of lines `Prefix: name name ...` / `Prefix: n n ...`.
 * Returns `Prefix.name -> value` (e.g. `TcpExt.ListenOverflows`).
 */
export function parseNetstat(text: string): Map<string, number> {
  const out = new Map<string, number>();
  const lines = text.split('\n').filter((l) => l.trim() !== '');
  for (let i = 0; i + 1 < lines.length; i += 2) {
    const [prefix, ...names] = lines[i]!.trim().split(/\s+/);
    const [prefix2, ...values] = lines[i + 1]!.trim().split(/\s+/);
    if (!prefix || prefix !== prefix2 || names.length !== values.length) {
      throw new Error(`unexpected netstat format near line ${i + 1}: ${JSON.stringify(lines[i]!.slice(0, 60))}`);
    }
    const p = prefix.replace(/:$/, '');
    names.forEach((n, j) => out.set(`${p}.${n}`, Number(values[j])));
  }
  return out;
}

export function listenCounters(parsed: Map<string, number>): ListenCounters {
  return Object.fromEntries(LISTEN_COUNTERS.map((c) => [c, parsed.get(`TcpExt.${c}`) ?? null])) as ListenCounters;
}

/** The listen counters now, or null when /proc/net/netstat cannot be read (not Linux). */
export function readListenCounters(file = '/proc/net/netstat'): ListenCounters | null {
  try {
    return listenCounters(parseNetstat(readFileSync(file, 'utf8')));
  } catch {
    return null;
  }
}

/** after - before per counter; null where either side is missing. */
export function counterDelta(before: ListenCounters | null, after: ListenCounters | null): ListenCounters {
  return Object.fromEntries(
    LISTEN_COUNTERS.map((c) => {
      const a = before?.[c];
      const b = after?.[c];
      return [c, a === null || a === undefined || b === null || b === undefined ? null : b - a];
    }),
  ) as ListenCounters;
}
