// A forward HTTP proxy for apt, and nothing else: the second engine of `make docker-engine-remote` lives in
// a network namespace whose only link is a veth pair to this host, so the image builds on it (apt-get in the
// Dockerfiles) reach the Debian mirror through this proxy, which listens on this host's end of the pair.
// It forwards plain-HTTP GET/HEAD to the allowed hosts only (the machine's own apt mirrors) and refuses
// every other host, method and CONNECT tunnel: the namespace gets no other way out.
//
//   node apt-proxy.js --listen 198.18.x.1:3142 --allow deb.debian.org[,other.host]
import http from 'node:http';
import { pipeline } from 'node:stream';
import { parseArgs } from 'node:util';

export interface AptProxyOptions {
  host: string;
  port: number;
  /** Host names (lower case) the proxy forwards to. */
  allow: readonly string[];
}

/** The upstream of a proxied request, or why it is refused. */
export function upstreamOf(method: string | undefined, rawUrl: string | undefined, allow: readonly string[]): { url: URL } | { refuse: string } {
  if (method !== 'GET' && method !== 'HEAD') return { refuse: `method ${method} not forwarded (apt only needs GET and HEAD)` };
  let url: URL;
  try {
    url = new URL(rawUrl ?? '');
  } catch {
    return { refuse: `not a proxy request (absolute http:// URL expected): ${rawUrl}` };
  }
  if (url.protocol !== 'http:') return { refuse: `only http:// is forwarded, not ${url.protocol}` };
  if (!allow.includes(url.hostname.toLowerCase())) return { refuse: `host ${url.hostname} is not an apt mirror of this machine (allowed: ${allow.join(', ')})` };
  return { url };
}

export function startAptProxy(o: AptProxyOptions): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    const up = upstreamOf(req.method, req.url, o.allow);
    if ('refuse' in up) {
      res.writeHead(403, { 'content-type': 'text/plain' }).end(`${up.refuse}\n`);
      return;
    }
    const headers: http.OutgoingHttpHeaders = { ...req.headers, host: up.url.host };
    delete headers['proxy-connection'];
    const out = http.request(up.url, { method: req.method, headers }, (r) => {
      res.writeHead(r.statusCode ?? 502, r.headers);
      pipeline(r, res, () => {});
    });
    out.on('error', (e) => {
      if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' });
      res.end(`upstream ${up.url.host}: ${e.message}\n`);
    });
    out.end();
  });
  // CONNECT (https tunnels) would let anything through: refused.
  server.on('connect', (_req, socket) => socket.end('HTTP/1.1 403 Forbidden\r\n\r\n'));
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.host, () => resolve(server));
  });
}

const isMain = process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href;
if (isMain) {
  const { values } = parseArgs({ options: { listen: { type: 'string' }, allow: { type: 'string' } } });
  const m = /^(.+):(\d+)$/.exec(values.listen ?? '');
  const allow = (values.allow ?? '').split(',').map((s) => s.trim().toLowerCase()).filter(Boolean);
  if (!m || allow.length === 0) {
    console.error('usage: apt-proxy.js --listen <addr>:<port> --allow <host>[,<host>...]');
    process.exit(2);
  }
  const server = await startAptProxy({ host: m[1]!, port: Number(m[2]), allow });
  console.log(`apt-proxy: listening on ${m[1]}:${m[2]}, forwarding to ${allow.join(', ')}`);
  for (const sig of ['SIGTERM', 'SIGINT'] as const) process.on(sig, () => server.close(() => process.exit(0)));
}
