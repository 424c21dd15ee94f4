import { describe, expect, test } from 'vitest';
import { KeyHeap } from '../../../daemon/topology/heap.js';
import { prng } from './random-graphs.js';

describe('topology/heap - KeyHeap', () => {
  test('pops keys in non-decreasing order, each pushed item once, across growth and interleaved pushes', () => {
    const r = prng(7);
    const heap = new KeyHeap(2);
    const key = new Map<number, number>();
    const popped: number[] = [];
    let next = 0;
    for (let round = 0; round < 200; round++) {
      for (let i = Math.floor(r() * 8); i > 0; i--) {
        // Few distinct keys, so ties are frequent.
        const k = Math.floor(r() * 20);
        key.set(next, k);
        heap.push(next++, k);
      }
      let last = -Infinity;
      for (let i = Math.floor(r() * 6); i > 0 && heap.size > 0; i--) {
        const k = heap.peekKey();
        expect(k).toBeGreaterThanOrEqual(last);
        expect(key.get(heap.peek())).toBe(k);
        last = k;
        popped.push(heap.peek());
        heap.pop();
      }
    }
    let last = -Infinity;
    while (heap.size > 0) {
      expect(heap.peekKey()).toBeGreaterThanOrEqual(last);
      last = heap.peekKey();
      popped.push(heap.peek());
      heap.pop();
    }
    expect(heap.peekKey()).toBe(Infinity);
    expect(popped.sort((a, b) => a - b)).toEqual([...Array(next).keys()]);
  });
});
