/**
 * Multi-constrained path computation over the advertised graph.
 *
 * Method: exact label-setting (multi-criteria A*) with Pareto dominance over the vector
 * (price, latency, jitter, -ln(1 - loss)), bandwidth as an edge filter, and domain policy
 * (exclude / allowed) as a node filter. Include-domains ride along as a bit mask: a label
 * dominates another only if it has crossed at least the same included domains.
 *
 * 1. Reverse Dijkstra from the destination on price, latency and jitter (only those the
 *    request needs: the objective's metrics and the bounded ones) gives lower bounds to the
 *    destination. Each stops as soon as it settles a source node (or passes its bound); an
 *    unsettled node gets the search radius as its bound, which is still admissible and
 *    consistent. A source beyond a bound fails the request before any label is made (the
 *    search carries on past the bound to report the best achievable value). The jitter and
 *    loss bounds only prune, so they are computed lazily (see `lazyBounds`) and, when no
 *    bound on that metric asks for them, within a budget (a partial search still bounds):
 *    most searches end long before they would pay for them.
 *    Nodes reached over a zero-weight edge (price on transits, loss on many edges) are
 *    settled from a stack rather than the heap: they are at the distance being settled.
 *    With include-domains, the first four included domains each get a further reverse
 *    Dijkstra seeded at their borders with the distance from there to the destination: a
 *    label that has not crossed domain i yet needs at least (v -> i) + (i -> destination).
 * 2. Forward label-setting pops labels in order of objective-so-far plus its lower bound.
 *    A label is dropped if another label at its node weakly dominates it, if an answer
 *    already found weakly dominates its metrics plus their lower bounds (no completion of it
 *    could be an answer), or if latency or jitter so far plus its lower bound, or loss so
 *    far, exceeds its bound. Labels reaching the destination are the answers, best
 *    objective first; the search stops after the k-th. Because the bound is consistent
 *    and ties go to the label with the smaller other metrics, nothing found later can beat
 *    or dominate an answer already taken.
 *
 * What comes back: the k best feasible paths by the objective among the non-dominated
 * ones (a path worse than another on every metric is never offered; among paths with
 * identical metric vectors one is kept). Metrics compare with a relative tolerance of 1e-9.
 *
 * Limits. Multi-constrained routing is NP-hard: the number of non-dominated labels per
 * node can grow exponentially with the graph, so the worst case is exponential in the
 * Pareto front size. Two caps keep a query bounded:
 * - `maxLabelsPerNode` (default 64): once a node holds that many settled labels (with
 *   include-domains: that many with the same set of included domains crossed), further
 *   labels reaching it are dropped. Since labels arrive in order of their objective bound,
 *   the dropped ones are the least promising; answers are still feasible, but the result
 *   is marked `exact: false` because a better answer may have been lost.
 * - `maxLabels` (default 250,000 settled labels): the search stops; answers found so far
 *   are returned with `exact: false`, or `QB_PATH_SEARCH_LIMIT` if there are none.
 * A path never repeats a border node; it may leave a domain and re-enter it later (each
 * entry is a separate segment, charged separately). Without include-domains a loop is
 * always dominated by its own prefix, so no check is needed; with them, labels carry no
 * loops (checked along the parent chain) and a label dominates another only if its path
 * uses a subset of the other's nodes, which keeps the search exact but prunes much less:
 * include-domain requests are the ones most likely to reach the caps.
 * Per relaxation the cost is O(labels at the target node), times the path length with
 * includes.
 *
 * Prices here are the advertised schedules (per Mbit/s-hour, summed over the segments),
 * which rank paths; agreement/pricing.ts turns them into the price of a reservation.
 */
import { InvalidArgumentError } from '../../drivers/errors.js';
import { PathInfeasibleError } from '../errors.js';
import { LINK, TopologyGraph, type ClassGraph } from './graph.js';
import { KeyHeap, MinHeap } from './heap.js';
import type { ComputedPath, PathHop, PathObjective, PathRequest, PathResult, PathSegment } from './types.js';

/** Caps of one search; see the module comment for what happens when they are hit. */
export interface PathSearchOptions {
  /** Settled labels kept per node. @default 64 */
  maxLabelsPerNode?: number;
  /** Settled labels in total. @default 250_000 */
  maxLabels?: number;
  /**
   * When to compute the jitter and loss lower bounds: `lazy` once the search has settled
   * more labels than 30 % of the nodes the price/latency bound searches settled (plus 32), then
   * restart with them; `eager` before the first label (the restart path, taken at once).
   * Same answers either way.
   * @default 'lazy'
   */
  lazyBounds?: 'lazy' | 'eager';
}

export const PATH_SEARCH_DEFAULTS: Required<PathSearchOptions> = {
  maxLabelsPerNode: 64,
  maxLabels: 250_000,
  lazyBounds: 'lazy',
};

const EPS = 1e-9;
/** `dominatedIn` parent marker for the answer list: answers are complete, no completion can loop. */
const RESULTS = -2;
/** Weight of the other metrics in the tie-break key of price objectives. */
const TIE_WEIGHT = 1e-6;
/** The jitter and loss bound searches run once labels settled reach FACTOR x nodes the first bound searches settled, + MIN. */
const LAZY_BOUND_FACTOR = 0.3;
const LAZY_BOUND_MIN = 32;
/**
 * The up-front try of a jitter bound may settle FACTOR x nodes the latency bound search settled (the
 * price search's when there is none), + LAZY_BOUND_MIN. Not the price search's as well: on 100 domains
 * that doubled the try for price objectives and cost more than its pruning saved.
 */
const EAGER_JITTER_FACTOR = 0.25;
/** Without a jitter (loss) bound, the lazy jitter (loss) bound search may settle FACTOR x nodes the first bound searches settled, + LAZY_BOUND_MIN. */
const LOSS_BOUND_FACTOR = 0.25;
/** Include-domains (the first ones listed) that get include-aware lower bounds. */
const INCLUDE_HEURISTIC_MAX = 4;
/** Label cap of the searches that check, on failure, whether include-domains alone are the cause. */
const INCLUDE_CHECK_MAX_LABELS = 20_000;
const OBJECTIVES: readonly PathObjective[] = ['cheapest', 'lowest-latency', 'balanced'];

/** One Dijkstra's state, reused across queries via generation stamps. */
class DijkstraSlot {
  dist: Float64Array;
  seen: Uint32Array;
  done: Uint32Array;
  gen = 0;
  /** Every node not settled has a true distance >= radius. */
  radius = 0;
  /** Nodes settled by the last run. */
  settled = 0;
  /** The last run stopped at its cutoff (and left its heap ready to resume). */
  cutoffHit = false;
  /** The last run stopped at its `maxSettled` budget (and left its heap ready to resume). */
  budgetHit = false;
  /** Its own heap, so that a search stopped early can be resumed after other searches ran. */
  readonly heap = new MinHeap(1024);
  /** The heap of `boundSearch` (no tie-break key: fewer writes per move). */
  readonly bheap = new KeyHeap(1024);
  /** `boundSearch`'s nodes at the distance being settled (reached over zero-weight edges), and how many; kept for a resume. */
  readonly zstack: Int32Array;
  zsp = 0;
  constructor(n: number) {
    this.zstack = new Int32Array(n);
    this.dist = new Float64Array(n);
    this.seen = new Uint32Array(n);
    this.done = new Uint32Array(n);
  }
  /** Lower bound on the distance of v (exact if settled). */
  bound(v: number): number {
    return this.done[v] === this.gen ? this.dist[v]! : this.radius;
  }
}

/** Per-class scratch memory, so a query allocates (almost) nothing. */
class Workspace {
  /** The label search's heap (the bound searches have their own, in their slots). */
  readonly heap = new MinHeap(4096);
  /** The label search's state. */
  readonly labels: LabelSearch = new LabelSearch(this);
  readonly costSlot: DijkstraSlot;
  readonly latSlot: DijkstraSlot;
  readonly jitSlot: DijkstraSlot;
  readonly lossSlot: DijkstraSlot;
  private readonly incSlots: DijkstraSlot[] = [];
  readonly auxSlot: DijkstraSlot;
  readonly blocked: Uint8Array;
  /** Some domain may be blocked this query (an allowed or exclude list was given): without one, the searches skip the lookup. */
  anyBlocked = false;
  readonly domainBit: Int32Array;
  readonly isTarget: Uint32Array;
  targetGen = 0;
  // per node settled-label lists
  readonly nodeHead: Int32Array;
  readonly nodeCount: Int32Array;
  readonly nodeGen: Uint32Array;
  nodeGenCur = 0;
  // labels
  cap = 0;
  lNode = new Int32Array(0);
  lPrev = new Int32Array(0);
  lEdge = new Int32Array(0);
  lMask = new Int32Array(0);
  lNext = new Int32Array(0);
  /** Head of its node's settled list when the label was made: the label was compared with that one and all older. */
  lSeen = new Int32Array(0);
  lCost = new Float64Array(0);
  lLat = new Float64Array(0);
  lJit = new Float64Array(0);
  lLoss = new Float64Array(0);
  /** The class graph's reverse adjacency, made once (the bound searches run on it every query). */
  readonly bwd: Direction;

  constructor(n: number, domains: number, bwd: Direction) {
    this.bwd = bwd;
    this.costSlot = new DijkstraSlot(n);
    this.latSlot = new DijkstraSlot(n);
    this.jitSlot = new DijkstraSlot(n);
    this.lossSlot = new DijkstraSlot(n);
    this.auxSlot = new DijkstraSlot(n);
    this.blocked = new Uint8Array(domains);
    this.domainBit = new Int32Array(domains);
    this.isTarget = new Uint32Array(n);
    this.nodeHead = new Int32Array(n);
    this.nodeCount = new Int32Array(n);
    this.nodeGen = new Uint32Array(n);
    this.growLabels(4096);
  }

  /** Slot i for include-aware bounds, created on first use. */
  includeSlot(i: number): DijkstraSlot {
    while (this.incSlots.length <= i) this.incSlots.push(new DijkstraSlot(this.nodeHead.length));
    return this.incSlots[i]!;
  }

  growLabels(min: number): void {
    let cap = Math.max(this.cap * 2, 4096);
    while (cap < min) cap *= 2;
    const gi = (a: Int32Array) => {
      const b = new Int32Array(cap);
      b.set(a);
      return b;
    };
    const gf = (a: Float64Array) => {
      const b = new Float64Array(cap);
      b.set(a);
      return b;
    };
    this.lNode = gi(this.lNode);
    this.lPrev = gi(this.lPrev);
    this.lEdge = gi(this.lEdge);
    this.lMask = gi(this.lMask);
    this.lNext = gi(this.lNext);
    this.lSeen = gi(this.lSeen);
    this.lCost = gf(this.lCost);
    this.lLat = gf(this.lLat);
    this.lJit = gf(this.lJit);
    this.lLoss = gf(this.lLoss);
    this.cap = cap;
  }
}

const workspaces = new WeakMap<ClassGraph, Workspace>();

function workspaceFor(graph: TopologyGraph, cg: ClassGraph): Workspace {
  let ws = workspaces.get(cg);
  if (!ws) {
    ws = new Workspace(cg.n, graph.domains.length, backward(cg));
    workspaces.set(cg, ws);
  }
  return ws;
}

/** Adjacency for one direction: CSR offsets, the other end of each edge, its availability. */
interface Direction {
  off: Int32Array;
  other: Int32Array;
  available: Float64Array;
}
const forward = (cg: ClassGraph): Direction => ({ off: cg.off, other: cg.head, available: cg.available });
const backward = (cg: ClassGraph): Direction => ({ off: cg.roff, other: cg.rtail, available: cg.ravailable });

/**
 * Dijkstra on `weight` (indexed like `dir`) from `starts` at distance 0, skipping edges
 * below `rate` and nodes of blocked domains, until it settles a node of `stopAt` (stamped
 * with `stopGen`): returns that node, or -1 if none is reachable. The reference of the
 * bench (`shortestLatency`) and the diagnosis; the bound searches with cutoffs, seeds and
 * budgets are `boundSearch`.
 */
function dijkstra(ws: Workspace, slot: DijkstraSlot, dir: Direction, nodeDomain: Int32Array, weight: Float64Array, starts: readonly number[], rate: number, stopAt: Uint32Array, stopGen: number): number {
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
function boundSearch(
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

/**
 * The forward label-setting search of one query, with its state in fields. It lives in the
 * workspace and runs in `runLabels`, a function of its own: the rare paths of a query (errors,
 * the lazy bounds, include checks on failure) stay in `search`, so that reaching one of them
 * for the first time sends only `search` back to the interpreter (V8 deoptimizes a function
 * when it first meets code it has no type feedback for), not the loop that does the work.
 */
class LabelSearch {
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
function runLabels(s: LabelSearch): boolean {
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

interface Prepared {
  cg: ClassGraph;
  ws: Workspace;
  sources: number[];
  targets: number[];
  targetGen: number;
  rate: number;
  maxLat: number;
  maxJit: number;
  maxLossLog: number;
  includeMask: number;
  includes: string[];
  objective: PathObjective;
  k: number;
  /**
   * The best latency from the sources to the targets under the rate and the policy, as the
   * reverse latency search found it (Infinity until then): a route exists, and `diagnose`
   * need not search again to learn that the latency bound alone is met.
   */
  knownLat: number;
}

function checkBound(name: string, v: number | undefined, max = Infinity): number {
  if (v === undefined) return Infinity;
  if (typeof v !== 'number' || !(v >= 0) || !(v < max) || Number.isNaN(v)) {
    throw new InvalidArgumentError(`${name} must be a number >= 0${max < Infinity ? ` and < ${max}` : ''}, got ${JSON.stringify(v)}`);
  }
  return v;
}

/** The index of an advertised domain, or the error naming `field`. */
function knownDomain(graph: TopologyGraph, d: unknown, field: string): number {
  const i = typeof d === 'string' ? graph.domainIndex.get(d) : undefined;
  if (i === undefined) throw new InvalidArgumentError(`${field}: ${JSON.stringify(d)} is not an advertised domain`);
  return i;
}

/** An endpoint's domain must not be excluded (or left out of allowedDomains). */
function checkEndpointAllowed(graph: TopologyGraph, blocked: Uint8Array, domain: string, which: string): void {
  if (blocked[graph.domainIndex.get(domain)!]) {
    throw new InvalidArgumentError(`${which}.domain ${domain} is excluded or not in allowedDomains; the path must start and end there`);
  }
}

/*
 * `prepare`, `search` and `computePaths` run once per query: early in a process's life (the
 * first few hundred queries) V8 runs them in its baseline tier, where every closure, iterator,
 * destructuring and spread costs a call or an allocation. So: no closures (module-level
 * helpers with explicit parameters), indexed loops, no per-query objects beyond what the
 * result needs.
 */
function prepare(graph: TopologyGraph, req: PathRequest): Prepared {
  if (!req || typeof req !== 'object') throw new InvalidArgumentError('path request must be an object');
  if (typeof req.qosClass !== 'string' || !req.qosClass) throw new InvalidArgumentError('qosClass is required, e.g. "EF"');
  if (typeof req.rateMbps !== 'number' || !(req.rateMbps > 0) || !Number.isFinite(req.rateMbps)) {
    throw new InvalidArgumentError(`rateMbps must be a positive number of Mbit/s, got ${JSON.stringify(req.rateMbps)}`);
  }
  const objective = req.objective ?? 'cheapest';
  if (objective !== 'cheapest' && objective !== 'lowest-latency' && objective !== 'balanced') throw new InvalidArgumentError(`objective must be one of ${OBJECTIVES.join(', ')}, got ${JSON.stringify(objective)}`);
  const k = req.k ?? 3;
  if (!Number.isInteger(k) || k < 1 || k > 64) throw new InvalidArgumentError(`k must be an integer from 1 to 64, got ${JSON.stringify(k)}`);
  const maxLat = checkBound('maxLatencyMs', req.maxLatencyMs);
  const maxJit = checkBound('maxJitterMs', req.maxJitterMs);
  const maxLoss = checkBound('maxLoss', req.maxLoss, 1);
  const sources = graph.resolveEndpoint(req.from, 'from');
  const targets = graph.resolveEndpoint(req.to, 'to');
  for (let i = 0; i < sources.length; i++) {
    const s = sources[i]!;
    if (targets.includes(s)) throw new InvalidArgumentError(`from and to share border ${graph.nodeIds[s]}: choose distinct endpoints`);
  }
  const cg = graph.classGraph(req.qosClass);
  const ws = workspaceFor(graph, cg);
  const blocked = ws.blocked;
  blocked.fill(0);
  ws.anyBlocked = false;
  ws.domainBit.fill(0);
  const allowed = req.allowedDomains;
  if (allowed !== undefined) {
    if (!Array.isArray(allowed)) throw new InvalidArgumentError('allowedDomains must be a list of domain ids');
    blocked.fill(1);
    ws.anyBlocked = true;
    for (let i = 0; i < allowed.length; i++) blocked[knownDomain(graph, allowed[i], 'allowedDomains')] = 0;
  }
  const excluded = req.excludeDomains;
  const included = req.includeDomains;
  if (excluded !== undefined && !Array.isArray(excluded)) throw new InvalidArgumentError('excludeDomains must be a list of domain ids');
  if (included !== undefined && !Array.isArray(included)) throw new InvalidArgumentError('includeDomains must be a list of domain ids');
  if (excluded !== undefined) {
    for (let i = 0; i < excluded.length; i++) blocked[knownDomain(graph, excluded[i], 'excludeDomains')] = 1;
    if (excluded.length > 0) ws.anyBlocked = true;
  }
  checkEndpointAllowed(graph, blocked, req.from.domain, 'from');
  checkEndpointAllowed(graph, blocked, req.to.domain, 'to');
  // The endpoints' domains are always crossed: including them constrains nothing.
  const includes: string[] =
    included === undefined || included.length === 0 ? [] : [...new Set(included)].filter((d) => d !== req.from.domain && d !== req.to.domain);
  if (includes.length > 30) throw new InvalidArgumentError(`includeDomains lists ${includes.length} domains; at most 30`);
  for (let i = 0; i < includes.length; i++) {
    const d = includes[i]!;
    const di = knownDomain(graph, d, 'includeDomains');
    if (blocked[di]) throw new InvalidArgumentError(`includeDomains: ${d} is also excluded or not allowed`);
    ws.domainBit[di] = 1 << i;
  }
  const targetGen = ++ws.targetGen;
  for (let i = 0; i < targets.length; i++) ws.isTarget[targets[i]!] = targetGen;
  return {
    cg,
    ws,
    sources,
    targets,
    targetGen,
    rate: req.rateMbps,
    maxLat,
    maxJit,
    maxLossLog: -Math.log1p(-(maxLoss === Infinity ? 1 : maxLoss)),
    includeMask: includes.length === 0 ? 0 : includes.length === 31 ? -1 : (1 << includes.length) - 1,
    includes,
    objective,
    k,
    knownLat: Infinity,
  };
}

/**
 * Computes up to `req.k` feasible paths ranked by `req.objective`. Throws
 * `PathInfeasibleError` (reason: which bound failed and where) when there is none, and
 * `InvalidArgumentError` for a malformed request.
 */
export function computePaths(graph: TopologyGraph, req: PathRequest, options: PathSearchOptions = NO_OPTIONS): PathResult {
  return search(graph, req, options, true);
}

/** The default of `options` (never written to). */
const NO_OPTIONS: PathSearchOptions = Object.freeze({});
/** `incCost`/`incLat` of a search without include-aware bounds (never written to: only filled when there are some). */
const NO_SLOTS: DijkstraSlot[] = [];

/** The best distance a reverse search in `slot` settled at a source, or Infinity. */
function minOverSources(slot: DijkstraSlot, sources: readonly number[]): number {
  let best = Infinity;
  for (let i = 0; i < sources.length; i++) {
    const s = sources[i]!;
    if (slot.done[s] === slot.gen && slot.dist[s]! < best) best = slot.dist[s]!;
  }
  return best;
}

/**
 * A reverse search stopped at its bound: carry on past it. If it then reaches a source,
 * the route exists with the bandwidth and policy and this bound alone fails: that is the
 * answer, found for the price of finishing one Dijkstra. (Without includes only: with them
 * the stamps also mark included nodes.)
 */
function beyondBound(
  req: PathRequest,
  p: Prepared,
  nodeDomain: Int32Array,
  srcMark: Uint32Array,
  srcGen: number,
  heurIncludes: number,
  slot: DijkstraSlot,
  weight: Float64Array,
  kind: 'latency' | 'jitter' | 'loss',
): PathInfeasibleError | undefined {
  if (!slot.cutoffHit || heurIncludes > 0) return undefined;
  const s = boundSearch(p.ws, slot, p.ws.bwd, nodeDomain, weight, p.targets, p.rate, srcMark, srcGen, Infinity, 1, null, true);
  return s < 0 ? undefined : boundError(req, p, kind, slot.dist[s]!);
}

/**
 * Computes the lazy bounds; returns the error when one of them proves its bound out of
 * reach. A function of its own: a bound first failing here, late in a process's life, makes
 * V8 deoptimize only this, not `search`.
 */
function lazyBounds(
  graph: TopologyGraph,
  req: PathRequest,
  p: Prepared,
  options: PathSearchOptions,
  checkIncludes: boolean,
  ls: LabelSearch,
  nodeDomain: Int32Array,
  srcMark: Uint32Array,
  srcGen: number,
  heurIncludes: number,
  firstSettled: number,
): PathInfeasibleError | null {
  const ws = p.ws;
  const cg = p.cg;
  const bwd = ws.bwd;
  const jitSlot = ws.jitSlot;
  const maxJit = p.maxJit;
  // When the lazy bounds arrive the search carries on where it was (the objective bounds, so
  // the heap order, do not change; the new bounds only prune). Labels made before them are
  // checked against them when popped: no completion of a label failing them is feasible.
  ls.lazyReady = true;
  ls.preLazy = ls.nLabels;
  // Without a jitter bound the jitter lower bound only serves target pruning: budgeted too.
  const jitBudget = maxJit < Infinity ? Infinity : LOSS_BOUND_FACTOR * firstSettled + LAZY_BOUND_MIN;
  // The up-front try stopped at its budget carries on from where it stopped (same bounds as a fresh search).
  const jitBounded = maxJit < Infinity;
  if (!ls.jitFull && boundSearch(ws, jitSlot, bwd, nodeDomain, cg.rjitter, p.targets, p.rate, srcMark, srcGen, ls.jitTol, 1, null, ls.jitReady && jitSlot.budgetHit, jitBudget) < 0 && jitBounded) {
    return beyondBound(req, p, nodeDomain, srcMark, srcGen, heurIncludes, jitSlot, cg.rjitter, 'jitter') ?? diagnose(graph, req, p, false, 0, checkIncludes, options);
  }
  ls.jitReady = ls.jitFull = true;
  // Loss is 0 on many edges: its reverse search can cross large zero-loss plateaus, so
  // without a loss bound to enforce it gets a budget (a partial search still bounds).
  const useLossBound = p.maxLossLog < Infinity;
  const lossBudget = useLossBound ? Infinity : LOSS_BOUND_FACTOR * firstSettled + LAZY_BOUND_MIN;
  if (boundSearch(ws, ws.lossSlot, bwd, nodeDomain, cg.rlossLog, p.targets, p.rate, srcMark, srcGen, ls.lossTol, 1, null, false, lossBudget) < 0 && useLossBound) {
    return beyondBound(req, p, nodeDomain, srcMark, srcGen, heurIncludes, ws.lossSlot, cg.rlossLog, 'loss') ?? diagnose(graph, req, p, false, 0, checkIncludes, options);
  }
  ls.lossReady = true;
  if (!ls.haveCost) boundSearch(ws, ws.costSlot, bwd, nodeDomain, cg.rcost, p.targets, p.rate, srcMark, srcGen, Infinity);
  if (!ls.haveLat) boundSearch(ws, ws.latSlot, bwd, nodeDomain, cg.rlatency, p.targets, p.rate, srcMark, srcGen, Infinity);
  ls.haveCost = ls.haveLat = true;
  return null;
}

/**
 * The best value of one metric alone from the sources to a target (same rate and policy),
 * for the diagnosis: read off this query's reverse bound search on it, which stopped at
 * the first source it settled (the nearest: every node nearer was settled before it), or
 * carried on until it does if a cutoff or budget stopped it first; one that did not run
 * runs now. Cheaper than the forward Dijkstra `diagnose` would run otherwise, and the same
 * value up to the last bits (sums in the other order). Made only when the search found nothing.
 */
function reverseBestOf(p: Prepared, ls: LabelSearch, nodeDomain: Int32Array, srcMark: Uint32Array, srcGen: number): (w: Float64Array) => number {
  const { cg, ws, sources, rate } = p;
  const haveLat = ls.haveLat;
  const jitReady = ls.jitReady;
  const lossReady = ls.lossReady;
  return (w: Float64Array): number => {
    let slot: DijkstraSlot;
    let rw: Float64Array;
    let ran: boolean;
    if (w === cg.latency) {
      slot = ws.latSlot;
      rw = cg.rlatency;
      ran = haveLat;
    } else if (w === cg.jitter) {
      slot = ws.jitSlot;
      rw = cg.rjitter;
      ran = jitReady;
    } else if (w === cg.lossLog) {
      slot = ws.lossSlot;
      rw = cg.rlossLog;
      ran = lossReady;
    } else {
      return NaN;
    }
    if (!ran) boundSearch(ws, slot, ws.bwd, nodeDomain, rw, p.targets, rate, srcMark, srcGen, Infinity);
    else if (minOverSources(slot, sources) === Infinity && (slot.cutoffHit || slot.budgetHit)) {
      boundSearch(ws, slot, ws.bwd, nodeDomain, rw, p.targets, rate, srcMark, srcGen, Infinity, 1, null, true);
    }
    return minOverSources(slot, sources);
  };
}

/** `checkIncludes`: on failure, find out whether the include-domains alone are the cause (not inside that check). */
function search(graph: TopologyGraph, req: PathRequest, options: PathSearchOptions, checkIncludes: boolean): PathResult {
  const maxPerNode = options.maxLabelsPerNode ?? PATH_SEARCH_DEFAULTS.maxLabelsPerNode;
  const maxLabels = options.maxLabels ?? PATH_SEARCH_DEFAULTS.maxLabels;
  const p = prepare(graph, req);
  const cg = p.cg;
  const ws = p.ws;
  const sources = p.sources;
  const targets = p.targets;
  const rate = p.rate;
  const maxLat = p.maxLat;
  const maxJit = p.maxJit;
  const objective = p.objective;
  const nodeDomain = graph.nodeDomain;
  const blocked = ws.blocked;
  const domainBit = ws.domainBit;
  const bwd = ws.bwd;

  // Sources get their own stamp in the same array (they are disjoint from the targets):
  // the reverse searches stop at the first source they settle. With include-domains the
  // price and latency searches also stamp the included domains' nodes and go on until all
  // are settled (the include-aware bounds start from there).
  const srcMark = ws.isTarget;
  const heurIncludes = Math.min(p.includes.length, INCLUDE_HEURISTIC_MAX);
  let incNodes: number[][] | null = null;
  let srcGen = ++ws.targetGen;
  let stopNeeded = 1;
  if (heurIncludes > 0) {
    incNodes = [];
    stopNeeded = sources.length;
    for (let i = 0; i < heurIncludes; i++) {
      const d = graph.domainIndex.get(p.includes[i]!)!;
      const nodes: number[] = [];
      for (let v = graph.domainFirstNode[d]!; v < graph.domainFirstNode[d + 1]!; v++) {
        nodes.push(v);
        srcMark[v] = srcGen;
      }
      incNodes.push(nodes);
      stopNeeded += nodes.length;
    }
  }
  for (let i = 0; i < sources.length; i++) srcMark[sources[i]!] = srcGen;

  const needCost = objective !== 'lowest-latency';
  const needLat = objective !== 'cheapest' || maxLat < Infinity;
  const costSlot = ws.costSlot;
  const latSlot = ws.latSlot;
  const srcPrice = cg.domainPrice[nodeDomain[sources[0]!]!]!;
  const latCut = maxLat + EPS * Math.max(1, maxLat);
  let cRef = 1;
  let lRef = 1;
  // The latency search goes first: when the latency bound is out of reach (or no route
  // exists) the price search is not needed. The two do not depend on each other, and both
  // reach a source or neither does (same edges), so the outcome is the same either way.
  if (needCost && Number.isNaN(srcPrice)) throw diagnose(graph, req, p, false, 0, checkIncludes, options);
  if (needLat) {
    boundSearch(ws, latSlot, bwd, nodeDomain, cg.rlatency, targets, rate, srcMark, srcGen, latCut, stopNeeded);
    lRef = minOverSources(latSlot, sources);
    if (lRef === Infinity || lRef > latCut) {
      throw beyondBound(req, p, nodeDomain, srcMark, srcGen, heurIncludes, latSlot, cg.rlatency, 'latency') ?? diagnose(graph, req, p, false, 0, checkIncludes, options);
    }
  }
  if (needCost) {
    boundSearch(ws, costSlot, bwd, nodeDomain, cg.rcost, targets, rate, srcMark, srcGen, Infinity, stopNeeded);
    const best = minOverSources(costSlot, sources);
    if (best === Infinity) throw diagnose(graph, req, p, false, 0, checkIncludes, options);
    cRef = srcPrice + best;
  }
  // Set only now, so that a failure of the price search is diagnosed as before (it cannot
  // fail once the latency search reached a source, but nothing here relies on that).
  if (needLat) p.knownLat = lRef;
  // Include-aware bounds: for a label that has not crossed include i yet, the objective to go
  // is at least min over i's nodes c of (v -> c) + (c -> destination): a Dijkstra seeded at
  // i's nodes with their distances to the destination.
  let incCost = NO_SLOTS;
  let incLat = NO_SLOTS;
  if (incNodes !== null) {
    incCost = [];
    incLat = [];
    srcGen = ++ws.targetGen;
    for (let i = 0; i < sources.length; i++) srcMark[sources[i]!] = srcGen;
    for (let i = 0; i < heurIncludes; i++) {
      if (needCost) {
        const slot = ws.includeSlot(2 * i);
        if (boundSearch(ws, slot, bwd, nodeDomain, cg.rcost, incNodes[i]!, rate, srcMark, srcGen, Infinity, 1, costSlot) < 0) {
          throw diagnose(graph, req, p, false, 0, checkIncludes, options);
        }
        incCost.push(slot);
      }
      if (needLat) {
        const slot = ws.includeSlot(2 * i + 1);
        if (boundSearch(ws, slot, bwd, nodeDomain, cg.rlatency, incNodes[i]!, rate, srcMark, srcGen, latCut, 1, latSlot) < 0) {
          throw diagnose(graph, req, p, false, 0, checkIncludes, options);
        }
        incLat.push(slot);
      }
    }
  }
  // Lower bounds on jitter and loss cost two more Dijkstras and most searches finish without
  // them: they are computed (with the price/latency bound the objective did not need) only
  // once the search has settled more labels than a fraction of the nodes the first bound
  // searches settled, and the search then restarts with them (`lazyBounds`). A jitter bound
  // gets a budgeted try up front. Price and latency bounds the objective did not need join
  // the lazy ones (for target pruning).
  const jitSlot = ws.jitSlot;
  let jitReady = false;
  let jitFull = false;
  const firstSettled = (needCost ? costSlot.settled : 0) + (needLat ? latSlot.settled : 0);
  const lazyBudget = options.lazyBounds === 'eager' ? 0 : LAZY_BOUND_FACTOR * firstSettled + LAZY_BOUND_MIN;
  // A jitter bound is worth a try up front, within a small budget: a tight bound explores
  // little and then prunes well, or proves the bound out of reach at once.
  if (maxJit < Infinity && options.lazyBounds !== 'eager') {
    const budget = EAGER_JITTER_FACTOR * (needLat ? latSlot.settled : firstSettled) + LAZY_BOUND_MIN;
    const s = boundSearch(ws, jitSlot, bwd, nodeDomain, cg.rjitter, targets, rate, srcMark, srcGen, maxJit + EPS * Math.max(1, maxJit), 1, null, false, budget);
    if (s < 0 && jitSlot.cutoffHit) throw beyondBound(req, p, nodeDomain, srcMark, srcGen, heurIncludes, jitSlot, cg.rjitter, 'jitter') ?? diagnose(graph, req, p, false, 0, checkIncludes, options);
    // Stopped by its budget, it still bounds: unsettled nodes are at least its radius away.
    jitReady = true;
    jitFull = s >= 0;
  }
  if (!(cRef > 0)) cRef = 1;
  if (!(lRef > 0)) lRef = 1;
  const invC = objective === 'cheapest' ? 1 : objective === 'balanced' ? 1 / cRef : 0;
  const invL = objective === 'lowest-latency' ? 1 : objective === 'balanced' ? 1 / lRef : 0;

  // Forward label-setting, in `runLabels` (its own function: see `LabelSearch`).
  const ls = ws.labels;
  ls.start(p, nodeDomain, maxPerNode, maxLabels, invC, invL, needLat, heurIncludes, incCost, incLat);
  ls.haveCost = needCost;
  ls.haveLat = needLat;
  ls.jitReady = jitReady;
  ls.jitFull = jitFull;
  ls.lossReady = false;
  for (let i = 0; i < sources.length; i++) {
    const s = sources[i]!;
    if (blocked[nodeDomain[s]!]) continue;
    const c = srcPrice;
    const m0 = domainBit[nodeDomain[s]!]!;
    const L = ls.newLabel(s, -1, -1, m0, c, 0, 0, 0);
    ls.heap.push(L, invC * c + ls.hObj(s, m0), ls.tieKey(s, c, 0, 0, 0));
  }
  // Settled labels go up one at a time: the switch comes at ceil(lazyBudget), unless the total
  // cap comes first (then the search stops there instead, as it would without lazy bounds).
  ls.lazyStop = Math.ceil(lazyBudget) < maxLabels ? lazyBudget : Infinity;
  while (runLabels(ls)) {
    const failed = lazyBounds(graph, req, p, options, checkIncludes, ls, nodeDomain, srcMark, srcGen, heurIncludes, firstSettled);
    if (failed !== null) throw failed;
  }
  const dropped = ls.dropped;
  const hitTotal = ls.hitTotal;
  const results = ls.results;

  const exact = dropped === 0 && !hitTotal;
  if (results.length === 0) {
    throw diagnose(graph, req, p, !exact, maxLabels, checkIncludes, options, reverseBestOf(p, ls, nodeDomain, srcMark, srcGen));
  }
  const paths = new Array<ComputedPath>(results.length);
  for (let i = 0; i < results.length; i++) {
    const L = results[i]!;
    const c = ws.lCost[L]!;
    const l = ws.lLat[L]!;
    const score = objective === 'cheapest' ? c : objective === 'lowest-latency' ? l : c / cRef + l / lRef;
    paths[i] = buildPath(graph, cg, ws, L, score);
  }
  const result: PathResult = {
    paths,
    objective,
    exact,
    stats: { labelsCreated: ls.nLabels, labelsSettled: ls.settled, labelsDroppedAtCap: dropped, hitTotalCap: hitTotal },
  };
  if (objective === 'balanced') result.balanceReference = { pricePerMbpsHour: cRef, latencyMs: lRef };
  return result;
}

/** Border names (`b` of `domain/b`) per node, made once per graph. */
const borderNames = new WeakMap<TopologyGraph, string[]>();

function bordersOf(graph: TopologyGraph): string[] {
  let b = borderNames.get(graph);
  if (b === undefined || b.length !== graph.nodeIds.length) {
    b = graph.nodeIds.map((id) => id.slice(id.indexOf('/') + 1));
    borderNames.set(graph, b);
  }
  return b;
}

function buildPath(graph: TopologyGraph, cg: ClassGraph, ws: Workspace, label: number, score: number): ComputedPath {
  // Edges in path order, filled from the end (labels link back to the start).
  let count = 0;
  let first = label;
  for (let x = label; x >= 0; x = ws.lPrev[x]!) {
    if (ws.lEdge[x]! >= 0) count++;
    first = x;
  }
  const edges = new Array<number>(count);
  for (let x = label, i = count; x >= 0; x = ws.lPrev[x]!) if (ws.lEdge[x]! >= 0) edges[--i] = ws.lEdge[x]!;
  const start = ws.lNode[first]!;
  const ids = graph.nodeIds;
  const border = bordersOf(graph);
  const nodes = [ids[start]!];
  const hops: PathHop[] = [];
  const segments: PathSegment[] = [];
  let seg: PathSegment = { domain: graph.domains[graph.nodeDomain[start]!]!, ingress: border[start]!, egress: border[start]!, hops: [] };
  let latency = 0;
  let jitter = 0;
  let survive = 1;
  let bottleneck = Infinity;
  let price = cg.domainPrice[graph.nodeDomain[start]!]!;
  for (let i = 0; i < count; i++) {
    const e = edges[i]!;
    const u = cg.tail[e]!;
    const v = cg.head[e]!;
    const m = cg.metrics[e]!;
    const link = cg.kind[e] === LINK;
    const hop: PathHop = { from: ids[u]!, to: ids[v]!, kind: link ? 'link' : 'transit', metrics: { ...m } };
    hops.push(hop);
    nodes.push(ids[v]!);
    latency += m.latencyMs;
    jitter += m.jitterMs;
    survive *= 1 - m.loss;
    bottleneck = Math.min(bottleneck, m.availableMbps);
    price += cg.cost[e]!;
    seg.hops.push(hop);
    if (link) {
      seg.egress = border[u]!;
      segments.push(seg);
      seg = { domain: graph.domains[graph.nodeDomain[v]!]!, ingress: border[v]!, egress: border[v]!, hops: [] };
    } else {
      seg.egress = border[v]!;
    }
  }
  segments.push(seg);
  const domains = new Array<string>(segments.length);
  for (let i = 0; i < segments.length; i++) domains[i] = segments[i]!.domain;
  return {
    nodes,
    hops,
    segments,
    domains,
    metrics: { pricePerMbpsHour: price, latencyMs: latency, jitterMs: jitter, loss: 1 - survive, bottleneckMbps: bottleneck },
    score,
  };
}

/**
 * Plain DFS reachability over class edges with optional bandwidth and policy filters.
 * Runs only on failure, so it is often still interpreted: one direction per loop, reading
 * the reverse-CSR copies directly, and a typed stack (each node goes on it at most once).
 */
function reach(cg: ClassGraph, nodeDomain: Int32Array, starts: readonly number[], reverse: boolean, rate: number, blocked: Uint8Array | null): Uint8Array {
  const seen = new Uint8Array(cg.n);
  const stack = new Int32Array(cg.n);
  let sp = 0;
  for (const s of starts) {
    if (seen[s] || (blocked !== null && blocked[nodeDomain[s]!])) continue;
    seen[s] = 1;
    stack[sp++] = s;
  }
  const off = reverse ? cg.roff : cg.off;
  const other = reverse ? cg.rtail : cg.head;
  const available = reverse ? cg.ravailable : cg.available;
  while (sp > 0) {
    const v = stack[--sp]!;
    const end = off[v + 1]!;
    for (let i = off[v]!; i < end; i++) {
      if (available[i]! < rate) continue;
      const w = other[i]!;
      if (seen[w] || (blocked !== null && blocked[nodeDomain[w]!])) continue;
      seen[w] = 1;
      stack[sp++] = w;
    }
  }
  return seen;
}

/** Zero weights per class graph (as many as edges), for reachability through `boundSearch`. */
const zeroWeights = new WeakMap<ClassGraph, Float64Array>();

/** A node set: v is in it when `done[v] === gen` (the nodes a search in a slot settled). */
interface NodeSet {
  done: Uint32Array;
  gen: number;
}

/**
 * The nodes `reach(cg, nodeDomain, starts, dir is backward, rate, ws.blocked)` marks, found by
 * `boundSearch` on zero weights in `slot` (whose state it overwrites; the set is valid until
 * the slot's next search). The diagnoses that use it run only on failure, so often before V8
 * has optimized `reach` (then several times slower); `boundSearch` runs on every query and is
 * optimized within the first few. With all keys equal its heap operations stop at once.
 */
function reachHot(ws: Workspace, slot: DijkstraSlot, cg: ClassGraph, dir: Direction, nodeDomain: Int32Array, starts: readonly number[], rate: number): NodeSet {
  let zeros = zeroWeights.get(cg);
  if (zeros === undefined) {
    zeros = new Float64Array(cg.head.length);
    zeroWeights.set(cg, zeros);
  }
  // Stamp -1 is never in `isTarget` (unsigned): no stop.
  boundSearch(ws, slot, dir, nodeDomain, zeros, starts, rate, ws.isTarget, -1, Infinity);
  return { done: slot.done, gen: slot.gen };
}

/** Edges from a node of `S` to a node not in `S` but in `T`, outside blocked domains: in edge order. */
function cutEdges(cg: ClassGraph, nodeDomain: Int32Array, S: NodeSet, T: NodeSet, blocked: Uint8Array): number[] {
  const { done: sDone, gen: sGen } = S;
  const { done: tDone, gen: tGen } = T;
  const out: number[] = [];
  const { off, head } = cg;
  for (let u = 0; u < cg.n; u++) {
    if (sDone[u] !== sGen) continue;
    const end = off[u + 1]!;
    for (let e = off[u]!; e < end; e++) {
      const v = head[e]!;
      if (sDone[v] !== sGen && tDone[v] === tGen && !blocked[nodeDomain[v]!]) out.push(e);
    }
  }
  return out;
}

/**
 * Widest (max bottleneck) path value from sources to any target under the policy (in `slot`'s
 * scratch memory), when no path offers `rate`. `S` holds the nodes the sources reach on edges
 * offering `rate`, `T` those that reach a target under the policy, `cut` the edges from S to
 * T outside S (`cutEdges`). Every node of S is at Infinity (reached at `rate`, above any
 * bottleneck past S), so the search starts at the heads of the cut edges with their
 * availability and never goes back into S: the same value as from the sources, without a heap
 * entry per node of S. Nodes outside T lead nowhere and are skipped. Runs only on failure, so
 * often interpreted: no calls in the loop.
 */
function widest(cg: ClassGraph, slot: DijkstraSlot, nodeDomain: Int32Array, S: NodeSet, cut: readonly number[], T: NodeSet, isTarget: Uint32Array, targetGen: number, blocked: Uint8Array): number {
  const { done: sDone, gen: sGen } = S;
  const { done: tDone, gen: tGen } = T;
  const { dist: best, seen, done, heap } = slot;
  const gen = ++slot.gen;
  heap.clear();
  const { off, head, available } = cg;
  for (let i = 0; i < cut.length; i++) {
    const e = cut[i]!;
    const w = head[e]!;
    const a = available[e]!;
    if (seen[w] !== gen || a > best[w]!) {
      seen[w] = gen;
      best[w] = a;
      heap.push(w, 0 - a);
    }
  }
  while (heap.size > 0) {
    const v = heap.pop();
    if (done[v] === gen) continue;
    done[v] = gen;
    if (isTarget[v] === targetGen) return best[v]!;
    const bv = best[v]!;
    const end = off[v + 1]!;
    for (let e = off[v]!; e < end; e++) {
      const w = head[e]!;
      if (tDone[w] !== tGen || sDone[w] === sGen || blocked[nodeDomain[w]!]) continue;
      const a = available[e]!;
      const b = bv < a ? bv : a;
      // An unseen node counts as -1 (no path yet): every availability is >= 0.
      if (seen[w] !== gen || b > best[w]!) {
        seen[w] = gen;
        best[w] = b;
        // 0 - b, not -b: -0 for b = 0 made V8 deoptimize this (same order: -0 === 0).
        heap.push(w, 0 - b);
      }
    }
  }
  return 0;
}

/** The error for one bound out of reach; `best` is the best achievable value (for loss: its -ln(1 - loss) form). */
function boundError(req: PathRequest, p: Prepared, kind: 'latency' | 'jitter' | 'loss', best: number): PathInfeasibleError {
  const where = `from ${req.from.domain} to ${req.to.domain} in class ${req.qosClass} at ${fmt(p.rate)} Mbit/s`;
  if (kind === 'loss') {
    const bestLoss = -Math.expm1(-best);
    const bound = req.maxLoss!;
    return new PathInfeasibleError({ kind, best: bestLoss, bound }, `loss bound ${bound} cannot be met ${where}: the best achievable is ${bestLoss.toPrecision(3)}`);
  }
  const bound = kind === 'latency' ? p.maxLat : p.maxJit;
  return new PathInfeasibleError({ kind, bestMs: best, boundMs: bound }, `${kind} bound ${fmt(bound)} ms cannot be met ${where}: the best achievable is ${fmt(best)} ms`);
}

const fmt = (x: number) => (Number.isFinite(x) ? String(Math.round(x * 1000) / 1000) : String(x));

/**
 * Works out why the search found nothing, in this order: the class is not carried at all,
 * policy cuts every route, bandwidth does, an included domain cannot be crossed, a single
 * bound (latency, jitter, loss) is out of reach, the caps were hit, or the bounds only fail
 * together. Runs only on failure; the common case (a route exists) costs one BFS plus one
 * Dijkstra per bound.
 */
function diagnose(
  graph: TopologyGraph,
  req: PathRequest,
  p: Prepared,
  capped: boolean,
  maxLabels: number,
  checkIncludes: boolean,
  options: PathSearchOptions = {},
  known: ((w: Float64Array) => number) | null = null,
): PathInfeasibleError {
  const { cg, ws, sources, targets, rate } = p;
  const nd = graph.nodeDomain;
  const cls = req.qosClass;
  const blocked = ws.blocked;
  const anyTarget = (seen: Uint8Array) => targets.some((t) => seen[t] === 1);
  const anyTargetIn = (set: NodeSet) => targets.some((t) => set.done[t] === set.gen);
  const where = `from ${req.from.domain} to ${req.to.domain}`;
  // A route known to exist (see `knownLat`) reaches a target: no need to look again, unless the includes need S.
  // S lives in the price search's slot (no longer needed: the search is over, and the values
  // `known` reads come from the other slots); T, below, in the loss search's (that branch returns).
  const S = p.knownLat < Infinity && p.includes.length === 0 ? null : reachHot(ws, ws.costSlot, cg, forward(cg), nd, sources, rate);
  if (S !== null && !anyTargetIn(S)) {
    // Without a blocked domain the policy cuts nothing, and the sources reach a target at any
    // rate exactly when one of them is among the nodes that reach a target (T below): one
    // reachability pass answers both. With one, a forward pass for each as well.
    const anyBlocked = blocked.includes(1);
    const T0 = anyBlocked ? null : reachHot(ws, ws.lossSlot, cg, backward(cg), nd, targets, 0);
    const routeExists = T0 !== null ? sources.some((s) => T0.done[s] === T0.gen) : anyTarget(reach(cg, nd, sources, false, 0, null));
    if (!routeExists) {
      return new PathInfeasibleError({ kind: 'no-route', qosClass: cls }, `no route carries class ${cls} ${where} in the advertised graph; choose another class or endpoints`);
    }
    if (anyBlocked && !anyTarget(reach(cg, nd, sources, false, 0, blocked))) {
      const fwd = reach(cg, nd, sources, false, 0, null);
      const back = reach(cg, nd, targets, true, 0, null);
      const blocking = new Set<string>();
      for (let v = 0; v < cg.n; v++) if (fwd[v] && back[v] && blocked[nd[v]!]) blocking.add(graph.domains[nd[v]!]!);
      const list = [...blocking].sort();
      return new PathInfeasibleError({ kind: 'policy', blocking: list }, `every route ${where} in class ${cls} crosses excluded or not-allowed domains (${list.join(', ')}); allow one of them or change the endpoints`);
    }
    const T = T0 ?? reachHot(ws, ws.lossSlot, cg, backward(cg), nd, targets, 0);
    let bestEdge = -1;
    const thin: string[] = [];
    const cut = cutEdges(cg, nd, S, T, blocked);
    for (const e of cut) {
      thin.push(`${graph.nodeIds[cg.tail[e]!]} -> ${graph.nodeIds[cg.head[e]!]} (${fmt(cg.available[e]!)} Mbit/s)`);
      if (bestEdge < 0 || cg.available[e]! > cg.available[bestEdge]!) bestEdge = e;
    }
    const best = widest(cg, ws.auxSlot, nd, S, cut, T, ws.isTarget, p.targetGen, blocked);
    const past = bestEdge >= 0 ? graph.domains[nd[cg.tail[bestEdge]!]!]! : req.from.domain;
    return new PathInfeasibleError(
      { kind: 'bandwidth', qosClass: cls, rateMbps: rate, bestMbps: best, pastDomain: past, thinEdges: thin },
      `no path with ${fmt(rate)} Mbit/s available in class ${cls} past domain ${past} (${where}); the widest path offers ${fmt(best)} Mbit/s; thin edges: ${thin.slice(0, 5).join(', ')}${thin.length > 5 ? ', ...' : ''}`,
    );
  }
  if (p.includes.length > 0) {
    const toT = reach(cg, nd, targets, true, rate, blocked);
    for (const d of p.includes) {
      const di = graph.domainIndex.get(d)!;
      let ok = false;
      for (let v = 0; v < cg.n && !ok; v++) if (nd[v] === di && S!.done[v] === S!.gen && toT[v]) ok = true;
      if (!ok) {
        return new PathInfeasibleError({ kind: 'include', domains: [d] }, `included domain ${d} cannot be crossed ${where} with ${fmt(rate)} Mbit/s in class ${cls}; drop it from includeDomains or lower the rate`);
      }
    }
  }
  const slot = ws.auxSlot;
  const cache = new Map<Float64Array, number>();
  const best = (w: Float64Array) => {
    let v = cache.get(w);
    if (v === undefined && known !== null) {
      v = known(w);
      if (Number.isNaN(v)) v = undefined;
      else cache.set(w, v);
    }
    if (v === undefined) {
      const t = dijkstra(ws, slot, forward(cg), nd, w, sources, rate, ws.isTarget, p.targetGen);
      v = t < 0 ? Infinity : slot.dist[t]!;
      cache.set(w, v);
    }
    return v;
  };
  // The reverse search's value may differ from the forward one in the last bits (sums in the
  // other order), far less than the margin: within it, the latency bound is surely met.
  const latMet = p.knownLat * (1 + 1e-12) <= p.maxLat * (1 + EPS);
  if (p.maxLat < Infinity && !latMet && best(cg.latency) > p.maxLat * (1 + EPS)) return boundError(req, p, 'latency', best(cg.latency));
  if (p.maxJit < Infinity && best(cg.jitter) > p.maxJit * (1 + EPS)) return boundError(req, p, 'jitter', best(cg.jitter));
  if (req.maxLoss !== undefined && -Math.expm1(-best(cg.lossLog)) > req.maxLoss * (1 + EPS) + 1e-15) {
    return boundError(req, p, 'loss', best(cg.lossLog));
  }
  const bestLat = best(cg.latency);
  const bestJit = best(cg.jitter);
  const bestLoss = -Math.expm1(-best(cg.lossLog));
  if (p.includes.length > 0 && !capped && checkIncludes) {
    // Reachability above is necessary, not sufficient: crossing an included domain may need a
    // border twice. Search again without the bounds, each include alone, then all of them.
    // (This reuses the workspace, so it comes after every use of `p`'s stamps.)
    const { maxLatencyMs: _l, maxJitterMs: _j, maxLoss: _o, ...unbounded } = req;
    // A search that hits its cap proves nothing: such an include counts as crossable.
    const inner = { ...options, maxLabels: Math.min(options.maxLabels ?? PATH_SEARCH_DEFAULTS.maxLabels, INCLUDE_CHECK_MAX_LABELS) };
    const crossable = (includeDomains: string[]) => {
      try {
        search(graph, { ...unbounded, includeDomains, k: 1 }, inner, false);
        return true;
      } catch (e) {
        if (e instanceof PathInfeasibleError) return e.reason.kind === 'search-limit';
        throw e;
      }
    };
    const alone = p.includes.filter((d) => !crossable([d]));
    const failing = alone.length > 0 ? alone : p.includes.length > 1 && !crossable(p.includes) ? p.includes : [];
    if (failing.length > 0) {
      return new PathInfeasibleError(
        { kind: 'include', domains: failing },
        `no path ${where} with ${fmt(rate)} Mbit/s in class ${cls} crosses ${failing.join(' and ')} without using a border twice; drop ${failing.length > 1 ? 'one of them' : 'it'} from includeDomains`,
      );
    }
  }
  if (capped) {
    return new PathInfeasibleError({ kind: 'search-limit', maxLabels }, `path search ${where} stopped at its label cap before finding a feasible path; relax the bounds or raise maxLabels/maxLabelsPerNode`);
  }
  return new PathInfeasibleError(
    { kind: 'bounds-jointly', best: { latencyMs: bestLat, jitterMs: bestJit, loss: bestLoss } },
    `no single path ${where} in class ${cls} at ${fmt(rate)} Mbit/s meets all bounds together${p.includes.length ? ` while crossing ${p.includes.join(', ')}` : ''}: each is achievable alone (best latency ${fmt(bestLat)} ms, jitter ${fmt(bestJit)} ms, loss ${bestLoss.toPrecision(3)}); relax one`,
  );
}

/**
 * Unconstrained latency Dijkstra from `from` to `to` in a class (no rate, no policy):
 * the reference the benchmark compares against. Returns the latency or Infinity.
 */
export function shortestLatency(graph: TopologyGraph, req: Pick<PathRequest, 'from' | 'to' | 'qosClass'>): number {
  const cg = graph.classGraph(req.qosClass);
  const ws = workspaceFor(graph, cg);
  const sources = graph.resolveEndpoint(req.from, 'from');
  const targets = graph.resolveEndpoint(req.to, 'to');
  ws.blocked.fill(0);
  ws.anyBlocked = false;
  const gen = ++ws.targetGen;
  for (const t of targets) ws.isTarget[t] = gen;
  const t = dijkstra(ws, ws.auxSlot, forward(cg), graph.nodeDomain, cg.latency, sources, 0, ws.isTarget, gen);
  return t < 0 ? Infinity : ws.auxSlot.dist[t]!;
}
