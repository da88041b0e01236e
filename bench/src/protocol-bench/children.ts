// Every process the benchmark starts is registered here, so that Ctrl-C or a CI timeout (SIGTERM) of
// the benchmark stops them too instead of leaving orphans holding ports.
import type { ChildProcess } from 'node:child_process';

const live = new Set<ChildProcess>();
const cleanups = new Set<() => Promise<void>>();

/** Registers an async cleanup (e.g. a lab stack's down) to run on a signal; returns its unregister. */
export function onSignalCleanup(fn: () => Promise<void>): () => void {
  cleanups.add(fn);
  return () => cleanups.delete(fn);
}
let installed = false;

export function track(child: ChildProcess): ChildProcess {
  live.add(child);
  child.once('exit', () => live.delete(child));
  return child;
}

/** Installs SIGINT/SIGTERM handlers that SIGKILL the tracked children (by their pid) and exit 130/143. */
export function stopChildrenOnSignal(): void {
  if (installed) return;
  installed = true;
  for (const [sig, code] of [['SIGINT', 130], ['SIGTERM', 143]] as const) {
    process.once(sig, () => {
      for (const c of live) c.kill('SIGKILL');
      const all = Promise.allSettled([...cleanups].map((f) => f()));
      const timeout = new Promise((r) => setTimeout(r, 30_000).unref());
      void Promise.race([all, timeout]).then(() => process.exit(code));
    });
  }
}
