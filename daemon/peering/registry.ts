/**
 * The exchange registry (seed 000's service broker device): providers register
 * their domain and service info with an exchange, which stores them and
 * streams every registration to every registered provider; a provider keeps
 * what it learned (domain keys among it).
 */
import type { PeeringContext, PeerRecord } from './context.js';
import { PEERING_DEFAULTS } from './defaults.js';
import type { RegistrationMsg } from './proto.js';
import { backoffDelay, BACKOFF_DEFAULTS } from './session.js';
import { checkPeerCertificate } from './tls.js';
import { toPublicKey } from '../crypto/keys.js';

/** Registrations: what an exchange holds and streams, and what a provider learned from its exchanges. */
export class ExchangeRegistry {
  constructor(private readonly ctx: PeeringContext) {}

  /** Registrations held (exchange) or received from exchanges (provider), by domain. */
  readonly registrations = new Map<string, RegistrationMsg>();

  private readonly registryStreams = new Map<string, { write(r: RegistrationMsg): unknown }>();

  /** Our registration (provider). */
  ownRegistration(): RegistrationMsg {
    const inv = this.ctx.opts.inventory;
    const classes = new Set<string>();
    for (const e of [...(inv?.transits ?? []), ...(inv?.links ?? [])]) for (const c of Object.keys(e.classes)) classes.add(c);
    return {
      domain: {
        domain_id: this.ctx.opts.domain,
        broker_id: this.ctx.opts.brokerId,
        public_key: this.ctx.publicKeyRaw,
        peering_address: this.ctx.opts.peeringAddress ?? '',
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

  registerWith(rec: PeerRecord): void {
    if (this.ctx.stopped || rec.removed) return;
    this.ctx.setState(rec, 'connecting');
    const stream = this.ctx.opts.transport.dialRegistry(rec.spec, this.ownRegistration());
    rec.registry = stream;
    let up = false;
    stream.on('data', (r) => {
      if (!up) {
        up = true;
        rec.registryAttempts = 0;
        this.ctx.setState(rec, 'established');
        this.ctx.log('info', 'registered with exchange', { exchange: rec.spec.domain });
      }
      this.learnRegistration(r, rec.spec.domain);
    });
    let done = false;
    const end = (why: string) => {
      if (done) return;
      done = true;
      rec.registry = undefined;
      rec.lastError = why;
      if (rec.removed || this.ctx.stopped) return;
      this.ctx.setState(rec, 'idle');
      const delay = backoffDelay(rec.registryAttempts++, { ...BACKOFF_DEFAULTS, ...this.ctx.opts.backoff });
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
    if (d !== this.ctx.opts.domain && r.domain?.public_key) {
      const src = this.ctx.keySource.get(d);
      if (!src || src === 'registration') {
        try {
          this.ctx.setKey(d, r.domain.public_key, 'registration');
        } catch (err) {
          this.ctx.log('warn', 'registration with a bad key ignored', { domain: d, via, error: err instanceof Error ? err.message : String(err) });
        }
      } else if (this.ctx.knownKey(d) && this.ctx.knownKey(d) !== r.domain.public_key) {
        this.ctx.log('warn', 'registration key differs from the configured key; configured key kept', { domain: d, via });
      }
    }
    this.ctx.log('info', 'registration received', { domain: d, via });
  }

  /**
   * Exchange: a provider registers. `certRaw` is its verified client
   * certificate. Returns an error message to refuse, else streams registrations on `out`.
   */
  register(reg: RegistrationMsg, certRaw: Buffer | undefined, out: { write(r: RegistrationMsg): unknown; on(e: 'cancelled' | 'close', cb: () => void): unknown }, requireCert = true): string | undefined {
    if (this.ctx.opts.role !== 'exchange') return `${this.ctx.opts.domain} is a provider, not an exchange`;
    const d = reg.domain?.domain_id ?? '';
    const rec = this.ctx.peers.get(d);
    if (!rec) return `domain ${JSON.stringify(d)} is not a configured peer of exchange ${this.ctx.opts.domain}`;
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
    const now = this.ctx.now();
    const stored: RegistrationMsg = { ...reg, registered_at_ms: now, expires_at_ms: now + (this.ctx.opts.registrationTtlMs ?? PEERING_DEFAULTS.registrationTtlMs), removed: false };
    this.registrations.set(d, stored);
    this.learnRegistration(stored, d);
    this.ctx.setState(rec, 'established');
    const prev = this.registryStreams.get(d);
    this.registryStreams.set(d, out);
    void prev;
    for (const r of this.registrations.values()) out.write(r);
    this.broadcastRegistration(stored, d);
    const gone = () => {
      if (this.registryStreams.get(d) !== out) return;
      this.registryStreams.delete(d);
      const r = this.registrations.get(d);
      if (r) r.expires_at_ms = this.ctx.now() + (this.ctx.opts.registrationTtlMs ?? PEERING_DEFAULTS.registrationTtlMs);
      if (this.ctx.peers.get(d) === rec) this.ctx.setState(rec, 'idle');
      this.ctx.log('info', 'provider registry stream closed', { domain: d });
    };
    out.on('cancelled', gone);
    out.on('close', gone);
    return undefined;
  }

  private broadcastRegistration(r: RegistrationMsg, except?: string): void {
    for (const [d, s] of this.registryStreams) if (d !== except) s.write(r);
  }

  /** Exchange: drop registrations whose provider's stream is gone and whose time ran out. */
  prune(): void {
    for (const [d, r] of this.registrations) {
      if (this.ctx.opts.role === 'exchange' && r.expires_at_ms && r.expires_at_ms <= this.ctx.now() && !this.registryStreams.has(d)) {
        this.registrations.delete(d);
        this.broadcastRegistration({ ...r, removed: true });
        this.ctx.log('info', 'registration expired', { domain: d });
      }
    }
  }
}
