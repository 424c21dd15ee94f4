/**
 * Peer sessions: one record per configured peer, dialed with backoff when it
 * has an address, accepted when it dials us (its certificate and Open checked
 * against the configuration), one session kept when both dial.
 */
import type { PeeringContext, PeerRecord, PeerSpec } from './context.js';
import type { AdvertFlood } from './flood.js';
import type { NotificationMsg, OpenMsg } from './proto.js';
import type { ExchangeRegistry } from './registry.js';
import { PeerSession, backoffDelay, BACKOFF_DEFAULTS, PEER_STATES, type FrameStream, type PeerState } from './session.js';
import { checkPeerCertificate } from './tls.js';

const CAPABILITIES = ['advert-v1', 'registry-v1'];

/** The configured peers and their sessions: dialing with backoff, accepting, checking the Open, collisions, redials. */
export class PeerSessions {
  constructor(
    private readonly ctx: PeeringContext,
    private readonly flooding: AdvertFlood,
    private readonly registry: ExchangeRegistry,
  ) {}

  /** Add a configured peer (also on reload) and start dialing it if it has an address. */
  addPeer(spec: PeerSpec): void {
    if (this.ctx.peers.has(spec.domain)) throw new Error(`peer ${spec.domain} is configured twice`);
    if (spec.publicKey) this.ctx.setKey(spec.domain, spec.publicKey, 'config');
    const rec: PeerRecord = {
      spec,
      state: 'idle',
      session: undefined,
      pending: new Set(),
      attempts: 0,
      retryTimer: undefined,
      lastError: undefined,
      since: this.ctx.now(),
      registry: undefined,
      registryTimer: undefined,
      registryAttempts: 0,
      removed: false,
      dialing: false,
    };
    this.ctx.peers.set(spec.domain, rec);
    if (this.ctx.timers.length) this.kick(rec);
  }

  /** Remove a configured peer (reload): close its sessions, stop dialing. */
  removePeer(domain: string): void {
    const rec = this.ctx.peers.get(domain);
    if (!rec) return;
    rec.removed = true;
    this.ctx.peers.delete(domain);
    if (rec.retryTimer) clearTimeout(rec.retryTimer);
    if (rec.registryTimer) clearTimeout(rec.registryTimer);
    rec.registry?.cancel();
    rec.session?.close('peer-removed', 'the peer was removed from the configuration');
    for (const s of rec.pending) s.close('peer-removed', 'the peer was removed from the configuration');
    this.ctx.opts.transport.dropPeer(rec.spec);
    if (this.ctx.keySource.get(domain) === 'peer-open') {
      this.ctx.keySource.delete(domain);
    }
    this.ctx.log('info', 'peer removed', { peer: domain });
  }

  /** Peers by state, for metrics. */
  peerStateCounts(): Record<PeerState, number> {
    const c = Object.fromEntries(PEER_STATES.map((s) => [s, 0])) as Record<PeerState, number>;
    for (const r of this.ctx.peers.values()) c[r.state] += 1;
    return c;
  }

  kick(rec: PeerRecord): void {
    if (rec.spec.address && !rec.spec.register) this.dial(rec);
    if (rec.spec.register && rec.spec.address && this.ctx.opts.role === 'provider') this.registry.registerWith(rec);
  }

  private localOpen(): OpenMsg {
    return {
      domain_id: this.ctx.opts.domain,
      broker_id: this.ctx.opts.brokerId,
      public_key: this.ctx.publicKeyRaw,
      capabilities: CAPABILITIES,
      hold_time_s: this.ctx.holdTimeS,
    };
  }

  private dial(rec: PeerRecord): void {
    if (this.ctx.stopped || rec.removed || rec.dialing) return;
    if (rec.session) return; // an inbound session is up: no need to dial
    this.ctx.setState(rec, 'connecting');
    rec.dialing = true;
    this.ctx.opts.transport.dialSession(rec.spec).then(
      (stream) => {
        rec.dialing = false;
        if (this.ctx.stopped || rec.removed || rec.session) {
          // the peer dialed us meanwhile (or we stop): drop this stream; its CANCELLED 'error' is expected
          stream.on('error', () => {});
          stream.end();
          stream.cancel?.();
          return;
        }
        const s = this.newSession(rec, stream, true, undefined);
        if (s.state === 'open-sent' && !rec.session) this.ctx.setState(rec, 'open-sent');
      },
      (err: unknown) => {
        rec.dialing = false;
        rec.lastError = err instanceof Error ? err.message : String(err);
        if (!rec.session) this.ctx.setState(rec, 'idle');
        this.scheduleRedial(rec);
      },
    );
  }

  private scheduleRedial(rec: PeerRecord): void {
    if (this.ctx.stopped || rec.removed || !rec.spec.address || rec.spec.register) return;
    if (rec.retryTimer) clearTimeout(rec.retryTimer);
    const delay = backoffDelay(rec.attempts, { ...BACKOFF_DEFAULTS, ...this.ctx.opts.backoff });
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
    this.ctx.stats.sessionsRefused[code] = (this.ctx.stats.sessionsRefused[code] ?? 0) + 1;
    this.ctx.log('warn', 'peer session refused', { code, reason: message, ...fields });
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
          rec = this.ctx.peers.get(open.domain_id);
          if (!rec) return this.refuse('unknown-peer', `domain ${open.domain_id} is not a configured peer of ${this.ctx.opts.domain}`, { peer: open.domain_id });
          rec.pending.add(session);
          if (inbound && (inbound.requireCert || inbound.certRaw)) {
            const why = checkPeerCertificate(inbound.certRaw, rec.spec);
            if (why) return this.refuse('identity-mismatch', why, { peer: open.domain_id });
          }
        } else if (open.domain_id !== rec.spec.domain) {
          return this.refuse('identity-mismatch', `dialed ${rec.spec.domain} but the peer says it is ${open.domain_id}`, { peer: rec.spec.domain });
        }
        const want = this.ctx.keySource.get(open.domain_id) !== 'peer-open' ? this.ctx.knownKey(open.domain_id) : undefined;
        if (want && want !== open.public_key) {
          return this.refuse('key-mismatch', `${open.domain_id} opened with advertisement key ${open.public_key}, not the one configured for it`, { peer: open.domain_id });
        }
        return undefined;
      },
      onEstablished: (s) => this.established(rec!, s),
      onFrame: (s, f) => this.flooding.onFrame(rec!, s, f),
      onClose: (s, why) => this.sessionClosed(rec, s, why),
    });
    if (rec) rec.pending.add(session);
    return session;
  }

  private established(rec: PeerRecord, s: PeerSession): void {
    rec.pending.delete(s);
    const existing = rec.session;
    if (existing && existing !== s && existing.state === 'established') {
      // Collision: both sides dialed. Keep the session dialed by the smaller domain id (both sides agree).
      const dialerOf = (x: PeerSession) => (x.dialer ? this.ctx.opts.domain : rec.spec.domain);
      const [keep, drop] = dialerOf(s) < dialerOf(existing) ? [s, existing] : [existing, s];
      rec.session = keep;
      drop.close('collision', `a session with ${rec.spec.domain} already exists`);
      if (keep === existing) return;
    }
    rec.session = s;
    rec.attempts = 0;
    rec.lastError = undefined;
    if (rec.retryTimer) clearTimeout(rec.retryTimer);
    this.ctx.setState(rec, 'established');
    const open = s.remote!;
    if (!this.ctx.keySource.has(open.domain_id) || this.ctx.keySource.get(open.domain_id) === 'peer-open') {
      try {
        this.ctx.setKey(open.domain_id, open.public_key, 'peer-open');
      } catch (err) {
        return s.close('bad-open', `public_key: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
    this.ctx.log('info', 'peer established', { peer: rec.spec.domain, broker_id: open.broker_id, hold_time_s: s.holdTimeS });
    for (const a of this.ctx.table.entries()) this.flooding.sendAdvert(s, a);
    // Withdrawals still valid: a peer that missed one would otherwise keep the advert until it expires.
    for (const w of this.flooding.withdrawals.values()) if (w.envelope.expiresAt > this.ctx.now()) this.flooding.sendAdvert(s, w);
  }

  private sessionClosed(rec: PeerRecord | undefined, s: PeerSession, why: string): void {
    if (!rec) return void this.ctx.log('info', 'session closed before open', { reason: why });
    rec.pending.delete(s);
    if (rec.session !== s) {
      if (!rec.session && rec.pending.size === 0 && !rec.removed) {
        rec.lastError = why;
        this.ctx.setState(rec, 'idle');
        this.scheduleRedial(rec);
      }
      return;
    }
    rec.session = undefined;
    rec.lastError = why;
    this.ctx.log('info', 'peer session closed', { peer: rec.spec.domain, reason: why });
    if (!rec.removed) {
      this.ctx.setState(rec, 'idle');
      this.scheduleRedial(rec);
    }
  }

  /** Shutdown: stop redials and registry streams, close every session with a notification. */
  closeAll(): void {
    for (const rec of this.ctx.peers.values()) {
      if (rec.retryTimer) clearTimeout(rec.retryTimer);
      if (rec.registryTimer) clearTimeout(rec.registryTimer);
      rec.registry?.cancel();
      rec.session?.close('shutdown', `${this.ctx.opts.domain} is shutting down`);
      for (const s of rec.pending) s.close('shutdown', `${this.ctx.opts.domain} is shutting down`);
      this.ctx.opts.transport.dropPeer(rec.spec);
    }
  }
}
