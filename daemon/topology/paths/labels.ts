/**
 * The forward label-setting search (step 2 of the method in index.ts).
 */
import type { ClassGraph } from '../graph.js';
import { MinHeap } from '../heap.js';
import type { Prepared } from './request.js';
import { DijkstraSlot, Workspace } from './workspace.js';

/** Relative tolerance of metric comparisons. */
export const EPS = 1e-9;
/** `dominatedIn` parent marker for the answer list: answers are complete, no completion can loop. */
const RESULTS = -2;
/** Weight of the other metrics in the tie-break key of price objectives. */
const TIE_WEIGHT = 1e-6;

/**
 * The forward label-setting search of one query, with its state in fields. It lives in the
 * workspace and runs in `runLabels`, a function of its own: the rare paths of a query (errors,
 * the lazy bounds, include checks on failure) stay in `search`, so that reaching one of them
 * for the first time sends only `search` back to the interpreter (V8 deoptimizes a function
 * when it first meets code it has no type feedback for), not the loop that does the work.
 */
export class LabelSearch {
  // per query, set by `start`
  cg!: ClassGraph;
  nodeDomain: Int32Array = new Int32Array(0);
  blocked: Uint8Array = new Uint8Array(0);
  domainBit: Int32Array = new Int32Array(0);
  isTarget: Uint32Array = new Uint32Array(0);
  targetGen = 0;
  rate = 0;
  useLatBound = false;
  latTol = Infinity;
  jitTol = Infinity;
  lossTol = Infinity;
  includeMask = 0;
  heurIncludes = 0;
  incCost: DijkstraSlot[] = [];
  incLat: DijkstraSlot[] = [];
  invC = 0;
  invL = 0;
  needLat = false;
  maxPerNode = 0;
  maxLabels = 0;
  k = 0;
  nodeGen = 0;
  // which bounds are there
  haveCost = false;
  haveLat = false;
  jitReady = false;
  /** The jitter bound search ran to its end (not stopped by a budget). */
  jitFull = false;
  lossReady = false;
  lazyReady = false;
  /** Settled labels at which to stop for the lazy bounds. */
  lazyStop = Infinity;
  /** Labels below this index were made before the lazy bounds: checked against them when popped. */
  preLazy = 0;
  // results and counters
  nLabels = 0;
  settled = 0;
  dropped = 0;
  hitTotal = false;
  results: number[] = [];
  resultsHead = -1;

  constructor(readonly ws: Workspace) {}

  get heap(): MinHeap {
    return this.ws.heap;
  }

  start(
    p: Prepared,
    nodeDomain: Int32Array,
    maxPerNode: number,
    maxLabels: number,
    invC: number,
    invL: number,
    needLat: boolean,
    heurIncludes: number,
    incCost: DijkstraSlot[],
    incLat: DijkstraSlot[],
  ): void {
    const ws = this.ws;
    this.cg = p.cg;
    this.nodeDomain = nodeDomain;
    this.blocked = ws.blocked;
    this.domainBit = ws.domainBit;
    this.isTarget = ws.isTarget;
    this.targetGen = p.targetGen;
    this.rate = p.rate;
    this.useLatBound = p.maxLat < Infinity;
    this.latTol = p.maxLat + EPS * Math.max(1, p.maxLat);
    this.jitTol = p.maxJit + EPS * Math.max(1, p.maxJit);
    this.lossTol = p.maxLossLog + EPS * Math.max(1, p.maxLossLog);
    this.includeMask = p.includeMask;
    this.heurIncludes = heurIncludes;
    this.incCost = incCost;
    this.incLat = incLat;
    this.invC = invC;
    this.invL = invL;
    this.needLat = needLat;
    this.maxPerNode = maxPerNode;
    this.maxLabels = maxLabels;
    this.k = p.k;
    this.nodeGen = ++ws.nodeGenCur;
    this.haveCost = this.haveLat = this.jitReady = this.jitFull = this.lossReady = this.lazyReady = false;
    this.lazyStop = Infinity;
    this.preLazy = 0;
    this.nLabels = 0;
    this.settled = 0;
    this.dropped = 0;
    this.hitTotal = false;
    this.results = [];
    this.resultsHead = -1;
    ws.heap.clear();
  }

  newLabel(node: number, prev: number, edge: number, mask: number, c: number, l: number, j: number, lo: number): number {
    const ws = this.ws;
    if (this.nLabels === ws.cap) ws.growLabels(this.nLabels + 1);
    const i = this.nLabels++;
    ws.lNode[i] = node;
    ws.lPrev[i] = prev;
    ws.lEdge[i] = edge;
    ws.lMask[i] = mask;
    ws.lCost[i] = c;
    ws.lLat[i] = l;
    ws.lJit[i] = j;
    ws.lLoss[i] = lo;
    ws.lSeen[i] = -1;
    return i;
  }

  /** Lower bound on the objective to go from v for a label with include mask `mask`. */
  hObj(v: number, mask: number): number {
    const { invC, invL } = this;
    const ws = this.ws;
    let h = (invC !== 0 ? invC * ws.costSlot.bound(v) : 0) + (invL !== 0 ? invL * ws.latSlot.bound(v) : 0);
    for (let i = 0; i < this.heurIncludes; i++) {
      if (mask & (1 << i)) continue;
      const hi = (invC !== 0 ? invC * this.incCost[i]!.bound(v) : 0) + (invL !== 0 ? invL * this.incLat[i]!.bound(v) : 0);
      if (hi > h) h = hi;
    }
    return h;
  }

  /** Lower bound on the latency to go from v for a label with include mask `mask`. */
  latToGo(v: number, mask: number): number {
    let h = this.ws.latSlot.bound(v);
    for (let i = 0; i < this.heurIncludes; i++) if (!(mask & (1 << i)) && this.incLat[i]!.bound(v) > h) h = this.incLat[i]!.bound(v);
    return h;
  }

  /**
   * Tie-break among equal objective bounds. Ties are frequent (prices are per domain, so many
   * paths cost the same): for price objectives the label closest to the destination in
   * latency goes first, so equal-price plateaus are searched depth-first. The key never
   * decreases along a path and is strictly smaller for a label that strictly dominates
   * another with the same objective, so such a label is always answered first.
   */
  tieKey(w: number, c: number, l: number, j: number, lo: number): number {
    return this.invL === 1 ? c + j + lo : l + (this.needLat ? this.ws.latSlot.bound(w) : 0) + TIE_WEIGHT * (c + j + lo);
  }

  /**
   * Is (c,l,j,lo,mask) weakly dominated by a label of the list starting at `head`? With
   * includes, the candidate's path is `path(parent) + extra` and the dominating label must
   * also have crossed only nodes of that path: otherwise a completion of the candidate could
   * loop through the dominating label's path, and cutting the loop could lose an included domain.
   * The walk ends at `stop` (a label already compared with the candidate, and those after it).
   */
  dominatedIn(head: number, c: number, l: number, j: number, lo: number, mask: number, parent: number, extra: number, stop = -1): boolean {
    const { lNext, lCost, lLat, lJit, lLoss, lMask } = this.ws;
    const includeMask = this.includeMask;
    const tc = c + EPS * (c > 1 ? c : 1);
    const tl = l + EPS * (l > 1 ? l : 1);
    const tj = j + EPS * (j > 1 ? j : 1);
    const to = lo + EPS * (lo > 1 ? lo : 1);
    for (let x = head; x !== stop && x >= 0; x = lNext[x]!) {
      if (
        lCost[x]! <= tc &&
        lLat[x]! <= tl &&
        lJit[x]! <= tj &&
        lLoss[x]! <= to &&
        (lMask[x]! & mask) === mask &&
        (includeMask === 0 || parent === RESULTS || this.pathWithin(x, parent, extra))
      ) {
        return true;
      }
    }
    return false;
  }

  /** Every node on the path of label `x` is on path(parent) or is `extra`. */
  pathWithin(x: number, parent: number, extra: number): boolean {
    const ws = this.ws;
    for (let y = x; y >= 0; y = ws.lPrev[y]!) {
      const node = ws.lNode[y]!;
      if (node !== extra && !this.onPath(parent, node)) return false;
    }
    return true;
  }

  onPath(label: number, node: number): boolean {
    const ws = this.ws;
    for (let x = label; x >= 0; x = ws.lPrev[x]!) if (ws.lNode[x] === node) return true;
    return false;
  }

  /** With includes the cap counts per include mask, so labels that crossed them are not crowded out. */
  sameMaskCount(head: number, mask: number): number {
    const ws = this.ws;
    let n = 0;
    for (let x = head; x >= 0; x = ws.lNext[x]!) if (ws.lMask[x] === mask) n++;
    return n;
  }

  headOf(v: number): number {
    return this.ws.nodeGen[v] === this.nodeGen ? this.ws.nodeHead[v]! : -1;
  }

  /**
   * Target pruning: every completion of a label at w costs at least its metrics plus the lower
   * bounds from w; if an answer already found weakly dominates that, no completion can be an
   * answer (it would be dominated at the destination), so the label is useless.
   */
  beatenByAnswer(w: number, c: number, l: number, j: number, lo: number): boolean {
    const ws = this.ws;
    return (
      this.resultsHead >= 0 &&
      this.dominatedIn(
        this.resultsHead,
        c + (this.haveCost ? ws.costSlot.bound(w) : 0),
        l + (this.haveLat ? ws.latSlot.bound(w) : 0),
        j + (this.jitReady ? ws.jitSlot.bound(w) : 0),
        lo + (this.lossReady ? ws.lossSlot.bound(w) : 0),
        0,
        RESULTS,
        -1,
      )
    );
  }

  /** `beatenByAnswer` with the node's bounds already looked up (each counts only if that bound is there). */
  beatenByAnswerB(c: number, l: number, j: number, lo: number, bc: number, bl: number, bj: number, bo: number): boolean {
    return (
      this.resultsHead >= 0 &&
      this.dominatedIn(
        this.resultsHead,
        c + (this.haveCost ? bc : 0),
        l + (this.haveLat ? bl : 0),
        j + (this.jitReady ? bj : 0),
        lo + (this.lossReady ? bo : 0),
        0,
        RESULTS,
        -1,
      )
    );
  }
}

/**
 * Runs the label search until the heap is empty, the k-th answer or the total cap: returns
 * false. Returns true, before popping, when it is time for the lazy bounds (`lazyStop`).
 */
export function runLabels(s: LabelSearch): boolean {
  const ws = s.ws;
  const heap = ws.heap;
  const cg = s.cg;
  const { off, head: eHead, latency: eLat, jitter: eJit, lossLog: eLoss, cost: eCost, available: eAvail } = cg;
  const { nodeDomain, blocked, domainBit, isTarget, targetGen, rate, useLatBound, latTol, jitTol, lossTol, includeMask, heurIncludes, invC, invL, maxPerNode, maxLabels, k, lazyReady, lazyStop, preLazy } = s;
  const { nodeHead, nodeCount, nodeGen: nodeGenArr, costSlot, latSlot, jitSlot, lossSlot } = ws;
  const needLat = s.needLat;
  const policy = ws.anyBlocked;
  // The bound searches' state, in locals (`DijkstraSlot.bound` inline): no bound search runs
  // while this does, and their arrays are never replaced.
  const { done: cDone, dist: cDist, gen: cGen, radius: cRad } = costSlot;
  const { done: lDone, dist: lDist, gen: lGen, radius: lRad } = latSlot;
  const { done: jDone, dist: jDist, gen: jGen, radius: jRad } = jitSlot;
  const { done: oDone, dist: oDist, gen: oGen, radius: oRad } = lossSlot;
  const nodeGen = s.nodeGen;
  const results = s.results;
  while (heap.size > 0) {
    if (!lazyReady && s.settled >= lazyStop) return true;
    const L = heap.pop();
    const v = ws.lNode[L]!;
    const c = ws.lCost[L]!;
    const l = ws.lLat[L]!;
    const j = ws.lJit[L]!;
    const lo = ws.lLoss[L]!;
    const mask = ws.lMask[L]!;
    // Both bounds looked up on every pop (cheap), not only once there are lazy bounds: code
    // first reached late makes V8 deoptimize the loop (see `LabelSearch`).
    const lazyJ = jDone[v] === jGen ? jDist[v]! : jRad;
    const lazyO = oDone[v] === oGen ? oDist[v]! : oRad;
    const failJ = j + lazyJ > jitTol;
    const failO = lo + lazyO > lossTol;
    if (L < preLazy && (failJ || failO)) continue;
    const h = nodeGenArr[v] === nodeGen ? nodeHead[v]! : -1;
    // Only labels settled at v since L was made need a look: the older ones were compared with it then.
    if (h >= 0 && s.dominatedIn(h, c, l, j, lo, mask, L, -1, ws.lSeen[L]!)) continue;
    if (s.beatenByAnswerB(c, l, j, lo, cDone[v] === cGen ? cDist[v]! : cRad, lDone[v] === lGen ? lDist[v]! : lRad, lazyJ, lazyO)) continue;
    if (h >= 0 && nodeCount[v]! >= maxPerNode && (includeMask === 0 || s.sameMaskCount(h, mask) >= maxPerNode)) {
      s.dropped++;
      continue;
    }
    if (s.settled >= maxLabels) {
      s.hitTotal = true;
      break;
    }
    s.settled++;
    if (h < 0) {
      nodeGenArr[v] = nodeGen;
      nodeCount[v] = 0;
    }
    ws.lNext[L] = h;
    nodeHead[v] = L;
    nodeCount[v]!++;
    if (isTarget[v] === targetGen && (mask & includeMask) === includeMask) {
      if (s.resultsHead < 0 || !s.dominatedIn(s.resultsHead, c, l, j, lo, mask, RESULTS, -1)) {
        // Answers arrive in objective order, so a new answer can only dominate earlier ones
        // of equal objective (the tie-break key does not see every metric): drop those.
        const tc = c - EPS * Math.max(1, c);
        const tl = l - EPS * Math.max(1, l);
        const tj = j - EPS * Math.max(1, j);
        const to = lo - EPS * Math.max(1, lo);
        // Kept in place, in order; all four compared every time (no short-circuit, no call on
        // the rare path): code first reached late would make V8 throw away and recompile the loop.
        let kept = 0;
        for (let x = 0; x < results.length; x++) {
          const y = results[x]!;
          const geC = ws.lCost[y]! >= tc;
          const geL = ws.lLat[y]! >= tl;
          const geJ = ws.lJit[y]! >= tj;
          const geO = ws.lLoss[y]! >= to;
          const gone = geC && geL && geJ && geO;
          results[kept] = y;
          kept += gone ? 0 : 1;
        }
        results.length = kept;
        // The answer list reuses lNext through a copy label so node lists stay intact.
        const r = s.newLabel(v, L, -1, mask, c, l, j, lo);
        ws.lNext[r] = s.resultsHead;
        s.resultsHead = r;
        results.push(L);
        if (results.length >= k) break;
      }
      continue;
    }
    const end = off[v + 1]!;
    for (let e = off[v]!; e < end; e++) {
      if (eAvail[e]! < rate) continue;
      const w = eHead[e]!;
      const dw = nodeDomain[w]!;
      if (policy && blocked[dw]) continue;
      const nl = l + eLat[e]!;
      const nm = mask | domainBit[dw]!;
      // Each bound looked up once (a bound not there reads stale memory: only used where it is).
      const bl = lDone[w] === lGen ? lDist[w]! : lRad;
      if (useLatBound && nl + (heurIncludes > 0 ? s.latToGo(w, nm) : bl) > latTol) continue;
      const nj = j + eJit[e]!;
      const bj = jDone[w] === jGen ? jDist[w]! : jRad;
      if (nj + (s.jitReady ? bj : 0) > jitTol) continue;
      const nlo = lo + eLoss[e]!;
      const bo = oDone[w] === oGen ? oDist[w]! : oRad;
      if (nlo + (s.lossReady ? bo : 0) > lossTol) continue;
      const nc = c + eCost[e]!;
      // Without includes a loop is always dominated by its own prefix; with them a loop can
      // pick up an included domain, so walk the label's path to keep border nodes unique.
      if (includeMask !== 0 && s.onPath(L, w)) continue;
      const hw = nodeGenArr[w] === nodeGen ? nodeHead[w]! : -1;
      if (hw >= 0 && s.dominatedIn(hw, nc, nl, nj, nlo, nm, L, w)) continue;
      const bc = cDone[w] === cGen ? cDist[w]! : cRad;
      if (s.beatenByAnswerB(nc, nl, nj, nlo, bc, bl, bj, bo)) continue;
      // hObj and tieKey, inline with the bounds at hand
      const ho = heurIncludes > 0 ? s.hObj(w, nm) : (invC !== 0 ? invC * bc : 0) + (invL !== 0 ? invL * bl : 0);
      const f = invC * nc + invL * nl + ho;
      if (f === Infinity) continue;
      const i = s.newLabel(w, L, e, nm, nc, nl, nj, nlo);
      ws.lSeen[i] = hw;
      heap.push(i, f, invL === 1 ? nc + nj + nlo : nl + (needLat ? bl : 0) + TIE_WEIGHT * (nc + nj + nlo));
    }
  }
  return false;
}
