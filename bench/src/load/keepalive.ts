// The keep-alive profile through autocannon's programmatic API: a comparison point only, since
// autocannon cannot drive a new connection per request (see the reference notes).
import autocannon from 'autocannon';

export interface KeepaliveResult {
  requests: number;
  ok2xx: number;
  non2xx: number;
  errors: number;
  timeouts: number;
  bytes: number;
  durationS: number;
  latency: { p50: number; p90: number; p99: number; p999: number; max: number; mean: number };
  series: Array<{ t: number; requests: number }>;
  cpu: { userMs: number; systemMs: number };
}

function once(opts: autocannon.Options, onTick?: (requests: number) => void): Promise<autocannon.Result> {
  return new Promise((resolve, reject) => {
    const inst = autocannon(opts, (err, res) => (err ? reject(err) : resolve(res)));
    // autocannon ticks once a second with the responses of that second: our per-second series.
    if (onTick) (inst as unknown as NodeJS.EventEmitter).on('tick', (t: { counter: number }) => onTick(t.counter));
  });
}

export async function runKeepalive(url: string, connections: number, durationS: number, warmupS: number): Promise<KeepaliveResult> {
  const base = { url, connections, headers: { 'user-agent': 'eserver-bench keepalive' } };
  if (warmupS > 0) await once({ ...base, duration: warmupS });
  const cpu0 = process.cpuUsage();
  const series: KeepaliveResult['series'] = [];
  const r = await once({ ...base, duration: durationS }, (n) => series.push({ t: series.length + 1, requests: n }));
  const cpu = process.cpuUsage(cpu0);
  const l = r.latency as unknown as Record<string, number>;
  return {
    requests: r.requests.total,
    ok2xx: r['2xx'],
    non2xx: r.non2xx,
    errors: r.errors,
    timeouts: r.timeouts,
    bytes: r.throughput.total,
    durationS: r.duration,
    latency: { p50: l.p50, p90: l.p90, p99: l.p99, p999: l.p99_9 ?? l.p999 ?? l.p99, max: l.max, mean: l.mean },
    series,
    cpu: { userMs: cpu.user / 1000, systemMs: cpu.system / 1000 },
  };
}
