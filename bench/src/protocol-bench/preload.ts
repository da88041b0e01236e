// Enqueues exactly N seed statements as fast as the server takes them: a few persistent connections, each
// writing a window of frames at once and waiting for all their replies. Used to fill the queue before a drain.
import { connect } from 'node:net';
import { enqueueRequest, EXPECTED_OK } from './frames.js';

export interface PreloadResult {
  acked: number;
  failed: number;
  seconds: number;
}

export async function preload(host: string, port: number, n: number, opts: { connections?: number; window?: number } = {}): Promise<PreloadResult> {
  const conns = opts.connections ?? 8;
  const window = opts.window ?? 256;
  const req = enqueueRequest();
  let acked = 0;
  let failed = 0;
  const t0 = performance.now();
  const share = (i: number): number => Math.floor(n / conns) + (i < n % conns ? 1 : 0);
  await Promise.all(
    Array.from({ length: conns }, (_, i) =>
      new Promise<void>((res, rej) => {
        let left = share(i);
        if (left === 0) return res();
        const s = connect({ host, port, localAddress: `127.0.0.${(i % 16) + 1}` });
        let pending = 0;
        let buf: Buffer = Buffer.alloc(0);
        const send = (): void => {
          const k = Math.min(window, left);
          left -= k;
          pending = k;
          s.write(Buffer.concat(Array.from({ length: k }, () => req)));
        };
        s.on('error', rej);
        s.on('data', (c: Buffer) => {
          buf = buf.length ? Buffer.concat([buf, c]) : c;
          let off = 0;
          while (buf.length - off >= 4) {
            const len = 4 + buf.readUInt16BE(off + 2);
            if (buf.length - off < len) break;
            if (buf.subarray(off, off + len).equals(EXPECTED_OK)) acked++;
            else failed++;
            off += len;
            pending--;
          }
          buf = buf.subarray(off);
          if (pending === 0) {
            if (left > 0) send();
            else {
              s.end();
              res();
            }
          }
        });
        send();
      }),
    ),
  );
  return { acked, failed, seconds: (performance.now() - t0) / 1000 };
}
