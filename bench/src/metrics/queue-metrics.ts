// The queue server's Prometheus text endpoint, reduced to the few figures a run needs.
import { parseScrape, sumByName } from '@eserver-lab/common/scrape';
import { httpGet } from '../http.js';

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

/** The figures of a scrape; a name with labels (rejected_total{reason=...}) is the sum over its samples. */
export function toQueueMetrics(text: string): QueueMetrics {
  const m = sumByName(parseScrape(text));
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
    const res = await httpGet(`http://${host}:${metricsPort}/metrics`, timeoutMs);
    return res.status === 200 ? toQueueMetrics(res.body) : null;
  } catch {
    return null;
  }
}
