// Per-connection protection limits, and the one shared timer that enforces the time-based ones.
// A single sweep over all connections replaces per-socket timers, which cost an allocation and a
// timer-list update on every read.

export interface ConnectionLimits {
  /** Concurrent connections above this are closed at accept. 0 = unlimited. */
  maxConnections: number;
  /** A connection with no bytes received and no reply outstanding for this long is closed. 0 = never. */
  idleTimeoutMs: number;
  /** A frame that started arriving this long ago and is still incomplete gets its peer shed. 0 = never. */
  slowSenderMs: number;
  /**
   * Replies a connection may have waiting for the peer to read. At this mark the server stops reading from
   * it (backpressure) until the kernel has taken them; a peer that leaves it paused for slowSenderMs is shed.
   */
  maxBufferedBytes: number;
}

export const DEFAULT_LIMITS: ConnectionLimits = {
  maxConnections: 15_000,
  idleTimeoutMs: 60_000,
  slowSenderMs: 10_000,
  maxBufferedBytes: 1 << 20,
};

/** How often the sweep runs: a quarter of the shortest timeout, between 10 ms and 1 s. */
export function sweepInterval(limits: ConnectionLimits): number {
  const ts = [limits.idleTimeoutMs, limits.slowSenderMs].filter((t) => t > 0);
  if (ts.length === 0) return 0;
  return Math.min(1000, Math.max(10, Math.floor(Math.min(...ts) / 4)));
}

export function validateLimits(l: ConnectionLimits, maxFrameBytes: number): void {
  for (const k of Object.keys(l) as Array<keyof ConnectionLimits>) {
    if (!Number.isSafeInteger(l[k]) || l[k] < 0) throw new Error(`${k} must be a non-negative integer`);
  }
  if (l.maxBufferedBytes < maxFrameBytes) {
    throw new Error(`maxBufferedBytes (${l.maxBufferedBytes}) must hold at least one whole frame (${maxFrameBytes} bytes)`);
  }
}
