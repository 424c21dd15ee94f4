/**
 * Pricing of paths and the provider's business objectives (seed 002, claims 6-8 and 16-21).
 *
 * The price of a path for a request is the sum, over the domain segments of the path, of
 *
 *     unit = max(floorPerMbpsHour, schedule[class] x congestion(u) x (1 - discount))
 *     charge = max(minimumCharge, unit x rateMbps x durationHours)
 *
 * where `schedule` is the domain's advertised price per Mbit/s-hour, `discount`,
 * `floorPerMbpsHour` and `minimumCharge` are the contract terms between the buyer and that
 * provider, and `u` is the utilisation after the reservation of the edges the domain sells
 * on the path: its transits and the link entering it (the busiest one counts),
 * `u = (capacity - available + rate) / capacity`.
 *
 * Congestion curve (real-time multiplier), with knee k (default 0.5), ceiling M (default 3)
 * and exponent p (default 2):
 *
 *     congestion(u) = 1                                  for u <= k
 *                   = 1 + (M - 1) x ((u - k) / (1 - k))^p  for k < u <= 1
 *
 * Flat while the edge is lightly used, rising smoothly (no step that would make prices jump
 * when one small reservation crosses a threshold) to M times the list price when the
 * reservation would fill the edge. `u` above 1 cannot occur: path computation already drops
 * edges without the bandwidth.
 *
 * Scenarios: the same request is searched once per objective (cheapest, fastest, balanced);
 * the k candidates of each are priced in real time and each scenario takes the best of all
 * candidates by its criterion on the real price (congestion and contract terms can reorder
 * what the advertised schedules ranked).
 *
 * Business objectives: a provider reselling end to end earns its own segments' charges plus
 * a markup on the other providers' charges, and pays its own internal cost. Its weights on
 * margin, service volume (share of the path carried on its own network) and customer price
 * decide which option it prefers; a target margin ratio withholds options below it.
 */
import { InvalidArgumentError } from '../../drivers/errors.js';
import { computePaths, type PathSearchOptions } from '../topology/paths/index.js';
import type { TopologyGraph } from '../topology/graph.js';
import type { ComputedPath, PathHop, PathObjective, PathRequest, QosClass } from '../topology/types.js';
import { PricingError } from '../errors.js';

/** Shape of the congestion multiplier; see the module comment. */
export interface CongestionCurve {
  /** Utilisation (0..1) up to which the multiplier is 1. @default 0.5 */
  knee: number;
  /** Multiplier at utilisation 1. @default 3 */
  ceiling: number;
  /** Curvature above the knee. @default 2 */
  exponent: number;
}

export const CONGESTION_DEFAULTS: CongestionCurve = { knee: 0.5, ceiling: 3, exponent: 2 };

/** Terms of the contract between the buyer and one provider. */
export interface ContractTerms {
  /** Fraction off the congestion-adjusted list price, 0 <= discount < 1. @default 0 */
  discount?: number;
  /** Lowest unit price the provider accepts, per Mbit/s-hour. @default 0 */
  floorPerMbpsHour?: number;
  /** Lowest charge for one segment, in the schedule's currency. @default 0 */
  minimumCharge?: number;
}

/** Everything pricing needs besides the graph. */
export interface PricingTerms {
  /** Contract terms of the buyer with each provider, by domain. @default {} (list prices) */
  contracts?: Record<string, ContractTerms>;
  congestion?: Partial<CongestionCurve>;
}

/** What is being priced: a rate for a duration in a class. */
export interface Usage {
  qosClass: QosClass;
  rateMbps: number;
  durationHours: number;
}

/** The price of one domain segment. */
export interface SegmentPrice {
  domain: string;
  ingress: string;
  egress: string;
  /** Advertised schedule for the class, per Mbit/s-hour. */
  listPerMbpsHour: number;
  /** Utilisation after the reservation of the busiest edge the domain sells on the path (0 if none). */
  utilisationAfter: number;
  congestionMultiplier: number;
  discount: number;
  /** Unit price after congestion, discount and floor, per Mbit/s-hour. */
  unitPerMbpsHour: number;
  /** What the domain charges for the segment. */
  charge: number;
}

/** The price of a path for a usage. */
export interface PathPrice {
  currency: string;
  total: number;
  segments: SegmentPrice[];
}

/** The multiplier for a utilisation after the reservation (see the module comment). */
export function congestionMultiplier(utilisation: number, curve: Partial<CongestionCurve> = {}): number {
  const { knee, ceiling, exponent } = { ...CONGESTION_DEFAULTS, ...curve };
  if (!(utilisation > knee)) return 1;
  const x = (Math.min(utilisation, 1) - knee) / (1 - knee);
  return 1 + (ceiling - 1) * x ** exponent;
}

function checkCurve(c: Partial<CongestionCurve> | undefined): void {
  if (!c) return;
  const { knee, ceiling, exponent } = { ...CONGESTION_DEFAULTS, ...c };
  if (!(knee >= 0 && knee < 1)) throw new InvalidArgumentError(`congestion.knee must be in [0, 1), got ${knee}`);
  if (!(ceiling >= 1) || !Number.isFinite(ceiling)) throw new InvalidArgumentError(`congestion.ceiling must be a number >= 1, got ${ceiling}`);
  if (!(exponent > 0) || !Number.isFinite(exponent)) throw new InvalidArgumentError(`congestion.exponent must be a positive number, got ${exponent}`);
}

function checkTerms(domain: string, t: ContractTerms): Required<ContractTerms> {
  const discount = t.discount ?? 0;
  const floorPerMbpsHour = t.floorPerMbpsHour ?? 0;
  const minimumCharge = t.minimumCharge ?? 0;
  if (!(discount >= 0 && discount < 1)) throw new InvalidArgumentError(`contracts.${domain}.discount must be in [0, 1), got ${JSON.stringify(t.discount)}`);
  if (!(floorPerMbpsHour >= 0) || !Number.isFinite(floorPerMbpsHour)) throw new InvalidArgumentError(`contracts.${domain}.floorPerMbpsHour must be a number >= 0, got ${JSON.stringify(t.floorPerMbpsHour)}`);
  if (!(minimumCharge >= 0) || !Number.isFinite(minimumCharge)) throw new InvalidArgumentError(`contracts.${domain}.minimumCharge must be a number >= 0, got ${JSON.stringify(t.minimumCharge)}`);
  return { discount, floorPerMbpsHour, minimumCharge };
}

function checkUsage(u: Usage): void {
  if (!(u.rateMbps > 0) || !Number.isFinite(u.rateMbps)) throw new InvalidArgumentError(`rateMbps must be a positive number of Mbit/s, got ${JSON.stringify(u.rateMbps)}`);
  if (!(u.durationHours > 0) || !Number.isFinite(u.durationHours)) throw new InvalidArgumentError(`durationHours must be a positive number of hours, got ${JSON.stringify(u.durationHours)}`);
}

const utilisationAfter = (h: PathHop, rate: number): number => {
  const cap = h.metrics.capacityMbps ?? h.metrics.availableMbps;
  return cap > 0 ? (cap - h.metrics.availableMbps + rate) / cap : 1;
};

/**
 * Real-time price of a computed path. Throws `PricingError` if the domains on the path do
 * not share one currency or one no longer sells the class.
 */
export function pricePath(graph: TopologyGraph, path: ComputedPath, usage: Usage, terms: PricingTerms = {}): PathPrice {
  checkUsage(usage);
  checkCurve(terms.congestion);
  let currency: string | undefined;
  const segments: SegmentPrice[] = path.segments.map((seg, i) => {
    const ad = graph.advertisements.get(seg.domain);
    const list = ad?.prices.perMbpsHour[usage.qosClass];
    if (!ad || list === undefined) throw new PricingError('QB_PRICING_NOT_SOLD', `domain ${seg.domain} does not sell class ${usage.qosClass} (no price in its advertisement); compute the path again`);
    if (currency !== undefined && ad.prices.currency !== currency) {
      throw new PricingError('QB_PRICING_CURRENCY_MISMATCH', `domain ${seg.domain} prices in ${ad.prices.currency}, earlier domains on the path in ${currency}; exclude it or convert its schedule`);
    }
    currency = ad.prices.currency;
    // The edges this domain sells on the path: its transits and the link that enters it.
    const sold = seg.hops.filter((h) => h.kind === 'transit');
    const entering = i > 0 ? path.segments[i - 1]!.hops.at(-1) : undefined;
    if (entering) sold.push(entering);
    const u = sold.reduce((m, h) => Math.max(m, utilisationAfter(h, usage.rateMbps)), 0);
    const mult = congestionMultiplier(u, terms.congestion);
    const t = checkTerms(seg.domain, terms.contracts?.[seg.domain] ?? {});
    const unit = Math.max(t.floorPerMbpsHour, list * mult * (1 - t.discount));
    const charge = Math.max(t.minimumCharge, unit * usage.rateMbps * usage.durationHours);
    return { domain: seg.domain, ingress: seg.ingress, egress: seg.egress, listPerMbpsHour: list, utilisationAfter: u, congestionMultiplier: mult, discount: t.discount, unitPerMbpsHour: unit, charge };
  });
  return { currency: currency!, total: segments.reduce((s, x) => s + x.charge, 0), segments };
}

/** A request to quote: a path request plus how long. */
export interface QuoteRequest extends PathRequest {
  durationHours: number;
}

/** Pricing scenarios: cheapest (real price), fastest (latency), balanced (both, normalised). */
export type Scenario = 'cheapest' | 'fastest' | 'balanced';
export const SCENARIOS: readonly Scenario[] = ['cheapest', 'fastest', 'balanced'];
const SEARCH_OBJECTIVE: Record<Scenario, PathObjective> = { cheapest: 'cheapest', fastest: 'lowest-latency', balanced: 'balanced' };

/** A path with its real-time price. */
export interface PricedOption {
  /** Stable key of the path (its node ids joined). */
  key: string;
  path: ComputedPath;
  price: PathPrice;
  /** Scenarios that chose this path (one path may win several). */
  scenarios: Scenario[];
}

/**
 * Pricing scenarios for a request: for each scenario, up to `k` candidates from path
 * computation, priced in real time; the best of all candidates by the scenario's criterion
 * is labelled with it. Returns the distinct options, scenario winners first (in scenario order), then the
 * other candidates (no label). Infeasible requests throw `PathInfeasibleError`.
 */
export function priceScenarios(
  graph: TopologyGraph,
  req: QuoteRequest,
  terms: PricingTerms = {},
  scenarios: readonly Scenario[] = SCENARIOS,
  search?: PathSearchOptions,
): PricedOption[] {
  checkUsage({ qosClass: req.qosClass, rateMbps: req.rateMbps, durationHours: req.durationHours });
  if (scenarios.length === 0 || scenarios.some((s) => !SCENARIOS.includes(s))) {
    throw new InvalidArgumentError(`scenarios must be a non-empty list of ${SCENARIOS.join(', ')}, got ${JSON.stringify(scenarios)}`);
  }
  const usage: Usage = { qosClass: req.qosClass, rateMbps: req.rateMbps, durationHours: req.durationHours };
  const { durationHours: _d, ...pathReq } = req;
  const candidates = new Map<string, PricedOption>();
  const perScenario = new Map<Scenario, PricedOption[]>();
  for (const s of scenarios) {
    const res = computePaths(graph, { ...pathReq, objective: SEARCH_OBJECTIVE[s], k: req.k ?? 3 }, search);
    perScenario.set(
      s,
      res.paths.map((path) => {
        const key = path.nodes.join(' ');
        let o = candidates.get(key);
        if (!o) {
          o = { key, path, price: pricePath(graph, path, usage, terms), scenarios: [] };
          candidates.set(key, o);
        }
        return o;
      }),
    );
  }
  const all = [...candidates.values()];
  const minPrice = Math.min(...all.map((o) => o.price.total));
  const minLat = Math.min(...all.map((o) => o.path.metrics.latencyMs));
  const norm = (x: number, ref: number) => (ref > 0 ? x / ref : x);
  const criterion: Record<Scenario, (o: PricedOption) => number> = {
    cheapest: (o) => o.price.total,
    fastest: (o) => o.path.metrics.latencyMs,
    balanced: (o) => norm(o.price.total, minPrice) + norm(o.path.metrics.latencyMs, minLat),
  };
  const out: PricedOption[] = [];
  for (const s of scenarios) {
    // Every candidate competes in every scenario (real prices can make another scenario's
    // candidate the cheapest); ties go to the scenario's own search order, then the others.
    const own = perScenario.get(s)!;
    const pool = [...own, ...all.filter((o) => !own.includes(o))];
    const best = pool.reduce((b, o) => (criterion[s](o) < criterion[s](b) - 1e-12 ? o : b), pool[0]!);
    best.scenarios.push(s);
    if (!out.includes(best)) out.push(best);
  }
  // The other candidates stay available to business objectives, which may prefer one of them.
  for (const o of all) if (!out.includes(o)) out.push(o);
  return out;
}

/** A provider's business objectives (from its config). */
export interface BusinessObjectives {
  /** Domains the provider operates: their charges are its revenue, the others' its cost. */
  ownDomains: string[];
  /** Markup on other providers' charges when reselling end to end, e.g. 0.2. @default 0 */
  resaleMarkup?: number;
  /** Internal cost of carrying 1 Mbit/s for an hour, per own domain and class. @default {} (0) */
  ownCostPerMbpsHour?: Record<string, Record<QosClass, number>>;
  /**
   * Weights (>= 0, not all 0) on: margin (normalised to the best option's), service volume
   * (share of the path's hops on its own network), and customer price (cheapest option / this one).
   */
  weights: { margin: number; volume: number; price?: number };
  /** Target financial ratio: options with margin / customer price below it are not offered. @default none */
  targetMarginRatio?: number;
}

/** An option seen through the provider's business objectives. */
export interface EvaluatedOption extends PricedOption {
  /** What the customer pays: own charges plus other providers' charges with the markup. */
  customerPrice: number;
  /** Paid to the other providers. */
  wholesaleCost: number;
  /** The provider's internal cost on its own segments. */
  ownCost: number;
  margin: number;
  marginRatio: number;
  /** Share of the path's hops the provider sells (service volume on its own network), 0..1. */
  onNetShare: number;
  /** Weighted score; the preferred option has the highest. */
  utility: number;
}

/** Which options a provider offers, and which it prefers. */
export interface BusinessDecision {
  /** Offered options, preferred first, then by utility. */
  offered: EvaluatedOption[];
  /** Options below the target margin ratio. */
  withheld: EvaluatedOption[];
  preferred: EvaluatedOption;
}

function checkObjectives(graph: TopologyGraph, o: BusinessObjectives): void {
  if (!Array.isArray(o.ownDomains) || o.ownDomains.length === 0) throw new InvalidArgumentError('business objectives: ownDomains must list the provider\'s domains');
  for (const d of o.ownDomains) if (!graph.domainIndex.has(d)) throw new InvalidArgumentError(`business objectives: ownDomains: ${d} is not an advertised domain`);
  const w = o.weights;
  const ws = [w?.margin, w?.volume, w?.price ?? 0];
  if (!w || ws.some((x) => typeof x !== 'number' || !(x >= 0) || !Number.isFinite(x)) || ws.every((x) => x === 0)) {
    throw new InvalidArgumentError(`business objectives: weights.margin, weights.volume and weights.price must be numbers >= 0, not all 0; got ${JSON.stringify(w)}`);
  }
  if (o.resaleMarkup !== undefined && !(o.resaleMarkup >= 0 && Number.isFinite(o.resaleMarkup))) throw new InvalidArgumentError(`business objectives: resaleMarkup must be >= 0, got ${o.resaleMarkup}`);
  if (o.targetMarginRatio !== undefined && !(o.targetMarginRatio < 1 && Number.isFinite(o.targetMarginRatio))) {
    throw new InvalidArgumentError(`business objectives: targetMarginRatio must be a number below 1, got ${o.targetMarginRatio}`);
  }
  for (const [d, byClass] of Object.entries(o.ownCostPerMbpsHour ?? {})) {
    if (!o.ownDomains.includes(d)) throw new InvalidArgumentError(`business objectives: ownCostPerMbpsHour.${d}: ${d} is not in ownDomains`);
    for (const [c, v] of Object.entries(byClass)) {
      if (!(v >= 0) || !Number.isFinite(v)) throw new InvalidArgumentError(`business objectives: ownCostPerMbpsHour.${d}.${c} must be >= 0, got ${v}`);
    }
  }
}

/**
 * Applies a provider's business objectives to priced options: computes its margin, margin
 * ratio and on-net share per option, withholds those below the target ratio, and ranks the
 * rest by weighted utility. Throws `PricingError` `QB_PRICING_BELOW_TARGET` if nothing meets
 * the target (naming the best ratio available).
 */
export function applyBusinessObjectives(graph: TopologyGraph, options: readonly PricedOption[], usage: Usage, objectives: BusinessObjectives): BusinessDecision {
  checkObjectives(graph, objectives);
  if (options.length === 0) throw new InvalidArgumentError('no options to evaluate');
  const own = new Set(objectives.ownDomains);
  const markup = objectives.resaleMarkup ?? 0;
  const evaluated: EvaluatedOption[] = options.map((o) => {
    let ownRevenue = 0;
    let wholesale = 0;
    let ownCost = 0;
    for (const s of o.price.segments) {
      if (own.has(s.domain)) {
        ownRevenue += s.charge;
        ownCost += (objectives.ownCostPerMbpsHour?.[s.domain]?.[usage.qosClass] ?? 0) * usage.rateMbps * usage.durationHours;
      } else {
        wholesale += s.charge;
      }
    }
    const customerPrice = ownRevenue + wholesale * (1 + markup);
    const margin = customerPrice - wholesale - ownCost;
    // A hop is on-net if the provider sells it: transits in its domains and links entering them.
    const hops = o.path.hops;
    const onNet = hops.filter((h) => own.has(h.to.slice(0, h.to.indexOf('/')))).length;
    return {
      ...o,
      customerPrice,
      wholesaleCost: wholesale,
      ownCost,
      margin,
      marginRatio: customerPrice > 0 ? margin / customerPrice : 0,
      onNetShare: hops.length > 0 ? onNet / hops.length : 1,
      utility: 0,
    };
  });
  const target = objectives.targetMarginRatio;
  const offered = evaluated.filter((e) => target === undefined || e.marginRatio >= target - 1e-12);
  const withheld = evaluated.filter((e) => !offered.includes(e));
  if (offered.length === 0) {
    const best = Math.max(...evaluated.map((e) => e.marginRatio));
    throw new PricingError(
      'QB_PRICING_BELOW_TARGET',
      `no option meets the target margin ratio ${target}: the best is ${best.toFixed(3)}; lower targetMarginRatio, raise resaleMarkup or renegotiate contracts`,
    );
  }
  const { margin: wm, volume: wv, price: wp = 0 } = objectives.weights;
  const maxMargin = Math.max(...offered.map((e) => e.margin));
  const minPrice = Math.min(...offered.map((e) => e.customerPrice));
  for (const e of offered) {
    const m = maxMargin > 0 ? e.margin / maxMargin : 0;
    const p = e.customerPrice > 0 ? minPrice / e.customerPrice : 1;
    e.utility = wm * m + wv * e.onNetShare + wp * p;
  }
  offered.sort((a, b) => b.utility - a.utility || a.customerPrice - b.customerPrice);
  return { offered, withheld, preferred: offered[0]! };
}

/** Options for a request as the provider would quote them. */
export interface Quote extends BusinessDecision {
  request: QuoteRequest;
  currency: string;
}

/** Pricing scenarios for the request, filtered and ranked by the provider's business objectives. */
export function quote(graph: TopologyGraph, req: QuoteRequest, terms: PricingTerms, objectives: BusinessObjectives, scenarios: readonly Scenario[] = SCENARIOS): Quote {
  const options = priceScenarios(graph, req, terms, scenarios);
  const decision = applyBusinessObjectives(graph, options, { qosClass: req.qosClass, rateMbps: req.rateMbps, durationHours: req.durationHours }, objectives);
  return { request: req, currency: options[0]!.price.currency, ...decision };
}
