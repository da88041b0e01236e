// Which runtime ran our queue server in a report's runs, as the results read it back from the running stack
// (queue_server.runtime, from /proc/<pid>/exe), with the version the stack recorded: "bun 1.4.5".
import type { ResultDoc } from '../results/types.js';

/** One entry per runtime that ran our server in these results, in order of first appearance; [] when none did. */
export function queueRuntimesOf(docs: readonly ResultDoc[]): string[] {
  const out: string[] = [];
  for (const d of docs) {
    const q = d.queue_server;
    if (!q || q.impl !== 'ts' || q.runtime === null) continue;
    const version = d.versions?.[q.runtime];
    const label = version ? `${q.runtime} ${version}` : q.runtime;
    if (!out.includes(label)) out.push(label);
  }
  return out;
}
