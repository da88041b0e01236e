// The text a run prints: webbench's two lines first (byte for byte), then what webbench cannot say.
import { ERROR_KINDS } from './counters.js';
import type { HttpLoadResult } from './generator.js';
import { webbenchLines } from './summary.js';

export function summaryLines(r: HttpLoadResult): string[] {
  const c = r.counters;
  const errs = ERROR_KINDS.filter((k) => c.errors[k] > 0).map((k) => `${k} ${c.errors[k]}`).join(', ') || 'none';
  const status = Object.entries(c.status).sort().map(([k, v]) => `${k === '0' ? 'no-status' : k} ${v}`).join(', ') || 'none';
  const l = r.latency;
  const cpu = r.cpu.usPerRequest === null ? 'n/a' : `${r.cpu.usPerRequest.toFixed(1)} µs/request`;
  return [
    ...webbenchLines(r.webbench, c.succeeded, c.failed),
    `Strict: ${c.strictOk} ok (HTTP 200 + success signal) of ${c.succeeded + c.failed}; status: ${status}; errors: ${errs}; cut at end: ${c.cutAtEnd}.`,
    `Latency ms: p50 ${l.p50}, p90 ${l.p90}, p99 ${l.p99}, p99.9 ${l.p999}, max ${l.max} (${l.count} samples).`,
    `Load generator: ${r.clients} clients on ${r.workers} threads, CPU ${cpu} (user ${Math.round(r.cpu.userMs)} ms, sys ${Math.round(r.cpu.systemMs)} ms).`,
  ];
}
