/**
 * Per-class scratch memory of the path search (Dijkstra slots, label arrays),
 * cached per class graph, so a query allocates (almost) nothing.
 */
import { type ClassGraph, TopologyGraph } from '../graph.js';
import { KeyHeap, MinHeap } from '../heap.js';
import { LabelSearch } from './labels.js';

/** One Dijkstra's state, reused across queries via generation stamps. */
export class DijkstraSlot {
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
export class Workspace {
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

export function workspaceFor(graph: TopologyGraph, cg: ClassGraph): Workspace {
  let ws = workspaces.get(cg);
  if (!ws) {
    ws = new Workspace(cg.n, graph.domains.length, backward(cg));
    workspaces.set(cg, ws);
  }
  return ws;
}

/** Adjacency for one direction: CSR offsets, the other end of each edge, its availability. */
export interface Direction {
  off: Int32Array;
  other: Int32Array;
  available: Float64Array;
}
export const forward = (cg: ClassGraph): Direction => ({ off: cg.off, other: cg.head, available: cg.available });
export const backward = (cg: ClassGraph): Direction => ({ off: cg.roff, other: cg.rtail, available: cg.ravailable });
