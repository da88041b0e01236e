// Test helpers: a real QueueServer on an ephemeral port, and a small framed client over real sockets.
import net from 'node:net';
import { FrameCollector, encodeFrame, type Frame } from '../../src/codec.js';
import { Queue, type QueueOptions } from '../../src/queue.js';
import type { QueueServer, QueueServerOptions } from '../../src/server.js';
import { createQueueServer } from '../../src/bun-server.js';

export interface TestServer {
  queue: Queue;
  server: QueueServer;
  port: number;
  close(): Promise<void>;
}

export async function startServer(
  opts: { queue?: QueueOptions; server?: Omit<QueueServerOptions, 'queue'>; host?: string } = {},
): Promise<TestServer> {
  const queue = new Queue(opts.queue);
  // On Bun this is the Bun.listen server (the adapter), so every in-process test covers it there.
  const server = createQueueServer({ queue, ...opts.server });
  const addr = await server.listen(0, opts.host ?? '127.0.0.1');
  return { queue, server, port: addr.port, close: () => server.close() };
}

export function enqueueFrame(sql: string): Buffer {
  return encodeFrame(8001, JSON.stringify({ sql }));
}

/** A connected client that collects reply frames and notices when the server closes. */
export class Client {
  readonly collector = new FrameCollector();
  readonly closed: Promise<void>;
  ended = false;
  error: Error | null = null;
  private wake: (() => void) | null = null;

  private constructor(readonly socket: net.Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.collector.push(chunk);
      this.notify();
    });
    socket.on('error', (err) => {
      this.error = err;
    });
    this.closed = new Promise((resolve) =>
      socket.on('close', () => {
        this.ended = true;
        this.notify();
        resolve();
      }),
    );
  }

  static connect(port: number, opts: { host?: string; localAddress?: string; timeoutMs?: number } = {}): Promise<Client> {
    return new Promise((resolve, reject) => {
      const s = net.connect({ port, host: opts.host ?? '127.0.0.1', localAddress: opts.localAddress, noDelay: true });
      const t = setTimeout(() => {
        s.destroy();
        reject(new Error('connect timeout'));
      }, opts.timeoutMs ?? 10_000);
      s.once('connect', () => {
        clearTimeout(t);
        resolve(new Client(s));
      });
      s.once('error', (err) => {
        clearTimeout(t);
        reject(err);
      });
    });
  }

  private notify(): void {
    const w = this.wake;
    this.wake = null;
    w?.();
  }

  write(buf: Buffer | Uint8Array): void {
    this.socket.write(buf);
  }

  get frames(): Frame[] {
    return this.collector.frames;
  }

  /** Waits until at least n frames have arrived (or rejects when the connection closes first / timeout). */
  async waitFrames(n: number, timeoutMs = 10_000): Promise<Frame[]> {
    const deadline = Date.now() + timeoutMs;
    while (this.collector.frames.length < n) {
      if (this.ended) throw new Error(`connection closed after ${this.collector.frames.length} of ${n} frames`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timeout after ${this.collector.frames.length} of ${n} frames`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
    }
    return this.collector.frames.slice(0, n);
  }

  /** Resolves when the server closes the connection (rejects on timeout). */
  async waitClosed(timeoutMs = 10_000): Promise<void> {
    let t: NodeJS.Timeout | undefined;
    await Promise.race([
      this.closed,
      new Promise<never>((_, reject) => (t = setTimeout(() => reject(new Error('connection still open')), timeoutMs))),
    ]).finally(() => clearTimeout(t));
  }

  close(): void {
    this.socket.destroy();
  }
}

/** One request the seed's way: connect, send, read `n` frames, close. */
export async function roundTrip(port: number, buf: Buffer, n = 1, host = '127.0.0.1'): Promise<Frame[]> {
  const c = await Client.connect(port, { host });
  try {
    c.write(buf);
    return await c.waitFrames(n);
  } finally {
    c.close();
  }
}

export function bodyJson(f: Frame): unknown {
  return JSON.parse(f.body.toString('utf8'));
}

export function errCode(f: Frame): string {
  if (f.cmd !== 9000) throw new Error(`expected an error frame, got cmd ${f.cmd} ${f.body.toString()}`);
  return (bodyJson(f) as { code: string }).code;
}
