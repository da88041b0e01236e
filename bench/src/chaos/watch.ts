// Follows the queue server's /metrics through its restarts, so that counters lost with a killed process
// still count: acks (eserver_enqueued_total) and refusals after the append (JOURNAL_FAILED) are summed
// over its processes. A new process is recognised by its connection counter going down (it only grows
// within one process, and every client.php request is a new connection), or by the harness saying that it
// killed the previous one (a poll started after the kill sees a new process).
import { parseScrape, sumByName, type ScrapedSample } from '@eserver-lab/common/scrape';
import { scrapeQueueServer } from '../metrics/queue-metrics.js';

export interface MetricsPoint {
  enqueued: number;
  connections: number;
  journalFailed: number;
  nextSeq: number;
  committedSeq: number;
  depth: number;
  mysqlUp: number;
}

export function parsePoint(text: string): MetricsPoint {
  return pointOf(parseScrape(text));
}

function pointOf(samples: readonly ScrapedSample[]): MetricsPoint {
  const m = sumByName(samples);
  const jf = samples.find((s) => s.name === 'eserver_rejected_total' && s.labels.reason === 'JOURNAL_FAILED');
  return {
    enqueued: m.get('eserver_enqueued_total') ?? 0,
    connections: m.get('eserver_connections_total') ?? 0,
    journalFailed: jf?.value ?? 0,
    nextSeq: m.get('eserver_next_seq') ?? 0,
    committedSeq: m.get('eserver_committed_seq') ?? 0,
    depth: m.get('eserver_queue_depth') ?? 0,
    mysqlUp: m.get('eserver_mysql_up') ?? 0,
  };
}

/** Sums of per-process counters over a series of points (pure, for the tests). */
export class Incarnations {
  private done = { enqueued: 0, journalFailed: 0 };
  private last: MetricsPoint | null = null;
  processes = 0;
  maxNextSeq = 0;

  /** `fresh`: the point is known to come from a new process (fetched after the harness killed the old one). */
  add(p: MetricsPoint, fresh = false): void {
    if (this.last === null || fresh || p.connections < this.last.connections) {
      if (this.last) {
        this.done.enqueued += this.last.enqueued;
        this.done.journalFailed += this.last.journalFailed;
      }
      this.processes++;
    }
    this.last = p;
    this.maxNextSeq = Math.max(this.maxNextSeq, p.nextSeq);
  }

  get enqueued(): number {
    return this.done.enqueued + (this.last?.enqueued ?? 0);
  }

  get journalFailed(): number {
    return this.done.journalFailed + (this.last?.journalFailed ?? 0);
  }

  get latest(): MetricsPoint | null {
    return this.last;
  }
}

export async function fetchPoint(host: string, port: number, timeoutMs = 1000): Promise<MetricsPoint | null> {
  try {
    return pointOf(await scrapeQueueServer(host, port, timeoutMs));
  } catch {
    return null;
  }
}

/** Polls every `everyMs` until stopped. */
export class ServerWatch {
  readonly seen = new Incarnations();
  private timer: NodeJS.Timeout | null = null;
  private busy = false;

  constructor(
    private readonly host: string,
    private readonly port: number,
    private readonly everyMs = 100,
  ) {}

  private killedAt: number | null = null;

  /** The harness killed the server (and saw it gone): the next point fetched from now is a new process. */
  killed(): void {
    this.killedAt = Date.now();
  }

  async poll(): Promise<MetricsPoint | null> {
    const started = Date.now();
    const p = await fetchPoint(this.host, this.port);
    if (p) {
      const fresh = this.killedAt !== null && started >= this.killedAt;
      if (fresh) this.killedAt = null;
      this.seen.add(p, fresh);
    }
    return p;
  }

  start(): void {
    this.timer = setInterval(() => {
      if (this.busy) return;
      this.busy = true;
      void this.poll().finally(() => (this.busy = false));
    }, this.everyMs);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }
}
