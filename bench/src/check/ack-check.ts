// The loss check of a stack whose queue server has no MySQL drain (the 2013-style server, like the
// original): entries stay in memory, so "nothing lost" can only be checked up to the queue. Its length
// (8003) counts what it acknowledged with 8001 and still holds; nothing dequeues during a bench run, so
// every page that answered `ok` must be in it. Rows in MySQL are not checked: there are none to check.
import { queueLength } from '../lab/seed2013.js';

export interface AckCheck {
  method: string;
  length_before: number;
  length_after: number;
  /** length_after - length_before: the 8001 this profile got acknowledged (php-fpm's backlog included). */
  acked: number;
  strict_ok: number | null;
  /** Strict successes (HTTP 200 + ok) never exceed the acks; else the page or the server lies. */
  ok: boolean;
  wait_s: number;
  note: string;
}

const METHOD = '8003 queue length (no MySQL drain, as in 2013): acks held in memory >= pages that answered ok';

/** The length once php-fpm has worked through its backlog: unchanged over two polls 500 ms apart (bounded). */
export async function settledLength(host: string, port: number, timeoutS = 60): Promise<{ length: number; waitS: number }> {
  const t0 = Date.now();
  let prev = await queueLength(host, port);
  for (;;) {
    await new Promise((r) => setTimeout(r, 500));
    const now = await queueLength(host, port);
    if (now === prev || Date.now() - t0 > timeoutS * 1000) return { length: now, waitS: Math.round((Date.now() - t0) / 100) / 10 };
    prev = now;
  }
}

export function judgeAcks(lengthBefore: number, lengthAfter: number, strictOk: number | null, waitS: number): AckCheck {
  const acked = lengthAfter - lengthBefore;
  const ok = acked >= 0 && (strictOk === null || strictOk <= acked);
  return {
    method: METHOD, length_before: lengthBefore, length_after: lengthAfter, acked, strict_ok: strictOk, ok, wait_s: waitS,
    note: ok ? 'MySQL not checked: this server has no drain' : `${strictOk} pages answered ok but the queue holds only ${acked} new entries`,
  };
}

export function ackLine(a: AckCheck): string {
  return `Ack check (no drain, as in 2013): queue length ${a.length_before} -> ${a.length_after} = ${a.acked} acked, ${a.strict_ok ?? '?'} strict ok: ${a.ok ? 'OK' : 'FAILED'} (MySQL loss check not applicable).`;
}
