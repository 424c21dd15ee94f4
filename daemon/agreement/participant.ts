/**
 * One provider's side of an agreement (seed 000's bandwidth broker): it
 * quotes its segment of a path, holds the resources (two-phase prepare),
 * commits them by signing its part of the contract, or aborts.
 *
 * `AgreementParticipant` is the contract between the coordinator and a
 * domain: the local domain implements it directly on its ResourceStore
 * (`LocalParticipant`); other domains are reached through the same
 * interface over gRPC.
 */
import type { KeyObject } from 'node:crypto';
import { QosBrokerError } from '../../drivers/errors.js';
import { AgreementError, SegmentRejectedError } from '../errors.js';
import type { HoldOrder, Reservation, ResourceStore } from '../state/store.js';
import type { TopologyGraph } from '../topology/graph.js';
import type { ComputedPath, PathHop } from '../topology/types.js';
import { rawPublicKey, toPrivateKey, type KeyInput } from '../crypto/keys.js';
import { signContractBody, type ContractBody, type ContractSignature } from './contract.js';
import { pricePath, type PricingTerms } from './pricing.js';

/** What a domain is asked to carry: its segment of a computed path. */
export interface SegmentOrder {
  agreementId: string;
  /** Which alternative path of the agreement this is (0 = best); a refused alternative's holds are aborted and its ids never reused. */
  alternative: number;
  /** Index of the segment on the path (a path may re-enter a domain). */
  index: number;
  domain: string;
  ingress: string;
  egress: string;
  /** Edges the domain holds for this segment: its transits and the link leaving it (what it advertises). */
  hops: PathHop[];
  qosClass: string;
  rateMbps: number;
  /** ms since the epoch. */
  start: number;
  end: number;
}

/** A held segment's order as the store keeps it with the hold (the hops are in the booking). */
type HeldOrder = HoldOrder;

/** A segment held for an agreement, as read from the store (or cached from the reserve that made it). */
interface HeldSegment {
  /** Store reservation id. */
  id: string;
  order: HeldOrder;
  /** Who reserved it (the caller's domain). */
  owner: string;
  quote?: SegmentQuote;
  /** The reservation books links (false: a party with no edge of its own, a record only). */
  stored: boolean;
}

/** The order without its hops, as stored with the hold. */
function heldOrder(order: SegmentOrder): HeldOrder {
  const { agreementId, alternative, index, ingress, egress, qosClass, rateMbps, start, end } = order;
  return { agreementId, alternative, index, ingress, egress, qosClass, rateMbps, start, end };
}

/** Key of a bare Quote's quote: `agreementId:alternative:index`. */
function quoteKey(o: HeldOrder): string {
  return `${o.agreementId}:${o.alternative}:${o.index}`;
}

/** Segments in path order (the order of the contract body's segments). */
function byPosition(a: HeldSegment, b: HeldSegment): number {
  return a.order.alternative - b.order.alternative || a.order.index - b.order.index;
}

export interface SegmentQuote {
  domain: string;
  index: number;
  /** Price in minor units (cents) of `currency`. */
  priceMinor: number;
  currency: string;
  /** The quote is honoured until then (ms since the epoch). */
  validUntil: number;
}

export { SegmentRejectedError } from '../errors.js';

export interface AgreementParticipant {
  readonly domain: string;
  /** Ed25519 public key (raw, base64) the domain signs contracts with. */
  readonly publicKey: string;
  quote(order: SegmentOrder): Promise<SegmentQuote>;
  /** Hold the segment's resources for holdTtlMs; idempotent by agreement id, alternative and segment index. */
  reserve(order: SegmentOrder, holdTtlMs: number): Promise<void>;
  /** Quote, then hold if the quote succeeded: the two steps in one call (one round trip to a remote domain). */
  prepare(order: SegmentOrder, holdTtlMs: number): Promise<SegmentQuote>;
  /** Book the held resources and return this domain's signature of the contract body. */
  commit(agreementId: string, body: ContractBody): Promise<ContractSignature>;
  /** Drop every hold (or booking) of the agreement. Idempotent. */
  abort(agreementId: string): Promise<void>;
}

/** Store link id of a directed edge: `domain/border:domain/border`. */
export function edgeId(hop: Pick<PathHop, 'from' | 'to'>): string {
  return `${hop.from}:${hop.to}`;
}

/**
 * Each domain's order on a path: it holds what it advertises, its transits
 * and its egress link to the next domain (the capacity of a link lives in the
 * store of the domain that advertises it).
 */
export function segmentOrders(path: ComputedPath, base: Omit<SegmentOrder, 'index' | 'domain' | 'ingress' | 'egress' | 'hops'>): SegmentOrder[] {
  return path.segments.map((seg, i) => ({ ...base, index: i, domain: seg.domain, ingress: seg.ingress, egress: seg.egress, hops: seg.hops }));
}

/** Maps a path edge to the link id of the domain's resource store. */
export type LinkIdOf = (hop: Pick<PathHop, 'from' | 'to'>) => string;

/**
 * A domain's participant on its own ResourceStore and signing key.
 *
 * What a hold is (its owner, its order, the quote it was given) is stored
 * with the booking in the store, in the same atomic step, and read back at
 * Commit and Abort: they work after a restart and on any replica of the
 * domain on the same store. In memory are only caches (the segments this
 * instance reserved, checked against the store at Commit) and the quotes of a
 * bare Quote that no hold has taken yet.
 */
export class LocalParticipant implements AgreementParticipant {
  readonly domain: string;
  readonly publicKey: string;
  /** Cache, per agreement, of the segments held here (the store has them all, on any replica). */
  private readonly held = new Map<string, HeldSegment[]>();
  /** Quotes of a bare Quote, by `agreementId:alternative:index`, until a Reserve stores one with its hold (or it expires). */
  private readonly quotes = new Map<string, SegmentQuote>();

  /** The signing key, parsed once. */
  private readonly signingKey: KeyObject;

  constructor(
    private readonly store: ResourceStore,
    signingKey: KeyInput,
    private readonly graph: () => TopologyGraph,
    private readonly terms: PricingTerms = {},
    /** How long a quote is honoured, ms. @default 60000 */
    private readonly quoteValidityMs = 60_000,
    /** Store link id of an edge. @default edgeId (the daemon maps edges to its inventory's link ids) */
    private readonly linkId: LinkIdOf = edgeId,
    /**
     * How long the store keeps a committed agreement's index, ms: within it a
     * retried Commit or the owner's Abort finds the agreement (its bookings
     * stay until their window is over). @default 60000
     */
    private readonly retainCommittedMs = 60_000,
  ) {
    this.domain = store.domain;
    this.signingKey = toPrivateKey(signingKey);
    this.publicKey = rawPublicKey(this.signingKey);
  }

  async quote(order: SegmentOrder): Promise<SegmentQuote> {
    const quote = this.price(order);
    // quotes that were never reserved are forgotten once they are no longer valid
    const now = Date.now();
    if (this.quotes.size > 1024) for (const [k, q] of this.quotes) if (q.validUntil < now) this.quotes.delete(k);
    this.quotes.set(`${order.agreementId}:${order.alternative}:${order.index}`, quote);
    return quote;
  }

  /** The quote of a segment, remembered nowhere. */
  private price(order: SegmentOrder): SegmentQuote {
    this.check(order);
    // Price the segment alone as a one-segment path: same schedule, congestion and terms as the whole path.
    const path: ComputedPath = {
      nodes: [],
      hops: order.hops,
      segments: [{ domain: order.domain, ingress: order.ingress, egress: order.egress, hops: order.hops.filter((h) => h.kind === 'transit') }],
      domains: [order.domain],
      metrics: { pricePerMbpsHour: 0, latencyMs: 0, jitterMs: 0, loss: 0, bottleneckMbps: 0 },
      score: 0,
    };
    const price = pricePath(this.graph(), path, { qosClass: order.qosClass, rateMbps: order.rateMbps, durationHours: (order.end - order.start) / 3_600_000 }, this.terms);
    return { domain: this.domain, index: order.index, priceMinor: Math.round(price.total * 100), currency: price.currency, validUntil: Date.now() + this.quoteValidityMs };
  }

  /**
   * Hold the segment for `owner` (default: this domain), storing the owner,
   * the order and the quote (`quote`, else one a bare Quote gave) with the
   * booking. A segment with no edge here is stored as a record that books
   * nothing, under the id `<agreement>:<alternative>:<index>:party`: this
   * domain is still a party.
   */
  async reserve(order: SegmentOrder, holdTtlMs: number, owner = this.domain, quote?: SegmentQuote): Promise<void> {
    this.check(order);
    const key = `${order.agreementId}:${order.alternative}:${order.index}`;
    quote ??= this.quotes.get(key);
    const links = [...new Set(order.hops.map(this.linkId))];
    // a party with nothing to hold keeps a record that books nothing, apart from the ids of bookings
    const id = links.length > 0 ? key : `${key}:party`;
    const held: HeldSegment = { id, order: heldOrder(order), owner, stored: links.length > 0, ...(quote ? { quote } : {}) };
    let r;
    try {
      r = await this.store.reserve({
        id,
        links,
        cls: order.qosClass,
        rateBps: Math.round(order.rateMbps * 1e6),
        start: order.start,
        end: order.end,
        holdTtlMs,
        meta: { owner, order: held.order, ...(quote ? { quote: { priceMinor: quote.priceMinor, currency: quote.currency, validUntil: quote.validUntil } } : {}) },
      });
    } catch (err) {
      if ((err as QosBrokerError).code === 'QB_STATE_OWNER_CONFLICT') throw this.notOwner(order.agreementId, owner, (err as Error).message);
      throw err;
    }
    if (!r.admitted) {
      const s = r.shortfalls[0]!;
      throw new SegmentRejectedError(
        this.domain,
        `${this.domain} cannot hold ${order.rateMbps} Mbit/s of ${order.qosClass} on ${s.link}: ` +
          `${(s.shortfallBps / 1e6).toFixed(3)} Mbit/s short in the slot starting ${new Date(s.slotStart).toISOString()}`,
      );
    }
    if (quote) this.quotes.delete(key);
    this.remember(held, r.reservation.state === 'held');
  }

  async prepare(order: SegmentOrder, holdTtlMs: number, owner = this.domain): Promise<SegmentQuote> {
    // the quote goes into the store with the hold, nowhere else
    const quote = this.price(order);
    await this.reserve(order, holdTtlMs, owner, quote);
    return quote;
  }

  /** Cache a segment this instance reserved; a retried reserve of a live hold brings its new quote (as in the store). */
  private remember(h: HeldSegment, live: boolean): void {
    const list = this.held.get(h.order.agreementId) ?? [];
    const k = list.findIndex((x) => x.id === h.id);
    if (k < 0) list.push(h);
    else if (live && h.quote) list[k] = h;
    list.sort(byPosition);
    this.held.set(h.order.agreementId, list);
  }

  /** The agreement's segments as the store has them: the live ones, and how many ids its index holds. */
  private async load(agreementId: string): Promise<{ live: HeldSegment[]; size: number }> {
    const rs = await this.store.agreement(agreementId);
    const live = rs.filter((r) => (r.state === 'held' || r.state === 'committed') && r.meta).map((r) => this.segmentOf(r));
    return { live: live.sort(byPosition), size: rs.length };
  }

  private segmentOf(r: Reservation): HeldSegment {
    const m = r.meta!;
    return { id: r.id, order: m.order, owner: m.owner, stored: r.links.length > 0, ...(m.quote ? { quote: { domain: this.domain, index: m.order.index, ...m.quote } } : {}) };
  }

  /** Who reserved the agreement (from the cache, else the store); undefined if nobody holds it. */
  async ownerOf(agreementId: string): Promise<string | undefined> {
    const cached = this.held.get(agreementId);
    if (cached?.length) return cached[0]!.owner;
    return (await this.store.agreement(agreementId)).find((r) => r.meta)?.meta!.owner;
  }

  private notOwner(agreementId: string, caller: string, why: string): QosBrokerError {
    return new AgreementError('QB_AGREEMENT_NOT_OWNER', `agreement ${agreementId} at ${this.domain}: ${caller} may not act on it (${why})`);
  }

  private checkOwner(agreementId: string, list: HeldSegment[], caller: string | undefined): void {
    const owner = list[0]?.owner;
    if (caller !== undefined && owner !== undefined && owner !== caller) {
      throw new AgreementError('QB_AGREEMENT_NOT_OWNER', `agreement ${agreementId} at ${this.domain} was reserved by ${owner}; ${caller} may not act on it`);
    }
  }

  /**
   * Book the agreement's held segments and sign the body, if it says what
   * this domain quoted and holds. Reads the store unless this instance
   * reserved the agreement itself; a cached view that the store contradicts
   * is read again. With `caller`, only the owner may commit.
   */
  async commit(agreementId: string, body: ContractBody, caller?: string): Promise<ContractSignature> {
    const cached = this.held.get(agreementId);
    let view = cached?.length ? { live: cached, size: cached.length, cached: true } : { ...(await this.load(agreementId)), cached: false };
    for (let attempt = 0; ; attempt++) {
      const list = view.live;
      if (list.length === 0) throw new AgreementError('QB_AGREEMENT_NOTHING_HELD', `${this.domain} holds nothing for agreement ${agreementId}: reserve first`);
      this.checkOwner(agreementId, list, caller);
      // a bare Quote may have come after its Reserve
      for (const h of list) {
        if (h.quote) continue;
        const q = this.quotes.get(quoteKey(h.order));
        if (q) h.quote = q;
      }
      try {
        this.checkBody(agreementId, body, list);
        for (const h of list) await this.store.commit(h.id, { expectAgreementSize: view.size, agreementTtlMs: this.retainCommittedMs });
      } catch (err) {
        const code = (err as QosBrokerError).code;
        // the cache is behind the store (another replica changed the agreement): read it again, once
        if (attempt === 0 && (code === 'QB_STATE_AGREEMENT_CHANGED' || (view.cached && (code === 'QB_AGREEMENT_BODY_MISMATCH' || code === 'QB_STATE_RESERVATION_CLOSED')))) {
          view = { ...(await this.load(agreementId)), cached: false };
          continue;
        }
        throw err;
      }
      for (const h of list) this.quotes.delete(quoteKey(h.order));
      this.held.set(agreementId, list);
      return signContractBody(body, this.domain, this.signingKey);
    }
  }

  /** The body must say what this domain quoted and holds: a provider signs nothing else. */
  private checkBody(agreementId: string, body: ContractBody, list: HeldSegment[]): void {
    const mismatch = (field: string, want: unknown, got: unknown): never => {
      throw new AgreementError('QB_AGREEMENT_BODY_MISMATCH', `${this.domain} will not sign agreement ${agreementId}: ${field} is ${JSON.stringify(got)}, but it agreed to ${JSON.stringify(want)}`);
    };
    if (body.agreementId !== agreementId) mismatch('agreementId', agreementId, body.agreementId);
    const party = body.parties.find((p) => p.domain === this.domain);
    if (party?.publicKey !== this.publicKey) mismatch(`the key of party ${this.domain}`, this.publicKey, party?.publicKey);
    const mine = body.segments.filter((s) => s.domain === this.domain);
    if (mine.length !== list.length) mismatch(`the number of ${this.domain} segments`, list.length, mine.length);
    list.forEach(({ order, quote }, k) => {
      const seg = mine[k]!;
      if (!quote) mismatch(`segment ${order.index}`, 'a quote first', 'no quote');
      if (quote!.validUntil < Date.now()) mismatch(`the quote for segment ${order.index}`, `use before ${new Date(quote!.validUntil).toISOString()}`, 'expired');
      if (seg.priceMinor !== quote!.priceMinor) mismatch(`the price of segment ${order.index}`, quote!.priceMinor, seg.priceMinor);
      if (body.currency !== quote!.currency) mismatch('currency', quote!.currency, body.currency);
      if (seg.ingress !== order.ingress) mismatch(`the ingress of segment ${order.index}`, order.ingress, seg.ingress);
      if (seg.egress !== order.egress) mismatch(`the egress of segment ${order.index}`, order.egress, seg.egress);
    });
    const o = list[0]!.order;
    if (body.service.qosClass !== o.qosClass) mismatch('service.qosClass', o.qosClass, body.service.qosClass);
    if (body.service.rateMbps !== o.rateMbps) mismatch('service.rateMbps', o.rateMbps, body.service.rateMbps);
    if (Date.parse(body.window.start) !== o.start) mismatch('window.start', new Date(o.start).toISOString(), body.window.start);
    if (Date.parse(body.window.end) !== o.end) mismatch('window.end', new Date(o.end).toISOString(), body.window.end);
    // the packets it carries: the two sites' prefixes as their providers advertise them, no other traffic
    const graph = this.graph();
    for (const [k, ep] of [['fromPrefixes', body.service.from], ['toPrefixes', body.service.to]] as const) {
      const [domain, site] = String(ep).split('/');
      const advertised = graph.siteOf(domain ?? '', site ?? '')?.prefixes;
      const want = advertised?.length ? advertised : undefined;
      const got = body.service[k];
      if (JSON.stringify(want ?? null) !== JSON.stringify(got ?? null)) mismatch(`service.${k}`, want ?? 'none (the site advertises no prefixes)', got ?? 'none');
    }
  }

  /**
   * Drop every hold (or booking) of the agreement, as the store lists them.
   * Idempotent.
   */
  async abort(agreementId: string): Promise<void> {
    await this.close(agreementId);
  }

  /** abort(), for `caller` only if it is the owner (when given); returns whether anything was live. */
  async close(agreementId: string, caller?: string): Promise<boolean> {
    const rs = (await this.store.agreement(agreementId)).filter((r) => r.meta);
    // what this instance committed stays open to its owner until the cache forgets it, as the store's index may already have
    const cached = this.held.get(agreementId) ?? [];
    const seen = [...rs.map((r) => this.segmentOf(r)), ...cached];
    this.checkOwner(agreementId, seen, caller);
    const ids = [...new Set(seen.map((h) => h.id))];
    const live = rs.some((r) => r.state === 'held' || r.state === 'committed') || cached.length > 0;
    const failed: string[] = [];
    // every id leaves the index, expired ones too, so the agreement is closed here
    for (const id of ids) {
      try {
        await this.store.abort(id).catch((err: unknown) => {
          // a commit that landed while the coordinator gave up: give the booking back
          if ((err as QosBrokerError).code === 'QB_STATE_RESERVATION_COMMITTED') return this.store.release(id);
          throw err;
        });
      } catch (err) {
        failed.push(`${id}: ${(err as Error).message}`);
      }
    }
    this.forget(agreementId);
    if (failed.length) throw new AgreementError('QB_AGREEMENT_ABORT_FAILED', `${this.domain} could not release ${failed.length} reservation(s) of ${agreementId}: ${failed.join('; ')}`);
    return live;
  }

  /** Store reservation ids that book links for an agreement, as far as this participant's cache still has it (after a Reserve or Commit here). */
  reservationIds(agreementId: string): string[] {
    return (this.held.get(agreementId) ?? []).filter((h) => h.stored).map((h) => h.id);
  }

  /** Agreements in the cache. */
  get cached(): number {
    return this.held.size;
  }

  /** Drop what is cached of an agreement (the store keeps it as it is). */
  forget(agreementId: string): void {
    this.held.delete(agreementId);
    for (const k of this.quotes.keys()) if (k.startsWith(`${agreementId}:`)) this.quotes.delete(k);
  }

  private check(order: SegmentOrder): void {
    if (order.domain !== this.domain) throw new AgreementError('QB_AGREEMENT_WRONG_DOMAIN', `segment for ${order.domain} sent to ${this.domain}`);
  }
}

/**
 * Set the store's capacities for every edge the domain advertises, keyed by
 * edgeId: its transits (both ways when bidirectional) and its egress links.
 * For a store without an inventory of its own (the demo, tests).
 */
export async function seedCapacities(store: ResourceStore, graph: TopologyGraph): Promise<number> {
  const me = store.domain;
  let n = 0;
  const set = async (from: string, to: string, classes: Record<string, { capacityMbps?: number; availableMbps: number }>) => {
    for (const [cls, m] of Object.entries(classes)) {
      await store.setCapacity(edgeId({ from, to }), cls, Math.round((m.capacityMbps ?? m.availableMbps) * 1e6));
      n++;
    }
  };
  const ad = graph.advertisements.get(me);
  if (!ad) return 0;
  for (const t of ad.transits) {
    await set(`${me}/${t.from}`, `${me}/${t.to}`, t.classes);
    if (t.bidirectional) await set(`${me}/${t.to}`, `${me}/${t.from}`, t.classes);
  }
  for (const l of ad.links) await set(`${me}/${l.border}`, `${l.peerDomain}/${l.peerBorder}`, l.classes);
  return n;
}
