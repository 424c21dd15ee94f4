import { createHash, sign } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import * as jose from 'jose';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { canonicalJson, generateAdvertKeyPair } from '../../../daemon/peering/advert.js';
import {
  assembleContract,
  checkAmendment,
  contractBody,
  contractKeyId,
  contractReference,
  ContractError,
  draftContract,
  parseContractPayload,
  sealContractBody,
  signatureDomain,
  signContract,
  signContractBody,
  verifyContract,
  withAlteredBody,
  type ContractBody,
  type ContractTerms,
  type SignedContract,
} from '../../../daemon/agreement/contract.js';

const keys = { a: generateAdvertKeyPair(), b: generateAdvertKeyPair(), c: generateAdvertKeyPair() };
const jwkOf = (raw: string) => ({ kty: 'OKP', crv: 'Ed25519', x: Buffer.from(raw, 'base64').toString('base64url') });

function terms(): ContractTerms {
  return {
    version: 2,
    agreementId: 'agr-0001',
    originator: { domain: 'a', customer: 'acme' },
    service: { from: 'a/site1', to: 'c/site9', qosClass: 'EF', rateMbps: 10, maxLatencyMs: 30 },
    window: { start: '2026-11-24T14:00:00Z', end: '2026-11-24T16:00:00Z' },
    parties: (['a', 'b', 'c'] as const).map((d) => ({ domain: d, publicKey: keys[d].publicKeyRaw, role: 'provider' as const })),
    segments: [
      { domain: 'a', ingress: 'site1', egress: 'a-b1', latencyMs: 5, jitterMs: 1, lossPct: 0.01, priceMinor: 1200 },
      { domain: 'b', ingress: 'b-a1', egress: 'b-c1', latencyMs: 10, jitterMs: 2, lossPct: 0.02, priceMinor: 2500 },
      { domain: 'c', ingress: 'c-b1', egress: 'site9', latencyMs: 6, jitterMs: 1, lossPct: 0.01, priceMinor: 900 },
    ],
    currency: 'EUR',
    totalPriceMinor: 4600,
    issuedAt: '2026-11-24T11:00:00Z',
  };
}

/** A JSON copy, as a file or another broker has it. */
const copy = (c: SignedContract): SignedContract => JSON.parse(JSON.stringify(c)) as SignedContract;

function signedByAll(t: ContractTerms = terms()): SignedContract {
  let c = draftContract(t);
  for (const d of ['a', 'b', 'c'] as const) c = signContract(c, d, keys[d].privateKey);
  return copy(c);
}

function errorOf(fn: () => unknown): ContractError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(ContractError);
    return e as ContractError;
  }
  throw new Error('expected a ContractError');
}

const sigOf = (c: SignedContract, d: string) => c.signatures.find((s) => signatureDomain(s) === d)!;

describe('contract', () => {
  test('contract - signed by every provider on the path, it verifies and says who agreed to what', () => {
    const c = signedByAll();
    const s = verifyContract(c);
    expect(s.signedBy).toEqual(['a', 'b', 'c']);
    expect(s.selfAsserted).toBe(true);
    expect(s.lines.join('\n')).toContain('b: b-a1 -> b-c1, latency 10 ms, jitter 2 ms, loss 0.02%, price 25.00 EUR, signed');
    expect(s.lines.join('\n')).toContain(`b (provider, EdDSA, kid ${contractKeyId(keys.b.publicKey)})`);
    expect(verifyContract(c, { a: keys.a.publicKeyRaw, b: keys.b.publicKeyRaw, c: keys.c.publicKeyRaw }).selfAsserted).toBe(false);
    // with trust anchors, a party without one is refused, not taken on the contract's word
    expect(errorOf(() => verifyContract(c, { a: keys.a.publicKeyRaw, b: keys.b.publicKeyRaw }))).toMatchObject({ code: 'QB_CONTRACT_UNTRUSTED_KEY', domain: 'c', field: '/body/parties/2/publicKey' });
  });

  test('contract - it is a JWS in the General JSON Serialization that jose verifies per party; the payload is the canonical JSON of the body', async () => {
    const c = signedByAll();
    expect(Object.keys(c).sort()).toEqual(['payload', 'signatures']);
    const body = contractBody(c);
    expect(Buffer.from(c.payload, 'base64url').toString('utf8')).toBe(canonicalJson(body));
    for (const d of ['a', 'b', 'c'] as const) {
      const key = await jose.importJWK(jwkOf(keys[d].publicKeyRaw), 'EdDSA');
      const r = await jose.generalVerify(c, key);
      expect(r.protectedHeader).toEqual({ alg: 'EdDSA', kid: await jose.calculateJwkThumbprint(jwkOf(keys[d].publicKeyRaw)), domain: d, role: 'provider' });
      expect(JSON.parse(new TextDecoder().decode(r.payload))).toEqual(body);
    }
    // jose finds no signature of a key that is not a party's
    const stranger = await jose.importJWK(jwkOf(generateAdvertKeyPair().publicKeyRaw), 'EdDSA');
    await expect(jose.generalVerify(c, stranger)).rejects.toThrow(jose.errors.JWSSignatureVerificationFailed);
    // nor over a changed payload
    const t = withAlteredBody(c, (b) => (b.service.rateMbps = 20));
    await expect(jose.generalVerify(t, await jose.importJWK(jwkOf(keys.a.publicKeyRaw), 'EdDSA'))).rejects.toThrow(jose.errors.JWSSignatureVerificationFailed);
  });

  test('contract - a signature made by jose (GeneralSign) with the documented header verifies here', async () => {
    const c = signedByAll();
    const payload = Buffer.from(c.payload, 'base64url');
    const jb = new jose.GeneralSign(payload);
    for (const d of ['a', 'b', 'c'] as const) {
      const kid = await jose.calculateJwkThumbprint(jwkOf(keys[d].publicKeyRaw));
      jb.addSignature(keys[d].privateKey).setProtectedHeader({ alg: 'EdDSA', kid, domain: d, role: 'provider' });
    }
    const theirs = (await jb.sign()) as SignedContract;
    expect(theirs.payload).toBe(c.payload);
    expect(verifyContract(theirs).signedBy).toEqual(['a', 'b', 'c']);
  });

  test('contract - the body validates against the checked-in JSON Schema, compiled here on its own', () => {
    const schema = JSON.parse(readFileSync('daemon/agreement/contract.schema.json', 'utf8')) as object;
    const addFormats = addFormatsModule as unknown as (a: Ajv2020) => Ajv2020;
    const validate = addFormats(new Ajv2020({ strict: true, allErrors: true })).compile(schema);
    const body = contractBody(signedByAll(terms()));
    expect(validate(body), JSON.stringify(validate.errors)).toBe(true);
    const amended = contractBody(signedByAll({ ...terms(), agreementId: 'agr-0001-boost-1', amends: contractReference(signedByAll()) }));
    expect(validate(amended), JSON.stringify(validate.errors)).toBe(true);
    for (const spoil of [
      (b: Record<string, any>) => (b.version = 1),
      (b: Record<string, any>) => (b.segments[0].priceMinor = 1.5),
      (b: Record<string, any>) => (b.parties[0].role = 'reseller'),
      (b: Record<string, any>) => (b.window.start = 'tomorrow'),
      (b: Record<string, any>) => (b.extra = 1),
      (b: Record<string, any>) => delete b.fieldDigests,
      (b: Record<string, any>) => (b.parties[0].publicKey = 'AAAA'),
    ]) {
      const b = structuredClone(body) as Record<string, any>;
      spoil(b);
      expect(validate(b), spoil.toString()).toBe(false);
    }
  });

  test('contract - the field digests are 12 bytes of SHA-256 of each leaf\'s canonical JSON, base64url, keyed by JSON pointer', () => {
    const body = contractBody(signedByAll());
    const d = (v: unknown) => createHash('sha256').update(canonicalJson(v)).digest('base64url').slice(0, 16);
    expect(body.fieldDigests['/segments/1/priceMinor']).toBe(d(2500));
    expect(body.fieldDigests['/service/from']).toBe(d('a/site1'));
    expect(body.fieldDigests['/fieldDigests']).toBeUndefined();
    expect(Object.keys(body.fieldDigests)).toHaveLength(44);
  });

  test('contract - signedHere skips only the Ed25519 check of the caller\'s own part over a body it sealed; every other signature is still checked', () => {
    const body = sealContractBody(terms());
    const sigs = (['a', 'b', 'c'] as const).map((d) => signContractBody(body, d, keys[d].privateKey));
    const zero = Buffer.alloc(64).toString('base64url');
    const mine = assembleContract(body, [{ ...sigs[0]!, signature: zero }, sigs[1]!, sigs[2]!]);
    expect(errorOf(() => verifyContract(mine))).toMatchObject({ code: 'QB_CONTRACT_BAD_SIGNATURE', domain: 'a' });
    expect(verifyContract(mine, undefined, 'a').signedBy).toEqual(['a', 'b', 'c']);
    // a copy is not the sealed body: its every signature is checked
    expect(errorOf(() => verifyContract(copy(mine), undefined, 'a'))).toMatchObject({ code: 'QB_CONTRACT_BAD_SIGNATURE', domain: 'a' });
    const badB = assembleContract(body, [sigs[0]!, { ...sigs[1]!, signature: zero }, sigs[2]!]);
    expect(errorOf(() => verifyContract(badB, undefined, 'a'))).toMatchObject({ code: 'QB_CONTRACT_BAD_SIGNATURE', domain: 'b' });
    // a changed payload on the sealed object is no longer the sealed body
    const t = withAlteredBody(assembleContract(body, sigs), (b) => (b.service.rateMbps = 20));
    expect(errorOf(() => verifyContract(t, undefined, 'a'))).toMatchObject({ code: 'QB_CONTRACT_TAMPERED', field: '/body/service/rateMbps', domain: 'a' });
  });

  test('contract - verification reports the first fault in the order of the parties', () => {
    const zero = Buffer.alloc(64, 1).toString('base64url');
    const cases: Array<[string, (c: SignedContract) => SignedContract, Record<string, string> | undefined, Record<string, string> | undefined]> = [
      ['intact', (c) => c, undefined, undefined],
      ['bad signature of b', (c) => ((sigOf(c, 'b').signature = zero), c), undefined, { code: 'QB_CONTRACT_BAD_SIGNATURE', domain: 'b' }],
      ['tampered rate', (c) => withAlteredBody(c, (b) => (b.service.rateMbps = 99)), undefined, { code: 'QB_CONTRACT_TAMPERED', field: '/body/service/rateMbps', domain: 'a' }],
      ['bad signature of c and a tampered field', (c) => withAlteredBody(((sigOf(c, 'c').signature = zero), c), (b) => (b.issuedAt = '2026-11-24T12:00:00Z')), undefined, { code: 'QB_CONTRACT_TAMPERED', field: '/body/issuedAt', domain: 'a' }],
      ['unsigned by a', (c) => ((c.signatures = c.signatures.filter((s) => signatureDomain(s) !== 'a')), c), undefined, { code: 'QB_CONTRACT_UNSIGNED', domain: 'a' }],
      ['header of b rewritten', (c) => ((sigOf(c, 'b').protected = Buffer.from(JSON.stringify({ alg: 'EdDSA', kid: contractKeyId(keys.b.publicKey), domain: 'b', role: 'provider', x: 1 })).toString('base64url')), c), undefined, { code: 'QB_CONTRACT_BAD_SIGNATURE', domain: 'b' }],
      ['untrusted c', (c) => c, { a: keys.a.publicKeyRaw, b: keys.b.publicKeyRaw, c: keys.a.publicKeyRaw }, { code: 'QB_CONTRACT_UNTRUSTED_KEY', domain: 'c' }],
    ];
    for (const [name, spoil, trusted, fault] of cases) {
      const c = spoil(signedByAll());
      if (!fault) expect(verifyContract(c, trusted).signedBy, name).toEqual(['a', 'b', 'c']);
      else expect(errorOf(() => verifyContract(c, trusted)), name).toMatchObject(fault);
    }
  });

  test('contract - a sealed body is frozen all the way down, sealed once; a copy is checked afresh', () => {
    const body = sealContractBody(terms());
    expect(() => {
      (body.segments[1] as { priceMinor: number }).priceMinor = 1;
    }).toThrow(TypeError);
    expect(sealContractBody(body)).toBe(body);
    expect(sealContractBody(JSON.parse(JSON.stringify(body)) as ContractBody)).toEqual(body);
    let c = draftContract(body);
    for (const d of ['a', 'b', 'c'] as const) c = signContract(c, d, keys[d].privateKey);
    expect(verifyContract(c).signedBy).toEqual(['a', 'b', 'c']);
    const t = withAlteredBody(copy(c), (b) => (b.service.rateMbps = 20));
    expect(errorOf(() => verifyContract(t))).toMatchObject({ code: 'QB_CONTRACT_TAMPERED', field: '/body/service/rateMbps' });
  });

  test('contract - a tampered price fails naming the field that changed', () => {
    const c = withAlteredBody(signedByAll(), (b) => {
      b.segments[1]!.priceMinor = 100;
      b.totalPriceMinor = 1200 + 100 + 900;
    });
    const e = errorOf(() => verifyContract(c));
    expect(e.code).toBe('QB_CONTRACT_TAMPERED');
    expect(e.field).toBe('/body/segments/1/priceMinor');
    expect(e.message).toContain('field /body/segments/1/priceMinor changed after a signed contract agr-0001');
    // a price changed without its total: still the change, not the sum, is reported
    expect(errorOf(() => verifyContract(withAlteredBody(signedByAll(), (b) => (b.segments[0]!.priceMinor = 1))))).toMatchObject({ code: 'QB_CONTRACT_TAMPERED', field: '/body/segments/0/priceMinor' });
  });

  test('contract - an added or removed field is named; a payload rewritten with its digests is still tampered', () => {
    expect(errorOf(() => verifyContract(withAlteredBody(signedByAll(), (b) => (b.service.maxJitterMs = 5)))).message).toContain('/body/service/maxJitterMs was added');
    expect(errorOf(() => verifyContract(withAlteredBody(signedByAll(), (b) => delete b.service.maxLatencyMs))).message).toContain('/body/service/maxLatencyMs was removed');
    const c = signedByAll();
    const forged = sealContractBody({ ...contractBody(c), service: { ...contractBody(c).service, rateMbps: 50 } });
    const whole = { payload: Buffer.from(canonicalJson(forged)).toString('base64url'), signatures: c.signatures };
    expect(errorOf(() => verifyContract(whole))).toMatchObject({ code: 'QB_CONTRACT_TAMPERED', field: '/payload' });
    // a payload re-encoded with whitespace: every signature fails, nothing changed in value
    const spaced = { payload: Buffer.from(JSON.stringify(contractBody(c), null, 1)).toString('base64url'), signatures: c.signatures };
    expect(errorOf(() => verifyContract(spaced))).toMatchObject({ code: 'QB_CONTRACT_TAMPERED', field: '/payload' });
  });

  test('contract - bad input: a malformed JWS, a key not of the named party, a signer that is no party, a missing party: each its own code', () => {
    const c = signedByAll();
    expect(errorOf(() => verifyContract('nope'))).toMatchObject({ code: 'QB_CONTRACT_MALFORMED' });
    expect(errorOf(() => verifyContract({ body: {}, signatures: [] }))).toMatchObject({ code: 'QB_CONTRACT_MALFORMED', field: '/payload' });
    expect(errorOf(() => verifyContract({ ...c, payload: c.payload + '=' }))).toMatchObject({ code: 'QB_CONTRACT_MALFORMED', field: '/payload' });
    expect(errorOf(() => verifyContract({ ...c, payload: Buffer.from('{"version":2').toString('base64url') }))).toMatchObject({ code: 'QB_CONTRACT_MALFORMED', field: '/payload' });
    expect(errorOf(() => verifyContract({ ...c, signatures: {} }))).toMatchObject({ code: 'QB_CONTRACT_MALFORMED', field: '/signatures' });
    expect(errorOf(() => verifyContract({ ...c, signatures: [{ ...c.signatures[0], signature: 'AAAA' }] }))).toMatchObject({ code: 'QB_CONTRACT_MALFORMED', field: '/signatures/0/signature' });
    expect(errorOf(() => verifyContract({ ...c, signatures: [{ ...c.signatures[0], protected: Buffer.from('{"alg":"ES256"}').toString('base64url') }] }))).toMatchObject({ code: 'QB_CONTRACT_MALFORMED', field: '/signatures/0/protected' });
    expect(errorOf(() => verifyContract({ ...c, signatures: [...c.signatures, c.signatures[1]] }))).toMatchObject({ code: 'QB_CONTRACT_MALFORMED', domain: 'b' });
    // a signature by a key that is not the named party's: the header's kid gives it away, before any Ed25519 check
    const evil = generateAdvertKeyPair();
    const h = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
    const byEvil = (protectedHeader: string) => ({ protected: protectedHeader, signature: sign(null, Buffer.from(`${protectedHeader}.${c.payload}`), evil.privateKey).toString('base64url') });
    const asB = byEvil(h({ alg: 'EdDSA', kid: contractKeyId(evil.publicKey), domain: 'b', role: 'provider' }));
    expect(errorOf(() => verifyContract({ ...c, signatures: c.signatures.map((s) => (signatureDomain(s) === 'b' ? asB : s)) }))).toMatchObject({ code: 'QB_CONTRACT_WRONG_KEY', domain: 'b', field: '/signatures/1/protected' });
    // the same with b's kid copied into the header: the signature does not verify with b's key
    const posing = byEvil(h({ alg: 'EdDSA', kid: contractKeyId(keys.b.publicKey), domain: 'b', role: 'provider' }));
    expect(errorOf(() => verifyContract({ ...c, signatures: c.signatures.map((s) => (signatureDomain(s) === 'b' ? posing : s)) }))).toMatchObject({ code: 'QB_CONTRACT_BAD_SIGNATURE', domain: 'b' });
    // a signer the body does not list
    const z = byEvil(h({ alg: 'EdDSA', kid: contractKeyId(evil.publicKey), domain: 'z', role: 'provider' }));
    expect(errorOf(() => verifyContract({ ...c, signatures: [...c.signatures, z] }))).toMatchObject({ code: 'QB_CONTRACT_NOT_A_PARTY', domain: 'z' });
    // signed as a broker while listed as a provider
    const asBroker = { ...sigOf(c, 'c'), protected: h({ alg: 'EdDSA', kid: contractKeyId(keys.c.publicKey), domain: 'c', role: 'broker' }) };
    expect(errorOf(() => verifyContract({ ...c, signatures: c.signatures.map((s) => (signatureDomain(s) === 'c' ? asBroker : s)) }))).toMatchObject({ code: 'QB_CONTRACT_ROLE_MISMATCH', domain: 'c' });
    // a missing party
    let two = draftContract(terms());
    two = signContract(signContract(two, 'a', keys.a.privateKey), 'b', keys.b.privateKey);
    expect(errorOf(() => verifyContract(copy(two)))).toMatchObject({ code: 'QB_CONTRACT_UNSIGNED', domain: 'c' });
    // a swapped party key, consistent on its own, is caught by trust anchors
    const swapped = signedByAll();
    const t2 = terms();
    t2.parties[1] = { domain: 'b', publicKey: evil.publicKeyRaw, role: 'provider' };
    let s2 = draftContract(t2);
    for (const [d, k] of [['a', keys.a], ['b', evil], ['c', keys.c]] as const) s2 = signContract(s2, d, k.privateKey);
    expect(verifyContract(copy(s2)).signedBy).toContain('b');
    expect(errorOf(() => verifyContract(copy(s2), { a: keys.a.publicKeyRaw, b: keys.b.publicKeyRaw, c: keys.c.publicKeyRaw }))).toMatchObject({ code: 'QB_CONTRACT_UNTRUSTED_KEY', field: '/body/parties/1/publicKey' });
    expect(verifyContract(swapped).signedBy).toEqual(['a', 'b', 'c']);
    // the old {body, signatures} form says what it is
    expect(errorOf(() => verifyContract({ body: contractBody(c), signatures: [] })).message).toContain('old {body, signatures} form');
  });

  test('contract - malformed bodies are typed errors naming the field, when signing and when verifying', () => {
    const t = terms();
    t.totalPriceMinor = 1;
    expect(errorOf(() => draftContract(t))).toMatchObject({ code: 'QB_CONTRACT_MALFORMED', field: '/body/totalPriceMinor' });
    const s = terms();
    s.segments[0]!.domain = 'x';
    expect(errorOf(() => sealContractBody(s))).toMatchObject({ code: 'QB_CONTRACT_MALFORMED', field: '/body/segments/0/domain' });
    const w = terms();
    w.window.end = w.window.start;
    expect(errorOf(() => sealContractBody(w)).field).toBe('/body/window');
    expect(errorOf(() => sealContractBody({ ...terms(), extra: [] } as ContractTerms))).toMatchObject({ code: 'QB_CONTRACT_MALFORMED', field: '/body/extra' });
    expect(errorOf(() => sealContractBody({ ...terms(), currency: 'euro' }))).toMatchObject({ code: 'QB_CONTRACT_MALFORMED', field: '/body/currency' });
    const { issuedAt: _, ...noTime } = terms();
    expect(errorOf(() => sealContractBody(noTime as ContractTerms))).toMatchObject({ code: 'QB_CONTRACT_MALFORMED', field: '/body/issuedAt' });
    expect(errorOf(() => signContract(draftContract(terms()), 'z', keys.a.privateKey)).code).toBe('QB_CONTRACT_NOT_A_PARTY');
    expect(errorOf(() => signContract(draftContract(terms()), 'a', keys.b.privateKey)).code).toBe('QB_CONTRACT_WRONG_KEY');
    // a broker signs as a broker and carries no segment
    const ex = generateAdvertKeyPair();
    const brokered = { ...terms(), parties: [...terms().parties, { domain: 'exchange', publicKey: ex.publicKeyRaw, role: 'broker' as const }] };
    let b = draftContract(brokered);
    for (const d of ['a', 'b', 'c'] as const) b = signContract(b, d, keys[d].privateKey);
    b = signContract(b, 'exchange', ex.privateKey);
    expect(verifyContract(copy(b)).lines.join('\n')).toContain('exchange (broker, EdDSA');
    const segByBroker = { ...brokered, segments: brokered.segments.map((x, i) => (i === 0 ? { ...x, domain: 'exchange' } : x)) };
    expect(errorOf(() => sealContractBody(segByBroker))).toMatchObject({ code: 'QB_CONTRACT_MALFORMED', field: '/body/segments/0/domain' });
  });

  test('contract - a broker signs only the canonical JSON of a body whose digests are its own', () => {
    const body = sealContractBody(terms());
    const text = canonicalJson(body);
    expect(parseContractPayload(text)).toEqual(body);
    expect(errorOf(() => parseContractPayload(JSON.stringify(body, null, 1)))).toMatchObject({ code: 'QB_CONTRACT_MALFORMED', field: '/payload' });
    // a repeated key means different things to different parsers: refused
    expect(errorOf(() => parseContractPayload(text.replace('"currency":"EUR"', '"currency":"USD","currency":"EUR"')))).toMatchObject({ code: 'QB_CONTRACT_MALFORMED' });
    const lying = canonicalJson({ ...body, fieldDigests: { ...body.fieldDigests, '/currency': 'AAAAAAAAAAAAAAAA' } });
    expect(errorOf(() => parseContractPayload(lying, 'CommitRequest.body_json'))).toMatchObject({ code: 'QB_CONTRACT_MALFORMED', field: '/body/currency' });
    expect(errorOf(() => parseContractPayload('{', 'CommitRequest.body_json'))).toMatchObject({ code: 'QB_CONTRACT_MALFORMED', field: 'CommitRequest.body_json' });
  });

  test('contract - an amendment is a contract of its own that references the original by id and payload digest', () => {
    const original = signedByAll();
    const ref = contractReference(original);
    expect(ref).toEqual({ agreementId: 'agr-0001', payloadDigest: createHash('sha256').update(Buffer.from(original.payload, 'base64url')).digest('base64url') });
    const boost = signedByAll({ ...terms(), agreementId: 'agr-0001-boost-1', service: { ...terms().service, rateMbps: 5 }, amends: ref });
    expect(checkAmendment(original, boost).service.rateMbps).toBe(5);
    expect(verifyContract(boost).lines.join('\n')).toContain(`amends contract agr-0001 (payload SHA-256 ${ref.payloadDigest})`);
    // another contract with the same id but other terms is not the one amended
    const other = signedByAll({ ...terms(), issuedAt: '2026-11-24T11:00:01Z' });
    expect(errorOf(() => checkAmendment(other, boost))).toMatchObject({ code: 'QB_CONTRACT_AMENDMENT_MISMATCH', field: '/body/amends/payloadDigest' });
    expect(errorOf(() => checkAmendment(original, signedByAll({ ...terms(), agreementId: 'agr-0001-boost-2' })))).toMatchObject({ code: 'QB_CONTRACT_AMENDMENT_MISMATCH', field: '/body/amends' });
    expect(errorOf(() => checkAmendment(original, withAlteredBody(boost, (b) => (b.service.rateMbps = 50))))).toMatchObject({ code: 'QB_CONTRACT_TAMPERED', field: '/body/service/rateMbps' });
  });
});
