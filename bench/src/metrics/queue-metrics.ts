// The queue server's Prometheus text endpoint, reduced to the few figures a run needs.

export interface QueueMetrics {
  depth: number | null;
  enqueued: number | null;
  drained: number | null;
  committedSeq: number | null;
  rejected: number | null;
  /** Sequence number the next enqueue gets, so the last acked one is nextSeq - 1. */
  nextSeq: number | null;
  dequeued: number | null;
}

/** Sums every sample of a metric name (labels ignored): rejected_total{reason=...} becomes one figure. */
export function parsePrometheus(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const v = Number(m[3]);
    if (!Number.isFinite(v)) continue;
    out.set(m[1], (out.get(m[1]) ?? 0) + v);
  }
  return out;
}

export function toQueueMetrics(m: Map<string, number>): QueueMetrics {
  const g = (k: string) => m.get(k) ?? null;
  return {
    depth: g('eserver_queue_depth'),
    enqueued: g('eserver_enqueued_total'),
    drained: g('eserver_drained_total'),
    committedSeq: g('eserver_committed_seq'),
    rejected: g('eserver_rejected_total'),
    nextSeq: g('eserver_next_seq'),
    dequeued: g('eserver_dequeued_total'),
  };
}

export async function fetchQueueMetrics(host: string, metricsPort: number, timeoutMs = 2000): Promise<QueueMetrics | null> {
  try {
    const res = await fetch(`http://${host}:${metricsPort}/metrics`, { signal: AbortSignal.timeout(timeoutMs) });
    if (!res.ok) return null;
    return toQueueMetrics(parsePrometheus(await res.text()));
  } catch {
    return null;
  }
}
