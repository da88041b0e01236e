// One request/reply exchange over a fresh TCP connection, for the tests of the queue servers spoken to on the
// wire (the 2013-style one, the C reference, the minimal node and Bun ones).
import { connect, type Socket } from 'node:net';

export interface Exchange {
  data: Buffer;
  /** The server closed the connection (EOF or reset) before we had the bytes we expected. */
  closed: boolean;
}

export interface ExchangeOptions {
  /**
   * Pause between chunks, ms, once the previous one is handed to the kernel: it makes the server get the parts
   * in separate reads (frames cut across reads). Pacing only; no result depends on it being long enough.
   */
  gapMs?: number;
  localAddress?: string;
}

/**
 * Writes `chunks` in order and collects the reply until `expectBytes` have come (0: until the server closes).
 * Rejects when neither happens within 5 s, with what had arrived.
 */
export function exchange(port: number, chunks: Buffer[], expectBytes: number, opts: ExchangeOptions = {}): Promise<Exchange> {
  return new Promise((resolve, reject) => {
    const s: Socket = connect({ host: '127.0.0.1', port, localAddress: opts.localAddress });
    let data = Buffer.alloc(0);
    const guard = setTimeout(() => {
      s.destroy();
      reject(new Error(`no reply and no close within 5 s (got ${data.toString('hex')})`));
    }, 5000);
    const finish = (closed: boolean) => {
      clearTimeout(guard);
      s.destroy();
      resolve({ data, closed });
    };
    // A server that closes before reading our bytes makes the kernel answer them with a reset: closed too.
    s.on('error', (e: NodeJS.ErrnoException) => (e.code === 'ECONNRESET' ? finish(true) : reject(e)));
    s.on('data', (c: Buffer) => {
      data = Buffer.concat([data, c]);
      if (expectBytes > 0 && data.length >= expectBytes) finish(false);
    });
    s.on('end', () => finish(true));
    s.once('connect', async () => {
      for (const [i, c] of chunks.entries()) {
        if (i > 0 && opts.gapMs) await new Promise((r) => setTimeout(r, opts.gapMs));
        if (s.destroyed) return;
        await new Promise((r) => s.write(c, r));
      }
    });
  });
}
