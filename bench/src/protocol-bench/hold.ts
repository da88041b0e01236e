// Opens many connections at once and keeps them open, to read the server's RSS with N clients attached.
import { connect, type Socket } from 'node:net';
import { sourceAddrs } from './driver.js';
import { enqueueRequest, EXPECTED_OK } from './frames.js';
import { sampleProc } from './procstat.js';
import type { RunningServer } from './servers.js';

export interface HoldResult {
  target: number;
  /** Connections that got their 8001 answered and were still open when RSS was read. */
  open: number;
  failed: number;
  rssBeforeBytes: number;
  rssBytes: number;
}

/** Each connection sends one enqueue and waits for its reply, so the server has really served it. */
export async function holdConnections(server: RunningServer, count: number, opts: { batch?: number; sourceAddrCount?: number; settleMs?: number } = {}): Promise<HoldResult> {
  const addrs = sourceAddrs(opts.sourceAddrCount ?? 16);
  const batch = opts.batch ?? 500;
  const req = enqueueRequest();
  const sockets: Socket[] = [];
  let failed = 0;
  const rssBeforeBytes = sampleProc(server.pid).rssBytes;
  const one = (i: number): Promise<void> =>
    new Promise((res) => {
      const s = connect({ host: server.host, port: server.port, localAddress: addrs[i % addrs.length] });
      let got = Buffer.alloc(0);
      const timer = setTimeout(() => done(false), 20_000);
      const done = (ok: boolean): void => {
        clearTimeout(timer);
        s.removeAllListeners('data');
        if (ok) sockets.push(s);
        else {
          failed++;
          s.destroy();
        }
        res();
      };
      s.on('error', () => done(false));
      s.on('data', (c: Buffer) => {
        got = Buffer.concat([got, c]);
        if (got.length >= EXPECTED_OK.length) done(got.subarray(0, EXPECTED_OK.length).equals(EXPECTED_OK));
      });
      s.write(req);
    });
  try {
    for (let i = 0; i < count; i += batch) {
      await Promise.all(Array.from({ length: Math.min(batch, count - i) }, (_, k) => one(i + k)));
    }
    // Let the server settle (GC, freed parser buffers) before reading RSS, as a long-lived server would.
    await new Promise((r) => setTimeout(r, opts.settleMs ?? 1000));
    const open = sockets.filter((s) => !s.destroyed).length;
    return { target: count, open, failed, rssBeforeBytes, rssBytes: sampleProc(server.pid).rssBytes };
  } finally {
    for (const s of sockets) s.destroy();
  }
}
