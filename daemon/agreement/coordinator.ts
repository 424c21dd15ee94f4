/**
 * The originating broker's side of an agreement (seed 000's service broker
 * function): compute feasible paths over the advertised graph, then for the
 * best alternative Quote and Reserve its segment at every domain on it (one
 * call each: the price, and holds with a TTL: two-phase prepare), Commit
 * (each domain books and signs its part), and assemble the electronic
 * contract. A domain that cannot quote or hold its segment makes the
 * coordinator abort every hold and try the next alternative; a failure after
 * that aborts every domain. Holds left by a coordinator that disappears
 * expire on their own in each domain's store.
 */
import { randomUUID } from 'node:crypto';
import { InvalidArgumentError } from '../../drivers/errors.js';
import { AgreementError, AgreementFailedError, AgreementTimeoutError, ExchangeError } from '../errors.js';
import type { TopologyGraph } from '../topology/graph.js';
import { computePaths } from '../topology/paths/index.js';
import type { ComputedPath, Endpoint, PathObjective } from '../topology/types.js';
import { AGREEMENT_DEFAULTS } from './defaults.js';
import { assembleContract, sealContractBody, verifyContract, type ContractReference, type ContractTerms, type SignedContract } from './contract.js';
import { segmentOrders, type AgreementParticipant, type SegmentQuote } from './participant.js';
import { pathDomains } from './chain.js';

export { AgreementFailedError } from '../errors.js';

/** A customer's order for an end-to-end service. */
export interface ServiceRequest {
  /** Idempotency key; generated when not given. */
  agreementId?: string;
  customer: string;
  from: Endpoint;
  to: Endpoint;
  qosClass: string;
  rateMbps: number;
  maxLatencyMs?: number;
  maxJitterMs?: number;
  /** Fraction in [0, 1). */
  maxLoss?: number;
  objective?: PathObjective;
  /** Alternatives to try, best first. @default 3 */
  k?: number;
  includeDomains?: string[];
  excludeDomains?: string[];
  /** Service window, ms since the epoch. */
  start: number;
  end: number;
  /** For an amendment (a boost): the contract it amends, written into the new contract's body. */
  amends?: ContractReference;
  /** Hand the order to this exchange (a peer with `exchange: true`), which brokers the agreement. */
  viaExchange?: string;
  /** The provider the order is agreed for when an exchange coordinates it. @default the coordinator's domain */
  originator?: string;
}

export interface CoordinatorOptions {
  /** How long holds live before Commit must come, ms. @default 30000 */
  holdTtlMs?: number;
  /** The agreement of a request with `viaExchange`, brokered by that exchange (daemon/exchange). */
  viaExchange?: (req: ServiceRequest & { agreementId: string }) => Promise<Agreement>;
  /**
   * This coordinator is an exchange: it joins the contract as a party of role
   * `broker` with this key and signs it (`sign`, through contract.ts) once
   * every provider has.
   */
  broker?: { publicKey: string; sign(contract: SignedContract): SignedContract };
}

/** The outcome of a successful agreement. */
export interface Agreement {
  contract: SignedContract;
  path: ComputedPath;
  quotes: SegmentQuote[];
  /** Alternatives refused before this one, with the reason. */
  refused: Array<{ domains: string[]; reason: string }>;
}

/** Wait for every promise; then resolve with all values or reject with the first failure. */
async function settledAll<T>(ps: Promise<T>[]): Promise<T[]> {
  const rs = await Promise.allSettled(ps);
  const bad = rs.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (bad) throw bad.reason;
  return rs.map((r) => (r as PromiseFulfilledResult<T>).value);
}

/** Reject with QB_AGREEMENT_TIMEOUT if `p` has not settled within ms. */
function deadline<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<T>((_, reject) => {
      t = setTimeout(() => reject(new AgreementTimeoutError(`${what} did not answer within ${ms} ms (the hold TTL)`)), ms);
    }),
  ]).finally(() => clearTimeout(t));
}

export class AgreementCoordinator {
  private readonly holdTtlMs: number;
  private readonly options: CoordinatorOptions;

  constructor(
    /** Domain of this broker (the originator). */
    readonly domain: string,
    private readonly graph: () => TopologyGraph,
    /**
     * The participant for a domain: local for our own, remote for the others (directly, or chained
     * through the neighbours on `path`, the agreement's domains in order); undefined when we have no
     * agreement with it.
     */
    private readonly participant: (domain: string, path?: string[]) => AgreementParticipant | undefined,
    options: CoordinatorOptions = {},
  ) {
    this.holdTtlMs = options.holdTtlMs ?? AGREEMENT_DEFAULTS.holdTtlMs;
    this.options = options;
  }

  /**
   * Run the whole agreement for a request. Throws PathInfeasibleError (no
   * path meets the bounds) or AgreementFailedError. `phase` is awaited before
   * each alternative's holds are asked for and before its Commit goes out, so
   * a caller can record the phase first (a durable workflow).
   */
  async agree(req: ServiceRequest, phase?: (p: 'reserving' | 'committing', domains: string[]) => Promise<void>): Promise<Agreement> {
    const agreementId = req.agreementId ?? `agr-${randomUUID()}`;
    if (!(req.end > req.start)) throw new InvalidArgumentError(`the service window must end after it starts (start ${req.start}, end ${req.end})`);
    if (req.viaExchange !== undefined) {
      if (!this.options.viaExchange) throw new ExchangeError('QB_EXCHANGE_UNKNOWN', `${this.domain} cannot hand orders to exchange ${req.viaExchange}: no exchange is configured`);
      return this.options.viaExchange({ ...req, agreementId });
    }
    const result = computePaths(this.graph(), {
      from: req.from,
      to: req.to,
      qosClass: req.qosClass,
      rateMbps: req.rateMbps,
      maxLatencyMs: req.maxLatencyMs,
      maxJitterMs: req.maxJitterMs,
      maxLoss: req.maxLoss,
      objective: req.objective,
      k: req.k ?? 3,
      includeDomains: req.includeDomains,
      excludeDomains: req.excludeDomains,
    });
    const refused: Agreement['refused'] = [];
    for (const [alternative, path] of result.paths.entries()) {
      const orders = segmentOrders(path, { agreementId, alternative, qosClass: req.qosClass, rateMbps: req.rateMbps, start: req.start, end: req.end });
      const domains = pathDomains(path.domains);
      const parts = orders.map((o) => this.participant(o.domain, domains));
      const missing = orders.find((_, i) => !parts[i]);
      if (missing) {
        refused.push({ domains: path.domains, reason: `no agreement with domain ${missing.domain}` });
        continue;
      }
      const involved = [...new Set(parts)] as AgreementParticipant[];
      const ttl = this.holdTtlMs;
      try {
        await phase?.('reserving', involved.map((p) => p.domain));
        // Quote and Reserve in one call per segment (one round trip, one message each way): each
        // domain prices its segment and holds it only if that succeeded. If a quote does not
        // suit (below), the holds are aborted like on any other failure.
        const quotes = await settledAll(orders.map((o, i) => deadline(parts[i]!.prepare(o, ttl), ttl, `quote and reserve at ${o.domain}`)));
        const currency = quotes[0]!.currency;
        const odd = quotes.find((q) => q.currency !== currency);
        if (odd) throw new AgreementError('QB_AGREEMENT_CURRENCY_MISMATCH', `${odd.domain} quotes in ${odd.currency}, ${quotes[0]!.domain} in ${currency}`);
        // final from here on: sealed, its field digests and payload are computed once for every signature and check
        const body = sealContractBody(this.contractBody(agreementId, req, path, quotes, involved));
        await phase?.('committing', involved.map((p) => p.domain));
        const signatures = await settledAll(involved.map((p) => deadline(p.commit(agreementId, body), ttl, `commit at ${p.domain}`)));
        let contract = assembleContract(body, signatures);
        // an exchange signs what it brokered, after every provider did
        if (this.options.broker) contract = this.options.broker.sign(contract);
        // every remote signature must verify over this payload; ours was made in this process by our own participant
        verifyContract(contract, undefined, this.domain);
        return { contract, path, quotes, refused };
      } catch (err) {
        // every call has settled (or timed out) here: abort on every domain, releasing what a late commit booked
        const aborts = await Promise.allSettled(involved.map((p) => p.abort(agreementId)));
        const stuck = aborts.flatMap((a) => (a.status === 'rejected' ? [(a.reason as Error).message] : []));
        refused.push({ domains: path.domains, reason: (err instanceof Error ? err.message : String(err)) + (stuck.length ? `; abort failed: ${stuck.join('; ')}` : '') });
      }
    }
    throw new AgreementFailedError(agreementId, refused);
  }

  private contractBody(agreementId: string, req: ServiceRequest, path: ComputedPath, quotes: SegmentQuote[], parties: AgreementParticipant[]): ContractTerms {
    const ep = (e: Endpoint) => `${e.domain}/${e.site ?? e.border}`;
    const round = (x: number) => Math.round(x * 1000) / 1000;
    const segments = path.segments.map((seg, i) => {
      const latency = seg.hops.reduce((s, h) => s + h.metrics.latencyMs, 0);
      const jitter = seg.hops.reduce((s, h) => s + h.metrics.jitterMs, 0);
      const keep = seg.hops.reduce((s, h) => s * (1 - h.metrics.loss), 1);
      return { domain: seg.domain, ingress: seg.ingress, egress: seg.egress, latencyMs: round(latency), jitterMs: round(jitter), lossPct: round((1 - keep) * 100), priceMinor: quotes[i]!.priceMinor };
    });
    const service: ContractTerms['service'] = { from: ep(req.from), to: ep(req.to), qosClass: req.qosClass, rateMbps: req.rateMbps };
    if (req.maxLatencyMs !== undefined) service.maxLatencyMs = req.maxLatencyMs;
    if (req.maxJitterMs !== undefined) service.maxJitterMs = req.maxJitterMs;
    if (req.maxLoss !== undefined) service.maxLossPct = req.maxLoss * 100;
    // the sites' addresses as their domains advertise them: what every domain on the path classifies by
    const prefixes = (e: Endpoint) => (e.site === undefined ? undefined : this.graph().advertisements.get(e.domain)?.sites?.find((s) => s.id === e.site)?.prefixes);
    const fromPrefixes = prefixes(req.from);
    const toPrefixes = prefixes(req.to);
    if (fromPrefixes?.length) service.fromPrefixes = [...fromPrefixes];
    if (toPrefixes?.length) service.toPrefixes = [...toPrefixes];
    const terms: ContractTerms = {
      version: 2,
      agreementId,
      originator: { domain: req.originator ?? this.domain, customer: req.customer },
      service,
      window: { start: new Date(req.start).toISOString(), end: new Date(req.end).toISOString() },
      parties: [...parties.map((p) => ({ domain: p.domain, publicKey: p.publicKey, role: 'provider' as const })), ...(this.options.broker ? [{ domain: this.domain, publicKey: this.options.broker.publicKey, role: 'broker' as const }] : [])],
      segments,
      currency: quotes[0]!.currency,
      totalPriceMinor: segments.reduce((s, x) => s + x.priceMinor, 0),
      issuedAt: new Date().toISOString(),
    };
    if (req.amends) terms.amends = { agreementId: req.amends.agreementId, payloadDigest: req.amends.payloadDigest };
    return terms;
  }
}
