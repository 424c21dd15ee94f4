/**
 * Before ordering: can a service be had (TMF645 service qualification) and
 * what would it cost (TMF648 quotes), for a new service or for a rate change
 * of an existing one (the boost's price before confirming it).
 *
 * Both run the path computation and the pricing scenarios over the
 * advertised graph (agreement/pricing.ts: cheapest, fastest, balanced, each
 * priced in real time from the advertised prices and utilisation), as the
 * order's agreement does; nothing is held. The agreement's Quote step asks
 * every provider again when the order comes, so the price agreed may differ
 * if the network changed meanwhile. Each answer is a record (kinds
 * `quote`, `qualification`, in the customer's index) so it can be read back.
 */
import { randomUUID } from 'node:crypto';
import { InvalidArgumentError, QosBrokerError } from '../../drivers/errors.js';
import { OrderError, PathInfeasibleError, httpStatusOf } from '../errors.js';
import type { ServiceRequest } from '../agreement/coordinator.js';
import { priceScenarios, type PricedOption, type PricingTerms } from '../agreement/pricing.js';
import type { RecordStore } from '../state/records.js';
import type { TopologyGraph } from '../topology/graph.js';
import type { OrderRecord } from './orders.js';

/** One priced path. `total` and `charge` in the currency's major unit. */
export interface PricedPath {
  /** Scenarios that chose this path (cheapest, fastest, balanced); empty for another candidate. */
  scenarios: string[];
  domains: string[];
  latencyMs: number;
  jitterMs: number;
  loss: number;
  currency: string;
  total: number;
  segments: Array<{ domain: string; unitPerMbpsHour: number; charge: number }>;
}

/** What was asked, in the order's terms. */
export interface AskedService {
  from: string;
  to: string;
  qosClass: string;
  rateMbps: number;
  maxLatencyMs?: number;
  start: number;
  end: number;
}

/** A change of an existing service that was priced. */
export interface AskedChange {
  orderId: string;
  serviceId: string;
  /** The rate asked for. */
  rateMbps: number;
  /** What is priced: the rate above the ordered one. */
  extraMbps: number;
  durationMs: number;
}

export interface QuoteRecord {
  id: string;
  customer: string;
  createdAt: string;
  request: AskedService;
  modify?: AskedChange;
  /** approved: priced (options); rejected: cannot be had (error). */
  state: 'approved' | 'rejected';
  options: PricedPath[];
  error?: { code: string; message: string };
}

export interface QualificationRecord {
  id: string;
  customer: string;
  createdAt: string;
  request: AskedService;
  /** Whether alternatives were asked for. */
  provideAlternative: boolean;
  /** qualified: as asked; alternate: not as asked, but alternatives can be had; unqualified: neither. */
  result: 'qualified' | 'unqualified' | 'alternate';
  /** The paths that meet the request (qualified). */
  options: PricedPath[];
  /** What can be had instead, each with what was relaxed (provideAlternative). */
  alternatives: Array<{ relaxed: string; request: AskedService; options: PricedPath[] }>;
  reason?: { code: string; message: string };
}

const endpoint = (e: { domain: string; site?: string; border?: string }) => `${e.domain}/${e.site ?? e.border}`;
const round = (x: number) => Math.round(x * 1e6) / 1e6;

function asked(r: Omit<ServiceRequest, 'customer'>): AskedService {
  return { from: endpoint(r.from), to: endpoint(r.to), qosClass: r.qosClass, rateMbps: r.rateMbps, ...(r.maxLatencyMs !== undefined ? { maxLatencyMs: r.maxLatencyMs } : {}), start: r.start, end: r.end };
}

function pathOf(o: PricedOption): PricedPath {
  return {
    scenarios: [...o.scenarios],
    domains: o.path.domains.filter((d, i, all) => all.indexOf(d) === i),
    latencyMs: round(o.path.metrics.latencyMs),
    jitterMs: round(o.path.metrics.jitterMs),
    loss: o.path.metrics.loss,
    currency: o.price.currency,
    total: round(o.price.total),
    segments: o.price.segments.map((s) => ({ domain: s.domain, unitPerMbpsHour: round(s.unitPerMbpsHour), charge: round(s.charge) })),
  };
}

/** A refusal the caller should see as the answer (4xx), not as a failure of the daemon. */
function refusal(err: unknown): { code: string; message: string } {
  if (err instanceof QosBrokerError && httpStatusOf(err) < 500) return { code: err.code, message: err.message };
  throw err;
}

export class QuoteDesk {
  constructor(
    private readonly opts: {
      records: RecordStore;
      /** The advertised graph now. */
      graph: () => TopologyGraph;
      terms?: PricingTerms;
      now?: () => number;
    },
  ) {}

  private price(r: Omit<ServiceRequest, 'customer'>, includeDomains?: string[]): PricedPath[] {
    const options = priceScenarios(this.opts.graph(), { from: r.from, to: r.to, qosClass: r.qosClass, rateMbps: r.rateMbps, maxLatencyMs: r.maxLatencyMs, ...(includeDomains ? { includeDomains } : {}), k: r.k ?? 3, durationHours: (r.end - r.start) / 3_600_000 }, this.opts.terms);
    return options.map(pathOf);
  }

  /** Price a new service: the scenarios' paths, or rejected with the reason. */
  async quote(req: ServiceRequest): Promise<QuoteRecord> {
    const q: QuoteRecord = { id: `quo-${randomUUID()}`, customer: req.customer, createdAt: new Date(this.now()).toISOString(), request: asked(req), state: 'approved', options: [] };
    try {
      q.options = this.price(req);
    } catch (err) {
      q.state = 'rejected';
      q.error = refusal(err);
    }
    return this.store(q);
  }

  /**
   * Price a rate change of `o`'s service for a while (the boost): the extra
   * rate over the service's own path, from now for the duration (cut at the
   * service's end), as the workflow's modifyOrder would agree it.
   */
  async quoteModify(o: OrderRecord, change: { rateMbps: number; durationMs: number }): Promise<QuoteRecord> {
    const now = this.now();
    const until = Math.min(now + change.durationMs, o.request.end);
    const q: QuoteRecord = {
      id: `quo-${randomUUID()}`,
      customer: o.customer,
      createdAt: new Date(now).toISOString(),
      request: asked({ ...o.request, rateMbps: change.rateMbps, start: now, end: until }),
      modify: { orderId: o.id, serviceId: o.service.id, rateMbps: change.rateMbps, extraMbps: change.rateMbps - o.request.rateMbps, durationMs: until - now },
      state: 'approved',
      options: [],
    };
    try {
      if (o.state !== 'completed' || o.service.state !== 'active') throw new OrderError('QB_ORDER_NOT_ACTIVE', `order ${o.id} is ${o.state} and its service ${o.service.state}: only an active service can be modified`);
      if (!(change.rateMbps > o.request.rateMbps)) throw new InvalidArgumentError(`rateMbps must be above the ordered ${o.request.rateMbps} Mbit/s (a boost), got ${change.rateMbps}`);
      if (!(until > now)) throw new OrderError('QB_ORDER_NOT_ACTIVE', `the service ends at ${new Date(o.request.end).toISOString()}: nothing left to change`);
      const same = this.price({ ...o.request, rateMbps: change.rateMbps - o.request.rateMbps, start: now, end: until, k: 1 }, o.domains).filter((p) => p.domains.join(',') === o.domains.join(','));
      if (!same.length) throw new OrderError('QB_ORDER_MODIFY_REFUSED', `the extra ${change.rateMbps - o.request.rateMbps} Mbit/s cannot be had over the service's path ${o.domains.join(' > ')}`);
      q.options = [{ ...same[0]!, scenarios: ['modify'] }];
    } catch (err) {
      q.state = 'rejected';
      q.error = refusal(err);
    }
    return this.store(q);
  }

  /**
   * Can the service be had as asked? If not and `alternatives`, what can:
   * the same without its latency bound.
   */
  async qualify(req: ServiceRequest, alternatives: boolean): Promise<QualificationRecord> {
    const c: QualificationRecord = { id: `chq-${randomUUID()}`, customer: req.customer, createdAt: new Date(this.now()).toISOString(), request: asked(req), result: 'qualified', provideAlternative: alternatives, options: [], alternatives: [] };
    try {
      c.options = this.price(req);
    } catch (err) {
      c.reason = refusal(err);
      c.result = 'unqualified';
      if (alternatives && req.maxLatencyMs !== undefined && err instanceof PathInfeasibleError) {
        const { maxLatencyMs: _l, ...relaxed } = req;
        try {
          const options = this.price(relaxed);
          c.alternatives.push({ relaxed: `maxLatencyMs (the best path has ${Math.min(...options.map((o) => o.latencyMs))} ms)`, request: asked(relaxed), options });
          c.result = 'alternate';
        } catch (e2) {
          refusal(e2);
        }
      }
    }
    await this.opts.records.put('qualification', c.id, 0, c, { score: Date.parse(c.createdAt), customer: c.customer, event: { type: 'qualification-checked', customer: c.customer, result: c.result } });
    return c;
  }

  async getQuote(id: string): Promise<QuoteRecord | undefined> {
    return (await this.opts.records.get<QuoteRecord>('quote', id))?.doc;
  }

  async getQualification(id: string): Promise<QualificationRecord | undefined> {
    return (await this.opts.records.get<QualificationRecord>('qualification', id))?.doc;
  }

  async pageQuotes(q: { customer?: string; offset: number; limit: number; state?: string }): Promise<{ items: QuoteRecord[]; total: number }> {
    const st = q.state;
    const r = await this.opts.records.page<QuoteRecord>(['quote'], { ...q, where: st === undefined ? undefined : (_k, x) => x.state === st });
    return { items: r.items.map((x) => x.doc), total: r.total };
  }

  async pageQualifications(q: { customer?: string; offset: number; limit: number }): Promise<{ items: QualificationRecord[]; total: number }> {
    const r = await this.opts.records.page<QualificationRecord>(['qualification'], q);
    return { items: r.items.map((x) => x.doc), total: r.total };
  }

  private async store(q: QuoteRecord): Promise<QuoteRecord> {
    await this.opts.records.put('quote', q.id, 0, q, { score: Date.parse(q.createdAt), customer: q.customer, event: { type: 'quote-priced', customer: q.customer, state: q.state } });
    return q;
  }

  private now(): number {
    return (this.opts.now ?? Date.now)();
  }
}
