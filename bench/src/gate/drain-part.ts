// The gate's drain part: the candidate's and the reference's queue servers each fill with the same number
// of seed statements while their own MariaDB is paused, then both MariaDBs resume at the same instant and
// both drains run at once. Run at once, the two drains split the machine between them at random, so the
// ratio that decides is rows/s per CPU-second of each drain (its queue server and its MariaDB): what a
// drain costs, whatever share it got. Every acked row must be in its table exactly once.
import { startBenchDb, type BenchDb } from '../protocol-bench/mariadb.js';
import { drainRate, type DrainResult } from '../protocol-bench/drain.js';
import type { GateSettings, ServerBuild } from './settings.js';
import type { PartResult } from './part.js';

/** A barrier for n parties: each call waits until all n have called. */
function barrier(n: number): () => Promise<void> {
  let waiting = 0;
  let release!: () => void;
  const all = new Promise<void>((r) => (release = r));
  return () => {
    if (++waiting === n) release();
    return all;
  };
}

export async function drainPart(o: GateSettings, builds: readonly ServerBuild[], log: (l: string) => void): Promise<PartResult> {
  const dbs: BenchDb[] = [];
  const reps: Array<Record<ServerBuild['role'], DrainResult>> = [];
  const values: Record<string, number[]> = { drain_rows: [], drain_rows_per_s: [], drain_rows_per_s_ratio: [] };
  let bad = '';
  try {
    for (const b of builds) dbs.push(await startBenchDb(`${o.runDir}/drain-${b.role}`));
    for (let r = 1; r <= o.repetitions; r++) {
      const together = barrier(builds.length);
      const res = await Promise.all(builds.map((b, i) => drainRate(dbs[i]!, o.runDir, o.drain.rows, [...b.args], { entry: b.entry, name: b.role, beforeResume: together })));
      const rep = Object.fromEntries(builds.map((b, i) => [b.role, res[i]!])) as Record<ServerBuild['role'], DrainResult>;
      reps.push(rep);
      values.drain_rows!.push(rep.candidate.rowsPerCpuS / rep.reference.rowsPerCpuS);
      values.drain_rows_per_s!.push(rep.candidate.rowsPerSec);
      values.drain_rows_per_s_ratio!.push(rep.candidate.rowsPerSec / rep.reference.rowsPerSec);
      for (const [role, d] of Object.entries(rep)) {
        if (d.enqueueFailed > 0 || d.rowsInTable !== d.enqueued || d.distinctNums !== d.enqueued) {
          bad += ` rep ${r} ${role}: ${d.enqueued} acked, ${d.enqueueFailed} refused, ${d.rowsInTable} rows, ${d.distinctNums} distinct;`;
        }
      }
      const line = (d: DrainResult) => `${Math.round(d.rowsPerSec)} rows/s, ${Math.round(d.rowsPerCpuS)} rows per CPU-second`;
      log(`drain rep ${r}/${o.repetitions}: ${line(rep.candidate)} vs reference ${line(rep.reference)}`);
    }
  } finally {
    for (const db of dbs) await db.destroy();
  }
  return {
    values,
    checks: [{ id: 'drain_lost_rows', name: 'drain: 0 lost rows, 0 duplicates, 0 refused, on both servers', ok: bad === '', detail: bad === '' ? `every acked row present once (${o.repetitions} × ${o.drain.rows} rows per server)` : bad.trim() }],
    raw: reps,
    info: [],
  };
}
