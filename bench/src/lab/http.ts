// HTTP from the bench to the servers it runs: health checks, /metrics scrapes, the recovery probes of chaos.
// undici's request() rather than fetch(): no WHATWG stream layer on the path, and separate limits for the
// headers and the body. The load generator does not come here: it writes raw sockets on purpose.
import { request } from 'undici';

export interface HttpAnswer {
  status: number;
  body: string;
}

/** GET `url`; throws when nothing answers within `timeoutMs` (connection, headers and body together). */
export async function httpGet(url: string, timeoutMs = 2000): Promise<HttpAnswer> {
  const res = await request(url, { method: 'GET', signal: AbortSignal.timeout(timeoutMs), headersTimeout: timeoutMs, bodyTimeout: timeoutMs });
  return { status: res.statusCode, body: await res.body.text() };
}
