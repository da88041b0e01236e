// The comparison with the seed's documented run (results/seed.json): every figure the report sets
// beside 43226 pages/min is read from that file, never written into code.
import type { ResultDoc } from '../results/types.js';
import type { Seed } from '../results/seed.js';
import { docName } from './doc-name.js';

const MB = 1048576;

/** Peak over the run of the mean RSS of a service's worker/child processes, MB. */
export function childRssMb(doc: ResultDoc, service: string): { avg: number | null; max: number | null } {
  let avg: number | null = null;
  let max: number | null = null;
  for (const s of doc.series.samples) {
    const v = s.services[service];
    if (!v) continue;
    if (v.child_rss_avg_bytes !== null && v.child_rss_avg_bytes !== undefined) avg = Math.max(avg ?? 0, v.child_rss_avg_bytes / MB);
    if (v.child_rss_max_bytes !== null && v.child_rss_max_bytes !== undefined) max = Math.max(max ?? 0, v.child_rss_max_bytes / MB);
  }
  const r = (x: number | null) => (x === null ? null : Math.round(x * 10) / 10);
  return { avg: r(avg), max: r(max) };
}

export interface ComparisonRow {
  label: string;
  seed: string;
  values: string[];
}

const fmt = (n: number | null | undefined, digits = 0) =>
  n === null || n === undefined ? 'n/a' : n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });

export function comparison(seed: Seed, docs: ResultDoc[]): { headers: string[]; rows: ComparisonRow[] } {
  const headers = [`seed (2013, ${seed.tool})`, ...docs.map((d) => `${docName(d, docs)} (${d.runtime}, ${d.tool.name})`)];
  const ng = docs.map((d) => childRssMb(d, 'nginx'));
  const php = docs.map((d) => childRssMb(d, 'php-fpm'));
  const rows: ComparisonRow[] = [
    { label: 'pages/min', seed: fmt(seed.pages_per_min), values: docs.map((d) => fmt(d.summary.pages_per_min)) },
    { label: `ratio to ${seed.pages_per_min}`, seed: '1.00×', values: docs.map((d) => `${fmt(d.summary.pages_per_min / seed.pages_per_min, 2)}×`) },
    { label: 'succeeded / failed', seed: `${fmt(seed.succeeded)} / ${seed.failed}`, values: docs.map((d) => `${fmt(d.summary.succeeded)} / ${fmt(d.summary.failed)}`) },
    { label: 'strict ok (HTTP 200 + signal)', seed: 'n/a', values: docs.map((d) => fmt(d.summary.strict_ok)) },
    { label: 'bytes/sec', seed: fmt(seed.bytes_per_sec), values: docs.map((d) => fmt(d.summary.bytes_per_sec)) },
    { label: 'latency p50 / p99 (ms)', seed: 'n/a', values: docs.map((d) => `${fmt(d.summary.latency_ms.p50, 1)} / ${fmt(d.summary.latency_ms.p99, 1)}`) },
    {
      label: `RSS per nginx worker (MB, avg / max)`,
      seed: `${seed.stack.nginx.rss_mb_per_worker} (×${seed.stack.nginx.workers})`,
      values: ng.map((m) => `${fmt(m.avg, 1)} / ${fmt(m.max, 1)}`),
    },
    {
      label: `RSS per php-fpm child (MB, avg / max)`,
      seed: `${seed.stack.php_fpm.rss_mb_per_child} (×${seed.stack.php_fpm.children})`,
      values: php.map((m) => `${fmt(m.avg, 1)} / ${fmt(m.max, 1)}`),
    },
    { label: 'loss check (acked = rows = distinct)', seed: 'not checked', values: docs.map((d) => (d.loss_check ? `${d.loss_check.ok ? 'OK' : 'FAILED'} (${fmt(d.loss_check.acked)} acked, ${fmt(d.loss_check.rows)} rows)` : 'n/a')) },
    { label: 'load generator CPU per request (µs)', seed: 'n/a', values: docs.map((d) => fmt(d.loadgen.cpu_us_per_request, 1)) },
  ];
  return { headers, rows };
}

/** client.php / baseline pages/min, when one batch ran both: what the queue call costs. */
export function queueCostRatio(docs: ResultDoc[]): { client: ResultDoc; baseline: ResultDoc; ratio: number } | null {
  const baseline = docs.find((d) => d.config.page === 'baseline');
  const client = docs.find((d) => d.config.page === 'client' && d.tool.name !== 'autocannon');
  if (!baseline || !client || baseline.summary.pages_per_min === 0) return null;
  return { client, baseline, ratio: client.summary.pages_per_min / baseline.summary.pages_per_min };
}

export function persistentGain(docs: ResultDoc[]): { client: ResultDoc; persistent: ResultDoc; ratio: number } | null {
  const persistent = docs.find((d) => d.config.page === 'persistent');
  const client = docs.find((d) => d.config.page === 'client' && d.tool.name !== 'autocannon');
  if (!persistent || !client || client.summary.pages_per_min === 0) return null;
  return { client, persistent, ratio: persistent.summary.pages_per_min / client.summary.pages_per_min };
}
