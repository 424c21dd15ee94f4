/**
 * The peering core of one broker: configured peers and their sessions
 * (sessions.ts), the table of signed advertisements and flooding (flood.ts),
 * origination of this domain's own advertisement from inventory and live state
 * (originator.ts), and the exchange registry (registry.ts), over shared state
 * (context.ts). One object, one path for state changes; the gRPC handlers
 * (server.ts) and the admin endpoint are thin adapters over it.
 */
import type { SignedAdvert } from './advert.js';
import { PeeringContext, type PeeringOptions, type PeerRecord, type PeerSpec } from './context.js';
import { AdvertFlood } from './flood.js';
import { isWithdrawal, type AdvertBody, type UsageMap } from './origin.js';
import { Originator } from './originator.js';
import type { NotificationMsg, RegistrationMsg } from './proto.js';
import { ExchangeRegistry } from './registry.js';
import type { FrameStream, PeerState } from './session.js';
import { PeerSessions } from './sessions.js';
import type { DomainAdvertisement } from '../topology/types.js';

import { PEERING_DEFAULTS } from './defaults.js';

export { PEERING_DEFAULTS };
export type { PeeringHooks, PeeringOptions, PeeringTransport, PeerSpec, RegistrationStream } from './context.js';

/** What `qos-broker peers` shows. */
export interface PeerView {
  domain: string;
  address: string | null;
  state: PeerState;
  direction: 'outbound' | 'inbound' | null;
  since: string;
  holdTimeS: number | null;
  brokerId: string | null;
  attempts: number;
  lastError: string | null;
  framesSent: number;
  framesReceived: number;
  registeredWithExchange: boolean;
}

/** What `qos-broker domains` shows. */
export interface DomainView {
  domain: string;
  self: boolean;
  seq: number | null;
  issuedAt: string | null;
  expiresAt: string | null;
  withdrawn: boolean;
  keySource: string | null;
  registered: boolean;
  peeringAddress: string | null;
  classes: string[];
}

export class PeeringCore {
  private readonly ctx: PeeringContext;
  private readonly flooding: AdvertFlood;
  private readonly origin: Originator;
  private readonly registry: ExchangeRegistry;
  private readonly sessions: PeerSessions;

  constructor(opts: PeeringOptions) {
    const ctx = (this.ctx = new PeeringContext(opts));
    this.flooding = new AdvertFlood(ctx);
    this.origin = new Originator(ctx, this.flooding);
    this.registry = new ExchangeRegistry(ctx);
    this.sessions = new PeerSessions(ctx, this.flooding, this.registry);
    ctx.setKey(opts.domain, ctx.publicKeyRaw, 'self');
    for (const [d, k] of Object.entries(opts.originKeys ?? {})) ctx.setKey(d, k, 'config');
    for (const p of opts.peers) this.addPeer(p);
  }

  /** The advertisements held, newest per origin. */
  get table() {
    return this.ctx.table;
  }
  /** Configured peers and their sessions, by domain. */
  get peers(): ReadonlyMap<string, PeerRecord> {
    return this.ctx.peers;
  }
  /** Counters read at scrape time. */
  get stats() {
    return this.ctx.stats;
  }
  /** Registrations held (exchange) or received from exchanges (provider), by domain. */
  get registrations(): Map<string, RegistrationMsg> {
    return this.registry.registrations;
  }
  /** Last used-bandwidth map read from the store. */
  get usage(): UsageMap {
    return this.origin.usage;
  }
  set usage(m: UsageMap) {
    this.origin.usage = m;
  }
  get domain(): string {
    return this.ctx.opts.domain;
  }
  get holdTimeS(): number {
    return this.ctx.holdTimeS;
  }
  get publicKeyRaw(): string {
    return this.ctx.publicKeyRaw;
  }

  /** Start dialing peers, originate our advertisement, start timers. */
  async start(): Promise<void> {
    const opts = this.ctx.opts;
    if (opts.store && opts.inventory) await this.origin.applyCapacities();
    for (const rec of this.ctx.peers.values()) this.sessions.kick(rec);
    if (opts.role === 'provider' && opts.inventory) {
      await this.origin.pollStore();
      this.origin.originate('start');
      this.every(opts.pollIntervalMs ?? PEERING_DEFAULTS.pollIntervalMs, () => void this.origin.pollStore().then(() => this.origin.maybeReadvertise()));
    }
    this.every(500, () => this.prune());
  }

  private every(ms: number, fn: () => void): void {
    const t = setInterval(fn, ms);
    t.unref();
    this.ctx.timers.push(t as unknown as NodeJS.Timeout);
  }

  private prune(): void {
    this.flooding.prune();
    this.registry.prune();
  }

  /** Add a configured peer (also on reload) and start dialing it if it has an address. */
  addPeer(spec: PeerSpec): void {
    this.sessions.addPeer(spec);
  }
  /** Remove a configured peer (reload): close its sessions, stop dialing. */
  removePeer(domain: string): void {
    this.sessions.removePeer(domain);
  }
  /** Peers by state, for metrics. */
  peerStateCounts(): Record<PeerState, number> {
    return this.sessions.peerStateCounts();
  }
  /**
   * Accept a session dialed by a peer. `certRaw` is the DER of the client
   * certificate TLS verified; undefined only for in-memory transports.
   */
  acceptSession(stream: FrameStream, certRaw: Buffer | undefined, requireCert = true): void {
    this.sessions.acceptSession(stream, certRaw, requireCert);
  }
  /**
   * Offer an advertisement received from `from` (a peer domain) to the table;
   * flood it on if accepted. Returns the notification to send back when rejected.
   */
  receiveAdvert(bytes: Buffer, from: string | undefined, kind: 'advertisement' | 'withdrawal' = 'advertisement'): NotificationMsg | undefined {
    return this.flooding.receiveAdvert(bytes, from, kind);
  }
  /** Sign and flood our advertisement now (built from inventory and the last usage read). */
  originate(why: string): SignedAdvert<AdvertBody> | undefined {
    return this.origin.originate(why);
  }
  /** Read used bandwidth per link/class from the store (current slot). */
  pollStore(): Promise<void> {
    return this.origin.pollStore();
  }
  /** Re-advertise if capacity moved past the threshold, at most once per readvertiseMinIntervalMs. */
  maybeReadvertise(): void {
    this.origin.maybeReadvertise();
  }
  /** Our registration (provider). */
  ownRegistration(): RegistrationMsg {
    return this.registry.ownRegistration();
  }
  /**
   * Exchange: a provider registers. `certRaw` is its verified client
   * certificate. Returns an error message to refuse, else streams registrations on `out`.
   */
  register(reg: RegistrationMsg, certRaw: Buffer | undefined, out: { write(r: RegistrationMsg): unknown; on(e: 'cancelled' | 'close', cb: () => void): unknown }, requireCert = true): string | undefined {
    return this.registry.register(reg, certRaw, out, requireCert);
  }

  /** Reload: new inventory (capacities set in the store, re-advertised) and tunables. */
  async updateOptions(next: Partial<Pick<PeeringOptions, 'inventory' | 'readvertiseThreshold' | 'readvertiseMinIntervalMs' | 'originKeys'>>): Promise<void> {
    const ctx = this.ctx;
    if (next.originKeys) for (const [d, k] of Object.entries(next.originKeys)) ctx.setKey(d, k, 'config');
    if (next.readvertiseThreshold !== undefined) ctx.opts = { ...ctx.opts, readvertiseThreshold: next.readvertiseThreshold };
    if (next.readvertiseMinIntervalMs !== undefined) ctx.opts = { ...ctx.opts, readvertiseMinIntervalMs: next.readvertiseMinIntervalMs };
    if (next.inventory) {
      ctx.opts = { ...ctx.opts, inventory: next.inventory };
      if (ctx.opts.store) await this.origin.applyCapacities();
      await this.origin.pollStore();
      this.origin.maybeReadvertise();
    }
  }

  // ---------------------------------------------------------------- views

  peerViews(): PeerView[] {
    return [...this.ctx.peers.values()]
      .sort((a, b) => a.spec.domain.localeCompare(b.spec.domain))
      .map((r) => {
        const s = r.session;
        const sum = (o: Record<string, number> | undefined) => Object.values(o ?? {}).reduce((x, y) => x + y, 0);
        return {
          domain: r.spec.domain,
          address: r.spec.address ?? null,
          state: r.state,
          direction: s ? (s.dialer ? 'outbound' : 'inbound') : null,
          since: new Date(r.since).toISOString(),
          holdTimeS: s?.holdTimeS ?? null,
          brokerId: s?.remote?.broker_id ?? null,
          attempts: r.attempts,
          lastError: r.lastError ?? null,
          framesSent: sum(s?.sent),
          framesReceived: sum(s?.received),
          registeredWithExchange: !!r.spec.register && r.state === 'established',
        };
      });
  }

  domainViews(): DomainView[] {
    this.prune();
    const names = new Set<string>([this.ctx.opts.domain, ...this.ctx.table.entries().map((a) => a.envelope.origin), ...this.registry.registrations.keys(), ...this.flooding.withdrawnOrigins]);
    return [...names].sort().map((d) => {
      const a = this.ctx.table.get(d);
      const reg = this.registry.registrations.get(d);
      const body = a && !isWithdrawal(a.envelope.body) ? a.envelope.body : undefined;
      const classes = new Set<string>();
      for (const e of [...(body?.transits ?? []), ...(body?.links ?? [])]) for (const c of Object.keys(e.classes)) classes.add(c);
      for (const c of reg?.service?.classes ?? []) classes.add(c);
      return {
        domain: d,
        self: d === this.ctx.opts.domain,
        seq: a?.envelope.seq ?? null,
        issuedAt: a ? new Date(a.envelope.issuedAt).toISOString() : null,
        expiresAt: a ? new Date(a.envelope.expiresAt).toISOString() : null,
        withdrawn: this.flooding.withdrawnOrigins.has(d),
        keySource: this.ctx.keySource.get(d) ?? null,
        registered: !!reg,
        peeringAddress: reg?.domain?.peering_address || null,
        classes: [...classes].sort(),
      };
    });
  }

  /** Current advertisements (not withdrawn, not expired). */
  adverts(): SignedAdvert<DomainAdvertisement>[] {
    this.prune();
    return this.ctx.table.entries().filter((a) => !isWithdrawal(a.envelope.body)) as SignedAdvert<DomainAdvertisement>[];
  }

  // ---------------------------------------------------------------- lifecycle

  /** Drain: withdraw our advertisement (signed), close sessions with a notification, stop timers. */
  async stop(): Promise<void> {
    const ctx = this.ctx;
    if (ctx.stopped) return;
    if (ctx.opts.role === 'provider' && ctx.opts.inventory && this.origin.lastOriginated) {
      const w = this.origin.sign({ withdrawn: true }, ctx.lifetimeMs);
      ctx.table.offer(w);
      ctx.table.withdraw(ctx.opts.domain);
      this.flooding.flood(w, undefined);
      ctx.opts.hooks?.originated?.(w);
    }
    ctx.stopped = true;
    for (const t of ctx.timers) clearInterval(t);
    this.origin.stopTimers();
    this.sessions.closeAll();
  }
}
