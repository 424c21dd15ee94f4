/**
 * Flooding of signed advertisements between peers: offer what a peer sent to
 * the table, flood what was accepted to every other established session
 * (newest sequence wins, so nothing loops), answer a rejection with a
 * notification, and tell duplicates from replays.
 */
import { createHash } from 'node:crypto';
import { canonicalJson } from '../crypto/canonical-json.js';
import type { SignedAdvert } from './advert.js';
import type { PeeringContext, PeerRecord } from './context.js';
import { isWithdrawal, type AdvertBody } from './origin.js';
import type { NotificationMsg, PeerFrame } from './proto.js';
import { frameKind, type PeerSession } from './session.js';

/** Identity of an exact advertisement (envelope and signature), for telling flooding duplicates from replays. */
export function fingerprintOf(a: unknown): string | undefined {
  try {
    return createHash('sha256').update(canonicalJson(a)).digest('base64');
  } catch {
    return undefined;
  }
}

/** Receives, checks and floods signed advertisements; what it accepted lives in the context's table. */
export class AdvertFlood {
  constructor(private readonly ctx: PeeringContext) {}

  readonly lastSignature = new Map<string, string | undefined>();

  readonly withdrawnOrigins = new Set<string>();

  /** Origins with a current (not withdrawn) advertisement, to notice expiry. */
  readonly heldOrigins = new Set<string>();

  sendAdvert(s: PeerSession, a: SignedAdvert<AdvertBody>): void {
    const bytes = Buffer.from(JSON.stringify(a));
    const kind = isWithdrawal(a.envelope.body) ? 'withdrawal' : 'advertisement';
    s.send(kind === 'withdrawal' ? { withdrawal: { signed_advert: bytes } } : { advertisement: { signed_advert: bytes } });
    this.ctx.stats.advertsSent[kind] = (this.ctx.stats.advertsSent[kind] ?? 0) + 1;
  }

  flood(a: SignedAdvert<AdvertBody>, except: string | undefined): void {
    for (const rec of this.ctx.peers.values()) {
      if (rec.spec.domain === except || !rec.session || rec.session.state !== 'established') continue;
      this.sendAdvert(rec.session, a);
    }
  }

  onFrame(rec: PeerRecord, s: PeerSession, f: PeerFrame): void {
    const kind = frameKind(f);
    const t0 = performance.now();
    try {
      this.handleFrame(rec, s, f, kind);
    } finally {
      this.ctx.opts.hooks?.frame?.(kind, (performance.now() - t0) / 1000);
    }
  }

  private handleFrame(rec: PeerRecord, s: PeerSession, f: PeerFrame, kind: string): void {
    if (kind === 'advertisement' || kind === 'withdrawal') {
      const bytes = (f.advertisement ?? f.withdrawal)!.signed_advert;
      const refusal = this.receiveAdvert(Buffer.from(bytes), rec.spec.domain, kind);
      if (refusal) s.send({ notification: refusal });
    } else if (kind === 'notification') {
      const n = f.notification!;
      this.ctx.log('warn', 'peer notification', { peer: rec.spec.domain, code: n.code, reason: n.reason, origin: n.origin, message: n.message });
    }
  }

  /**
   * Offer an advertisement received from `from` (a peer domain) to the table;
   * flood it on if accepted. Returns the notification to send back when rejected.
   */
  receiveAdvert(bytes: Buffer, from: string | undefined, kind: 'advertisement' | 'withdrawal' = 'advertisement'): NotificationMsg | undefined {
    this.ctx.stats.advertsReceived += 1;
    let parsed: SignedAdvert<AdvertBody> | undefined;
    try {
      parsed = JSON.parse(bytes.toString('utf8')) as SignedAdvert<AdvertBody>;
    } catch {
      parsed = undefined;
    }
    const origin = parsed?.envelope?.origin;
    const fp = parsed ? fingerprintOf(parsed) : undefined;
    if (fp !== undefined && typeof origin === 'string' && this.lastSignature.get(origin) === fp) {
      this.ctx.stats.advertsDuplicate += 1;
      return undefined;
    }
    const body = parsed?.envelope?.body as Record<string, unknown> | undefined;
    if (body && typeof body === 'object') {
      const withdrawn = body.withdrawn === true;
      const mismatch = withdrawn ? kind !== 'withdrawal' : kind !== 'advertisement' || body.origin !== origin;
      if (mismatch) {
        this.ctx.stats.rejected.malformed += 1;
        const message = `malformed ${kind} from ${from ?? 'a peer'}: the body does not match the frame kind or the envelope origin`;
        this.ctx.log('warn', 'advertisement rejected', { from, reason: 'malformed', origin, message });
        return { code: 'advert-rejected', message, close: false, reason: 'malformed', origin: typeof origin === 'string' ? origin : '' };
      }
    }
    const decision = this.ctx.table.offer(parsed ?? bytes);
    if (!decision.accepted) {
      this.ctx.stats.rejected[decision.reason] += 1;
      this.ctx.log('warn', 'advertisement rejected', { from, reason: decision.reason, origin: decision.origin, message: decision.error.message });
      return { code: 'advert-rejected', message: decision.error.message, close: false, reason: decision.reason, origin: decision.origin ?? '' };
    }
    const a = decision.advert;
    this.ctx.stats.advertsAccepted += 1;
    this.lastSignature.set(a.envelope.origin, fingerprintOf(a));
    this.ctx.opts.hooks?.convergence?.(Math.max(0, (this.ctx.now() - a.envelope.issuedAt) / 1000));
    if (isWithdrawal(a.envelope.body)) {
      this.ctx.table.withdraw(a.envelope.origin);
      this.heldOrigins.delete(a.envelope.origin);
      this.withdrawnOrigins.add(a.envelope.origin);
      this.ctx.log('info', 'advertisement withdrawn', { origin: a.envelope.origin, seq: a.envelope.seq, from });
      this.flood(a, from);
      this.withdrawals.set(a.envelope.origin, a);
    } else {
      this.withdrawnOrigins.delete(a.envelope.origin);
      this.heldOrigins.add(a.envelope.origin);
      this.withdrawals.delete(a.envelope.origin);
      this.ctx.log('debug', 'advertisement accepted', { origin: a.envelope.origin, seq: a.envelope.seq, from });
      this.flood(a, from);
    }
    return undefined;
  }

  readonly withdrawals = new Map<string, SignedAdvert<AdvertBody>>();

  /** Forget advertisements that aged out and withdrawals that expired. */
  prune(): void {
    // AdvertTable drops expired entries lazily (also inside get/entries), so compare with what we held.
    const current = new Set(this.ctx.table.entries().map((a) => a.envelope.origin));
    for (const origin of this.heldOrigins) {
      if (current.has(origin)) continue;
      this.heldOrigins.delete(origin);
      this.ctx.stats.agedOut += 1;
      this.lastSignature.delete(origin);
      this.ctx.log('info', 'advertisement aged out', { origin });
    }
    for (const [origin, w] of this.withdrawals) if (w.envelope.expiresAt <= this.ctx.now()) this.withdrawals.delete(origin);
  }
}
