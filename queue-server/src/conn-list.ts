// The open connections, as a list threaded through the connections themselves. With a new connection per
// request, a Set's add and delete (hashing, then tombstones and rehashing) were among the largest items of
// the server's own JavaScript in a profile on Bun; linking costs a few field writes and allocates nothing.

export interface Linked<T> {
  prev: T | null;
  next: T | null;
  /** True while in a list (an item is in at most one). */
  linked: boolean;
}

export class ConnList<T extends Linked<T>> {
  private head: T | null = null;
  private count = 0;

  get size(): number {
    return this.count;
  }

  add(item: T): void {
    if (item.linked) return;
    item.linked = true;
    item.prev = null;
    item.next = this.head;
    if (this.head !== null) this.head.prev = item;
    this.head = item;
    this.count++;
  }

  /** Removes item; false when it was not in the list (so removing twice is harmless). */
  delete(item: T): boolean {
    if (!item.linked) return false;
    item.linked = false;
    if (item.prev !== null) item.prev.next = item.next;
    else this.head = item.next;
    if (item.next !== null) item.next.prev = item.prev;
    item.prev = null;
    item.next = null;
    this.count--;
    return true;
  }

  /** Every item, newest first. The item being visited may be deleted meanwhile (a sweep closes connections). */
  *[Symbol.iterator](): IterableIterator<T> {
    let item = this.head;
    while (item !== null) {
      const next: T | null = item.next;
      yield item;
      item = next !== null && !next.linked ? this.head : next; // next was removed too: start over from the head
    }
  }
}
