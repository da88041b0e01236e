// The queue server on Bun's own sockets (`Bun.listen`) instead of Bun's `node:net` compatibility layer,
// which builds a stream Duplex per connection. Everything above the socket is shared with the node:net
// server: the parser, the protocol (protocol.ts), the in-order replies, the limits, the sweep and the
// graceful close (server.ts); only listening and the socket differ. A Bun socket is
// wrapped in the few members of net.Socket that QueueServer uses (on, write with its flush callback, end,
// destroy, destroyed, writableLength, remoteAddress, pause/resume). On node, or with QUEUE_BUN_SOCKETS=node-net, createQueueServer gives the
// plain QueueServer. bench-proto's runtime table measures both paths on Bun (queue-server/README.md).
import type net from 'node:net';
import { QueueServer, type QueueServerOptions } from './server.js';

/** The members of Bun's TCP socket used here (Bun's own types are not a dependency of this package). */
interface BunSocket {
  data: BunSocketShim;
  readonly remoteAddress: string;
  /** Bytes written; fewer than asked when the kernel buffer is full (the rest waits for `drain`). */
  write(data: Uint8Array): number;
  end(): void;
  terminate(): void;
}

interface BunListener {
  readonly port: number;
  stop(closeActiveConnections?: boolean): void;
}

interface BunSocketHandlers {
  open(s: BunSocket): void;
  data(s: BunSocket, chunk: Buffer): void;
  drain(s: BunSocket): void;
  end(s: BunSocket): void;
  error(s: BunSocket, err: Error): void;
  close(s: BunSocket): void;
}

interface BunApi {
  listen(o: { hostname: string; port: number; allowHalfOpen: boolean; socket: BunSocketHandlers }): BunListener;
}

/** Bun's global, when this process runs on Bun. */
export function bunApi(): BunApi | undefined {
  return (globalThis as { Bun?: BunApi }).Bun;
}

type Listener = (this: BunSocketShim, arg?: unknown) => void;

/** A Bun socket seen through the part of net.Socket that QueueServer uses. */
export class BunSocketShim {
  destroyed = false;
  /** Bytes accepted by write() that the kernel has not taken yet (QueueServer's buffer cap counts them). */
  writableLength = 0;
  readonly remoteAddress: string;
  private onData: Listener | null = null;
  private onEnd: Listener | null = null;
  private onError: Listener | null = null;
  private onClose: Listener | null = null;
  private unsent: Buffer[] | null = null;
  private endAfterUnsent = false;
  /** Callbacks of write(buf, cb), run once everything written before them is in the kernel. */
  private flushed: Array<() => void> | null = null;
  private endCallback: (() => void) | null = null;
  /** While paused (QueueServer's backpressure), chunks wait here and reach 'data' on resume. */
  private paused = false;
  private inbox: Buffer[] | null = null;

  constructor(private readonly socket: BunSocket) {
    this.remoteAddress = socket.remoteAddress;
  }

  on(event: string, fn: Listener): this {
    if (event === 'data') this.onData = fn;
    else if (event === 'end') this.onEnd = fn;
    else if (event === 'error') this.onError = fn;
    else if (event === 'close') this.onClose = fn;
    else throw new Error(`BunSocketShim: no '${event}' event (QueueServer started using a socket event this adapter does not provide)`);
    return this;
  }

  write(buf: Buffer, cb?: () => void): boolean {
    if (this.destroyed) return false;
    let done: boolean;
    if (this.unsent !== null) {
      if (buf.length > 0) this.unsent.push(buf);
      this.writableLength += buf.length;
      done = false;
    } else {
      const n = buf.length === 0 ? 0 : this.socket.write(buf);
      done = n >= buf.length;
      if (!done) {
        const rest = buf.subarray(Math.max(0, n));
        this.unsent = [rest];
        this.writableLength = rest.length;
      }
    }
    if (cb !== undefined) {
      if (done) queueMicrotask(cb);
      else (this.flushed ??= []).push(cb);
    }
    return done;
  }

  end(cb?: () => void): void {
    if (this.destroyed) return;
    if (cb !== undefined) this.endCallback = cb;
    if (this.unsent !== null) this.endAfterUnsent = true;
    else this.endNow();
  }

  private endNow(): void {
    this.socket.end();
    const cb = this.endCallback;
    this.endCallback = null;
    if (cb !== null) queueMicrotask(cb);
  }

  pause(): void {
    this.paused = true;
  }

  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    const q = this.inbox;
    this.inbox = null;
    if (q !== null && !this.destroyed) this.onData?.call(this, q.length === 1 ? q[0] : Buffer.concat(q));
  }

  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.socket.terminate();
  }

  /** @internal From Bun's handlers. */
  drained(): void {
    const q = this.unsent;
    if (q === null || this.destroyed) return;
    this.unsent = null;
    this.writableLength = 0;
    this.write(q.length === 1 ? q[0] : Buffer.concat(q));
    if (this.unsent !== null) return;
    const cbs = this.flushed;
    this.flushed = null;
    if (cbs !== null) for (const cb of cbs) cb();
    if (this.endAfterUnsent) this.endNow();
  }
  /** @internal */
  received(chunk: Buffer): void {
    // Bun.listen has no per-socket read pause: held chunks are the price (bounded by what the peer sends
    // while its replies are unread).
    if (this.paused) (this.inbox ??= []).push(chunk);
    else this.onData?.call(this, chunk);
  }
  /** @internal */
  ended(): void {
    this.onEnd?.call(this);
  }
  /** @internal */
  failed(err: Error): void {
    this.onError?.call(this, err);
  }
  /** @internal */
  closed(): void {
    this.destroyed = true;
    this.unsent = null;
    this.flushed = null;
    this.inbox = null;
    this.writableLength = 0;
    this.onClose?.call(this);
  }
}

// Shared handlers: `s.data` is the connection's shim, so accepting allocates no closure.
function handlersFor(server: BunQueueServer): BunSocketHandlers {
  return {
    open(s) {
      s.data = new BunSocketShim(s);
      server.acceptBun(s.data);
    },
    data: (s, chunk) => s.data.received(chunk),
    drain: (s) => s.data.drained(),
    end: (s) => s.data.ended(),
    error: (s, err) => s.data.failed(err),
    close: (s) => s.data?.closed(),
  };
}

/** QueueServer whose connections come from Bun.listen. Only usable when running on Bun. */
export class BunQueueServer extends QueueServer {
  private listener: BunListener | null = null;
  private bound: net.AddressInfo | null = null;

  override listen(port: number, host = '0.0.0.0'): Promise<net.AddressInfo> {
    const bun = bunApi();
    if (bun === undefined) return Promise.reject(new Error('BunQueueServer needs the Bun runtime: run with QUEUE_RUNTIME=bun, or use QueueServer on node'));
    try {
      // Bun.listen takes no backlog: the kernel's default (capped by net.core.somaxconn) applies.
      this.listener = bun.listen({ hostname: host, port, allowHalfOpen: true, socket: handlersFor(this) });
    } catch (err) {
      return Promise.reject(err);
    }
    this.listeningStarted();
    this.bound = { address: host, family: host.includes(':') ? 'IPv6' : 'IPv4', port: this.listener.port };
    return Promise.resolve(this.bound);
  }

  override address(): net.AddressInfo | null {
    return this.bound;
  }

  /** @internal */
  acceptBun(shim: BunSocketShim): void {
    this.accept(shim as unknown as net.Socket);
  }

  protected override closeListener(done: () => void): void {
    // Stops accepting; open connections stay, and QueueServer.close ends them in order.
    this.listener?.stop(false);
    this.listener = null;
    done();
  }
}

export type BunSockets = 'native' | 'node-net';

/** QUEUE_BUN_SOCKETS: `native` (default) = Bun.listen, `node-net` = Bun's node:net compatibility layer. */
export function bunSockets(value: string | undefined): BunSockets {
  const v = (value ?? '').trim();
  if (v === '' || v === 'native') return 'native';
  if (v === 'node-net') return 'node-net';
  throw new Error(`QUEUE_BUN_SOCKETS="${v}" is not a socket layer: use native (Bun.listen, the default) or node-net`);
}

/** The queue server for this runtime: on Bun, the Bun.listen one unless QUEUE_BUN_SOCKETS=node-net. */
export function createQueueServer(opts: QueueServerOptions, env: NodeJS.ProcessEnv = process.env): QueueServer {
  if (bunApi() !== undefined && bunSockets(env.QUEUE_BUN_SOCKETS) === 'native') return new BunQueueServer(opts);
  return new QueueServer(opts);
}
