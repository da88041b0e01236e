// Prometheus exposition on its own HTTP port through prom-client, plus GET /healthz for supervisors.
// The parts keep their figures in plain fields (the enqueue path only increments a number); they are read
// only at scrape time, through each part's MetricSource, and handed to prom-client in collect() callbacks.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Counter, Gauge, Registry } from 'prom-client';
import type { Logger, MetricSample, MetricSource } from './contracts.js';
import { silentLogger } from './log.js';

/**
 * One prom-client metric per name the sources report, so a part's list of metrics is declared in one place: its
 * metrics() method. Each scrape reads every part once (the fields as they are now), registers the names seen for
 * the first time (a rejection reason, a part started late), drops the names no part reported (a part that
 * failed is left out, not shown as 0), and prom-client's collect() callbacks take their values from that reading.
 */
export class SourceRegistry {
  readonly registry = new Registry();
  private reading = new Map<string, MetricSample[]>();

  constructor(
    private readonly sources: () => readonly MetricSource[],
    private readonly log: Logger = silentLogger,
  ) {}

  /** The text exposition of every source's current figures. */
  render(): Promise<string> {
    const reading = new Map<string, MetricSample[]>();
    for (const src of this.sources()) {
      for (const s of this.read(src)) {
        const list = reading.get(s.name);
        if (list) list.push(s);
        else reading.set(s.name, [s]);
      }
    }
    for (const name of this.reading.keys()) {
      if (!reading.has(name)) this.registry.removeSingleMetric(name);
    }
    for (const [name, list] of reading) {
      if (!this.registry.getSingleMetric(name)) this.register(list[0]);
    }
    this.reading = reading;
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  private read(src: MetricSource): MetricSample[] {
    try {
      return src.metrics();
    } catch (err) {
      this.log.warn('metrics_source_failed', { err });
      return [];
    }
  }

  private register(first: MetricSample): void {
    const name = first.name;
    const samples = (): MetricSample[] => this.reading.get(name) ?? [];
    const config = { name, help: first.help, labelNames: Object.keys(first.labels ?? {}), registers: [this.registry] };
    if (first.type === 'counter') {
      new Counter({
        ...config,
        collect(this: Counter<string>) {
          // A counter has no set(): start from zero and add the part's figure.
          this.reset();
          for (const s of samples()) this.inc(s.labels ?? {}, s.value);
        },
      });
    } else {
      new Gauge({
        ...config,
        collect(this: Gauge<string>) {
          this.reset();
          for (const s of samples()) this.set(s.labels ?? {}, s.value);
        },
      });
    }
  }
}

export interface MetricsServerOptions {
  sources: () => readonly MetricSource[];
  /** /healthz answers 200 while this returns true; 503 otherwise, with the reason when it returns one. */
  healthy: () => boolean | string;
  log?: Logger;
}

export class MetricsServer {
  private readonly http: http.Server;
  private readonly registry: SourceRegistry;

  constructor(private readonly opts: MetricsServerOptions) {
    this.registry = new SourceRegistry(opts.sources, opts.log ?? silentLogger);
    this.http = http.createServer((req, res) => this.serve(req, res));
    this.http.keepAliveTimeout = 5000;
  }

  private serve(req: http.IncomingMessage, res: http.ServerResponse): void {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    if (path === '/metrics') {
      this.registry.render().then(
        (body) => res.writeHead(200, { 'content-type': this.registry.contentType }).end(body),
        (err: unknown) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`metrics failed: ${String(err)}\n`),
      );
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
