/**
 * Ed25519 keys as qos-broker configures and carries them: KeyObjects, PEM, or
 * (public keys) the raw 32 bytes in base64 that advertisements and contracts
 * carry. Advertisements (daemon/peering), contracts (daemon/agreement) and the
 * config loader use these.
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { InvalidArgumentError } from '../../drivers/errors.js';

/** A key as configured: a KeyObject, a PEM string, or (public keys only) raw 32 bytes in base64. */
export type KeyInput = KeyObject | string;

function b64ToUrl(b64: string): string {
  return b64.replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}
function urlToB64(u: string): string {
  const s = u.replace(/-/g, '+').replace(/_/g, '/');
  return s + '='.repeat((4 - (s.length % 4)) % 4);
}

/** Decode strict base64 (canonical, no whitespace) of exactly `len` bytes, or undefined. */
export function strictBase64(s: unknown, len: number): Buffer | undefined {
  if (typeof s !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(s)) return undefined;
  const buf = Buffer.from(s, 'base64');
  if (buf.length !== len || buf.toString('base64') !== s) return undefined;
  return buf;
}

/** An Ed25519 public key from a KeyObject, PEM or raw base64. Throws InvalidArgumentError. */
export function toPublicKey(input: KeyInput): KeyObject {
  try {
    let key: KeyObject;
    if (typeof input !== 'string') key = input.type === 'private' ? createPublicKey(input) : input;
    else if (input.includes('-----BEGIN')) key = createPublicKey(input);
    else {
      if (!strictBase64(input, 32)) throw new Error('not 32 bytes of base64');
      key = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: b64ToUrl(input) }, format: 'jwk' });
    }
    if (key.asymmetricKeyType !== 'ed25519') throw new Error(`a ${key.asymmetricKeyType ?? 'symmetric'} key`);
    return key;
  } catch (err) {
    if (err instanceof InvalidArgumentError) throw err;
    throw new InvalidArgumentError(
      `expected an Ed25519 public key (PEM, or 32 raw bytes in base64): ${err instanceof Error ? err.message : String(err)}`,
      { cause: err },
    );
  }
}

/** An Ed25519 private key from a KeyObject or PEM. Throws InvalidArgumentError. */
export function toPrivateKey(input: KeyInput): KeyObject {
  try {
    const key = typeof input === 'string' ? createPrivateKey(input) : input;
    if (key.type !== 'private' || key.asymmetricKeyType !== 'ed25519') throw new Error('not an Ed25519 private key');
    return key;
  } catch (err) {
    throw new InvalidArgumentError(`expected an Ed25519 private key (PEM): ${err instanceof Error ? err.message : String(err)}`, {
      cause: err,
    });
  }
}

/** Raw forms of KeyObjects already exported: a signer asks for its own key on every contract. */
const rawOfKey = new WeakMap<KeyObject, string>();

/** The raw 32-byte public key in base64, as carried in `envelope.key`. */
export function rawPublicKey(input: KeyInput): string {
  const known = typeof input === 'string' ? undefined : rawOfKey.get(input);
  if (known !== undefined) return known;
  const jwk = toPublicKey(input).export({ format: 'jwk' });
  const raw = urlToB64(String(jwk.x));
  if (typeof input !== 'string') rawOfKey.set(input, raw);
  return raw;
}

/** A new Ed25519 key pair (advertisements, contracts). */
export function generateEd25519KeyPair(): { privateKey: KeyObject; publicKey: KeyObject; publicKeyRaw: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return { privateKey, publicKey, publicKeyRaw: rawPublicKey(publicKey) };
}
