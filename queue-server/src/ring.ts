// Fixed-capacity ring buffer. Capacity is fixed at construction and never exceeded, unlike the
// original, whose list kept growing while its indexes wrapped. The slots live in segments of 64k that
// are allocated the first time the ring reaches them, so an idle server with the default capacity of
// 1,000,000 does not hold 8 MB of empty slots; push and shift stay O(1).

export const DEFAULT_CAPACITY = 1_000_000;
const SEG_BITS = 16;
const SEG_SIZE = 1 << SEG_BITS;
const SEG_MASK = SEG_SIZE - 1;

export class Ring<T> {
  readonly capacity: number;
  private readonly segs: Array<Array<T | undefined> | undefined>;
  private head = 0; // index of the oldest item
  private size = 0;

  constructor(capacity: number = DEFAULT_CAPACITY) {
    if (!Number.isInteger(capacity) || capacity < 1 || capacity > 2 ** 31) throw new RangeError('ring capacity must be a positive integer');
    this.capacity = capacity;
    const n = Math.ceil(capacity / SEG_SIZE);
    this.segs = new Array<Array<T | undefined> | undefined>(n).fill(undefined);
  }

  get length(): number {
    return this.size;
  }

  get full(): boolean {
    return this.size === this.capacity;
  }

  private seg(i: number): Array<T | undefined> {
    const k = i >>> SEG_BITS;
    let s = this.segs[k];
    if (s === undefined) {
      const len = Math.min(SEG_SIZE, this.capacity - k * SEG_SIZE);
      s = this.segs[k] = new Array<T | undefined>(len).fill(undefined);
    }
    return s;
  }

  /** Appends; returns false (and stores nothing) when full. */
  push(item: T): boolean {
    if (this.size === this.capacity) return false;
    let i = this.head + this.size;
    if (i >= this.capacity) i -= this.capacity;
    this.seg(i)[i & SEG_MASK] = item;
    this.size++;
    return true;
  }

  shift(): T | undefined {
    if (this.size === 0) return undefined;
    const s = this.segs[this.head >>> SEG_BITS] as Array<T | undefined>;
    const off = this.head & SEG_MASK;
    const item = s[off];
    s[off] = undefined; // let the entry be collected
    this.head = this.head + 1 === this.capacity ? 0 : this.head + 1;
    this.size--;
    return item;
  }

  /** Removes and returns the newest item (undoes the last push). */
  pop(): T | undefined {
    if (this.size === 0) return undefined;
    let i = this.head + this.size - 1;
    if (i >= this.capacity) i -= this.capacity;
    const s = this.segs[i >>> SEG_BITS] as Array<T | undefined>;
    const item = s[i & SEG_MASK];
    s[i & SEG_MASK] = undefined;
    this.size--;
    return item;
  }

  peek(): T | undefined {
    return this.size === 0 ? undefined : (this.segs[this.head >>> SEG_BITS] as Array<T | undefined>)[this.head & SEG_MASK];
  }

  /** The oldest n items (fewer if the ring holds fewer), oldest first, without removing them. */
  peekBatch(n: number): T[] {
    const count = Math.min(Math.max(0, Math.floor(n)), this.size);
    const out = new Array<T>(count);
    let i = this.head;
    for (let k = 0; k < count; k++) {
      out[k] = (this.segs[i >>> SEG_BITS] as Array<T | undefined>)[i & SEG_MASK] as T;
      i = i + 1 === this.capacity ? 0 : i + 1;
    }
    return out;
  }

  /** Removes the oldest n items (at most all of them), passing each to `each`; returns how many were removed. */
  drop(n: number, each?: (item: T) => void): number {
    const count = Math.min(Math.max(0, Math.floor(n)), this.size);
    let i = this.head;
    for (let k = 0; k < count; k++) {
      const s = this.segs[i >>> SEG_BITS] as Array<T | undefined>;
      if (each !== undefined) each(s[i & SEG_MASK] as T);
      s[i & SEG_MASK] = undefined;
      i = i + 1 === this.capacity ? 0 : i + 1;
    }
    this.head = i;
    this.size -= count;
    return count;
  }

  clear(): void {
    this.drop(this.size);
    this.head = 0;
  }
}
