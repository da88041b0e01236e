// The queue server's Prometheus text endpoint: the one fetch-and-parse of a scrape, and the few figures a run
// needs.
import { parseScrape, sumByName, type ScrapedSample } from '@eserver-lab/common/scrape';
import { httpGet } from '../lab/http.js';

/**
 * Every sample of one GET /metrics. Throws when nothing answers within `timeoutMs`, on a status other than 200,
 * and on text that is not the Prometheus format.
 */
export async function scrapeQueueServer(host: string, metricsPort: number, timeoutMs = 2000): Promise<ScrapedSample[]> {
  const res = await httpGet(`http://${host}:${metricsPort}/metrics`, timeoutMs);
  if (res.status !== 200) throw new Error(`GET /metrics on ${host}:${metricsPort} answered ${res.status}`);
  return parseScrape(res.body);
}

/**
 * One metric, summed over its label sets; null when the server does not expose it. Throws as scrapeQueueServer.
 * The default wait is generous: the drain benchmark scrapes a server busy committing rows.
 */
export async function scrapeMetric(host: string, metricsPort: number, name: string, timeoutMs = 30_000): Promise<number | null> {
  return sumByName(await scrapeQueueServer(host, metricsPort, timeoutMs)).get(name) ?? null;
}

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
  return queueMetricsOf(parseScrape(text));
}

function queueMetricsOf(samples: readonly ScrapedSample[]): QueueMetrics {
  const m = sumByName(samples);
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
    return queueMetricsOf(await scrapeQueueServer(host, metricsPort, timeoutMs));
  } catch {
    return null;
  }
}
