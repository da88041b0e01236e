// Requests answered with an error, and connections refused or shed, counted by reason: one table that the
// socket layer and the protocol handler both add to, exposed as eserver_rejected_total{reason}.
import type { MetricSample } from './contracts.js';
import { ERROR_CODES, REFUSAL_REASONS } from './errors.js';

export class Rejections {
  // Every known reason starts at 0, so a scrape shows the full list before anything is refused.
  private readonly counts = new Map<string, number>([...ERROR_CODES, ...REFUSAL_REASONS].map((r) => [r, 0]));

  count(reason: string): void {
    this.counts.set(reason, (this.counts.get(reason) ?? 0) + 1);
  }

  metrics(): MetricSample[] {
    const out: MetricSample[] = [];
    for (const [reason, value] of this.counts) {
      out.push({ name: 'eserver_rejected_total', help: 'Requests answered with an error, and connections refused or shed, by reason', type: 'counter', value, labels: { reason } });
    }
    return out;
  }

  /** Rejections so far by reason. */
  toRecord(): Record<string, number> {
    return Object.fromEntries(this.counts);
  }
}
