/**
 * Our own domain's side of agreements inside the daemon: a LocalParticipant
 * on the domain's ResourceStore and advertisement key, served to peers over
 * gRPC (remote.ts) and used directly by our own coordinator.
 *
 * Around the participant it keeps the store's capacities in step with the
 * advertised graph (seedCapacities whenever the graph changes, before a
 * quote or hold) and watches the domain's holds: a hold whose TTL ran out
 * without a Commit belongs to a coordinator that went away. The sweep returns
 * its capacity and logs the agreement once as `agreement-abandoned` (once
 * across every replica of the domain: the store hands each such agreement to
 * one sweep only).
 *
 * Who reserved an agreement (only that caller may quote into, commit or
 * abort it), its orders and quotes live in the store with the holds, so any
 * replica, or this one after a restart, can Commit or Abort what another
 * Reserved; what is kept here is a cache.
 */
import { AgreementError } from '../errors.js';
import type { ResourceStore } from '../state/store.js';
import type { TopologyGraph } from '../topology/graph.js';
import type { KeyInput } from '../crypto/keys.js';
import type { Logger } from '../logger.js';
import type { ContractBody, ContractSignature } from './contract.js';
import { LocalParticipant, seedCapacities, type AgreementParticipant, type SegmentOrder, type SegmentQuote } from './participant.js';
import type { PricingTerms } from './pricing.js';
import { inventoryLinkId, type Inventory } from '../peering/origin.js';
import { AGREEMENT_DEFAULTS } from './defaults.js';
import { failpoint } from '../failpoints.js';
import type { ServedParticipant } from './remote.js';

export interface AgreementServiceOptions {
  store: ResourceStore;
  signingKey: KeyInput;
  /** The advertised graph now, and a key that changes whenever it does (e.g. origins and sequence numbers). */
  graph: () => { graph: TopologyGraph; key: string };
  terms?: PricingTerms;
  log?: Logger;
  /** How often holds are checked for expiry, ms. @default 1000 */
  sweepIntervalMs?: number;
  /**
   * The domain's inventory (config): holds then go on its link ids, the ones
   * the store's capacities and the advertisement's availability use. Without
   * it, capacities are seeded from the advertised graph under edge ids.
   */
  inventory?: Inventory;
  /**
   * How long a committed agreement stays open to a retried Commit or the
   * owner's Abort, ms. Then the service and the store's agreement index
   * forget it (its booking stays in the store): what is kept per agreement is
   * bounded by this window, not by how many agreements were ever made.
   * @default 60000 (a coordinator retries a lost Commit within its call
   * deadline, seconds)
   */
  retainCommittedMs?: number;
  /**
   * Called once an agreement is booked and signed here, before the signature
   * is returned: the daemon records the owner and the booking ids in Redis,
   * so the bookings can be released after a restart or on another replica.
   */
  onCommitted?: (agreementId: string, caller: string, reservationIds: string[], body: ContractBody) => Promise<void>;
}

export class AgreementService implements ServedParticipant, AgreementParticipant {
  readonly domain: string;
  readonly publicKey: string;
  private readonly local: LocalParticipant;
  private readonly log: Logger;
  private seededKey: string | undefined;
  private seeding: Promise<void> | undefined;
  /** Committed agreements by time of commit (oldest first): dropped from the cache after retainCommittedMs. */
  private readonly committed = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;
  private sweeping = false;
  /** See AgreementServiceOptions.onCommitted; may be set after construction. */
  onCommitted: AgreementServiceOptions['onCommitted'];

  constructor(private readonly opts: AgreementServiceOptions) {
    this.log = opts.log ?? (() => {});
    this.onCommitted = opts.onCommitted;
    const domain = opts.store.domain;
    // read the inventory at each hold, so a reloaded inventory (SIGHUP) applies to the next order
    const linkId = opts.inventory
      ? (hop: { from: string; to: string }) => {
          const id = inventoryLinkId(domain, this.opts.inventory!, hop);
          if (!id) throw new AgreementError('QB_AGREEMENT_UNKNOWN_EDGE', `${domain} has no link ${hop.from} -> ${hop.to} in its inventory`);
          return id;
        }
      : undefined;
    this.local = new LocalParticipant(opts.store, opts.signingKey, () => opts.graph().graph, opts.terms, undefined, linkId, opts.retainCommittedMs ?? 60_000);
    this.domain = this.local.domain;
    this.publicKey = this.local.publicKey;
  }

  /** A reloaded inventory: holds from now on use its link ids. */
  setInventory(inventory: Inventory): void {
    if (this.opts.inventory) this.opts.inventory = inventory;
  }

  start(): void {
    this.timer = setInterval(() => void this.sweep(), this.opts.sweepIntervalMs ?? AGREEMENT_DEFAULTS.sweepIntervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  /** Set the store's capacities from the advertised graph if it changed since the last time. */
  async seed(): Promise<void> {
    if (this.opts.inventory) return; // the broker keeps the inventory's capacities in the store
    const { graph, key } = this.opts.graph();
    if (key === this.seededKey) return;
    while (this.seeding) await this.seeding;
    if (key === this.seededKey) return;
    this.seeding = seedCapacities(this.opts.store, graph).then((n) => {
      this.seededKey = key;
      this.log('debug', 'agreement capacities seeded from the advertised graph', { entries: n });
    });
    try {
      await this.seeding;
    } finally {
      this.seeding = undefined;
    }
  }

  async quote(order: SegmentOrder, caller = this.domain): Promise<SegmentQuote> {
    // a peer cannot replace the quote another one got for its agreement
    const owner = await this.local.ownerOf(order.agreementId);
    if (owner !== undefined && owner !== caller) {
      throw new AgreementError('QB_AGREEMENT_NOT_OWNER', `agreement ${order.agreementId} at ${this.domain} was reserved by ${owner}; ${caller} may not act on it`);
    }
    await this.seed();
    return this.local.quote(order);
  }

  async reserve(order: SegmentOrder, holdTtlMs: number, caller = this.domain): Promise<void> {
    await this.seed();
    // the store refuses, in the step that books, an agreement another caller holds
    await this.local.reserve(order, holdTtlMs, caller);
    this.logHold(order, holdTtlMs, caller);
    if (caller !== this.domain) failpoint('agreement:reserved');
  }

  async prepare(order: SegmentOrder, holdTtlMs: number, caller = this.domain): Promise<SegmentQuote> {
    await this.seed();
    const quote = await this.local.prepare(order, holdTtlMs, caller);
    this.logHold(order, holdTtlMs, caller);
    if (caller !== this.domain) failpoint('agreement:reserved');
    return quote;
  }

  private logHold(order: SegmentOrder, holdTtlMs: number, caller: string): void {
    this.log('debug', 'agreement hold', { event: 'agreement-hold', agreement_id: order.agreementId, alternative: order.alternative, segment: order.index, caller, hold_ttl_ms: holdTtlMs });
  }

  async commit(agreementId: string, body: ContractBody, caller = this.domain): Promise<ContractSignature> {
    const sig = await this.local.commit(agreementId, body, caller);
    await this.onCommitted?.(agreementId, caller, this.local.reservationIds(agreementId), body);
    if (caller !== this.domain) failpoint('agreement:committed');
    this.committed.delete(agreementId); // a retried commit restarts the window
    this.committed.set(agreementId, Date.now());
    this.log('info', 'agreement committed', { event: 'agreement-committed', agreement_id: agreementId, caller, price_minor: body.segments.filter((s) => s.domain === this.domain).reduce((s, x) => s + x.priceMinor, 0) });
    return sig;
  }

  async abort(agreementId: string, caller = this.domain): Promise<void> {
    const had = await this.local.close(agreementId, caller);
    this.committed.delete(agreementId);
    if (had) this.log('info', 'agreement aborted', { event: 'agreement-aborted', agreement_id: agreementId, caller });
  }

  /** Agreements this service still caches (reserved here, or committed here within retainCommittedMs). */
  get remembered(): number {
    return this.local.cached;
  }

  /** Forget committed agreements older than retainCommittedMs. */
  private forgetCommitted(now: number): void {
    const retain = this.opts.retainCommittedMs ?? 60_000;
    for (const [id, at] of this.committed) {
      if (now - at < retain) break; // oldest first
      this.committed.delete(id);
      this.local.forget(id);
    }
  }

  /**
   * Return the capacity of expired holds and log each abandoned agreement
   * once (the store gives it to one sweep, on whichever replica); forget old
   * committed ones. Returns the abandoned ids.
   */
  async sweep(now = Date.now()): Promise<string[]> {
    this.forgetCommitted(now);
    if (this.sweeping) return [];
    this.sweeping = true;
    try {
      const { expired, agreements } = await this.opts.store.takeAbandoned();
      const out: string[] = [];
      for (const { agreementId: id, reservations } of agreements) {
        this.local.forget(id);
        const mine = reservations.filter((r) => r.meta);
        // the owner closed it meanwhile: nothing is left to call abandoned
        if (mine.length === 0) continue;
        out.push(id);
        const expiredAt = Math.max(...mine.map((r) => r.holdExpiresAt ?? 0));
        this.log('warn', 'agreement abandoned: its holds expired without a commit', {
          event: 'agreement-abandoned',
          agreement_id: id,
          caller: mine[0]!.meta!.owner,
          segments: mine.map((r) => `${r.meta!.order.alternative}:${r.meta!.order.index}`),
          ...(expiredAt > 0 ? { expired_at: new Date(expiredAt).toISOString() } : {}),
          holds_returned: expired,
        });
      }
      return out;
    } catch (err) {
      this.log('warn', 'agreement sweep failed', { error: err instanceof Error ? err.message : String(err) });
      return [];
    } finally {
      this.sweeping = false;
    }
  }
}
