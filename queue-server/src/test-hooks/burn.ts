// TEST ONLY: a known CPU cost added to the queue server from the outside, so that a benchmark gate can prove
// it catches a regression. No production module imports this folder. The burn wraps the prototype methods that
// every 8001 (Protocol.handle) or every connection (QueueServer.accept) goes through, so it reaches the
// node:net and the Bun.listen servers alike, and the production code carries no hook for it.
import { CMD } from '../codec.js';
import type { MetricSample } from '../contracts.js';
import { Protocol } from '../protocol.js';
import { QueueServer } from '../server.js';

export const BURN_SITES = ['enqueue', 'connection'] as const;
export type BurnSite = (typeof BURN_SITES)[number];

export interface Burn {
  /** Microseconds of CPU spun per burn. */
  cpuUs: number;
  /** Per 8001, or per accepted connection (a slower connection path). */
  at: BurnSite;
}

export const MAX_BURN_US = 1_000_000;

/** The burn flags taken out of an argument list; `rest` is for the normal CLI. */
export function parseBurnArgs(argv: readonly string[]): { burn: Burn; rest: string[] } {
  const rest: string[] = [];
  let cpuUs: number | undefined;
  let at: BurnSite = 'enqueue';
  for (let i = 0; i < argv.length; i++) {
    const m = /^--(test-burn-cpu-us|test-burn-at)(?:=(.*))?$/.exec(argv[i]);
    if (m === null) {
      rest.push(argv[i]);
      continue;
    }
    const v = m[2] ?? argv[++i];
    if (v === undefined) throw new Error(`--${m[1]} needs a value`);
    if (m[1] === 'test-burn-cpu-us') {
      if (!/^\d+$/.test(v) || Number(v) > MAX_BURN_US) throw new Error(`--test-burn-cpu-us: expected microseconds from 0 to ${MAX_BURN_US}, got ${JSON.stringify(v)}`);
      cpuUs = Number(v);
    } else {
      if (!(BURN_SITES as readonly string[]).includes(v)) throw new Error(`--test-burn-at: expected one of ${BURN_SITES.join(', ')}, got ${JSON.stringify(v)}`);
      at = v as BurnSite;
    }
  }
  if (cpuUs === undefined) {
    throw new Error('--test-burn-cpu-us <us> is required: the CPU to burn per 8001 (or per accepted connection, with --test-burn-at connection)');
  }
  return { burn: { cpuUs, at }, rest };
}

let burnsDone = 0;

/** Wraps the server's prototypes so that every 8001 or every accepted connection burns b.cpuUs of CPU. */
export function installBurn(b: Burn): void {
  if (b.at === 'enqueue') {
    wrap(Protocol.prototype, 'handle', (handle) =>
      function (this: Protocol, c: unknown, cmd: unknown, body: unknown) {
        if (cmd === CMD.ENQUEUE) burnCpu(b.cpuUs);
        return handle.call(this, c, cmd, body);
      },
    );
  } else {
    wrap(QueueServer.prototype, 'accept', (accept) =>
      function (this: QueueServer, socket: unknown) {
        const before = this.connectionCount;
        accept.call(this, socket);
        // Only connections that were let in: a refused one costs what it cost before.
        if (this.connectionCount > before) burnCpu(b.cpuUs);
      },
    );
  }
  wrap(QueueServer.prototype, 'metrics', (metrics) =>
    function (this: QueueServer): MetricSample[] {
      return [
        ...(metrics.call(this) as MetricSample[]),
        { name: 'eserver_test_burn_cpu_us', help: `Test-only CPU burnt per ${b.at === 'connection' ? 'accepted connection' : '8001'}`, type: 'gauge', value: b.cpuUs },
        { name: 'eserver_test_burns_total', help: 'Test-only CPU burns done', type: 'counter', value: burnsDone },
      ];
    },
  );
}

type Method<T> = (this: T, ...args: unknown[]) => unknown;

/** Replaces proto[name] (a method that may be protected: reached by name) with make(the original). */
function wrap<T extends object>(proto: T, name: string, make: (orig: Method<T>) => Method<T>): void {
  const target = proto as Record<string, unknown>;
  const orig = target[name];
  if (typeof orig !== 'function') {
    throw new Error(`test hook: ${proto.constructor.name}.prototype.${name} is gone; make src/test-hooks/burn.ts wrap the method that replaced it`);
  }
  target[name] = make(orig as Method<T>);
}

function burnCpu(us: number): void {
  burnsDone++;
  const end = process.hrtime.bigint() + BigInt(us) * 1000n;
  while (process.hrtime.bigint() < end) {
    // spin: the hook's whole point is to cost CPU
  }
}
