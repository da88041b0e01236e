// The gate's protocol part: the candidate's and the reference's bare queue servers (no journal, no drain)
// loaded at the same time over the wire protocol, each by its own load, so that whatever the machine does
// to a CPU-second in that window it does to both. Two cells per repetition: a new connection per request
// (the seed path's connection handling; the servers' CPU per enqueue) and persistent connections. Run at
// once, two loads split the machine between them at random, so the persistent cell's ratio that decides is
// req/s per CPU-second of each server: its throughput for the CPU it got. The plain req/s are recorded.
import { measureCell, type ProtoCell } from '../protocol-bench/measure.js';
import { startQueueServer, type RunningServer } from '../protocol-bench/servers.js';
import type { ProtoMode } from '../protocol-bench/load-worker.js';
import type { GateSettings, ServerBuild } from './settings.js';
import type { PartResult } from './part.js';

export interface ProtoRep {
  rep: number;
  conn: { candidate: ProtoCell; reference: ProtoCell };
  persistent: { candidate: ProtoCell; reference: ProtoCell };
}

/** Both servers fresh, loaded at once after the same warm-up; the cells' windows overlap. */
async function pairCell(builds: readonly ServerBuild[], o: GateSettings, mode: ProtoMode, clients: number): Promise<Record<ServerBuild['role'], ProtoCell>> {
  const servers: RunningServer[] = [];
  try {
    for (const b of builds) servers.push(await startQueueServer({ entry: b.entry, args: [...b.args], label: b.label }));
    const cells = await Promise.all(
      servers.map((s) => measureCell(s, { mode, concurrency: clients, durationMs: o.proto.durationS * 1000, warmupMs: o.proto.warmupS * 1000 })),
    );
    return Object.fromEntries(builds.map((b, i) => [b.role, cells[i]!])) as Record<ServerBuild['role'], ProtoCell>;
  } finally {
    for (const s of servers) await s.stop();
  }
}

export async function protoPart(o: GateSettings, builds: readonly ServerBuild[], log: (l: string) => void): Promise<PartResult> {
  const reps: ProtoRep[] = [];
  const values: Record<string, number[]> = { proto_conn_cpu: [], proto_persistent_rps: [], proto_conn_cpu_us: [], proto_persistent_req_s: [], proto_persistent_req_s_ratio: [] };
  const perCpu = (c: ProtoCell) => c.reqPerSec / c.cpuCores;
  let failed = 0;
  const errors: Record<string, number> = {};
  for (let r = 1; r <= o.repetitions; r++) {
    // The start order alternates, so that neither build is always the one started (and warmed) first.
    const order = r % 2 === 1 ? builds : [...builds].reverse();
    const conn = await pairCell(order, o, 'conn-per-req', o.proto.connClients);
    const persistent = await pairCell(order, o, 'persistent', o.proto.persistentClients);
    reps.push({ rep: r, conn, persistent });
    values.proto_conn_cpu!.push(conn.candidate.cpuUsPerReq / conn.reference.cpuUsPerReq);
    values.proto_persistent_rps!.push(perCpu(persistent.candidate) / perCpu(persistent.reference));
    values.proto_persistent_req_s_ratio!.push(persistent.candidate.reqPerSec / persistent.reference.reqPerSec);
    values.proto_conn_cpu_us!.push(conn.candidate.cpuUsPerReq);
    values.proto_persistent_req_s!.push(persistent.candidate.reqPerSec);
    for (const c of [conn.candidate, conn.reference, persistent.candidate, persistent.reference]) {
      failed += c.failed;
      for (const [k, v] of Object.entries(c.errors)) errors[k] = (errors[k] ?? 0) + v;
    }
    log(
      `proto rep ${r}/${o.repetitions}: CPU per enqueue (new connection each) ${conn.candidate.cpuUsPerReq.toFixed(1)} µs vs reference ${conn.reference.cpuUsPerReq.toFixed(1)} µs; ` +
        `persistent ${Math.round(persistent.candidate.reqPerSec)} req/s on ${persistent.candidate.cpuCores.toFixed(2)} CPU vs ${Math.round(persistent.reference.reqPerSec)} req/s on ${persistent.reference.cpuCores.toFixed(2)} CPU`,
    );
  }
  return {
    values,
    checks: [{ id: 'proto_failed', name: 'protocol cells: 0 failed requests, on both servers', ok: failed === 0, detail: failed === 0 ? '0 failed' : `${failed} failed: ${JSON.stringify(errors)}` }],
    raw: reps.map((x) => ({
      rep: x.rep,
      ...Object.fromEntries(
        (['conn', 'persistent'] as const).flatMap((mode) =>
          (['candidate', 'reference'] as const).map((role) => {
            const c = x[mode][role];
            return [`${mode}_${role}`, { reqPerSec: c.reqPerSec, cpuUsPerReq: c.cpuUsPerReq, failed: c.failed, latencyUs: c.latencyUs }];
          }),
        ),
      ),
    })),
    info: [],
  };
}
