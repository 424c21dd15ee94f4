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
import { TopologyGraph } from '../graph.js';
import type { PathRequest, PathResult } from '../types.js';
import { dijkstra } from './bounds.js';
import type { PathSearchOptions } from './limits.js';
import { search } from './search.js';
import { forward, workspaceFor } from './workspace.js';

export { PATH_SEARCH_DEFAULTS, type PathSearchOptions } from './limits.js';

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
