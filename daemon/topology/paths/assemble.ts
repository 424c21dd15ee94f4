/**
 * Turns a label of the search into a ComputedPath: hops, segments per domain, metrics.
 */
import { type ClassGraph, LINK, TopologyGraph } from '../graph.js';
import type { ComputedPath, PathHop, PathSegment } from '../types.js';
import { Workspace } from './workspace.js';

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

export function buildPath(graph: TopologyGraph, cg: ClassGraph, ws: Workspace, label: number, score: number): ComputedPath {
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
