// Reading a /metrics scrape of the queue server, for its tests and the bench: the Prometheus text is parsed by
// parse-prometheus-text-format; this only turns its string values into numbers and offers the two views the
// callers use (one figure per name, or one per labelled sample).
import parsePrometheusTextFormat from 'parse-prometheus-text-format';

export interface ScrapedSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Every sample of the text, NaN values included. Throws on text that is not the Prometheus text format. */
export function parseScrape(text: string): ScrapedSample[] {
  const out: ScrapedSample[] = [];
  // The library drops a last line that has no newline after it.
  for (const family of parsePrometheusTextFormat(text.endsWith('\n') ? text : `${text}\n`)) {
    for (const m of family.metrics) out.push({ name: family.name, labels: m.labels ?? {}, value: sampleValue(family.name, m.value) });
  }
  return out;
}

/**
 * The library keeps values as written and takes any word for one (an HTML error page parses as samples), so a
 * value that is not a number, NaN or ±Inf is refused here.
 */
function sampleValue(name: string, text: string): number {
  const t = text.toLowerCase();
  if (t === 'nan') return NaN;
  if (t === '+inf' || t === 'inf') return Infinity;
  if (t === '-inf') return -Infinity;
  const v = text.trim() === '' ? NaN : Number(text);
  if (Number.isNaN(v)) throw new Error(`not the Prometheus text format: sample ${name} has the value "${text}"; is this a /metrics endpoint?`);
  return v;
}

/** One figure per metric name, its labelled samples summed (rejected_total{reason=...} becomes one); NaN skipped. */
export function sumByName(samples: readonly ScrapedSample[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const s of samples) {
    if (Number.isFinite(s.value)) out.set(s.name, (out.get(s.name) ?? 0) + s.value);
  }
  return out;
}

/** One figure per sample, keyed as the exposition writes it: `name` or `name{reason="QUEUE_FULL"}`. */
export function bySample(samples: readonly ScrapedSample[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const s of samples) out.set(sampleKey(s.name, s.labels), s.value);
  return out;
}

export function sampleKey(name: string, labels: Record<string, string> = {}): string {
  const parts = Object.entries(labels).map(([k, v]) => `${k}="${v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"')}"`);
  return parts.length === 0 ? name : `${name}{${parts.join(',')}}`;
}
