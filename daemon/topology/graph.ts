/**
 * The advertised multi-domain graph: one node per border router (`domain/border`),
 * one directed edge per intra-domain transit and per inter-domain link, with per-class
 * metrics. Built from a list of domain advertisements; per-class adjacency is packed
 * into typed arrays (CSR, forward and reverse) on first use and cached.
 */
import { TopologyError } from '../errors.js';
import type { ClassMetrics, ClassTable, DomainAdvertisement, Endpoint, QosClass, SiteAttachment } from './types.js';
import { InvalidArgumentError } from '../../drivers/errors.js';

/** Edge kinds in `ClassGraph.kind`. */
export const TRANSIT = 0;
export const LINK = 1;

/** Adjacency of one QoS class, in typed arrays. Edge `e` goes from `tail[e]` to `head[e]`. */
export interface ClassGraph {
  qosClass: QosClass;
  /** Number of nodes (same numbering as `TopologyGraph.nodeIds`). */
  n: number;
  /** Forward CSR: out-edges of node v are `off[v] .. off[v+1]-1`. */
  off: Int32Array;
  tail: Int32Array;
  head: Int32Array;
  latency: Float64Array;
  jitter: Float64Array;
  /** -ln(1 - loss): additive form of the multiplicative loss. */
  lossLog: Float64Array;
  /** Price per Mbit/s-hour charged when taking the edge: the entered domain's schedule on links, 0 on transits. */
  cost: Float64Array;
  available: Float64Array;
  kind: Uint8Array;
  /** Original metrics per edge, for reporting. */
  metrics: ClassMetrics[];
  /** Reverse CSR: in-edges of node v are `redge[roff[v] .. roff[v+1]-1]` (forward edge indices). */
  roff: Int32Array;
  redge: Int32Array;
  /** Per-edge values copied into reverse-CSR order, so reverse searches read memory in sequence. */
  rtail: Int32Array;
  rlatency: Float64Array;
  rjitter: Float64Array;
  rlossLog: Float64Array;
  rcost: Float64Array;
  ravailable: Float64Array;
  /** Schedule price of each domain for the class; NaN if the domain does not sell it. */
  domainPrice: Float64Array;
}

const NAME = /^[^/\s]+$/;

function fail(origin: string | undefined, field: string, message: string): never {
  throw new TopologyError(origin, field, message);
}

function checkNumber(origin: string, field: string, v: unknown, min: number, maxExclusive = Infinity): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v >= maxExclusive) {
    fail(origin, field, `must be a finite number >= ${min}${maxExclusive < Infinity ? ` and < ${maxExclusive}` : ''}, got ${JSON.stringify(v)}`);
  }
  return v;
}

function checkClasses(origin: string, field: string, classes: unknown): ClassTable {
  if (classes === null || typeof classes !== 'object') fail(origin, field, 'must be an object of class name -> metrics');
  for (const [cls, m] of Object.entries(classes as Record<string, unknown>)) {
    const f = `${field}.${cls}`;
    if (!cls) fail(origin, f, 'class name must not be empty');
    if (m === null || typeof m !== 'object') fail(origin, f, 'must be an object {availableMbps, latencyMs, jitterMs, loss}');
    const mm = m as Record<string, unknown>;
    const avail = checkNumber(origin, `${f}.availableMbps`, mm.availableMbps, 0);
    if (mm.capacityMbps !== undefined) {
      const cap = checkNumber(origin, `${f}.capacityMbps`, mm.capacityMbps, 0);
      if (cap < avail) fail(origin, `${f}.capacityMbps`, `is ${cap}, below availableMbps ${avail}`);
    }
    checkNumber(origin, `${f}.latencyMs`, mm.latencyMs, 0);
    checkNumber(origin, `${f}.jitterMs`, mm.jitterMs, 0);
    checkNumber(origin, `${f}.loss`, mm.loss, 0, 1);
  }
  return classes as ClassTable;
}

/** Node id of a border: `domain/border`. */
export function nodeId(domain: string, border: string): string {
  return `${domain}/${border}`;
}

/**
 * The graph built from a set of advertisements (one per origin). Immutable: build a new
 * one when advertisements change.
 */
export class TopologyGraph {
  /** Domain ids, index = domain number. */
  readonly domains: string[] = [];
  readonly domainIndex = new Map<string, number>();
  /** Node ids `domain/border`, index = node number. */
  readonly nodeIds: string[] = [];
  readonly nodeIndex = new Map<string, number>();
  /** Domain number of each node. */
  readonly nodeDomain: Int32Array;
  /** Nodes of domain d are numbered `domainFirstNode[d] .. domainFirstNode[d+1]-1`. */
  readonly domainFirstNode: Int32Array;
  /** Advertisements by origin. */
  readonly advertisements = new Map<string, DomainAdvertisement>();
  /** Links skipped because their peer domain or border is not advertised (`a/b -> c/d`). */
  readonly ignoredLinks: string[] = [];
  private readonly classCache = new Map<QosClass, ClassGraph>();

  constructor(ads: readonly DomainAdvertisement[]) {
    const domainOfNode: number[] = [];
    ads.forEach((ad, i) => {
      if (ad === null || typeof ad !== 'object') fail(undefined, `advertisements[${i}]`, 'must be an object');
      const origin = ad.origin;
      if (typeof origin !== 'string' || !NAME.test(origin)) fail(undefined, `advertisements[${i}].origin`, `must be a non-empty id without "/" or spaces, got ${JSON.stringify(origin)}`);
      if (this.domainIndex.has(origin)) fail(origin, 'origin', 'advertised twice in the same set; keep only the newest advertisement');
      const d = this.domains.length;
      this.domains.push(origin);
      this.domainIndex.set(origin, d);
      this.advertisements.set(origin, ad);
      if (!Array.isArray(ad.borders) || ad.borders.length === 0) fail(origin, 'borders', 'must list at least one border id');
      const seen = new Set<string>();
      ad.borders.forEach((b, j) => {
        if (typeof b !== 'string' || !NAME.test(b)) fail(origin, `borders[${j}]`, `must be a non-empty id without "/" or spaces, got ${JSON.stringify(b)}`);
        if (seen.has(b)) fail(origin, `borders[${j}]`, `duplicate border ${b}`);
        seen.add(b);
        const id = nodeId(origin, b);
        this.nodeIndex.set(id, this.nodeIds.length);
        this.nodeIds.push(id);
        domainOfNode.push(d);
      });
      const p = ad.prices;
      if (!p || typeof p.currency !== 'string' || !/^[A-Z]{3}$/.test(p.currency)) fail(origin, 'prices.currency', `must be an ISO 4217 code like EUR, got ${JSON.stringify(p?.currency)}`);
      if (!p.perMbpsHour || typeof p.perMbpsHour !== 'object') fail(origin, 'prices.perMbpsHour', 'must map class -> price per Mbit/s-hour');
      for (const [cls, v] of Object.entries(p.perMbpsHour)) checkNumber(origin, `prices.perMbpsHour.${cls}`, v, 0);
      if (!Array.isArray(ad.transits)) fail(origin, 'transits', 'must be a list (may be empty)');
      ad.transits.forEach((t, j) => {
        if (!seen.has(t?.from)) fail(origin, `transits[${j}].from`, `unknown border ${JSON.stringify(t?.from)}; declare it in borders`);
        if (!seen.has(t.to)) fail(origin, `transits[${j}].to`, `unknown border ${JSON.stringify(t.to)}; declare it in borders`);
        if (t.from === t.to) fail(origin, `transits[${j}]`, 'from and to are the same border');
        checkClasses(origin, `transits[${j}].classes`, t.classes);
      });
      if (!Array.isArray(ad.links)) fail(origin, 'links', 'must be a list (may be empty)');
      ad.links.forEach((l, j) => {
        if (!seen.has(l?.border)) fail(origin, `links[${j}].border`, `unknown border ${JSON.stringify(l?.border)}; declare it in borders`);
        if (typeof l.peerDomain !== 'string' || !NAME.test(l.peerDomain)) fail(origin, `links[${j}].peerDomain`, 'must be a domain id');
        if (l.peerDomain === origin) fail(origin, `links[${j}].peerDomain`, 'is the origin itself; advertise carriage inside the domain as a transit');
        if (typeof l.peerBorder !== 'string' || !NAME.test(l.peerBorder)) fail(origin, `links[${j}].peerBorder`, 'must be a border id');
        checkClasses(origin, `links[${j}].classes`, l.classes);
      });
      (ad.sites ?? []).forEach((s, j) => {
        if (typeof s?.id !== 'string' || !NAME.test(s.id)) fail(origin, `sites[${j}].id`, 'must be a non-empty id');
        if (!Array.isArray(s.borders) || s.borders.length === 0) fail(origin, `sites[${j}].borders`, 'must list at least one border');
        s.borders.forEach((b, m) => {
          if (!seen.has(b)) fail(origin, `sites[${j}].borders[${m}]`, `unknown border ${JSON.stringify(b)}`);
        });
        if (s.prefixes !== undefined && (!Array.isArray(s.prefixes) || s.prefixes.some((p) => typeof p !== 'string' || !/^[0-9A-Fa-f.:]+\/\d{1,3}$/.test(p)))) {
          fail(origin, `sites[${j}].prefixes`, 'must be a list of address/length prefixes');
        }
      });
    });
    this.nodeDomain = Int32Array.from(domainOfNode);
    this.domainFirstNode = new Int32Array(this.domains.length + 1);
    for (let v = domainOfNode.length - 1; v >= 0; v--) this.domainFirstNode[domainOfNode[v]!] = v;
    this.domainFirstNode[this.domains.length] = domainOfNode.length;
    for (const ad of ads) {
      for (const l of ad.links) {
        if (!this.nodeIndex.has(nodeId(l.peerDomain, l.peerBorder))) {
          this.ignoredLinks.push(`${nodeId(ad.origin, l.border)} -> ${nodeId(l.peerDomain, l.peerBorder)}`);
        }
      }
    }
  }

  /** Number of border nodes. */
  get size(): number {
    return this.nodeIds.length;
  }

  /** Per-class adjacency (built on first use). Edges exist only between domains that sell the class. */
  classGraph(qosClass: QosClass): ClassGraph {
    const cached = this.classCache.get(qosClass);
    if (cached) return cached;
    const n = this.nodeIds.length;
    const domainPrice = new Float64Array(this.domains.length).fill(NaN);
    this.domains.forEach((d, i) => {
      const p = this.advertisements.get(d)!.prices.perMbpsHour[qosClass];
      if (p !== undefined) domainPrice[i] = p;
    });
    const tails: number[] = [];
    const heads: number[] = [];
    const kinds: number[] = [];
    const mets: ClassMetrics[] = [];
    const add = (u: number, v: number, kind: number, m: ClassMetrics) => {
      if (Number.isNaN(domainPrice[this.nodeDomain[u]!]!) || Number.isNaN(domainPrice[this.nodeDomain[v]!]!)) return;
      tails.push(u);
      heads.push(v);
      kinds.push(kind);
      mets.push(m);
    };
    for (const ad of this.advertisements.values()) {
      for (const t of ad.transits) {
        const m = t.classes[qosClass];
        if (!m) continue;
        const u = this.nodeIndex.get(nodeId(ad.origin, t.from))!;
        const v = this.nodeIndex.get(nodeId(ad.origin, t.to))!;
        add(u, v, TRANSIT, m);
        if (t.bidirectional) add(v, u, TRANSIT, m);
      }
      for (const l of ad.links) {
        const m = l.classes[qosClass];
        const v = this.nodeIndex.get(nodeId(l.peerDomain, l.peerBorder));
        if (!m || v === undefined) continue;
        add(this.nodeIndex.get(nodeId(ad.origin, l.border))!, v, LINK, m);
      }
    }
    const E = tails.length;
    const off = new Int32Array(n + 1);
    const roff = new Int32Array(n + 1);
    for (let e = 0; e < E; e++) {
      off[tails[e]! + 1]!++;
      roff[heads[e]! + 1]!++;
    }
    for (let v = 0; v < n; v++) {
      off[v + 1]! += off[v]!;
      roff[v + 1]! += roff[v]!;
    }
    const g: ClassGraph = {
      qosClass,
      n,
      off,
      tail: new Int32Array(E),
      head: new Int32Array(E),
      latency: new Float64Array(E),
      jitter: new Float64Array(E),
      lossLog: new Float64Array(E),
      cost: new Float64Array(E),
      available: new Float64Array(E),
      kind: new Uint8Array(E),
      metrics: new Array<ClassMetrics>(E),
      roff,
      redge: new Int32Array(E),
      rtail: new Int32Array(E),
      rlatency: new Float64Array(E),
      rjitter: new Float64Array(E),
      rlossLog: new Float64Array(E),
      rcost: new Float64Array(E),
      ravailable: new Float64Array(E),
      domainPrice,
    };
    const fill = off.slice(0, n);
    const rfill = roff.slice(0, n);
    for (let i = 0; i < E; i++) {
      const u = tails[i]!;
      const v = heads[i]!;
      const e = fill[u]!++;
      const m = mets[i]!;
      g.tail[e] = u;
      g.head[e] = v;
      g.latency[e] = m.latencyMs;
      g.jitter[e] = m.jitterMs;
      g.lossLog[e] = -Math.log1p(-m.loss);
      g.cost[e] = kinds[i] === LINK ? domainPrice[this.nodeDomain[v]!]! : 0;
      g.available[e] = m.availableMbps;
      g.kind[e] = kinds[i]!;
      g.metrics[e] = m;
    }
    for (let e = 0; e < E; e++) g.redge[rfill[g.head[e]!]!++] = e;
    for (let i = 0; i < E; i++) {
      const e = g.redge[i]!;
      g.rtail[i] = g.tail[e]!;
      g.rlatency[i] = g.latency[e]!;
      g.rjitter[i] = g.jitter[e]!;
      g.rlossLog[i] = g.lossLog[e]!;
      g.rcost[i] = g.cost[e]!;
      g.ravailable[i] = g.available[e]!;
    }
    this.classCache.set(qosClass, g);
    return g;
  }

  /** The advertised site of a domain, or undefined. */
  siteOf(domain: string, site: string): SiteAttachment | undefined {
    return (this.advertisements.get(domain)?.sites ?? []).find((s) => s.id === site);
  }

  /** Node numbers an endpoint stands for (one border, or every border of a site). */
  resolveEndpoint(ep: Endpoint, which: string): number[] {
    if (!ep || typeof ep.domain !== 'string') throw new InvalidArgumentError(`${which}.domain is required`);
    const ad = this.advertisements.get(ep.domain);
    if (!ad) throw new InvalidArgumentError(`${which}.domain ${ep.domain} is not advertised; known domains: ${this.domains.slice(0, 20).join(', ')}${this.domains.length > 20 ? ', ...' : ''}`);
    if ((ep.border === undefined) === (ep.site === undefined)) {
      throw new InvalidArgumentError(`${which}: give exactly one of border and site`);
    }
    if (ep.border !== undefined) {
      const v = this.nodeIndex.get(nodeId(ep.domain, ep.border));
      if (v === undefined) throw new InvalidArgumentError(`${which}.border ${ep.border} is not a border of ${ep.domain}; borders: ${ad.borders.join(', ')}`);
      return [v];
    }
    const site = (ad.sites ?? []).find((s) => s.id === ep.site);
    if (!site) throw new InvalidArgumentError(`${which}.site ${ep.site} is not a site of ${ep.domain}; sites: ${(ad.sites ?? []).map((s) => s.id).join(', ') || '(none)'}`);
    return site.borders.map((b) => this.nodeIndex.get(nodeId(ep.domain, b))!);
  }
}

/** Builds the graph from advertisements; throws `TopologyError` naming the bad field. */
export function buildTopology(ads: readonly DomainAdvertisement[]): TopologyGraph {
  return new TopologyGraph(ads);
}
