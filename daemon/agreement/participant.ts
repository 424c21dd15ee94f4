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
import type { ResourceStore } from '../state/store.js';
import type { TopologyGraph } from '../topology/graph.js';
import type { ComputedPath, PathHop } from '../topology/types.js';
import { rawPublicKey, toPrivateKey, type KeyInput } from '../crypto/keys.js';
import { signContract, type ContractBody, type ContractSignature } from './contract.js';
import { pricePath, type PricingTerms } from './pricing.js';

export { SegmentRejectedError } from '../errors.js';

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

/** A held segment's order as remembered until Commit (and after it, for a retried Commit). */
type HeldOrder = Omit<SegmentOrder, 'hops'>;

export interface SegmentQuote {
  domain: string;
  index: number;
  /** Price in minor units (cents) of `currency`. */
  priceMinor: number;
  currency: string;
  /** The quote is honoured until then (ms since the epoch). */
  validUntil: number;
}

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

/** A domain's participant on its own ResourceStore and signing key. */
export class LocalParticipant implements AgreementParticipant {
  readonly domain: string;
  readonly publicKey: string;
  /** Per agreement: the segments held (reservation id, order, the quote given for it). */
  private readonly held = new Map<string, Array<{ id: string; order: HeldOrder; quote?: SegmentQuote; /** a store reservation exists */ stored: boolean }>>();
  /** Quotes given, by `agreementId:alternative:index`, until the agreement commits or aborts (or the quote expires). */
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
  ) {
    this.domain = store.domain;
    this.signingKey = toPrivateKey(signingKey);
    this.publicKey = rawPublicKey(this.signingKey);
  }

  async quote(order: SegmentOrder): Promise<SegmentQuote> {
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
    const quote = { domain: this.domain, index: order.index, priceMinor: Math.round(price.total * 100), currency: price.currency, validUntil: Date.now() + this.quoteValidityMs };
    // quotes that were never reserved are forgotten once they are no longer valid
    const now = Date.now();
    if (this.quotes.size > 1024) for (const [k, q] of this.quotes) if (q.validUntil < now) this.quotes.delete(k);
    this.quotes.set(`${order.agreementId}:${order.alternative}:${order.index}`, quote);
    return quote;
  }

  async reserve(order: SegmentOrder, holdTtlMs: number): Promise<void> {
    this.check(order);
    const id = `${order.agreementId}:${order.alternative}:${order.index}`;
    if (order.hops.length === 0) {
      // the path enters and leaves here at one border: nothing of ours to hold, but we are a party
      this.remember(order, id, false);
      return;
    }
    const r = await this.store.reserve({
      id,
      links: [...new Set(order.hops.map(this.linkId))],
      cls: order.qosClass,
      rateBps: Math.round(order.rateMbps * 1e6),
      start: order.start,
      end: order.end,
      holdTtlMs,
    });
    if (!r.admitted) {
      const s = r.shortfalls[0]!;
      throw new SegmentRejectedError(
        this.domain,
        `${this.domain} cannot hold ${order.rateMbps} Mbit/s of ${order.qosClass} on ${s.link}: ` +
          `${(s.shortfallBps / 1e6).toFixed(3)} Mbit/s short in the slot starting ${new Date(s.slotStart).toISOString()}`,
      );
    }
    this.remember(order, id, true);
  }

  async prepare(order: SegmentOrder, holdTtlMs: number): Promise<SegmentQuote> {
    const quote = await this.quote(order);
    await this.reserve(order, holdTtlMs);
    return quote;
  }

  private remember(order: SegmentOrder, id: string, stored: boolean): void {
    const list = this.held.get(order.agreementId) ?? [];
    // what a Commit is checked against, without the hops (the store holds those): a committed
    // agreement stays remembered for retainCommittedMs, and the hops would keep the path alive
    const { agreementId, alternative, index, domain, ingress, egress, qosClass, rateMbps, start, end } = order;
    if (!list.some((h) => h.id === id)) list.push({ id, order: { agreementId, alternative, index, domain, ingress, egress, qosClass, rateMbps, start, end }, stored });
    this.held.set(order.agreementId, list);
  }

  async commit(agreementId: string, body: ContractBody): Promise<ContractSignature> {
    const list = this.held.get(agreementId);
    if (!list || list.length === 0) throw new AgreementError('QB_AGREEMENT_NOTHING_HELD', `${this.domain} holds nothing for agreement ${agreementId}: reserve first`);
    // the quote and the hold may have arrived in either order (the coordinator sends both at once)
    for (const h of list) {
      if (h.quote) continue;
      h.quote = this.quotes.get(h.id);
      this.quotes.delete(h.id);
    }
    this.checkBody(agreementId, body, list);
    for (const h of list) if (h.stored) await this.store.commit(h.id);
    const signed = signContract({ body, signatures: [] }, this.domain, this.signingKey);
    return signed.signatures[0]!;
  }

  /** The body must say what this domain quoted and holds: a provider signs nothing else. */
  private checkBody(agreementId: string, body: ContractBody, list: Array<{ order: HeldOrder; quote?: SegmentQuote }>): void {
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
  }

  async abort(agreementId: string): Promise<void> {
    const failed: string[] = [];
    for (const { id, stored } of this.held.get(agreementId) ?? []) {
      if (!stored) continue;
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
    this.held.delete(agreementId);
    for (const k of this.quotes.keys()) if (k.startsWith(`${agreementId}:`)) this.quotes.delete(k);
    if (failed.length) throw new AgreementError('QB_AGREEMENT_ABORT_FAILED', `${this.domain} could not release ${failed.length} reservation(s) of ${agreementId}: ${failed.join('; ')}`);
  }

  /** Store reservation ids held (or booked) for an agreement, as far as this participant still remembers it. */
  reservationIds(agreementId: string): string[] {
    return (this.held.get(agreementId) ?? []).filter((h) => h.stored).map((h) => h.id);
  }

  /** Drop what is remembered of an agreement (its store reservations are left as they are). */
  forget(agreementId: string): void {
    this.held.delete(agreementId);
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
