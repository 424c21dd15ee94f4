/**
 * Why a path search found nothing: no route, policy, bandwidth, an include,
 * one bound out of reach, the caps, or the bounds only together.
 */
import { PathInfeasibleError } from '../../errors.js';
import { type ClassGraph, TopologyGraph } from '../graph.js';
import type { PathRequest } from '../types.js';
import { boundSearch, dijkstra } from './bounds.js';
import { EPS } from './labels.js';
import { PATH_SEARCH_DEFAULTS, type PathSearchOptions } from './limits.js';
import type { Prepared } from './request.js';
import { search } from './search.js';
import { backward, DijkstraSlot, type Direction, forward, Workspace } from './workspace.js';

/** Label cap of the searches that check, on failure, whether include-domains alone are the cause. */
const INCLUDE_CHECK_MAX_LABELS = 20_000;

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
export function boundError(req: PathRequest, p: Prepared, kind: 'latency' | 'jitter' | 'loss', best: number): PathInfeasibleError {
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
export function diagnose(
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
