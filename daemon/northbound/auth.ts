/**
 * Bearer JWTs of the provider's identity provider, checked with the jose
 * library: the signature against the keys of a JWKS (a file read at start,
 * or the identity provider's URL, fetched and cached by jose, refetched when
 * a token names a key it does not hold), the issuer, the audience, the
 * expiry and not-before (with a small clock tolerance); then the configured
 * claims say the role and, for role customer, the customer.
 *
 * A token that does not pass is refused with 401 and the reason (expired,
 * wrong issuer, unknown key, ...); a JWKS URL that cannot be read is 503.
 */
import { readFileSync } from 'node:fs';
import { createLocalJWKSet, createRemoteJWKSet, errors, jwtVerify, type JWTVerifyGetKey } from 'jose';
import type { Principal } from '../core.js';
import type { NorthboundJwtConfig } from '../config/schema.js';
import { NorthboundError } from '../errors.js';

const CUSTOMER_RE = /^[A-Za-z0-9._@-]{1,64}$/;
/** A compact JWS: three base64url parts. */
export const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

const refused = (why: string) => new NorthboundError('QB_NORTHBOUND_UNAUTHENTICATED', `the bearer token was refused: ${why}`, { 'www-authenticate': 'Bearer error="invalid_token"' });

export class JwtVerifier {
  private readonly keys: JWTVerifyGetKey;

  constructor(private readonly cfg: NorthboundJwtConfig) {
    this.keys = cfg.jwksFile ? createLocalJWKSet(JSON.parse(readFileSync(cfg.jwksFile, 'utf8')) as Parameters<typeof createLocalJWKSet>[0]) : createRemoteJWKSet(new URL(cfg.jwksUrl!), { timeoutDuration: 5000, cooldownDuration: 30_000, cacheMaxAge: 600_000 });
  }

  /** Who the token acts for; throws 401 (refused) or 503 (JWKS unreadable). */
  async verify(token: string): Promise<Principal> {
    let payload: Record<string, unknown>;
    try {
      ({ payload } = await jwtVerify(token, this.keys, { issuer: this.cfg.issuer, audience: this.cfg.audience, algorithms: this.cfg.algorithms, clockTolerance: 5, requiredClaims: ['exp', 'sub'] }));
    } catch (err) {
      if (err instanceof errors.JWTExpired) throw refused(`it expired (exp ${String(err.payload.exp)})`);
      if (err instanceof errors.JWTClaimValidationFailed) throw refused(`claim ${err.claim}: ${err.message}`);
      if (err instanceof errors.JWKSNoMatchingKey) throw refused('no key of the identity provider\'s JWKS matches its header (kid, alg)');
      if (err instanceof errors.JWSSignatureVerificationFailed) throw refused('its signature does not verify');
      if (err instanceof errors.JOSEAlgNotAllowed) throw refused(`its algorithm is not one of ${this.cfg.algorithms.join(', ')}`);
      if (err instanceof errors.JWKSTimeout || err instanceof errors.JWKSInvalid || (err instanceof Error && !(err instanceof errors.JOSEError))) {
        throw new NorthboundError('QB_NORTHBOUND_JWKS_UNAVAILABLE', `the JWKS at ${this.cfg.jwksUrl ?? this.cfg.jwksFile} could not be read: ${(err as Error).message}`, { 'retry-after': '5' });
      }
      throw refused((err as Error).message);
    }
    const claim = payload[this.cfg.roleClaim];
    const role = typeof claim === 'string' ? this.cfg.roles[claim] : undefined;
    if (!role) throw refused(`claim ${this.cfg.roleClaim} must be one of ${Object.keys(this.cfg.roles).join(', ')}, got ${JSON.stringify(claim)}`);
    const subject = `jwt:${String(payload.sub)}`;
    if (role === 'operator') return { keyId: subject, role };
    const customer = payload[this.cfg.customerClaim];
    if (typeof customer !== 'string' || !CUSTOMER_RE.test(customer)) throw refused(`claim ${this.cfg.customerClaim} must name the customer (1-64 letters, digits or ._@-) for role customer, got ${JSON.stringify(customer)}`);
    return { keyId: subject, role, customer };
  }
}
