/**
 * Checks a path request and prepares the class workspace for it: blocked
 * domains, include bits, target stamps.
 */
import { InvalidArgumentError } from '../../../drivers/errors.js';
import { type ClassGraph, TopologyGraph } from '../graph.js';
import type { PathObjective, PathRequest } from '../types.js';
import { Workspace, workspaceFor } from './workspace.js';

const OBJECTIVES: readonly PathObjective[] = ['cheapest', 'lowest-latency', 'balanced'];

export interface Prepared {
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
export function prepare(graph: TopologyGraph, req: PathRequest): Prepared {
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
