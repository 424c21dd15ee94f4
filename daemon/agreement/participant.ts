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
import { QosBrokerError } from '../../drivers/errors.js';
import type { ResourceStore } from '../state/store.js';
import type { TopologyGraph } from '../topology/graph.js';
import type { ComputedPath, PathHop } from '../topology/types.js';
import { rawPublicKey, type KeyInput } from '../peering/advert.js';
import { signContract, type ContractBody, type ContractSignature } from './contract.js';
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
  /** Edges the domain sells on this segment: its transits and the link entering it. */
  hops: PathHop[];
  qosClass: string;
  rateMbps: number;
  /** ms since the epoch. */
  start: number;
  end: number;
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

/** A domain refused to hold its segment; says which edge lacks how much. */
export class SegmentRejectedError extends QosBrokerError {
  readonly domain: string;
  constructor(domain: string, message: string) {
    super('QB_AGREEMENT_SEGMENT_REJECTED', message);
    this.domain = domain;
  }
}

export interface AgreementParticipant {
  readonly domain: string;
  /** Ed25519 public key (raw, base64) the domain signs contracts with. */
  readonly publicKey: string;
  quote(order: SegmentOrder): Promise<SegmentQuote>;
  /** Hold the segment's resources for holdTtlMs; idempotent by agreement id, alternative and segment index. */
  reserve(order: SegmentOrder, holdTtlMs: number): Promise<void>;
  /** Book the held resources and return this domain's signature of the contract body. */
  commit(agreementId: string, body: ContractBody): Promise<ContractSignature>;
  /** Drop every hold (or booking) of the agreement. Idempotent. */
  abort(agreementId: string): Promise<void>;
}

/** Store link id of a directed edge: `domain/border:domain/border`. */
export function edgeId(hop: Pick<PathHop, 'from' | 'to'>): string {
  return `${hop.from}:${hop.to}`;
}

/** The edges each domain sells on a path, segment by segment (see pricing: transits and the entering link). */
export function segmentOrders(path: ComputedPath, base: Omit<SegmentOrder, 'index' | 'domain' | 'ingress' | 'egress' | 'hops'>): SegmentOrder[] {
  return path.segments.map((seg, i) => {
    const hops = seg.hops.filter((h) => h.kind === 'transit');
    const entering = i > 0 ? path.segments[i - 1]!.hops.at(-1) : undefined;
    if (entering) hops.unshift(entering);
    return { ...base, index: i, domain: seg.domain, ingress: seg.ingress, egress: seg.egress, hops };
  });
}

/** A domain's participant on its own ResourceStore and signing key. */
export class LocalParticipant implements AgreementParticipant {
  readonly domain: string;
  readonly publicKey: string;
  private readonly reservations = new Map<string, string[]>();

  constructor(
    private readonly store: ResourceStore,
    private readonly signingKey: KeyInput,
    private readonly graph: () => TopologyGraph,
    private readonly terms: PricingTerms = {},
    /** How long a quote is honoured, ms. @default 60000 */
    private readonly quoteValidityMs = 60_000,
  ) {
    this.domain = store.domain;
    this.publicKey = rawPublicKey(signingKey);
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
    return { domain: this.domain, index: order.index, priceMinor: Math.round(price.total * 100), currency: price.currency, validUntil: Date.now() + this.quoteValidityMs };
  }

  async reserve(order: SegmentOrder, holdTtlMs: number): Promise<void> {
    this.check(order);
    const id = `${order.agreementId}:${order.alternative}:${order.index}`;
    const r = await this.store.reserve({
      id,
      links: order.hops.map(edgeId),
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
    const ids = this.reservations.get(order.agreementId) ?? [];
    if (!ids.includes(id)) ids.push(id);
    this.reservations.set(order.agreementId, ids);
  }

  async commit(agreementId: string, body: ContractBody): Promise<ContractSignature> {
    const ids = this.reservations.get(agreementId);
    if (!ids || ids.length === 0) throw new QosBrokerError('QB_AGREEMENT_NOTHING_HELD', `${this.domain} holds nothing for agreement ${agreementId}: reserve first`);
    for (const id of ids) await this.store.commit(id);
    const signed = signContract({ body, signatures: [] }, this.domain, this.signingKey);
    return signed.signatures[0]!;
  }

  async abort(agreementId: string): Promise<void> {
    for (const id of this.reservations.get(agreementId) ?? []) {
      const r = await this.store.get(id);
      if (r?.state === 'committed') await this.store.release(id);
      else await this.store.abort(id);
    }
    this.reservations.delete(agreementId);
  }

  private check(order: SegmentOrder): void {
    if (order.domain !== this.domain) throw new QosBrokerError('QB_AGREEMENT_WRONG_DOMAIN', `segment for ${order.domain} sent to ${this.domain}`);
  }
}

/**
 * Set the store's capacities for every edge the domain sells, from the
 * advertised graph: its transits (both ways when bidirectional) and the links
 * that enter it from its peers.
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
  for (const ad of graph.advertisements.values()) {
    if (ad.origin === me) {
      for (const t of ad.transits) {
        await set(`${me}/${t.from}`, `${me}/${t.to}`, t.classes);
        if (t.bidirectional) await set(`${me}/${t.to}`, `${me}/${t.from}`, t.classes);
      }
    }
    for (const l of ad.links) if (l.peerDomain === me) await set(`${ad.origin}/${l.border}`, `${me}/${l.peerBorder}`, l.classes);
  }
  return n;
}
