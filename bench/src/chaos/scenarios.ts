// What make chaos runs: one fresh stack per scenario, the seed's client.php load, and its faults.
import type { FsyncPolicy } from '@eserver-lab/queue-server';
import type { FaultKind } from './faults.js';

export interface Scenario {
  /** Short name, for --only / --skip. */
  name: string;
  /** The table's "fault" column. */
  label: string;
  fsync: FsyncPolicy;
  faults: FaultKind[];
  /** Put the journal on a small filesystem of this many MiB (the full-disk scenario). */
  journalFsMiB?: number;
  /** Seconds of load, when the faults need more than the default (--duration overrides every scenario). */
  durationS?: number;
}

const kills = (n: number): FaultKind[] => Array.from({ length: n }, () => 'kill-queue' as const);

export const SCENARIOS: Scenario[] = [
  { name: 'kill-always', label: 'kill -9 queue server x5', fsync: 'always', faults: kills(5), durationS: 45 },
  { name: 'kill-interval', label: 'kill -9 queue server x5', fsync: 'interval', faults: kills(5), durationS: 45 },
  { name: 'kill-off', label: 'kill -9 queue server x5', fsync: 'off', faults: kills(5), durationS: 45 },
  { name: 'mysql-restart', label: 'MySQL restart', fsync: 'always', faults: ['restart-mysql'] },
  { name: 'mysql-stop', label: 'MySQL SIGSTOP 10 s', fsync: 'always', faults: ['stop-mysql'] },
  { name: 'fpm-restart', label: 'php-fpm restart', fsync: 'always', faults: ['restart-fpm'] },
  { name: 'full-disk', label: 'full disk under the journal', fsync: 'always', faults: ['full-disk'], journalFsMiB: 32 },
];

/** The scenarios picked by --only / --skip (comma-separated names); unknown names are an error. */
export function pickScenarios(only: string[], skip: string[], all: Scenario[] = SCENARIOS): Scenario[] {
  const names = new Set(all.map((s) => s.name));
  for (const n of [...only, ...skip]) {
    if (!names.has(n)) throw new Error(`unknown chaos scenario '${n}'; known: ${[...names].join(', ')}`);
  }
  return all.filter((s) => (only.length === 0 || only.includes(s.name)) && !skip.includes(s.name));
}
