/**
 * The Dijkstra searches of the path search: the plain one (the benchmark's
 * reference and the diagnosis) and the reverse bound searches with cutoffs, seeds,
 * budgets and resume (step 1 of the method in index.ts).
 */
import { DijkstraSlot, type Direction, Workspace } from './workspace.js';

/**
 * Dijkstra on `weight` (indexed like `dir`) from `starts` at distance 0, skipping edges
 * below `rate` and nodes of blocked domains, until it settles a node of `stopAt` (stamped
 * with `stopGen`): returns that node, or -1 if none is reachable. The reference of the
 * bench (`shortestLatency`) and the diagnosis; the bound searches with cutoffs, seeds and
 * budgets are `boundSearch`.
 */
export function dijkstra(ws: Workspace, slot: DijkstraSlot, dir: Direction, nodeDomain: Int32Array, weight: Float64Array, starts: readonly number[], rate: number, stopAt: Uint32Array, stopGen: number): number {
  const heap = slot.heap;
  const { dist, seen, done } = slot;
  const blocked = ws.blocked;
  const { off, other, available: avail } = dir;
  heap.clear();
  slot.gen++;
  slot.settled = 0;
  const gen = slot.gen;
  slot.cutoffHit = false;
  slot.budgetHit = false;
  for (const s of starts) {
    if (blocked[nodeDomain[s]!] || seen[s] === gen) continue;
    seen[s] = gen;
    dist[s] = 0;
    heap.push(s, 0);
  }
  while (heap.size > 0) {
    const v = heap.pop();
    const d = heap.lastKey;
    if (done[v] === gen) continue;
    done[v] = gen;
    slot.settled++;
    if (stopAt[v] === stopGen) {
      slot.radius = d;
      return v;
    }
    const end = off[v + 1]!;
    for (let e = off[v]!; e < end; e++) {
      if (avail[e]! < rate) continue;
      const w = other[e]!;
      if (blocked[nodeDomain[w]!]) continue;
      const nd = d + weight[e]!;
      if (seen[w] !== gen || nd < dist[w]!) {
        seen[w] = gen;
        dist[w] = nd;
        heap.push(w, nd);
      }
    }
  }
  slot.radius = Infinity;
  return -1;
}

/**
 * `dijkstra` for the reverse bound searches of `search`: same arguments, same result and
 * slot state. A search stopped at its cutoff or budget leaves the next node in its heap
 * (peeked, not popped and pushed back), and every exit writes the slot's state at one place:
 * the stops taken for the first time after V8 optimized the function then meet no code it
 * has no feedback for (which made it deoptimize). A function of its own, so that the
 * reference Dijkstra (`shortestLatency`) runs code the bound searches do not share.
 */
export function boundSearch(
  ws: Workspace,
  slot: DijkstraSlot,
  dir: Direction,
  nodeDomain: Int32Array,
  weight: Float64Array,
  starts: readonly number[],
  rate: number,
  stopAt: Uint32Array | null,
  stopGen: number,
  cutoff: number,
  stopNeeded = 1,
  seed: DijkstraSlot | null = null,
  resume = false,
  maxSettled = Infinity,
): number {
  const heap = slot.bheap;
  const { dist, seen, done } = slot;
  const blocked = ws.blocked;
  const { off, other, available: avail } = dir;
  let stops = 0;
  if (!resume) {
    heap.clear();
    slot.gen++;
    slot.settled = 0;
  }
  const gen = slot.gen;
  if (!resume) for (const s of starts) {
    if (blocked[nodeDomain[s]!]) continue;
    const d0 = seed === null ? 0 : seed.done[s] === seed.gen ? seed.dist[s]! : Infinity;
    if (d0 === Infinity || (seen[s] === gen && dist[s]! <= d0)) continue;
    seen[s] = gen;
    dist[s] = d0;
    heap.push(s, d0);
  }
  let settled = slot.settled;
  let radius = Infinity;
  let cutoffHit = false;
  let budgetHit = false;
  let found = -1;
  // Nodes reached over a zero-weight edge from the node being settled are at its distance, the
  // least of all unsettled: they go on a stack, settled next without a trip through the heap
  // (price is 0 on every transit, loss on many edges; reachability runs on zero weights).
  const zs = slot.zstack;
  let sp = resume ? slot.zsp : 0;
  const policy = ws.anyBlocked;
  for (;;) {
    let v: number;
    let d: number;
    if (sp > 0) {
      v = zs[sp - 1]!;
      d = dist[v]!;
    } else {
      if (heap.size === 0) break;
      v = heap.peek();
      d = heap.peekKey();
      if (done[v] === gen) {
        heap.pop();
        continue;
      }
    }
    if (d > cutoff) {
      radius = d;
      cutoffHit = true;
      break;
    }
    if (settled >= maxSettled) {
      radius = d;
      budgetHit = true;
      break;
    }
    if (sp > 0) sp--;
    else heap.pop();
    done[v] = gen;
    settled++;
    if (stopAt !== null && stopAt[v] === stopGen && ++stops >= stopNeeded) {
      radius = d;
      found = v;
      break;
    }
    const end = off[v + 1]!;
    for (let e = off[v]!; e < end; e++) {
      if (avail[e]! < rate) continue;
      const w = other[e]!;
      if (policy && blocked[nodeDomain[w]!]) continue;
      const nd = d + weight[e]!;
      if (seen[w] !== gen || nd < dist[w]!) {
        seen[w] = gen;
        dist[w] = nd;
        if (nd === d) zs[sp++] = w;
        else heap.push(w, nd);
      }
    }
  }
  slot.zsp = sp;
  slot.settled = settled;
  slot.radius = radius;
  slot.cutoffHit = cutoffHit;
  slot.budgetHit = budgetHit;
  return found;
}
