/**
 * Our own domain's side of agreements inside the daemon: a LocalParticipant
 * on the domain's ResourceStore and advertisement key, served to peers over
 * gRPC (remote.ts) and used directly by our own coordinator.
 *
 * Around the participant it keeps the store's capacities in step with the
 * advertised graph (seedCapacities whenever the graph changes, before a
 * quote or hold) and watches its holds: a hold whose TTL ran out without a
 * Commit belongs to a coordinator that went away. The sweep returns its
 * capacity and logs the agreement once as `agreement-abandoned`.
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
   * owner's Abort, ms. Then the service forgets it (its booking stays in the
   * store): what a daemon keeps per agreement is bounded by this window, not
   * by how many agreements it ever made. @default 60000 (a coordinator
   * retries a lost Commit within its call deadline, seconds; a minute of
   * agreements at the rate the agreements bench targets is a small table)
   */
  retainCommittedMs?: number;
  /**
   * Called once an agreement is booked and signed here, before the signature
   * is returned: the daemon records the owner and the booking ids in Redis,
   * so the bookings can be released after a restart or on another replica.
   */
  onCommitted?: (agreementId: string, caller: string, reservationIds: string[], body: ContractBody) => Promise<void>;
}

interface Tracked {
  caller: string;
  /** Latest hold expiry among the agreement's segments (ms since the epoch). */
  expiresAt: number;
  /** `alternative:index` of every segment held. */
  segments: Set<string>;
}

export class AgreementService implements ServedParticipant, AgreementParticipant {
  readonly domain: string;
  readonly publicKey: string;
  private readonly local: LocalParticipant;
  private readonly log: Logger;
  private seededKey: string | undefined;
  private seeding: Promise<void> | undefined;
  private readonly holds = new Map<string, Tracked>();
  /** Who reserved each agreement (until it is aborted or abandoned): only that caller may commit or abort it. */
  private readonly owners = new Map<string, string>();
  /** Committed agreements by time of commit (oldest first): forgotten after retainCommittedMs. */
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
    this.local = new LocalParticipant(opts.store, opts.signingKey, () => opts.graph().graph, opts.terms, undefined, linkId);
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
    this.checkOwner(order.agreementId, caller);
    await this.seed();
    return this.local.quote(order);
  }

  /** Refuse a caller that is not the one that reserved the agreement (a peer cannot commit or abort another's agreement). */
  private checkOwner(agreementId: string, caller: string): void {
    const owner = this.owners.get(agreementId);
    if (owner !== undefined && owner !== caller) {
      throw new AgreementError('QB_AGREEMENT_NOT_OWNER', `agreement ${agreementId} at ${this.domain} was reserved by ${owner}; ${caller} may not act on it`);
    }
  }

  async reserve(order: SegmentOrder, holdTtlMs: number, caller = this.domain): Promise<void> {
    this.checkOwner(order.agreementId, caller);
    // claim the agreement before the first await, so two callers racing for one id cannot both hold it
    const claimed = !this.owners.has(order.agreementId);
    if (claimed) this.owners.set(order.agreementId, caller);
    try {
      await this.seed();
      await this.local.reserve(order, holdTtlMs);
    } catch (err) {
      if (claimed && !this.holds.has(order.agreementId)) this.owners.delete(order.agreementId);
      throw err;
    }
    const t = this.holds.get(order.agreementId);
    const expiresAt = Date.now() + holdTtlMs;
    if (t) {
      t.expiresAt = Math.max(t.expiresAt, expiresAt);
      t.segments.add(`${order.alternative}:${order.index}`);
    } else {
      this.holds.set(order.agreementId, { caller, expiresAt, segments: new Set([`${order.alternative}:${order.index}`]) });
    }
    this.log('debug', 'agreement hold', { event: 'agreement-hold', agreement_id: order.agreementId, alternative: order.alternative, segment: order.index, caller, hold_ttl_ms: holdTtlMs });
  }

  async prepare(order: SegmentOrder, holdTtlMs: number, caller = this.domain): Promise<SegmentQuote> {
    const quote = await this.quote(order, caller);
    await this.reserve(order, holdTtlMs, caller);
    return quote;
  }

  async commit(agreementId: string, body: ContractBody, caller = this.domain): Promise<ContractSignature> {
    this.checkOwner(agreementId, caller);
    const sig = await this.local.commit(agreementId, body);
    await this.onCommitted?.(agreementId, caller, this.local.reservationIds(agreementId), body);
    this.holds.delete(agreementId);
    this.committed.delete(agreementId); // a retried commit restarts the window
    this.committed.set(agreementId, Date.now());
    this.log('info', 'agreement committed', { event: 'agreement-committed', agreement_id: agreementId, caller, price_minor: body.segments.filter((s) => s.domain === this.domain).reduce((s, x) => s + x.priceMinor, 0) });
    return sig;
  }

  async abort(agreementId: string, caller = this.domain): Promise<void> {
    this.checkOwner(agreementId, caller);
    const had = this.holds.delete(agreementId);
    await this.local.abort(agreementId);
    this.owners.delete(agreementId);
    this.committed.delete(agreementId);
    if (had) this.log('info', 'agreement aborted', { event: 'agreement-aborted', agreement_id: agreementId, caller });
  }

  /** Agreements with holds still tracked here (held, not committed or aborted). */
  pending(): string[] {
    return [...this.holds.keys()];
  }

  /** Agreements this service still remembers (held, or committed within retainCommittedMs). */
  get remembered(): number {
    return this.owners.size;
  }

  /** Forget committed agreements older than retainCommittedMs. */
  private forgetCommitted(now: number): void {
    const retain = this.opts.retainCommittedMs ?? 60_000;
    for (const [id, at] of this.committed) {
      if (now - at < retain) break; // oldest first
      this.committed.delete(id);
      this.owners.delete(id);
      this.local.forget(id);
    }
  }

  /** Return the capacity of expired holds and log each abandoned agreement once; forget old committed ones. Returns the abandoned ids. */
  async sweep(now = Date.now()): Promise<string[]> {
    this.forgetCommitted(now);
    if (this.sweeping) return [];
    const due = [...this.holds].filter(([, t]) => t.expiresAt <= now);
    if (due.length === 0) return [];
    this.sweeping = true;
    try {
      const returned = await this.opts.store.sweepExpired();
      const out: string[] = [];
      for (const [id, t] of due) {
        if (this.holds.get(id) !== t) continue; // committed or aborted meanwhile
        this.holds.delete(id);
        // only what really ran out counts (a retried Reserve of a committed agreement is tracked again, but is booked)
        const states = await Promise.all([...t.segments].map(async (seg) => (await this.opts.store.get(`${id}:${seg}`))?.state));
        if (!states.includes('expired')) continue;
        // forget the participant's memory of the agreement; its holds are tombstones now, so this changes no capacity
        await this.local.abort(id).catch(() => {});
        this.owners.delete(id);
        out.push(id);
        this.log('warn', 'agreement abandoned: its holds expired without a commit', {
          event: 'agreement-abandoned',
          agreement_id: id,
          caller: t.caller,
          segments: [...t.segments],
          expired_at: new Date(t.expiresAt).toISOString(),
          holds_returned: returned,
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
