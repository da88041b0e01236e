// Processes the runner starts to measure during a load (the engine API's `docker system dial-stdio`, the
// one-off helper containers' docker CLI, `ss`, a read of the load namespace's /proc/net/tcp) are not the load.
// While the runner sits in the generator's cgroup (load/generator-cgroup.ts), whatever it spawns starts there
// and its CPU would count as the generator's: 545 µs/request against the generator process's own 331 in a
// smoke run on a remote engine reached over ssh. Started through `measuringCommand`, they go back to where
// the runner came from before they exec.
import { join } from 'node:path';

let home: readonly string[] | null = null;

/** Where measuring processes start while the runner is in the generator's group; null: where the runner is. */
export function setMeasuringHome(dirs: readonly string[] | null): void {
  home = dirs;
}

/**
 * `file args` as a command that first moves itself into the measuring home (every hierarchy), then execs
 * (same pid: killing it kills the program). A home that is gone is skipped: the program still runs.
 */
export function measuringCommand(file: string, args: readonly string[]): { cmd: string; args: string[] } {
  if (!home || home.length === 0) return { cmd: file, args: [...args] };
  const enter = home.map((d) => `{ echo $$ > '${join(d, 'cgroup.procs')}'; } 2>/dev/null`).join('; ');
  return { cmd: 'sh', args: ['-c', `${enter}; exec "$0" "$@"`, file, ...args] };
}
