/**
 * One path query: the reverse bound searches, the label search, the lazy
 * jitter and loss bounds, and the answers.
 */
import { PathInfeasibleError } from '../../errors.js';
import { TopologyGraph } from '../graph.js';
import type { ComputedPath, PathRequest, PathResult } from '../types.js';
import { buildPath } from './assemble.js';
import { boundSearch } from './bounds.js';
import { boundError, diagnose } from './diagnose.js';
import { EPS, LabelSearch, runLabels } from './labels.js';
import { PATH_SEARCH_DEFAULTS, type PathSearchOptions } from './limits.js';
import { prepare, type Prepared } from './request.js';
import { DijkstraSlot } from './workspace.js';

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
export function lazyBounds(
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
export function search(graph: TopologyGraph, req: PathRequest, options: PathSearchOptions, checkIncludes: boolean): PathResult {
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
