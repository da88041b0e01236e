// The invariant, checked after a scenario has drained: every entry the server acknowledged is exactly one
// row. Pure functions over what was read back (rows, counters), so that they are tested on stand-in data.
//
// How acknowledged sequence numbers are known (the 8001 reply carries no seq; see bench/README.md, "make
// chaos"): the server hands out seqs in order, one process at a time, and acknowledges an entry only after
// its journal append (and, under fsync=always, its group flush). After a kill -9, an entry that never
// reached the journal gets its seq handed out again by the restarted server (replay continues from the
// journal's last seq), and one that reached the journal is replayed and drained. So for a correct server
// the rows are exactly 1..S, where S is the last seq handed out, and every gap is a lost entry. The one
// way a seq is handed out and legitimately never becomes a row is a refusal after the append
// (JOURNAL_FAILED): those are counted from the server's metrics, and gaps beyond that count are
// acknowledged entries lost.

export interface Gaps {
  /** Seqs in 1..lastSeq with no row. */
  count: number;
  /** The first few missing ranges, for the report: [from, to] inclusive. */
  ranges: Array<[number, number]>;
}

/** Missing seqs in 1..lastSeq, given the rows' nums (any order, duplicates allowed). */
export function findGaps(nums: readonly number[], lastSeq: number, keepRanges = 10): Gaps {
  const sorted = [...new Set(nums)].filter((n) => n >= 1 && n <= lastSeq).sort((a, b) => a - b);
  const ranges: Array<[number, number]> = [];
  let count = 0;
  let expect = 1;
  const miss = (from: number, to: number) => {
    count += to - from + 1;
    if (ranges.length < keepRanges) ranges.push([from, to]);
  };
  for (const n of sorted) {
    if (n > expect) miss(expect, n - 1);
    expect = n + 1;
  }
  if (expect <= lastSeq) miss(expect, lastSeq);
  return { count, ranges };
}

/** Rows beyond one per distinct num, plus deliveries MySQL refused as duplicates (dead letters, 1062). */
export function countDuplicates(rows: number, distinct: number, duplicateDeadLetters: number): number {
  return rows - distinct + duplicateDeadLetters;
}

export interface ScenarioFigures {
  /** Client-side strict successes: HTTP 200 with body "ok", each one an 8001 ack seen by PHP. */
  strictOk: number;
  /** Acks the server reported (eserver_enqueued_total summed over its processes: a lower bound). */
  serverAcks: number;
  rows: number;
  distinct: number;
  duplicateDeadLetters: number;
  /** Other dead letters (statements MySQL refused): the seed's statement never should be. */
  otherDeadLetters: number;
  nums: readonly number[];
  /** Last seq handed out: max(highest row num, last eserver_next_seq - 1). */
  lastSeq: number;
  /** Entries refused with JOURNAL_FAILED (after their seq was handed out), summed over processes. */
  journalFailed: number;
  drained: boolean;
  /** Seconds from the end of each fault until the stack served client.php again; null = never. */
  recoverS: Array<number | null>;
}

export interface Verdict {
  ok: boolean;
  duplicates: number;
  gaps: Gaps;
  /** Gaps that no refusal explains: acknowledged entries that never became a row. */
  ackedGaps: number;
  reasons: string[];
}

export function judge(f: ScenarioFigures): Verdict {
  const reasons: string[] = [];
  const duplicates = countDuplicates(f.rows, f.distinct, f.duplicateDeadLetters);
  const gaps = findGaps(f.nums, f.lastSeq);
  const ackedGaps = Math.max(0, gaps.count - f.journalFailed);
  if (!f.drained) reasons.push('the queue did not drain in time');
  if (f.rows < f.strictOk) reasons.push(`${f.rows} rows < ${f.strictOk} client-side acks: acknowledged entries lost`);
  if (f.rows < f.serverAcks) reasons.push(`${f.rows} rows < ${f.serverAcks} acks counted by the server: acknowledged entries lost`);
  if (duplicates > 0) reasons.push(`${duplicates} duplicate deliveries`);
  if (ackedGaps > 0) {
    const shown = gaps.ranges.map(([a, b]) => (a === b ? `${a}` : `${a}-${b}`)).join(', ');
    reasons.push(`${gaps.count} seqs missing (${shown}${gaps.ranges.length < gaps.count ? ', ...' : ''}), ${f.journalFailed} refused after the append`);
  }
  if (f.otherDeadLetters > 0) reasons.push(`${f.otherDeadLetters} statements dead-lettered`);
  const never = f.recoverS.filter((r) => r === null).length;
  if (never > 0) reasons.push(`${never} of ${f.recoverS.length} faults: the stack did not serve client.php again in time`);
  if (f.strictOk === 0) reasons.push('no client-side ack at all: the load never reached the queue');
  return { ok: reasons.length === 0, duplicates, gaps, ackedGaps, reasons };
}
