// Small local servers whose behaviour each test controls (port 0 only), for the load generator's tests.
import net from 'node:net';

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

export async function until(cond: () => boolean, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not reached in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}
