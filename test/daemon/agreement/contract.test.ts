import { createHash, sign, verify } from 'node:crypto';
import { describe, expect, test } from 'vitest';
import { canonicalJson, generateAdvertKeyPair } from '../../../daemon/peering/advert.js';
import { ContractError, manifestOf, sealContractBody, signContract, verifyContract, type SignedContract } from '../../../daemon/agreement/contract.js';

const keys = { a: generateAdvertKeyPair(), b: generateAdvertKeyPair(), c: generateAdvertKeyPair() };

function draft(): SignedContract {
  return {
    body: {
      version: 1,
      agreementId: 'agr-0001',
      originator: { domain: 'a', customer: 'acme' },
      service: { from: 'a/site1', to: 'c/site9', qosClass: 'EF', rateMbps: 10, maxLatencyMs: 30 },
      window: { start: '2026-11-24T14:00:00Z', end: '2026-11-24T16:00:00Z' },
      parties: (['a', 'b', 'c'] as const).map((d) => ({ domain: d, publicKey: keys[d].publicKeyRaw })),
      segments: [
        { domain: 'a', ingress: 'site1', egress: 'a-b1', latencyMs: 5, jitterMs: 1, lossPct: 0.01, priceMinor: 1200 },
        { domain: 'b', ingress: 'b-a1', egress: 'b-c1', latencyMs: 10, jitterMs: 2, lossPct: 0.02, priceMinor: 2500 },
        { domain: 'c', ingress: 'c-b1', egress: 'site9', latencyMs: 6, jitterMs: 1, lossPct: 0.01, priceMinor: 900 },
      ],
      currency: 'EUR',
      totalPriceMinor: 4600,
      issuedAt: '2026-11-24T11:00:00Z',
    },
    signatures: [],
  };
}

function signedByAll(): SignedContract {
  let c = draft();
  for (const d of ['a', 'b', 'c'] as const) c = signContract(c, d, keys[d].privateKey);
  return c;
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

describe('contract', () => {
  test('contract - signed by every provider on the path, it verifies and says who agreed to what', () => {
    const c = JSON.parse(JSON.stringify(signedByAll()));
    const s = verifyContract(c);
    expect(s.signedBy).toEqual(['a', 'b', 'c']);
    expect(s.selfAsserted).toBe(true);
    expect(s.lines.join('\n')).toContain('b: b-a1 -> b-c1, latency 10 ms, jitter 2 ms, loss 0.02%, price 25.00 EUR, signed');
    expect(verifyContract(c, { a: keys.a.publicKeyRaw, b: keys.b.publicKeyRaw, c: keys.c.publicKeyRaw }).selfAsserted).toBe(false);
    // with trust anchors, a party without one is refused, not taken on the contract's word
    expect(errorOf(() => verifyContract(c, { a: keys.a.publicKeyRaw, b: keys.b.publicKeyRaw }))).toMatchObject({ code: 'QB_CONTRACT_UNTRUSTED_KEY', domain: 'c', field: '/body/parties/2/publicKey' });
  });

  test('contract - the signed bytes are the documented format: context line, then canonical JSON of {domain, manifest}; the manifest is SHA-256 of each leaf', () => {
    // an offline verifier in another language rebuilds exactly these bytes, so they may not drift with optimisations
    const c = signedByAll();
    const sig = c.signatures.find((s) => s.domain === 'b')!;
    expect(sig.manifest['/segments/1/priceMinor']).toBe(createHash('sha256').update('2500').digest('hex'));
    expect(sig.manifest['/service/from']).toBe(createHash('sha256').update(JSON.stringify('a/site1')).digest('hex'));
    expect(Object.keys(sig.manifest)).toHaveLength(41);
    const bytes = Buffer.from('qos-broker/contract/v1\n' + canonicalJson({ domain: 'b', manifest: sig.manifest }), 'utf8');
    expect(verify(null, bytes, keys.b.publicKey, Buffer.from(sig.signature, 'base64'))).toBe(true);
    // and a signature made that way by someone else verifies here
    const foreign = { ...sig, signature: '' };
    foreign.signature = sign(null, bytes, keys.b.privateKey).toString('base64');
    expect(verifyContract({ body: c.body, signatures: [...c.signatures.filter((s) => s.domain !== 'b'), foreign] }).signedBy).toContain('b');
  });

  test('contract - signedHere skips only the Ed25519 check of the caller\'s own part: its manifest and every other signature are still checked', () => {
    const c = signedByAll();
    const a = c.signatures.find((s) => s.domain === 'a')!;
    a.signature = Buffer.alloc(64).toString('base64');
    expect(errorOf(() => verifyContract(c))).toMatchObject({ code: 'QB_CONTRACT_BAD_SIGNATURE', domain: 'a' });
    expect(verifyContract(c, undefined, 'a').signedBy).toEqual(['a', 'b', 'c']);
    const b = c.signatures.find((s) => s.domain === 'b')!;
    const good = b.signature;
    b.signature = Buffer.alloc(64).toString('base64');
    expect(errorOf(() => verifyContract(c, undefined, 'a'))).toMatchObject({ code: 'QB_CONTRACT_BAD_SIGNATURE', domain: 'b' });
    b.signature = good;
    c.body.service.rateMbps = 20;
    expect(errorOf(() => verifyContract(c, undefined, 'a'))).toMatchObject({ code: 'QB_CONTRACT_TAMPERED', field: '/body/service/rateMbps', domain: 'a' });
  });

  test('contract - verification reports the first fault in the order of the parties', () => {
    const cases: Array<[string, (c: SignedContract) => void, Record<string, string> | undefined, Record<string, string> | undefined]> = [
      ['intact', () => {}, undefined, undefined],
      ['bad signature of b', (c) => (c.signatures[1]!.signature = Buffer.alloc(64, 1).toString('base64')), undefined, { code: 'QB_CONTRACT_BAD_SIGNATURE', domain: 'b' }],
      ['tampered rate', (c) => (c.body.service.rateMbps = 99), undefined, { code: 'QB_CONTRACT_TAMPERED', field: '/body/service/rateMbps', domain: 'a' }],
      // a comes first: its signature verifies over what it signed, then the changed field is found
      ['bad signature of c and a tampered field', (c) => ((c.signatures[2]!.signature = 'AAAA'), (c.body.issuedAt = '2026-11-24T12:00:00Z')), undefined, { code: 'QB_CONTRACT_TAMPERED', field: '/body/issuedAt', domain: 'a' }],
      ['unsigned by a', (c) => c.signatures.shift(), undefined, { code: 'QB_CONTRACT_UNSIGNED', domain: 'a' }],
      ['manifest of b rewritten', (c) => (c.signatures[1]!.manifest['/currency'] = '00'), undefined, { code: 'QB_CONTRACT_BAD_SIGNATURE', domain: 'b' }],
      ['untrusted c', () => {}, { a: keys.a.publicKeyRaw, b: keys.b.publicKeyRaw, c: keys.a.publicKeyRaw }, { code: 'QB_CONTRACT_UNTRUSTED_KEY', domain: 'c' }],
    ];
    for (const [name, spoil, trusted, fault] of cases) {
      const c = signedByAll();
      spoil(c);
      if (!fault) expect(verifyContract(c, trusted).signedBy, name).toEqual(['a', 'b', 'c']);
      else expect(errorOf(() => verifyContract(c, trusted)), name).toMatchObject(fault);
    }
  });

  test('contract - a sealed body is frozen all the way down, its manifest computed once; a copy of it is checked afresh', () => {
    const body = sealContractBody(draft().body);
    expect(() => {
      (body.segments[1] as { priceMinor: number }).priceMinor = 1;
    }).toThrow(TypeError);
    expect(manifestOf(body)).toBe(manifestOf(body));
    expect(manifestOf(body)).toEqual(manifestOf(JSON.parse(JSON.stringify(body))));
    let c: SignedContract = { body, signatures: [] };
    for (const d of ['a', 'b', 'c'] as const) c = signContract(c, d, keys[d].privateKey);
    expect(verifyContract(c).signedBy).toEqual(['a', 'b', 'c']);
    const copy = JSON.parse(JSON.stringify(c)) as SignedContract;
    copy.body.service.rateMbps = 20;
    expect(errorOf(() => verifyContract(copy))).toMatchObject({ code: 'QB_CONTRACT_TAMPERED', field: '/body/service/rateMbps' });
  });

  test('contract - a tampered price fails naming the field that changed', () => {
    const c = signedByAll();
    c.body.segments[1]!.priceMinor = 100;
    c.body.totalPriceMinor = 1200 + 100 + 900;
    const e = errorOf(() => verifyContract(c));
    expect(e.code).toBe('QB_CONTRACT_TAMPERED');
    expect(e.field).toBe('/body/segments/1/priceMinor');
    expect(e.message).toContain('field /body/segments/1/priceMinor changed after a signed contract agr-0001');
  });

  test('contract - an added or removed field is named', () => {
    const c = signedByAll();
    (c.body.service as Record<string, unknown>).maxJitterMs = 5;
    expect(errorOf(() => verifyContract(c)).message).toContain('/body/service/maxJitterMs was added');
    const d = signedByAll();
    delete d.body.service.maxLatencyMs;
    expect(errorOf(() => verifyContract(d)).message).toContain('/body/service/maxLatencyMs was removed');
  });

  test('contract - a missing signature names the party; a forged one fails', () => {
    let c = draft();
    c = signContract(c, 'a', keys.a.privateKey);
    c = signContract(c, 'b', keys.b.privateKey);
    expect(errorOf(() => verifyContract(c))).toMatchObject({ code: 'QB_CONTRACT_UNSIGNED', domain: 'c' });
    const forged = signContract({ ...draft(), body: { ...draft().body, parties: draft().body.parties.map((p) => (p.domain === 'c' ? { ...p, publicKey: keys.a.publicKeyRaw } : p)) } }, 'c', keys.a.privateKey);
    const mixed = signedByAll();
    mixed.signatures = mixed.signatures.map((s) => (s.domain === 'c' ? { ...forged.signatures.find((f) => f.domain === 'c')! } : s));
    expect(errorOf(() => verifyContract(mixed))).toMatchObject({ code: 'QB_CONTRACT_BAD_SIGNATURE', domain: 'c' });
  });

  test('contract - a swapped party key is caught by trust anchors', () => {
    const evil = generateAdvertKeyPair();
    let c = draft();
    c.body.parties[1] = { domain: 'b', publicKey: evil.publicKeyRaw };
    for (const [d, k] of [['a', keys.a], ['b', evil], ['c', keys.c]] as const) c = signContract(c, d, k.privateKey);
    expect(verifyContract(c).signedBy).toContain('b'); // consistent on its own
    expect(errorOf(() => verifyContract(c, { a: keys.a.publicKeyRaw, b: keys.b.publicKeyRaw, c: keys.c.publicKeyRaw }))).toMatchObject({ code: 'QB_CONTRACT_UNTRUSTED_KEY', field: '/body/parties/1/publicKey' });
  });

  test('contract - malformed contracts are typed errors naming the field', () => {
    const c = draft();
    c.body.totalPriceMinor = 1;
    expect(errorOf(() => signContract(c, 'a', keys.a.privateKey))).toMatchObject({ code: 'QB_CONTRACT_MALFORMED', field: '/body/totalPriceMinor' });
    const d = draft();
    d.body.segments[0]!.domain = 'x';
    expect(errorOf(() => verifyContract(d)).field).toBe('/body/segments/0/domain');
    const w = draft();
    w.body.window.end = w.body.window.start;
    expect(errorOf(() => verifyContract(w)).field).toBe('/body/window');
    expect(errorOf(() => verifyContract('nope')).code).toBe('QB_CONTRACT_MALFORMED');
    const deep = signedByAll();
    let nest: unknown[] = [];
    (deep.body as unknown as Record<string, unknown>).extra = nest;
    for (let i = 0; i < 100; i++) nest = (nest.push([]), nest[0] as unknown[]);
    expect(errorOf(() => verifyContract(deep))).toMatchObject({ code: 'QB_CONTRACT_MALFORMED' });
    expect(errorOf(() => signContract(draft(), 'z', keys.a.privateKey)).code).toBe('QB_CONTRACT_NOT_A_PARTY');
    expect(errorOf(() => signContract(draft(), 'a', keys.b.privateKey)).code).toBe('QB_CONTRACT_WRONG_KEY');
  });
});
