/**
 * The peering core of one broker: configured peers and their sessions, the
 * table of signed advertisements (newest per origin), flooding, origination
 * of this domain's own advertisement from inventory and live state, and the
 * exchange registry. One object, one path for state changes; the gRPC
 * handlers (server.ts) and the admin endpoint are thin adapters over it.
 */
import { createHash, type KeyObject } from 'node:crypto';
import { AdvertTable, canonicalJson, rawPublicKey, signAdvert, toPublicKey, type SignedAdvert, type AdvertRejectReason, ADVERT_REJECT_REASONS } from './advert.js';
import { PeerSession, backoffDelay, BACKOFF_DEFAULTS, type BackoffOptions, type FrameStream, type PeerState, PEER_STATES, frameKind } from './session.js';
import { checkPeerCertificate, type PeerPin } from './tls.js';
import type { NotificationMsg, OpenMsg, PeerFrame, RegistrationMsg } from './proto.js';
import {
  buildAdvertisement,
  capacityMovedPastThreshold,
  inventoryCapacities,
  isWithdrawal,
  usageKey,
  validateAdvertBody,
  type AdvertBody,
  type Inventory,
  type UsageMap,
} from './origin.js';
import type { ResourceStore } from '../state/store.js';
import type { DomainAdvertisement } from '../topology/types.js';
import type { Logger } from '../logger.js';
import { PEERING_DEFAULTS } from './defaults.js';

/** One configured peer. */
export interface PeerSpec extends PeerPin {
  /** host:port to dial; without it the peer is passive (we only accept its sessions). */
  address?: string;
  /** The peer's Ed25519 advertisement key (raw base64); when set, its Open and adverts must use it. */
  publicKey?: string;
  /** The peer is an exchange: register with it (Registry.Register). @default false */
  register?: boolean;
}

/** A stream of registrations from an exchange, as the transport delivers it. */
export interface RegistrationStream {
  on(event: 'data', cb: (r: RegistrationMsg) => void): unknown;
  on(event: 'end' | 'close', cb: () => void): unknown;
  on(event: 'error', cb: (err: Error) => void): unknown;
  cancel(): void;
}

/** How the core reaches other brokers (gRPC in the daemon, in-memory in the bench). */
export interface PeeringTransport {
  /**
   * Connect to the peer (state `connecting`: TCP, TLS and the identity pin)
   * and open a session stream; rejects if the peer cannot be reached or is not who it should be.
   */
  dialSession(peer: PeerSpec): Promise<FrameStream>;
  dialRegistry(peer: PeerSpec, registration: RegistrationMsg): RegistrationStream;
  /** Forget connections to a removed peer. */
  dropPeer(peer: PeerSpec): void;
}

/** Optional observers (metrics). */
export interface PeeringHooks {
  /** An advertisement was accepted `seconds` after its origin issued it. */
  convergence?(seconds: number): void;
  /** A frame received on a session was handled in `seconds`. */
  frame?(kind: string, seconds: number): void;
}

/** Options of PeeringCore; see PEERING_DEFAULTS. */
export interface PeeringOptions {
  role: 'provider' | 'exchange';
  domain: string;
  brokerId: string;
  /** Ed25519 key that signs this domain's advertisements. Secret. */
  signingKey: KeyObject;
  peers: PeerSpec[];
  /** Keys of origins that are not direct peers (raw base64 or PEM), by domain id. @default {} */
  originKeys?: Record<string, string>;
  /** Where this broker accepts peering sessions, told to exchanges. @default "" */
  peeringAddress?: string;
  /** Proposed hold time, s. @default 90 */
  holdTimeS?: number;
  /** Lifetime of our advertisements, s; they are refreshed after a third of it. @default 3 * holdTimeS */
  advertLifetimeS?: number;
  /** Re-advertise when available bandwidth of a class moved by this fraction of its capacity. @default 0.1 */
  readvertiseThreshold?: number;
  /** At most one re-advertisement per this many ms. @default 1000 */
  readvertiseMinIntervalMs?: number;
  /** How often live state is read from the store, ms. @default 1000 */
  pollIntervalMs?: number;
  /** How long an exchange keeps a registration after its stream closed, ms. @default 300000 */
  registrationTtlMs?: number;
  backoff?: Partial<BackoffOptions>;
  inventory?: Inventory;
  store?: ResourceStore;
  transport: PeeringTransport;
  log?: Logger;
  hooks?: PeeringHooks;
  now?: () => number;
}

export { PEERING_DEFAULTS };

/** Runtime record of a configured peer. */
interface PeerRecord {
  spec: PeerSpec;
  state: PeerState;
  session: PeerSession | undefined;
  pending: Set<PeerSession>;
  attempts: number;
  retryTimer: NodeJS.Timeout | undefined;
  lastError: string | undefined;
  since: number;
  registry: RegistrationStream | undefined;
  registryTimer: NodeJS.Timeout | undefined;
  registryAttempts: number;
  removed: boolean;
  /** A dial is in progress (state connecting). */
  dialing: boolean;
}

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

const CAPABILITIES = ['advert-v1', 'registry-v1'];

/** Identity of an exact advertisement (envelope and signature), for telling flooding duplicates from replays. */
function fingerprintOf(a: unknown): string | undefined {
  try {
    return createHash('sha256').update(canonicalJson(a)).digest('base64');
  } catch {
    return undefined;
  }
}

export class PeeringCore {
  readonly table: AdvertTable<AdvertBody>;
  readonly peers = new Map<string, PeerRecord>();
  /** Counters read at scrape time. */
  readonly stats = {
    advertsSent: { advertisement: 0, withdrawal: 0 } as Record<string, number>,
    advertsReceived: 0,
    advertsDuplicate: 0,
    advertsAccepted: 0,
    rejected: Object.fromEntries(ADVERT_REJECT_REASONS.map((r) => [r, 0])) as Record<AdvertRejectReason, number>,
    originated: 0,
    agedOut: 0,
    sessionsRefused: {} as Record<string, number>,
  };
  /** Registrations held (exchange) or received from exchanges (provider), by domain. */
  readonly registrations = new Map<string, RegistrationMsg>();
  /** Last used-bandwidth map read from the store. */
  usage: UsageMap = new Map();
  private readonly keySource = new Map<string, string>();
  private readonly knownKeys = new Map<string, string>();
  private readonly lastSignature = new Map<string, string | undefined>();
  private readonly withdrawnOrigins = new Set<string>();
  /** Origins with a current (not withdrawn) advertisement, to notice expiry. */
  private readonly heldOrigins = new Set<string>();
  private readonly registryStreams = new Map<string, { write(r: RegistrationMsg): unknown }>();
  private opts: PeeringOptions;
  private readonly log: Logger;
  private readonly now: () => number;
  private lastOriginated: DomainAdvertisement | undefined;
  private lastOriginatedAt = 0;
  private seq = 0;
  private timers: NodeJS.Timeout[] = [];
  private readvertiseTimer: NodeJS.Timeout | undefined;
  private refreshTimer: NodeJS.Timeout | undefined;
  private stopped = false;
  private polling = false;

  constructor(opts: PeeringOptions) {
    this.opts = opts;
    this.log = opts.log ?? (() => {});
    this.now = opts.now ?? Date.now;
    this.table = new AdvertTable<AdvertBody>({ now: this.now, validateBody: validateAdvertBody });
    this.setKey(opts.domain, this.publicKeyRaw, 'self');
    for (const [d, k] of Object.entries(opts.originKeys ?? {})) this.setKey(d, k, 'config');
    for (const p of opts.peers) this.addPeer(p);
  }

  get domain(): string {
    return this.opts.domain;
  }
  get holdTimeS(): number {
    return this.opts.holdTimeS ?? PEERING_DEFAULTS.holdTimeS;
  }
  private get lifetimeMs(): number {
    return (this.opts.advertLifetimeS ?? 3 * this.holdTimeS) * 1000;
  }
  get publicKeyRaw(): string {
    return rawPublicKey(this.opts.signingKey);
  }

  /** Start dialing peers, originate our advertisement, start timers. */
  async start(): Promise<void> {
    if (this.opts.store && this.opts.inventory) await this.applyCapacities();
    for (const rec of this.peers.values()) this.kick(rec);
    if (this.opts.role === 'provider' && this.opts.inventory) {
      await this.pollStore();
      this.originate('start');
      this.every(this.opts.pollIntervalMs ?? PEERING_DEFAULTS.pollIntervalMs, () => void this.pollStore().then(() => this.maybeReadvertise()));
    }
    this.every(500, () => this.prune());
  }

  private every(ms: number, fn: () => void): void {
    const t = setInterval(fn, ms);
    t.unref();
    this.timers.push(t as unknown as NodeJS.Timeout);
  }

  private setKey(domain: string, key: string, source: string): void {
    this.table.setOriginKey(domain, key);
    this.keySource.set(domain, source);
    this.knownKeys.set(domain, rawPublicKey(toPublicKey(key)));
  }

  // ---------------------------------------------------------------- peers

  /** Add a configured peer (also on reload) and start dialing it if it has an address. */
  addPeer(spec: PeerSpec): void {
    if (this.peers.has(spec.domain)) throw new Error(`peer ${spec.domain} is configured twice`);
    if (spec.publicKey) this.setKey(spec.domain, spec.publicKey, 'config');
    const rec: PeerRecord = {
      spec,
      state: 'idle',
      session: undefined,
      pending: new Set(),
      attempts: 0,
      retryTimer: undefined,
      lastError: undefined,
      since: this.now(),
      registry: undefined,
      registryTimer: undefined,
      registryAttempts: 0,
      removed: false,
      dialing: false,
    };
    this.peers.set(spec.domain, rec);
    if (this.timers.length) this.kick(rec);
  }

  /** Remove a configured peer (reload): close its sessions, stop dialing. */
  removePeer(domain: string): void {
    const rec = this.peers.get(domain);
    if (!rec) return;
    rec.removed = true;
    this.peers.delete(domain);
    if (rec.retryTimer) clearTimeout(rec.retryTimer);
    if (rec.registryTimer) clearTimeout(rec.registryTimer);
    rec.registry?.cancel();
    rec.session?.close('peer-removed', 'the peer was removed from the configuration');
    for (const s of rec.pending) s.close('peer-removed', 'the peer was removed from the configuration');
    this.opts.transport.dropPeer(rec.spec);
    if (this.keySource.get(domain) === 'peer-open') {
      this.keySource.delete(domain);
    }
    this.log('info', 'peer removed', { peer: domain });
  }

  /** Peers by state, for metrics. */
  peerStateCounts(): Record<PeerState, number> {
    const c = Object.fromEntries(PEER_STATES.map((s) => [s, 0])) as Record<PeerState, number>;
    for (const r of this.peers.values()) c[r.state] += 1;
    return c;
  }

  private setState(rec: PeerRecord, state: PeerState): void {
    if (rec.state === state) return;
    this.log('info', 'peer state', { peer: rec.spec.domain, from: rec.state, to: state });
    rec.state = state;
    rec.since = this.now();
  }

  private kick(rec: PeerRecord): void {
    if (rec.spec.address && !rec.spec.register) this.dial(rec);
    if (rec.spec.register && rec.spec.address && this.opts.role === 'provider') this.registerWith(rec);
  }

  private localOpen(): OpenMsg {
    return {
      domain_id: this.opts.domain,
      broker_id: this.opts.brokerId,
      public_key: this.publicKeyRaw,
      capabilities: CAPABILITIES,
      hold_time_s: this.holdTimeS,
    };
  }

  private dial(rec: PeerRecord): void {
    if (this.stopped || rec.removed || rec.dialing) return;
    if (rec.session) return; // an inbound session is up: no need to dial
    this.setState(rec, 'connecting');
    rec.dialing = true;
    this.opts.transport.dialSession(rec.spec).then(
      (stream) => {
        rec.dialing = false;
        if (this.stopped || rec.removed || rec.session) {
          // the peer dialed us meanwhile (or we stop): drop this stream; its CANCELLED 'error' is expected
          stream.on('error', () => {});
          stream.end();
          stream.cancel?.();
          return;
        }
        const s = this.newSession(rec, stream, true, undefined);
        if (s.state === 'open-sent' && !rec.session) this.setState(rec, 'open-sent');
      },
      (err: unknown) => {
        rec.dialing = false;
        rec.lastError = err instanceof Error ? err.message : String(err);
        if (!rec.session) this.setState(rec, 'idle');
        this.scheduleRedial(rec);
      },
    );
  }

  private scheduleRedial(rec: PeerRecord): void {
    if (this.stopped || rec.removed || !rec.spec.address || rec.spec.register) return;
    if (rec.retryTimer) clearTimeout(rec.retryTimer);
    const delay = backoffDelay(rec.attempts, { ...BACKOFF_DEFAULTS, ...this.opts.backoff });
    rec.attempts += 1;
    rec.retryTimer = setTimeout(() => {
      rec.retryTimer = undefined;
      this.dial(rec);
    }, delay);
    rec.retryTimer.unref();
  }

  /**
   * Accept a session dialed by a peer. `certRaw` is the DER of the client
   * certificate TLS verified; undefined only for in-memory transports.
   */
  acceptSession(stream: FrameStream, certRaw: Buffer | undefined, requireCert = true): void {
    this.newSession(undefined, stream, false, { certRaw, requireCert });
  }

  private refuse(code: string, message: string, fields: Record<string, unknown>): NotificationMsg {
    this.stats.sessionsRefused[code] = (this.stats.sessionsRefused[code] ?? 0) + 1;
    this.log('warn', 'peer session refused', { code, reason: message, ...fields });
    return { code, message, close: true };
  }

  private newSession(dialedRec: PeerRecord | undefined, stream: FrameStream, dialer: boolean, inbound?: { certRaw: Buffer | undefined; requireCert: boolean }): PeerSession {
    let rec = dialedRec;
    const session = new PeerSession({
      stream,
      local: this.localOpen(),
      dialer,
      checkOpen: (open) => {
        if (!rec) {
          rec = this.peers.get(open.domain_id);
          if (!rec) return this.refuse('unknown-peer', `domain ${open.domain_id} is not a configured peer of ${this.opts.domain}`, { peer: open.domain_id });
          rec.pending.add(session);
          if (inbound && (inbound.requireCert || inbound.certRaw)) {
            const why = checkPeerCertificate(inbound.certRaw, rec.spec);
            if (why) return this.refuse('identity-mismatch', why, { peer: open.domain_id });
          }
        } else if (open.domain_id !== rec.spec.domain) {
          return this.refuse('identity-mismatch', `dialed ${rec.spec.domain} but the peer says it is ${open.domain_id}`, { peer: rec.spec.domain });
        }
        const want = this.keySource.get(open.domain_id) !== 'peer-open' ? this.knownKey(open.domain_id) : undefined;
        if (want && want !== open.public_key) {
          return this.refuse('key-mismatch', `${open.domain_id} opened with advertisement key ${open.public_key}, not the one configured for it`, { peer: open.domain_id });
        }
        return undefined;
      },
      onEstablished: (s) => this.established(rec!, s),
      onFrame: (s, f) => this.onFrame(rec!, s, f),
      onClose: (s, why) => this.sessionClosed(rec, s, why),
    });
    if (rec) rec.pending.add(session);
    return session;
  }

  private knownKey(domain: string): string | undefined {
    return this.knownKeys.get(domain);
  }

  private established(rec: PeerRecord, s: PeerSession): void {
    rec.pending.delete(s);
    const existing = rec.session;
    if (existing && existing !== s && existing.state === 'established') {
      // Collision: both sides dialed. Keep the session dialed by the smaller domain id (both sides agree).
      const dialerOf = (x: PeerSession) => (x.dialer ? this.opts.domain : rec.spec.domain);
      const [keep, drop] = dialerOf(s) < dialerOf(existing) ? [s, existing] : [existing, s];
      rec.session = keep;
      drop.close('collision', `a session with ${rec.spec.domain} already exists`);
      if (keep === existing) return;
    }
    rec.session = s;
    rec.attempts = 0;
    rec.lastError = undefined;
    if (rec.retryTimer) clearTimeout(rec.retryTimer);
    this.setState(rec, 'established');
    const open = s.remote!;
    if (!this.keySource.has(open.domain_id) || this.keySource.get(open.domain_id) === 'peer-open') {
      try {
        this.setKey(open.domain_id, open.public_key, 'peer-open');
      } catch (err) {
        return s.close('bad-open', `public_key: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
    this.log('info', 'peer established', { peer: rec.spec.domain, broker_id: open.broker_id, hold_time_s: s.holdTimeS });
    for (const a of this.table.entries()) this.sendAdvert(s, a);
    // Withdrawals still valid: a peer that missed one would otherwise keep the advert until it expires.
    for (const w of this.withdrawals.values()) if (w.envelope.expiresAt > this.now()) this.sendAdvert(s, w);
  }

  private sessionClosed(rec: PeerRecord | undefined, s: PeerSession, why: string): void {
    if (!rec) return void this.log('info', 'session closed before open', { reason: why });
    rec.pending.delete(s);
    if (rec.session !== s) {
      if (!rec.session && rec.pending.size === 0 && !rec.removed) {
        rec.lastError = why;
        this.setState(rec, 'idle');
        this.scheduleRedial(rec);
      }
      return;
    }
    rec.session = undefined;
    rec.lastError = why;
    this.log('info', 'peer session closed', { peer: rec.spec.domain, reason: why });
    if (!rec.removed) {
      this.setState(rec, 'idle');
      this.scheduleRedial(rec);
    }
  }

  // ---------------------------------------------------------------- flooding

  private sendAdvert(s: PeerSession, a: SignedAdvert<AdvertBody>): void {
    const bytes = Buffer.from(JSON.stringify(a));
    const kind = isWithdrawal(a.envelope.body) ? 'withdrawal' : 'advertisement';
    s.send(kind === 'withdrawal' ? { withdrawal: { signed_advert: bytes } } : { advertisement: { signed_advert: bytes } });
    this.stats.advertsSent[kind] = (this.stats.advertsSent[kind] ?? 0) + 1;
  }

  private flood(a: SignedAdvert<AdvertBody>, except: string | undefined): void {
    for (const rec of this.peers.values()) {
      if (rec.spec.domain === except || !rec.session || rec.session.state !== 'established') continue;
      this.sendAdvert(rec.session, a);
    }
  }

  private onFrame(rec: PeerRecord, s: PeerSession, f: PeerFrame): void {
    const kind = frameKind(f);
    const t0 = performance.now();
    try {
      this.handleFrame(rec, s, f, kind);
    } finally {
      this.opts.hooks?.frame?.(kind, (performance.now() - t0) / 1000);
    }
  }

  private handleFrame(rec: PeerRecord, s: PeerSession, f: PeerFrame, kind: string): void {
    if (kind === 'advertisement' || kind === 'withdrawal') {
      const bytes = (f.advertisement ?? f.withdrawal)!.signed_advert;
      const refusal = this.receiveAdvert(Buffer.from(bytes), rec.spec.domain, kind);
      if (refusal) s.send({ notification: refusal });
    } else if (kind === 'notification') {
      const n = f.notification!;
      this.log('warn', 'peer notification', { peer: rec.spec.domain, code: n.code, reason: n.reason, origin: n.origin, message: n.message });
    }
  }

  /**
   * Offer an advertisement received from `from` (a peer domain) to the table;
   * flood it on if accepted. Returns the notification to send back when rejected.
   */
  receiveAdvert(bytes: Buffer, from: string | undefined, kind: 'advertisement' | 'withdrawal' = 'advertisement'): NotificationMsg | undefined {
    this.stats.advertsReceived += 1;
    let parsed: SignedAdvert<AdvertBody> | undefined;
    try {
      parsed = JSON.parse(bytes.toString('utf8')) as SignedAdvert<AdvertBody>;
    } catch {
      parsed = undefined;
    }
    const origin = parsed?.envelope?.origin;
    const fp = parsed ? fingerprintOf(parsed) : undefined;
    if (fp !== undefined && typeof origin === 'string' && this.lastSignature.get(origin) === fp) {
      this.stats.advertsDuplicate += 1;
      return undefined;
    }
    const body = parsed?.envelope?.body as Record<string, unknown> | undefined;
    if (body && typeof body === 'object') {
      const withdrawn = body.withdrawn === true;
      const mismatch = withdrawn ? kind !== 'withdrawal' : kind !== 'advertisement' || body.origin !== origin;
      if (mismatch) {
        this.stats.rejected.malformed += 1;
        const message = `malformed ${kind} from ${from ?? 'a peer'}: the body does not match the frame kind or the envelope origin`;
        this.log('warn', 'advertisement rejected', { from, reason: 'malformed', origin, message });
        return { code: 'advert-rejected', message, close: false, reason: 'malformed', origin: typeof origin === 'string' ? origin : '' };
      }
    }
    const decision = this.table.offer(parsed ?? bytes);
    if (!decision.accepted) {
      this.stats.rejected[decision.reason] += 1;
      this.log('warn', 'advertisement rejected', { from, reason: decision.reason, origin: decision.origin, message: decision.error.message });
      return { code: 'advert-rejected', message: decision.error.message, close: false, reason: decision.reason, origin: decision.origin ?? '' };
    }
    const a = decision.advert;
    this.stats.advertsAccepted += 1;
    this.lastSignature.set(a.envelope.origin, fingerprintOf(a));
    this.opts.hooks?.convergence?.(Math.max(0, (this.now() - a.envelope.issuedAt) / 1000));
    if (isWithdrawal(a.envelope.body)) {
      this.table.withdraw(a.envelope.origin);
      this.heldOrigins.delete(a.envelope.origin);
      this.withdrawnOrigins.add(a.envelope.origin);
      this.log('info', 'advertisement withdrawn', { origin: a.envelope.origin, seq: a.envelope.seq, from });
      this.flood(a, from);
      this.withdrawals.set(a.envelope.origin, a);
    } else {
      this.withdrawnOrigins.delete(a.envelope.origin);
      this.heldOrigins.add(a.envelope.origin);
      this.withdrawals.delete(a.envelope.origin);
      this.log('debug', 'advertisement accepted', { origin: a.envelope.origin, seq: a.envelope.seq, from });
      this.flood(a, from);
    }
    return undefined;
  }
  private readonly withdrawals = new Map<string, SignedAdvert<AdvertBody>>();

  private prune(): void {
    // AdvertTable drops expired entries lazily (also inside get/entries), so compare with what we held.
    const current = new Set(this.table.entries().map((a) => a.envelope.origin));
    for (const origin of this.heldOrigins) {
      if (current.has(origin)) continue;
      this.heldOrigins.delete(origin);
      this.stats.agedOut += 1;
      this.lastSignature.delete(origin);
      this.log('info', 'advertisement aged out', { origin });
    }
    for (const [origin, w] of this.withdrawals) if (w.envelope.expiresAt <= this.now()) this.withdrawals.delete(origin);
    for (const [d, r] of this.registrations) {
      if (this.opts.role === 'exchange' && r.expires_at_ms && r.expires_at_ms <= this.now() && !this.registryStreams.has(d)) {
        this.registrations.delete(d);
        this.broadcastRegistration({ ...r, removed: true });
        this.log('info', 'registration expired', { domain: d });
      }
    }
  }

  // ---------------------------------------------------------------- origination

  private nextSeq(): number {
    this.seq = Math.max(this.seq + 1, this.now(), this.table.highestSeq(this.opts.domain) + 1);
    return this.seq;
  }

  private sign(body: AdvertBody, lifetimeMs: number): SignedAdvert<AdvertBody> {
    const issuedAt = this.now();
    return signAdvert({ origin: this.opts.domain, seq: this.nextSeq(), issuedAt, expiresAt: issuedAt + lifetimeMs, body }, this.opts.signingKey);
  }

  /** Sign and flood our advertisement now (built from inventory and the last usage read). */
  originate(why: string): SignedAdvert<AdvertBody> | undefined {
    if (!this.opts.inventory || this.stopped) return undefined;
    const body = buildAdvertisement(this.opts.domain, this.opts.inventory, this.usage);
    const a = this.sign(body, this.lifetimeMs);
    const d = this.table.offer(a);
    if (!d.accepted) {
      this.log('error', 'own advertisement refused by the table', { reason: d.reason, message: d.error.message });
      return undefined;
    }
    this.lastSignature.set(this.opts.domain, fingerprintOf(a));
    this.lastOriginated = body;
    this.heldOrigins.add(this.opts.domain);
    this.lastOriginatedAt = this.now();
    this.stats.originated += 1;
    this.log('info', 'advertisement originated', { seq: a.envelope.seq, reason: why, expires_at: new Date(a.envelope.expiresAt).toISOString() });
    this.flood(a, undefined);
    if (this.refreshTimer) clearTimeout(this.refreshTimer);
    this.refreshTimer = setTimeout(() => this.originate('refresh'), this.lifetimeMs / 3);
    this.refreshTimer.unref();
    return a;
  }

  private async applyCapacities(): Promise<void> {
    const store = this.opts.store!;
    for (const c of inventoryCapacities(this.opts.inventory!)) await store.setCapacity(c.link, c.cls, c.capacityBps);
  }

  /** Read used bandwidth per link/class from the store (current slot). */
  async pollStore(): Promise<void> {
    if (!this.opts.store || this.polling) return;
    this.polling = true;
    try {
      const m: UsageMap = new Map();
      for (const u of await this.opts.store.utilisation()) m.set(usageKey(u.link, u.cls), u.usedBps);
      this.usage = m;
    } catch (err) {
      this.log('warn', 'reading live state failed', { error: err instanceof Error ? err.message : String(err) });
    } finally {
      this.polling = false;
    }
  }

  /** Re-advertise if capacity moved past the threshold, at most once per readvertiseMinIntervalMs. */
  maybeReadvertise(): void {
    if (!this.opts.inventory || !this.lastOriginated || this.stopped) return;
    const next = buildAdvertisement(this.opts.domain, this.opts.inventory, this.usage);
    if (!capacityMovedPastThreshold(this.lastOriginated, next, this.opts.readvertiseThreshold ?? PEERING_DEFAULTS.readvertiseThreshold)) return;
    const wait = this.lastOriginatedAt + (this.opts.readvertiseMinIntervalMs ?? PEERING_DEFAULTS.readvertiseMinIntervalMs) - this.now();
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

  /** Reload: new inventory (capacities set in the store, re-advertised) and tunables. */
  async updateOptions(next: Partial<Pick<PeeringOptions, 'inventory' | 'readvertiseThreshold' | 'readvertiseMinIntervalMs' | 'originKeys'>>): Promise<void> {
    if (next.originKeys) for (const [d, k] of Object.entries(next.originKeys)) this.setKey(d, k, 'config');
    if (next.readvertiseThreshold !== undefined) this.opts = { ...this.opts, readvertiseThreshold: next.readvertiseThreshold };
    if (next.readvertiseMinIntervalMs !== undefined) this.opts = { ...this.opts, readvertiseMinIntervalMs: next.readvertiseMinIntervalMs };
    if (next.inventory) {
      this.opts = { ...this.opts, inventory: next.inventory };
      if (this.opts.store) await this.applyCapacities();
      await this.pollStore();
      this.maybeReadvertise();
    }
  }

  // ---------------------------------------------------------------- registry

  /** Our registration (provider). */
  ownRegistration(): RegistrationMsg {
    const inv = this.opts.inventory;
    const classes = new Set<string>();
    for (const e of [...(inv?.transits ?? []), ...(inv?.links ?? [])]) for (const c of Object.keys(e.classes)) classes.add(c);
    return {
      domain: {
        domain_id: this.opts.domain,
        broker_id: this.opts.brokerId,
        public_key: this.publicKeyRaw,
        peering_address: this.opts.peeringAddress ?? '',
        borders: inv?.borders ?? [],
      },
      service: {
        classes: [...classes].sort(),
        sites: (inv?.sites ?? []).map((s) => s.id),
        currency: inv?.prices.currency ?? '',
        price_per_mbps_hour: { ...(inv?.prices.perMbpsHour ?? {}) },
      },
    };
  }

  private registerWith(rec: PeerRecord): void {
    if (this.stopped || rec.removed) return;
    this.setState(rec, 'connecting');
    const stream = this.opts.transport.dialRegistry(rec.spec, this.ownRegistration());
    rec.registry = stream;
    let up = false;
    stream.on('data', (r) => {
      if (!up) {
        up = true;
        rec.registryAttempts = 0;
        this.setState(rec, 'established');
        this.log('info', 'registered with exchange', { exchange: rec.spec.domain });
      }
      this.learnRegistration(r, rec.spec.domain);
    });
    let done = false;
    const end = (why: string) => {
      if (done) return;
      done = true;
      rec.registry = undefined;
      rec.lastError = why;
      if (rec.removed || this.stopped) return;
      this.setState(rec, 'idle');
      const delay = backoffDelay(rec.registryAttempts++, { ...BACKOFF_DEFAULTS, ...this.opts.backoff });
      rec.registryTimer = setTimeout(() => this.registerWith(rec), delay);
      rec.registryTimer.unref();
    };
    stream.on('error', (err) => end(`registry stream error: ${err.message}`));
    stream.on('end', () => end('registry stream ended'));
  }

  private learnRegistration(r: RegistrationMsg, via: string): void {
    const d = r.domain?.domain_id;
    if (!d) return;
    if (r.removed) {
      this.registrations.delete(d);
      return;
    }
    this.registrations.set(d, r);
    if (d !== this.opts.domain && r.domain?.public_key) {
      const src = this.keySource.get(d);
      if (!src || src === 'registration') {
        try {
          this.setKey(d, r.domain.public_key, 'registration');
        } catch (err) {
          this.log('warn', 'registration with a bad key ignored', { domain: d, via, error: err instanceof Error ? err.message : String(err) });
        }
      } else if (this.knownKey(d) && this.knownKey(d) !== r.domain.public_key) {
        this.log('warn', 'registration key differs from the configured key; configured key kept', { domain: d, via });
      }
    }
    this.log('info', 'registration received', { domain: d, via });
  }

  /**
   * Exchange: a provider registers. `certRaw` is its verified client
   * certificate. Returns an error message to refuse, else streams registrations on `out`.
   */
  register(reg: RegistrationMsg, certRaw: Buffer | undefined, out: { write(r: RegistrationMsg): unknown; on(e: 'cancelled' | 'close', cb: () => void): unknown }, requireCert = true): string | undefined {
    if (this.opts.role !== 'exchange') return `${this.opts.domain} is a provider, not an exchange`;
    const d = reg.domain?.domain_id ?? '';
    const rec = this.peers.get(d);
    if (!rec) return `domain ${JSON.stringify(d)} is not a configured peer of exchange ${this.opts.domain}`;
    if (requireCert || certRaw) {
      const why = checkPeerCertificate(certRaw, rec.spec);
      if (why) return why;
    }
    try {
      toPublicKey(reg.domain!.public_key);
    } catch (err) {
      return `domain.public_key: ${err instanceof Error ? err.message : String(err)}`;
    }
    if (rec.spec.publicKey && rec.spec.publicKey !== reg.domain!.public_key) return `domain.public_key is not the key configured for ${d}`;
    const now = this.now();
    const stored: RegistrationMsg = { ...reg, registered_at_ms: now, expires_at_ms: now + (this.opts.registrationTtlMs ?? PEERING_DEFAULTS.registrationTtlMs), removed: false };
    this.registrations.set(d, stored);
    this.learnRegistration(stored, d);
    this.setState(rec, 'established');
    const prev = this.registryStreams.get(d);
    this.registryStreams.set(d, out);
    void prev;
    for (const r of this.registrations.values()) out.write(r);
    this.broadcastRegistration(stored, d);
    const gone = () => {
      if (this.registryStreams.get(d) !== out) return;
      this.registryStreams.delete(d);
      const r = this.registrations.get(d);
      if (r) r.expires_at_ms = this.now() + (this.opts.registrationTtlMs ?? PEERING_DEFAULTS.registrationTtlMs);
      if (this.peers.get(d) === rec) this.setState(rec, 'idle');
      this.log('info', 'provider registry stream closed', { domain: d });
    };
    out.on('cancelled', gone);
    out.on('close', gone);
    return undefined;
  }

  private broadcastRegistration(r: RegistrationMsg, except?: string): void {
    for (const [d, s] of this.registryStreams) if (d !== except) s.write(r);
  }

  // ---------------------------------------------------------------- views

  peerViews(): PeerView[] {
    return [...this.peers.values()]
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
    const names = new Set<string>([this.opts.domain, ...this.table.entries().map((a) => a.envelope.origin), ...this.registrations.keys(), ...this.withdrawnOrigins]);
    return [...names].sort().map((d) => {
      const a = this.table.get(d);
      const reg = this.registrations.get(d);
      const body = a && !isWithdrawal(a.envelope.body) ? a.envelope.body : undefined;
      const classes = new Set<string>();
      for (const e of [...(body?.transits ?? []), ...(body?.links ?? [])]) for (const c of Object.keys(e.classes)) classes.add(c);
      for (const c of reg?.service?.classes ?? []) classes.add(c);
      return {
        domain: d,
        self: d === this.opts.domain,
        seq: a?.envelope.seq ?? null,
        issuedAt: a ? new Date(a.envelope.issuedAt).toISOString() : null,
        expiresAt: a ? new Date(a.envelope.expiresAt).toISOString() : null,
        withdrawn: this.withdrawnOrigins.has(d),
        keySource: this.keySource.get(d) ?? null,
        registered: !!reg,
        peeringAddress: reg?.domain?.peering_address || null,
        classes: [...classes].sort(),
      };
    });
  }

  /** Current advertisements (not withdrawn, not expired). */
  adverts(): SignedAdvert<DomainAdvertisement>[] {
    this.prune();
    return this.table.entries().filter((a) => !isWithdrawal(a.envelope.body)) as SignedAdvert<DomainAdvertisement>[];
  }

  // ---------------------------------------------------------------- lifecycle

  /** Drain: withdraw our advertisement (signed), close sessions with a notification, stop timers. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    if (this.opts.role === 'provider' && this.opts.inventory && this.lastOriginated) {
      const w = this.sign({ withdrawn: true }, this.lifetimeMs);
      this.table.offer(w);
      this.table.withdraw(this.opts.domain);
      this.flood(w, undefined);
    }
    this.stopped = true;
    for (const t of this.timers) clearInterval(t);
    if (this.refreshTimer) clearTimeout(this.refreshTimer);
    if (this.readvertiseTimer) clearTimeout(this.readvertiseTimer);
    for (const rec of this.peers.values()) {
      if (rec.retryTimer) clearTimeout(rec.retryTimer);
      if (rec.registryTimer) clearTimeout(rec.registryTimer);
      rec.registry?.cancel();
      rec.session?.close('shutdown', `${this.opts.domain} is shutting down`);
      for (const s of rec.pending) s.close('shutdown', `${this.opts.domain} is shutting down`);
      this.opts.transport.dropPeer(rec.spec);
    }
  }
}
