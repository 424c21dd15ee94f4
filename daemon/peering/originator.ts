/**
 * Origination: this domain's advertisement built from its inventory and the
 * live usage read from the resource store, signed with a fresh sequence number,
 * re-signed before it expires and when capacity moved past the threshold.
 */
import { signAdvert, type SignedAdvert } from './advert.js';
import type { PeeringContext } from './context.js';
import { PEERING_DEFAULTS } from './defaults.js';
import { fingerprintOf, type AdvertFlood } from './flood.js';
import { buildAdvertisement, capacityMovedPastThreshold, inventoryCapacities, usageKey, type AdvertBody, type UsageMap } from './origin.js';
import type { DomainAdvertisement } from '../topology/types.js';

/** Signs and floods this domain's own advertisement: at start, on refresh, when capacity moved. */
export class Originator {
  constructor(
    private readonly ctx: PeeringContext,
    private readonly flooding: AdvertFlood,
  ) {}

  /** Last used-bandwidth map read from the store. */
  usage: UsageMap = new Map();

  lastOriginated: DomainAdvertisement | undefined;

  lastOriginatedAt = 0;

  private seq = 0;

  private readvertiseTimer: NodeJS.Timeout | undefined;

  private refreshTimer: NodeJS.Timeout | undefined;

  private polling = false;

  private nextSeq(): number {
    this.seq = Math.max(this.seq + 1, this.ctx.now(), this.ctx.table.highestSeq(this.ctx.opts.domain) + 1);
    return this.seq;
  }

  sign(body: AdvertBody, lifetimeMs: number): SignedAdvert<AdvertBody> {
    const issuedAt = this.ctx.now();
    return signAdvert({ origin: this.ctx.opts.domain, seq: this.nextSeq(), issuedAt, expiresAt: issuedAt + lifetimeMs, body }, this.ctx.opts.signingKey);
  }

  /** Sign and flood our advertisement now (built from inventory and the last usage read). */
  originate(why: string): SignedAdvert<AdvertBody> | undefined {
    if (!this.ctx.opts.inventory || this.ctx.stopped) return undefined;
    const body = buildAdvertisement(this.ctx.opts.domain, this.ctx.opts.inventory, this.usage);
    const a = this.sign(body, this.ctx.lifetimeMs);
    const d = this.ctx.table.offer(a);
    if (!d.accepted) {
      this.ctx.log('error', 'own advertisement refused by the table', { reason: d.reason, message: d.error.message });
      return undefined;
    }
    this.flooding.lastSignature.set(this.ctx.opts.domain, fingerprintOf(a));
    this.lastOriginated = body;
    this.flooding.heldOrigins.add(this.ctx.opts.domain);
    this.lastOriginatedAt = this.ctx.now();
    this.ctx.stats.originated += 1;
    this.ctx.log('info', 'advertisement originated', { seq: a.envelope.seq, reason: why, expires_at: new Date(a.envelope.expiresAt).toISOString() });
    this.flooding.flood(a, undefined);
    this.ctx.opts.hooks?.originated?.(a);
    if (this.refreshTimer) clearTimeout(this.refreshTimer);
    this.refreshTimer = setTimeout(() => this.originate('refresh'), this.ctx.lifetimeMs / 3);
    this.refreshTimer.unref();
    return a;
  }

  async applyCapacities(): Promise<void> {
    const store = this.ctx.opts.store!;
    for (const c of inventoryCapacities(this.ctx.opts.inventory!)) await store.setCapacity(c.link, c.cls, c.capacityBps);
  }

  /** Read used bandwidth per link/class from the store (current slot). */
  async pollStore(): Promise<void> {
    if (!this.ctx.opts.store || this.polling) return;
    this.polling = true;
    try {
      const m: UsageMap = new Map();
      for (const u of await this.ctx.opts.store.utilisation()) m.set(usageKey(u.link, u.cls), u.usedBps);
      this.usage = m;
    } catch (err) {
      this.ctx.log('warn', 'reading live state failed', { error: err instanceof Error ? err.message : String(err) });
    } finally {
      this.polling = false;
    }
  }

  /** Re-advertise if capacity moved past the threshold, at most once per readvertiseMinIntervalMs. */
  maybeReadvertise(): void {
    if (!this.ctx.opts.inventory || !this.lastOriginated || this.ctx.stopped) return;
    const next = buildAdvertisement(this.ctx.opts.domain, this.ctx.opts.inventory, this.usage);
    if (!capacityMovedPastThreshold(this.lastOriginated, next, this.ctx.opts.readvertiseThreshold ?? PEERING_DEFAULTS.readvertiseThreshold)) return;
    const wait = this.lastOriginatedAt + (this.ctx.opts.readvertiseMinIntervalMs ?? PEERING_DEFAULTS.readvertiseMinIntervalMs) - this.ctx.now();
    if (wait <= 0) {
      this.originate('capacity-changed');
    } else if (!this.readvertiseTimer) {
      this.readvertiseTimer = setTimeout(() => {
        this.readvertiseTimer = undefined;
        this.maybeReadvertise();
      }, wait);
      this.readvertiseTimer.unref();
    }
  }

  /** Stop the refresh and re-advertisement timers. */
  stopTimers(): void {
    if (this.refreshTimer) clearTimeout(this.refreshTimer);
    if (this.readvertiseTimer) clearTimeout(this.readvertiseTimer);
  }
}
