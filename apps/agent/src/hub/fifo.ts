/**
 * A first-in first-out ring buffer: O(1) push, shift and access by position,
 * growing by doubling. Array.prototype.shift is O(n), which at 100k events in
 * a replay window would dominate everything else.
 */
export class Fifo<T> {
  private items: (T | undefined)[];
  private head = 0;
  private size = 0;

  constructor(initialCapacity = 16) {
    let capacity = 1;
    while (capacity < initialCapacity) capacity *= 2;
    this.items = new Array<T | undefined>(capacity);
  }

  get length(): number {
    return this.size;
  }

  push(item: T): void {
    if (this.size === this.items.length) this.grow();
    this.items[(this.head + this.size) & (this.items.length - 1)] = item;
    this.size++;
  }

  /** Removes and returns the oldest item. */
  shift(): T | undefined {
    if (this.size === 0) return undefined;
    const item = this.items[this.head];
    this.items[this.head] = undefined;
    this.head = (this.head + 1) & (this.items.length - 1);
    this.size--;
    return item;
  }

  /** The item at `index` (0 = oldest); the caller keeps index within 0..length-1. */
  at(index: number): T {
    return this.items[(this.head + index) & (this.items.length - 1)] as T;
  }

  /** The newest item. */
  last(): T | undefined {
    return this.size === 0 ? undefined : this.at(this.size - 1);
  }

  clear(): void {
    this.items = new Array<T | undefined>(16);
    this.head = 0;
    this.size = 0;
  }

  private grow(): void {
    const bigger = new Array<T | undefined>(this.items.length * 2);
    for (let i = 0; i < this.size; i++) bigger[i] = this.at(i);
    this.items = bigger;
    this.head = 0;
  }
}
