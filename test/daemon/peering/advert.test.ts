import { describe, expect, test } from 'vitest';
import { InvalidArgumentError } from '../../../drivers/errors.js';
import { AdvertRejectedError } from '../../../daemon/errors.js';
import {
  AdvertTable,
  advertSigningBytes,
  canonicalJson,
  generateAdvertKeyPair,
  parseSignedAdvert,
  rawPublicKey,
  signAdvert,
  toPublicKey,
  verifyAdvertSignature,
  type AdvertRejectReason,
  type SignedAdvert,
} from '../../../daemon/peering/advert.js';

const T0 = Date.UTC(2026, 0, 1);
const HOUR = 3_600_000;
const alpha = generateAdvertKeyPair();
const beta = generateAdvertKeyPair();
const mallory = generateAdvertKeyPair();

interface Body {
  borders: string[];
  capacityMbps: number;
}
const body: Body = { borders: ['b1', 'b2'], capacityMbps: 400 };

function advert(seq: number, opts: { origin?: string; issuedAt?: number; expiresAt?: number; key?: typeof alpha; body?: unknown } = {}) {
  return signAdvert(
    {
      origin: opts.origin ?? 'alpha',
      seq,
      issuedAt: opts.issuedAt ?? T0,
      expiresAt: opts.expiresAt ?? T0 + HOUR,
      body: opts.body ?? body,
    },
    (opts.key ?? alpha).privateKey,
  );
}

function table(now = T0 + 1000) {
  const clock = { now };
  const t = new AdvertTable<Body>({
    originKeys: { alpha: alpha.publicKeyRaw, beta: beta.publicKey },
    now: () => clock.now,
  });
  return { t, clock };
}

function expectRejected(t: AdvertTable<Body>, msg: unknown, reason: AdvertRejectReason) {
  const before = t.entries().map((a) => a.envelope.seq);
  const d = t.offer(msg);
  expect(d.accepted).toBe(false);
  if (d.accepted) throw new Error('accepted');
  expect(d.reason).toBe(reason);
  expect(d.error).toBeInstanceOf(AdvertRejectedError);
  expect(d.error.code).toBe(`QB_ADVERT_${reason.toUpperCase().replace(/-/g, '_')}`);
  expect(t.rejected[reason]).toBeGreaterThan(0);
  // a rejection never changes what the table holds
  expect(t.entries().map((a) => a.envelope.seq)).toEqual(before);
  return d;
}

describe('peering - canonical encoding', () => {
  test('peering - canonical JSON sorts keys at every level and has no whitespace', () => {
    const a = { z: 1, a: { d: [3, { y: true, b: null }], c: 'x y' }, m: -0.5 };
    const b = { m: -0.5, a: { c: 'x y', d: [3, { b: null, y: true }] }, z: 1 };
    expect(canonicalJson(a)).toBe('{"a":{"c":"x y","d":[3,{"b":null,"y":true}]},"m":-0.5,"z":1}');
    expect(canonicalJson(b)).toBe(canonicalJson(a));
    expect(canonicalJson({ 'é': 1, Z: 2, a: 3, '10': 4, '9': 5 })).toBe('{"10":4,"9":5,"Z":2,"a":3,"é":1}');
  });

  test('peering - canonical JSON refuses values JSON cannot carry exactly', () => {
    for (const v of [{ a: undefined }, { a: NaN }, { a: Infinity }, { a: 1n }, { a: new Date(0) }, { a: () => 1 }, [1, , 3]]) {
      expect(() => canonicalJson(v)).toThrow(InvalidArgumentError);
    }
    // the error names where the value is
    expect(() => canonicalJson({ a: [1, { b: undefined }] })).toThrow('$.a[1].b is undefined');
    expect(() => canonicalJson({ x: { y: [0, 1, , 3] } })).toThrow('$.x.y[2] is a hole in the array');
    expect(() => canonicalJson({ ok: 1, n: [NaN] })).toThrow('$.n[0] is NaN');
  });

  test('peering - the signature covers the canonical bytes, whatever the key order', () => {
    const a = advert(1);
    const reordered = JSON.parse(
      JSON.stringify({
        signature: a.signature,
        envelope: {
          key: a.envelope.key,
          body: { capacityMbps: 400, borders: ['b1', 'b2'] },
          seq: a.envelope.seq,
          expiresAt: a.envelope.expiresAt,
          origin: a.envelope.origin,
          issuedAt: a.envelope.issuedAt,
        },
      }),
    ) as SignedAdvert;
    expect(advertSigningBytes(reordered.envelope).equals(advertSigningBytes(a.envelope))).toBe(true);
    expect(advertSigningBytes(a.envelope).toString()).toMatch(/^qos-broker\/advert\/v1\n\{"body":/);
    expect(verifyAdvertSignature(reordered, alpha.publicKey)).toBe(true);
    expect(verifyAdvertSignature(a, beta.publicKey)).toBe(false);
    expect(a.envelope.key).toBe(alpha.publicKeyRaw);
    expect(rawPublicKey(toPublicKey(alpha.publicKey.export({ format: 'pem', type: 'spki' }).toString()))).toBe(alpha.publicKeyRaw);
  });

  test('peering - signing refuses a bad envelope and a key that is not Ed25519', () => {
    expect(() => advert(0)).toThrow(InvalidArgumentError);
    expect(() => advert(1, { expiresAt: T0 })).toThrow(InvalidArgumentError);
    expect(() => advert(1, { body: { x: undefined } })).toThrow(InvalidArgumentError);
    expect(() => toPublicKey('AAAA')).toThrow(InvalidArgumentError);
    expect(() => signAdvert({ origin: 'alpha', seq: 1, issuedAt: T0, expiresAt: T0 + 1, body: {} }, 'not a key')).toThrow(
      InvalidArgumentError,
    );
  });
});

describe('peering - advertisement table', () => {
  test('peering - accepts a valid advertisement and keeps the newest per origin', () => {
    const { t } = table();
    const d1 = t.offer(advert(5));
    expect(d1.accepted).toBe(true);
    if (d1.accepted) expect(d1.replaced).toBeUndefined();
    const d2 = t.offer(JSON.stringify(advert(7)));
    expect(d2.accepted).toBe(true);
    if (d2.accepted) expect(d2.replaced?.envelope.seq).toBe(5);
    expect(t.offer(advert(1, { origin: 'beta', key: beta })).accepted).toBe(true);
    expect(t.entries().map((a) => [a.envelope.origin, a.envelope.seq])).toEqual([
      ['alpha', 7],
      ['beta', 1],
    ]);
    expect(t.get('alpha')?.envelope.body.capacityMbps).toBe(400);
    expect(t.accepted).toBe(3);
  });

  test('peering - rejects a bad signature', () => {
    const { t } = table();
    const a = advert(3);
    const tampered = { ...a, envelope: { ...a.envelope, body: { ...body, capacityMbps: 999_999 } } };
    expectRejected(t, tampered, 'bad-signature');
    const otherSig = { ...a, signature: advert(4).signature };
    expectRejected(t, otherSig, 'bad-signature');
    const seqBumped = { ...a, envelope: { ...a.envelope, seq: 4 } };
    expectRejected(t, seqBumped, 'bad-signature');
    expect(t.offer(a).accepted).toBe(true);
  });

  test('peering - rejects an origin whose key is not the configured or registered one', () => {
    const { t } = table();
    // mallory signs a well-formed advertisement claiming to be alpha with her own key
    expectRejected(t, advert(9, { key: mallory }), 'origin-key-mismatch');
    // and one that carries alpha's key id but her signature
    const forged = advert(9, { key: mallory });
    const withAlphaKey = { ...forged, envelope: { ...forged.envelope, key: alpha.publicKeyRaw } };
    expectRejected(t, withAlphaKey, 'bad-signature');
    // no key at all for this origin
    expectRejected(t, advert(1, { origin: 'gamma', key: mallory }), 'unknown-origin');
    // registering gamma's key (e.g. through an exchange) makes it acceptable
    t.setOriginKey('gamma', mallory.publicKeyRaw);
    expect(t.offer(advert(1, { origin: 'gamma', key: mallory })).accepted).toBe(true);
    // re-registering alpha with a new key refuses adverts signed with the old one
    const alpha2 = generateAdvertKeyPair();
    t.setOriginKey('alpha', alpha2.publicKey);
    expectRejected(t, advert(10), 'origin-key-mismatch');
    expect(t.offer(advert(11, { key: alpha2 })).accepted).toBe(true);
  });

  test('peering - rejects an older or replayed sequence, also after the advertisement is withdrawn', () => {
    const { t } = table();
    const a5 = advert(5);
    expect(t.offer(a5).accepted).toBe(true);
    const replay = expectRejected(t, a5, 'replayed');
    expect(replay.error.message).toMatch(/already seen$/);
    const other5 = expectRejected(t, advert(5, { body: { borders: [], capacityMbps: 1 } }), 'replayed');
    expect(other5.error.message).toMatch(/different content/);
    expectRejected(t, advert(4), 'older-sequence');
    expect(t.withdraw('alpha')).toBe(true);
    expect(t.get('alpha')).toBeUndefined();
    expectRejected(t, a5, 'replayed');
    expectRejected(t, advert(2), 'older-sequence');
    expect(t.highestSeq('alpha')).toBe(5);
    expect(t.rejected).toMatchObject({ replayed: 3, 'older-sequence': 2 });
  });

  test('peering - rejects an expired or not yet valid advertisement and ages out the one it holds', () => {
    const { t, clock } = table(T0 + 2 * HOUR);
    expectRejected(t, advert(1, { expiresAt: T0 + HOUR }), 'expired');
    expectRejected(t, advert(1, { expiresAt: T0 + 2 * HOUR }), 'expired');
    expectRejected(t, advert(1, { issuedAt: T0 + 3 * HOUR, expiresAt: T0 + 4 * HOUR }), 'not-yet-valid');
    expect(t.offer(advert(2, { issuedAt: T0 + 2 * HOUR, expiresAt: T0 + 2 * HOUR + 60_000 })).accepted).toBe(true);
    clock.now += 60_000;
    expect(t.prune()).toEqual(['alpha']);
    expect(t.entries()).toEqual([]);
  });

  test('peering - rejects malformed messages, naming the bad field', () => {
    const { t } = table();
    const a = advert(3);
    const env = a.envelope as unknown as Record<string, unknown>;
    const cases: [unknown, RegExp][] = [
      [null, /expected an object/],
      ['{not json', /not valid JSON/],
      [{ envelope: env }, /signature must be/],
      [{ ...a, extra: 1 }, /unexpected field extra/],
      [{ ...a, envelope: 'x' }, /envelope must be an object/],
      [{ ...a, envelope: { ...env, color: 'red' } }, /envelope\.color/],
      [{ ...a, envelope: { ...env, seq: undefined } }, /envelope\.seq is missing|envelope\.seq must be/],
      [{ ...a, envelope: { ...env, origin: 'a b' } }, /envelope\.origin/],
      [{ ...a, envelope: { ...env, origin: 7 } }, /envelope\.origin/],
      [{ ...a, envelope: { ...env, seq: 0 } }, /envelope\.seq/],
      [{ ...a, envelope: { ...env, seq: 1.5 } }, /envelope\.seq/],
      [{ ...a, envelope: { ...env, seq: '3' } }, /envelope\.seq/],
      [{ ...a, envelope: { ...env, issuedAt: -1 } }, /envelope\.issuedAt/],
      [{ ...a, envelope: { ...env, expiresAt: 'soon' } }, /envelope\.expiresAt/],
      [{ ...a, envelope: { ...env, expiresAt: T0 - 1 } }, /expiresAt must be after/],
      [{ ...a, envelope: { ...env, expiresAt: T0 + 30 * 24 * HOUR } }, /lifetime/],
      [{ ...a, envelope: { ...env, key: 'AAAA' } }, /envelope\.key/],
      [{ ...a, envelope: { ...env, body: [1] } }, /envelope\.body must be an object/],
      [{ ...a, envelope: { ...env, body: { x: NaN } } }, /canonically/],
      [{ ...a, signature: a.signature.slice(0, 40) }, /signature must be/],
      [{ ...a, signature: ` ${a.signature}` }, /signature must be/],
      [{ ...a, envelope: { ...env, body: { big: 'x'.repeat(2_000_000) } } }, /bytes/],
    ];
    for (const [msg, re] of cases) {
      const d = expectRejected(t, msg, 'malformed');
      expect(d.error.message).toMatch(re);
    }
    expect(t.rejected.malformed).toBe(cases.length);
    // the good one still goes in afterwards
    expect(t.offer(a).accepted).toBe(true);
  });

  test('peering - a body validator can refuse a body as malformed', () => {
    const t = new AdvertTable<Body>({
      originKeys: new Map([['alpha', alpha.publicKeyRaw]]),
      now: () => T0,
      validateBody: (b) => (Array.isArray((b as Partial<Body>).borders) ? undefined : 'borders must be a list'),
    });
    const d = t.offer(advert(1, { body: { capacityMbps: 1 } }));
    expect(d).toMatchObject({ accepted: false, reason: 'malformed', error: { message: expect.stringMatching(/borders must be a list/) } });
    expect(t.offer(advert(1)).accepted).toBe(true);
    expect(() => parseSignedAdvert({})).toThrow(AdvertRejectedError);
  });
});
