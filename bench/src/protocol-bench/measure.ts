// One measured cell of the protocol table: a load run against a server, with the server's CPU and RSS.
import { runProtocolLoad, type ProtocolLoadResult } from './driver.js';
import type { ProtoMode } from './load-worker.js';
import { sampleProc, RssWatcher } from './procstat.js';
import { clockTicksPerSecond } from '@eserver-lab/common/proc-stat';
import type { RunningServer } from './servers.js';

export interface ProtoCell extends ProtocolLoadResult {
  server: string;
  serverKind: RunningServer['kind'];
  /** Server CPU (user+system) per answered or failed request, in µs. */
  cpuUsPerReq: number;
  /** Server CPU used during the window, as a fraction of one core. */
  cpuCores: number;
  rssPeakBytes: number;
}

export interface CellOptions {
  mode: ProtoMode;
  concurrency: number;
  durationMs: number;
  threads?: number;
  sourceAddrCount?: number;
  /** Unmeasured load first, so that the JIT and the server's pools are warm (default 1000 ms). */
  warmupMs?: number;
}

export async function measureCell(server: RunningServer, o: CellOptions): Promise<ProtoCell> {
  const warmupMs = o.warmupMs ?? 1000;
  if (warmupMs > 0) {
    await runProtocolLoad({ host: server.host, port: server.port, mode: o.mode, concurrency: o.concurrency, durationMs: warmupMs, threads: o.threads, sourceAddrCount: o.sourceAddrCount });
  }
  const rss = new RssWatcher(server.pid).start();
  const before = sampleProc(server.pid);
  const load = await runProtocolLoad({ host: server.host, port: server.port, mode: o.mode, concurrency: o.concurrency, durationMs: o.durationMs, threads: o.threads, sourceAddrCount: o.sourceAddrCount });
  const after = sampleProc(server.pid);
  const peak = rss.stop();
  // CPU is read until the last reply has been handled, so it covers every counted request (and the
  // few unfinished ones, which is why they are in the denominator too).
  const cpuS = (after.cpuTicks - before.cpuTicks) / clockTicksPerSecond();
  const handled = load.ok + load.failed + load.unfinished;
  return {
    ...load,
    server: server.label,
    serverKind: server.kind,
    cpuUsPerReq: handled > 0 ? (cpuS * 1e6) / handled : NaN,
    cpuCores: cpuS / load.durationS,
    rssPeakBytes: peak,
  };
}
