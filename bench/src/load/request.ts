// The exact request Webbench 1.5 sends by default, built once and reused for every connection:
// a fresh Buffer per request would cost an allocation per page for no gain.

export interface RequestTarget {
  host: string;
  port: number;
  path: string;
  /** Host header value; webbench sends the host part of the URL. */
  hostHeader: string;
}

export function parseTarget(url: string): RequestTarget {
  const u = new URL(url);
  if (u.protocol !== 'http:') throw new Error(`only http:// URLs are supported, got ${url}`);
  const port = u.port ? Number(u.port) : 80;
  const host = u.hostname.replace(/^\[|\]$/g, '');
  return { host, port, path: (u.pathname || '/') + u.search, hostHeader: u.hostname };
}

/** HTTP/1.0 + webbench's User-Agent: the server closes after each response (no keep-alive). */
export function buildRequest(t: RequestTarget): Buffer {
  return Buffer.from(
    `GET ${t.path} HTTP/1.0\r\nUser-Agent: WebBench 1.5\r\nHost: ${t.hostHeader}\r\n\r\n`,
    'latin1',
  );
}
