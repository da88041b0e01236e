// The measured window's two marks (its start after the warm-up, its end after the measured seconds), each
// taken by a timer. A reading can be slow (a stack on another machine is read through its engine's stats,
// a second or more), so a mark still being read when the load ends is awaited, never replaced by a later one:
// an end taken in place of the start made a window of zero CPU.

export class WindowMarks<T> {
  private startP: Promise<T> | null = null;
  private endP: Promise<T> | null = null;
  private timers: NodeJS.Timeout[] = [];

  constructor(private readonly take: () => Promise<T>) {}

  /** Marks the start at once (a load with no warm-up). */
  startNow(): void {
    this.startP = this.read();
  }

  /** (Re)arms the timers: the start `warmupMs` and the end `warmupMs + durationMs` after `delayMs` from now. */
  arm(delayMs: number, warmupMs: number, durationMs: number): void {
    this.clear();
    this.timers = [
      setTimeout(() => void (this.startP = this.read()), delayMs + warmupMs),
      setTimeout(() => void (this.endP = this.read()), delayMs + warmupMs + durationMs),
    ];
  }

  /** After the load: both marks, the pending ones awaited; the end read now when its timer has not fired. */
  async settle(): Promise<{ start: T; end: T }> {
    this.clear();
    const end = await (this.endP ?? (this.endP = this.read()));
    const start = this.startP ? await this.startP : end;
    return { start, end };
  }

  clear(): void {
    this.timers.forEach(clearTimeout);
    this.timers = [];
  }

  private read(): Promise<T> {
    const p = this.take();
    p.catch(() => {}); // awaited (and thrown) in settle(); not an unhandled rejection meanwhile
    return p;
  }
}
