/**
 * Binary min-heap of integer items keyed by (primary, secondary) numbers, in typed
 * arrays that grow by doubling. No decrease-key: callers push duplicates and skip stale
 * entries when they pop (lazy deletion), which is faster in practice here.
 */
export class MinHeap {
  private items: Int32Array;
  private k1: Float64Array;
  private k2: Float64Array;
  size = 0;

  constructor(capacity = 1024) {
    this.items = new Int32Array(capacity);
    this.k1 = new Float64Array(capacity);
    this.k2 = new Float64Array(capacity);
  }

  clear(): void {
    this.size = 0;
  }

  private grow(): void {
    const cap = this.items.length * 2;
    const items = new Int32Array(cap);
    items.set(this.items);
    const k1 = new Float64Array(cap);
    k1.set(this.k1);
    const k2 = new Float64Array(cap);
    k2.set(this.k2);
    this.items = items;
    this.k1 = k1;
    this.k2 = k2;
  }

  push(item: number, key: number, key2 = 0): void {
    if (this.size === this.items.length) this.grow();
    const items = this.items;
    const k1 = this.k1;
    const k2 = this.k2;
    let i = this.size++;
    while (i > 0) {
      const p = (i - 1) >> 1;
      const pk = k1[p]!;
      if (pk < key || (pk === key && k2[p]! <= key2)) break;
      items[i] = items[p]!;
      k1[i] = pk;
      k2[i] = k2[p]!;
      i = p;
    }
    items[i] = item;
    k1[i] = key;
    k2[i] = key2;
  }

  /** Primary key of the top item (Infinity when empty). */
  peekKey(): number {
    return this.size > 0 ? this.k1[0]! : Infinity;
  }

  /** Removes and returns the top item; `lastKey` holds its primary key. Call only when size > 0. */
  pop(): number {
    const items = this.items;
    const k1 = this.k1;
    const k2 = this.k2;
    const top = items[0]!;
    this.lastKey = k1[0]!;
    const n = --this.size;
    if (n > 0) {
      const item = items[n]!;
      const key = k1[n]!;
      const key2 = k2[n]!;
      let i = 0;
      for (;;) {
        let c = 2 * i + 1;
        if (c >= n) break;
        const r = c + 1;
        if (r < n && (k1[r]! < k1[c]! || (k1[r]! === k1[c]! && k2[r]! < k2[c]!))) c = r;
        const ck = k1[c]!;
        if (key < ck || (key === ck && key2 <= k2[c]!)) break;
        items[i] = items[c]!;
        k1[i] = ck;
        k2[i] = k2[c]!;
        i = c;
      }
      items[i] = item;
      k1[i] = key;
      k2[i] = key2;
    }
    return top;
  }

  /** Primary key of the item returned by the last `pop()`. */
  lastKey = 0;
}

/**
 * `MinHeap` with a single key (no tie-break), for the bound searches: a third fewer writes
 * per move. Items with equal keys come out in no particular order.
 */
export class KeyHeap {
  private items: Int32Array;
  private keys: Float64Array;
  size = 0;

  constructor(capacity = 1024) {
    this.items = new Int32Array(capacity);
    this.keys = new Float64Array(capacity);
  }

  clear(): void {
    this.size = 0;
  }

  private grow(): void {
    const cap = this.items.length * 2;
    const items = new Int32Array(cap);
    items.set(this.items);
    const keys = new Float64Array(cap);
    keys.set(this.keys);
    this.items = items;
    this.keys = keys;
  }

  push(item: number, key: number): void {
    if (this.size === this.items.length) this.grow();
    const items = this.items;
    const keys = this.keys;
    let i = this.size++;
    while (i > 0) {
      const p = (i - 1) >> 1;
      const pk = keys[p]!;
      if (pk <= key) break;
      items[i] = items[p]!;
      keys[i] = pk;
      i = p;
    }
    items[i] = item;
    keys[i] = key;
  }

  /** The top item, left in place. Call only when size > 0. */
  peek(): number {
    return this.items[0]!;
  }

  /** Key of the top item (Infinity when empty). */
  peekKey(): number {
    return this.size > 0 ? this.keys[0]! : Infinity;
  }

  /** Removes the top item. Call only when size > 0. */
  pop(): void {
    const items = this.items;
    const keys = this.keys;
    const n = --this.size;
    if (n > 0) {
      const item = items[n]!;
      const key = keys[n]!;
      let i = 0;
      for (;;) {
        let c = 2 * i + 1;
        if (c >= n) break;
        const r = c + 1;
        if (r < n && keys[r]! < keys[c]!) c = r;
        const ck = keys[c]!;
        if (key <= ck) break;
        items[i] = items[c]!;
        keys[i] = ck;
        i = c;
      }
      items[i] = item;
      keys[i] = key;
    }
  }
}
