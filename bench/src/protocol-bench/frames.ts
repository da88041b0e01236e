// The one request the benchmark sends and the one reply it accepts as success, as bytes. Written out here
// rather than imported from queue-server's codec, so that the yardstick does not share code with the
// thing it measures (a codec bug must not make both sides agree).

/** The seed's statement, with the table name that the seed forgot. */
export const SEED_SQL = 'insert into bench_events (num) values (%d)';

export function frame(cmd: number, body: string): Buffer {
  const b = Buffer.from(body, 'utf8');
  const out = Buffer.alloc(4 + b.length);
  out.writeUInt16BE(cmd, 0);
  out.writeUInt16BE(b.length, 2);
  b.copy(out, 4);
  return out;
}

export function enqueueRequest(sql = SEED_SQL): Buffer {
  return frame(8001, JSON.stringify({ sql }));
}

/** 22 bytes: 1f41 0012 {"msg": "success"}, the original server's reply byte for byte. */
export const EXPECTED_OK: Buffer = Buffer.from('1f4100127b226d7367223a202273756363657373227d', 'hex');
