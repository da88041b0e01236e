// Small local servers whose behaviour each test controls (port 0 only), for the load generator's tests.
import net from 'node:net';
import type { BudgetLimits } from '../src/host/cgroup.js';
import type { CpuBudget } from '../src/metrics/cpu-budget.js';
import { DEFAULT_CPU_PERIOD_US, stackCpuShares } from '@eserver-lab/common/stack-spec';

export type Behaviour = (n: number, sock: net.Socket) => void;

export interface TestServer {
  url: string;
  port: number;
  /** Connections accepted. */
  accepted: () => number;
  /** Connections still open (held ones). */
  open: () => number;
  close: () => Promise<void>;
}

/**
 * Calls `behaviour(n, socket)` once the n-th connection (0-based) has sent its request head.
 * Connections the behaviour leaves alone stay open until close().
 */
export async function startServer(behaviour: Behaviour): Promise<TestServer> {
  let accepted = 0;
  const socks = new Set<net.Socket>();
  const server = net.createServer((sock) => {
    const n = accepted++;
    socks.add(sock);
    sock.on('close', () => socks.delete(sock));
    sock.on('error', () => {});
    let head = '';
    const onData = (d: Buffer) => {
      head += d.toString('latin1');
      if (head.includes('\r\n\r\n')) {
        sock.off('data', onData);
        behaviour(n, sock);
      }
    };
    sock.on('data', onData);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', 1024, resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/client.php`,
    port,
    accepted: () => accepted,
    open: () => socks.size,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of socks) s.destroy();
        server.close(() => resolve());
      }),
  };
}

export function httpResponse(status: string, body: string): string {
  return `HTTP/1.1 ${status}\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`;
}

/** The limits of a stack's group with `cpus` CPUs, at the spec's period and weight, as the resolver makes them. */
export function stackLimits(cpus: number, memoryBytes: number, periodUs = DEFAULT_CPU_PERIOD_US): BudgetLimits {
  return { cpus, memoryBytes, periodUs, shares: stackCpuShares(cpus) };
}

/** A budget as the runner records it: `cpuS` of stack CPU over a 30 s window under a 0.6-CPU quota. */
export function budget(cpuS: number, genUsPerRequest: number): CpuBudget {
  return {
    window_s: 30, host_cpus: 2,
    stack: { cgroup: '/x', cpus: 0.6, quota_us: 12000, period_us: 20000, weight: 262144, cpu_s: cpuS, used_of_quota: cpuS / 18, nr_periods: 1500, nr_throttled: 1500, throttled_share: 1 },
    generator: { cgroup: '/g', weight: 1024, cpu_s: 6, cpu_us_per_request: genUsPerRequest, host_share: 0.1, used_of_rest: 0.14, outside_stack: true },
    others_cpu_s: 1, warnings: [],
  };
}
