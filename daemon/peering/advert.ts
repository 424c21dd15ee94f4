/**
 * Signed domain advertisements: the envelope, its canonical encoding, Ed25519
 * signatures (node:crypto) and the table that keeps the newest advertisement
 * per origin and decides what to accept.
 *
 * The body is generic; daemon/topology/types.ts defines what a provider
 * advertises about its domain. Peering only requires it to be a JSON object.
 *
 * What is signed is the bytes of `qos-broker/advert/v1\n` followed by the
 * canonical JSON (daemon/crypto/canonical-json.ts) of the envelope, so a
 * signature over an advertisement can never be replayed as a signature over
 * anything else.
 */
import { createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import { InvalidArgumentError } from '../../drivers/errors.js';
import { canonicalJson, isPlainObject } from '../crypto/canonical-json.js';
import { generateEd25519KeyPair, rawPublicKey, strictBase64, toPrivateKey, toPublicKey, type KeyInput } from '../crypto/keys.js';
import { AdvertRejectedError } from '../errors.js';

export { canonicalJson } from '../crypto/canonical-json.js';
export { rawPublicKey, toPrivateKey, toPublicKey, type KeyInput } from '../crypto/keys.js';

/** The signed content of an advertisement. */
export interface AdvertEnvelope<B = unknown> {
  /** Domain id of the origin (the provider the advertisement is about). */
  origin: string;
  /** Sequence number of the origin, a positive integer; a newer advertisement has a higher one. */
  seq: number;
  /** When the origin issued it, ms since the epoch. */
  issuedAt: number;
  /** When it stops being valid, ms since the epoch; after issuedAt. */
  expiresAt: number;
  /** The origin's Ed25519 public key, raw 32 bytes in base64: says which key signed. */
  key: string;
  /** What is advertised (a JSON object). */
  body: B;
}

/** An envelope with the origin's signature, as flooded between peers. */
export interface SignedAdvert<B = unknown> {
  envelope: AdvertEnvelope<B>;
  /** Ed25519 signature (64 bytes, base64) of advertSigningBytes(envelope). */
  signature: string;
}

/** Why an advertisement was rejected. Stable: used in metrics labels and error codes. */
export type AdvertRejectReason =
  | 'malformed'
  | 'unknown-origin'
  | 'origin-key-mismatch'
  | 'bad-signature'
  | 'expired'
  | 'not-yet-valid'
  | 'older-sequence'
  | 'replayed';

export const ADVERT_REJECT_REASONS: readonly AdvertRejectReason[] = [
  'malformed',
  'unknown-origin',
  'origin-key-mismatch',
  'bad-signature',
  'expired',
  'not-yet-valid',
  'older-sequence',
  'replayed',
];

const SIGNING_CONTEXT = 'qos-broker/advert/v1\n';
const ORIGIN_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
/** The exact bytes that are signed for an envelope. */
export function advertSigningBytes(envelope: AdvertEnvelope): Buffer {
  return Buffer.from(SIGNING_CONTEXT + canonicalJson(envelope), 'utf8');
}

/** A new Ed25519 key pair for signing advertisements. */
export const generateAdvertKeyPair = generateEd25519KeyPair;


/** Limits applied when checking an envelope; see ADVERT_DEFAULTS. */
export interface AdvertLimits {
  /** Longest allowed expiresAt - issuedAt, ms. @default 86400000 (one day) */
  maxLifetimeMs: number;
  /** Largest canonical encoding accepted, bytes. @default 1048576 */
  maxBytes: number;
}

export const ADVERT_DEFAULTS = {
  maxLifetimeMs: 86_400_000,
  maxBytes: 1_048_576,
  maxClockSkewMs: 30_000,
} as const;

/**
 * Check every field of a signed advertisement received from the network and
 * return it typed. Throws AdvertRejectedError with reason `malformed`, naming
 * the field. `validateBody` may refuse the body (return a message).
 */
export function parseSignedAdvert<B = unknown>(
  input: unknown,
  limits: Partial<AdvertLimits> = {},
  validateBody?: (body: unknown) => string | undefined,
): SignedAdvert<B> {
  const maxBytes = limits.maxBytes ?? ADVERT_DEFAULTS.maxBytes;
  const maxLifetimeMs = limits.maxLifetimeMs ?? ADVERT_DEFAULTS.maxLifetimeMs;
  let origin: string | undefined;
  const bad = (msg: string): never => {
    throw new AdvertRejectedError('malformed', `malformed advertisement${origin ? ` from ${origin}` : ''}: ${msg}`, origin);
  };
  let msg = input;
  if (typeof msg === 'string' || Buffer.isBuffer(msg)) {
    if (Buffer.byteLength(msg) > maxBytes + 256) bad(`larger than ${maxBytes} bytes`);
    try {
      msg = JSON.parse(msg.toString()) as unknown;
    } catch {
      bad('not valid JSON');
    }
  }
  if (!isPlainObject(msg)) return bad('expected an object {envelope, signature}');
  const extra = Object.keys(msg).filter((k) => k !== 'envelope' && k !== 'signature');
  if (extra.length) bad(`unexpected field ${extra[0]}`);
  const env = msg.envelope;
  if (!isPlainObject(env)) return bad('envelope must be an object');
  if (typeof env.origin === 'string' && ORIGIN_RE.test(env.origin)) origin = env.origin;
  const allowed = ['origin', 'seq', 'issuedAt', 'expiresAt', 'key', 'body'];
  for (const k of Object.keys(env)) if (!allowed.includes(k)) bad(`unexpected field envelope.${k}`);
  for (const k of allowed) if (!(k in env)) bad(`envelope.${k} is missing`);
  if (!origin) bad(`envelope.origin must be a domain id (letters, digits, ._- up to 64), got ${JSON.stringify(env.origin)}`);
  const intField = (k: 'seq' | 'issuedAt' | 'expiresAt', min: number) => {
    const v = env[k];
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min) bad(`envelope.${k} must be an integer >= ${min}, got ${JSON.stringify(v)}`);
  };
  intField('seq', 1);
  intField('issuedAt', 0);
  intField('expiresAt', 0);
  const issuedAt = env.issuedAt as number;
  const expiresAt = env.expiresAt as number;
  if (expiresAt <= issuedAt) bad('envelope.expiresAt must be after envelope.issuedAt');
  if (expiresAt - issuedAt > maxLifetimeMs) bad(`envelope lifetime ${expiresAt - issuedAt} ms exceeds the maximum ${maxLifetimeMs} ms`);
  if (!strictBase64(env.key, 32)) bad('envelope.key must be a raw Ed25519 public key: 32 bytes in base64');
  if (!strictBase64(msg.signature, 64)) bad('signature must be an Ed25519 signature: 64 bytes in base64');
  if (!isPlainObject(env.body)) bad('envelope.body must be an object');
  let size = 0;
  try {
    size = Buffer.byteLength(canonicalJson(env));
  } catch (err) {
    bad(`envelope cannot be encoded canonically: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (size > maxBytes) bad(`envelope is ${size} bytes, more than ${maxBytes}`);
  const bodyError = validateBody?.(env.body);
  if (bodyError) bad(`envelope.body: ${bodyError}`);
  return msg as unknown as SignedAdvert<B>;
}

/** Sign an envelope with the origin's private key; `key` is filled in from it. Throws InvalidArgumentError for a bad envelope. */
export function signAdvert<B>(fields: Omit<AdvertEnvelope<B>, 'key'>, privateKey: KeyInput): SignedAdvert<B> {
  const priv = toPrivateKey(privateKey);
  const envelope: AdvertEnvelope<B> = { ...fields, key: rawPublicKey(createPublicKey(priv)) };
  const signed: SignedAdvert<B> = { envelope, signature: '' };
  signed.signature = sign(null, advertSigningBytes(envelope), priv).toString('base64');
  try {
    parseSignedAdvert(signed);
  } catch (err) {
    throw new InvalidArgumentError(`cannot sign this advertisement: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
  return signed;
}

/** True when `signature` is a valid signature of the envelope by `publicKey`. Never throws on garbage. */
export function verifyAdvertSignature(signed: SignedAdvert, publicKey: KeyInput): boolean {
  try {
    const sig = strictBase64(signed.signature, 64);
    if (!sig) return false;
    return verify(null, advertSigningBytes(signed.envelope), toPublicKey(publicKey), sig);
  } catch {
    return false;
  }
}

/** The decision of AdvertTable.offer(). */
export type AdvertDecision<B> =
  | {
      accepted: true;
      advert: SignedAdvert<B>;
      /** The advertisement of the same origin it replaced, if any. */
      replaced: SignedAdvert<B> | undefined;
    }
  | {
      accepted: false;
      reason: AdvertRejectReason;
      /** The origin claimed by the message, if it could be read. */
      origin: string | undefined;
      /** Says what was wrong; reason, code and message for logs and notifications. */
      error: AdvertRejectedError;
    };

/** Options of AdvertTable. */
export interface AdvertTableOptions extends Partial<AdvertLimits> {
  /** Keys configured or registered per origin domain; more can be set with setOriginKey(). @default none */
  originKeys?: Record<string, KeyInput> | Map<string, KeyInput>;
  /** Clock, ms since the epoch. @default Date.now */
  now?: () => number;
  /** How far in the future issuedAt may be (clock skew between brokers), ms. @default 30000 */
  maxClockSkewMs?: number;
  /** Extra check of the body; return a message to reject as malformed. @default body must be an object */
  validateBody?: (body: unknown) => string | undefined;
}

/**
 * The newest valid advertisement per origin. offer() decides and never throws:
 * a rejection changes nothing in the table. The highest sequence number seen
 * per origin is remembered even after its advertisement expires or is
 * withdrawn, so an old advertisement cannot be replayed into the table; an
 * origin must keep increasing its sequence numbers (e.g. use the time), also
 * across restarts and key changes.
 */
export class AdvertTable<B = unknown> {
  private readonly keys = new Map<string, { key: KeyObject; raw: string }>();
  private readonly adverts = new Map<string, SignedAdvert<B>>();
  private readonly highest = new Map<string, number>();
  private readonly now: () => number;
  private readonly limits: AdvertLimits;
  private readonly maxClockSkewMs: number;
  private readonly validateBody: ((body: unknown) => string | undefined) | undefined;
  /** Accepted advertisements so far. */
  accepted = 0;
  /** Rejected advertisements so far, by reason. */
  readonly rejected: Record<AdvertRejectReason, number> = Object.fromEntries(ADVERT_REJECT_REASONS.map((r) => [r, 0])) as Record<
    AdvertRejectReason,
    number
  >;

  constructor(options: AdvertTableOptions = {}) {
    this.now = options.now ?? Date.now;
    this.limits = {
      maxLifetimeMs: options.maxLifetimeMs ?? ADVERT_DEFAULTS.maxLifetimeMs,
      maxBytes: options.maxBytes ?? ADVERT_DEFAULTS.maxBytes,
    };
    this.maxClockSkewMs = options.maxClockSkewMs ?? ADVERT_DEFAULTS.maxClockSkewMs;
    this.validateBody = options.validateBody;
    const keys = options.originKeys instanceof Map ? options.originKeys : Object.entries(options.originKeys ?? {});
    for (const [origin, key] of keys) this.setOriginKey(origin, key);
  }

  /** Configure or register the key of an origin (replaces a previous one). Throws InvalidArgumentError. */
  setOriginKey(origin: string, key: KeyInput): void {
    if (!ORIGIN_RE.test(origin)) throw new InvalidArgumentError(`origin must be a domain id (letters, digits, ._- up to 64), got ${JSON.stringify(origin)}`);
    const pub = toPublicKey(key);
    this.keys.set(origin, { key: pub, raw: rawPublicKey(pub) });
    const held = this.adverts.get(origin);
    if (held && held.envelope.key !== this.keys.get(origin)!.raw) this.adverts.delete(origin);
  }

  /** Forget an origin's key and its advertisement (its highest sequence is kept). */
  removeOrigin(origin: string): void {
    this.keys.delete(origin);
    this.adverts.delete(origin);
  }

  /** Decide on a received advertisement (an object or its JSON text). */
  offer(input: unknown): AdvertDecision<B> {
    let origin: string | undefined;
    const reject = (reason: AdvertRejectReason, message: string): AdvertDecision<B> => {
      this.rejected[reason] += 1;
      return { accepted: false, reason, origin, error: new AdvertRejectedError(reason, message, origin) };
    };
    let advert: SignedAdvert<B>;
    try {
      advert = parseSignedAdvert<B>(input, this.limits, this.validateBody);
    } catch (err) {
      if (err instanceof AdvertRejectedError) {
        origin = err.origin;
        return reject('malformed', err.message);
      }
      return reject('malformed', `malformed advertisement: ${err instanceof Error ? err.message : String(err)}`);
    }
    const env = advert.envelope;
    origin = env.origin;
    const known = this.keys.get(origin);
    if (!known) return reject('unknown-origin', `advertisement from ${origin}: no key is configured or registered for this domain`);
    if (env.key !== known.raw) {
      return reject('origin-key-mismatch', `advertisement from ${origin} is signed with key ${env.key}, not the key configured or registered for ${origin}`);
    }
    if (!verifyAdvertSignature(advert, known.key)) {
      return reject('bad-signature', `advertisement from ${origin} seq ${env.seq}: the signature does not verify with ${origin}'s key`);
    }
    const now = this.now();
    if (env.expiresAt <= now) {
      return reject('expired', `advertisement from ${origin} seq ${env.seq} expired at ${new Date(env.expiresAt).toISOString()}`);
    }
    if (env.issuedAt > now + this.maxClockSkewMs) {
      return reject(
        'not-yet-valid',
        `advertisement from ${origin} seq ${env.seq} is issued at ${new Date(env.issuedAt).toISOString()}, more than ${this.maxClockSkewMs} ms in the future: check the clocks`,
      );
    }
    const top = this.highest.get(origin) ?? 0;
    if (env.seq < top) return reject('older-sequence', `advertisement from ${origin} has seq ${env.seq}, older than ${top} already seen`);
    if (env.seq === top) {
      const held = this.adverts.get(origin);
      const same = held !== undefined && held.signature === advert.signature;
      return reject('replayed', `advertisement from ${origin} seq ${env.seq} was already seen${same ? '' : ' (with different content)'}`);
    }
    const replaced = this.adverts.get(origin);
    this.highest.set(origin, env.seq);
    this.adverts.set(origin, advert);
    this.accepted += 1;
    return { accepted: true, advert, replaced };
  }

  /** The current advertisement of an origin (expired ones are dropped first). */
  get(origin: string): SignedAdvert<B> | undefined {
    this.prune();
    return this.adverts.get(origin);
  }

  /** Every current advertisement, by origin (expired ones are dropped first). */
  entries(): SignedAdvert<B>[] {
    this.prune();
    return [...this.adverts.keys()].sort().map((o) => this.adverts.get(o)!);
  }

  /** Highest sequence number seen from an origin (0 if none). */
  highestSeq(origin: string): number {
    return this.highest.get(origin) ?? 0;
  }

  /** Drop an origin's advertisement (withdrawal); its highest sequence is kept. True if there was one. */
  withdraw(origin: string): boolean {
    return this.adverts.delete(origin);
  }

  /** Drop expired advertisements; returns their origins. */
  prune(): string[] {
    const now = this.now();
    const gone: string[] = [];
    for (const [origin, a] of this.adverts) {
      if (a.envelope.expiresAt <= now) {
        this.adverts.delete(origin);
        gone.push(origin);
      }
    }
    return gone;
  }
}
