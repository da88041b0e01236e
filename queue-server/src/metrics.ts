// Prometheus text exposition on its own HTTP port, aggregating every part's MetricSource,
// plus GET /healthz for supervisors.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger, MetricSample, MetricSource } from './contracts.js';
import { silentLogger } from './log.js';

export function renderPrometheus(samples: readonly MetricSample[]): string {
  const byName = new Map<string, MetricSample[]>();
  for (const s of samples) {
    const list = byName.get(s.name);
    if (list) list.push(s);
    else byName.set(s.name, [s]);
  }
  let out = '';
  for (const [name, list] of byName) {
    out += `# HELP ${name} ${list[0].help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')}\n`;
    out += `# TYPE ${name} ${list[0].type}\n`;
    for (const s of list) out += `${name}${renderLabels(s.labels)} ${formatValue(s.value)}\n`;
  }
  return out;
}

function renderLabels(labels?: Record<string, string>): string {
  if (!labels) return '';
  const keys = Object.keys(labels);
  if (keys.length === 0) return '';
  const parts = keys.map((k) => `${k}="${labels[k].replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"')}"`);
  return `{${parts.join(',')}}`;
}

function formatValue(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}

export interface MetricsServerOptions {
  sources: () => readonly MetricSource[];
  /** /healthz answers 200 while this returns true; 503 otherwise, with the reason when it returns one. */
  healthy: () => boolean | string;
  log?: Logger;
}

export class MetricsServer {
  private readonly http: http.Server;
  private readonly log: Logger;

  constructor(private readonly opts: MetricsServerOptions) {
    this.log = opts.log ?? silentLogger;
    this.http = http.createServer((req, res) => this.serve(req, res));
    this.http.keepAliveTimeout = 5000;
  }

  collect(): MetricSample[] {
    const all: MetricSample[] = [];
    for (const src of this.opts.sources()) {
      try {
        all.push(...src.metrics());
      } catch (err) {
        this.log.warn('metrics_source_failed', { err });
      }
    }
    return all;
  }

  private serve(req: http.IncomingMessage, res: http.ServerResponse): void {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    if (path === '/metrics') {
      const body = renderPrometheus(this.collect());
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' }).end(body);
    } else if (path === '/healthz') {
      const h = this.opts.healthy();
      const ok = h === true;
      res.writeHead(ok ? 200 : 503, { 'content-type': 'text/plain' }).end(ok ? 'ok' : typeof h === 'string' ? `unavailable: ${h}\n` : 'unavailable');
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: try /metrics or /healthz\n');
    }
  }

  listen(port: number, host = '127.0.0.1'): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      this.http.once('error', reject);
      this.http.listen(port, host, () => {
        this.http.off('error', reject);
        resolve(this.http.address() as AddressInfo);
      });
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      if (!this.http.listening) return resolve();
      this.http.close(() => resolve());
      // closeAllConnections is Node >= 18.2, fine on the Docker image's 18.20.
      this.http.closeAllConnections();
    });
  }
}
