// One queued statement. `seq` is the server's sequence number that replaced the `%d`.
export interface Entry {
  seq: number;
  sql: string;
}

/**
 * What an entry is charged against the queue's byte budget: its SQL in UTF-16 code units plus the object,
 * string header and ring slot. Cheap (no scan of the text); a statement V8 keeps as a two-byte string costs
 * up to twice its length in memory, so the budget is an estimate of the heap, not an exact count.
 */
export const ENTRY_OVERHEAD = 64;
export function entrySize(sql: string): number {
  return sql.length + ENTRY_OVERHEAD;
}
