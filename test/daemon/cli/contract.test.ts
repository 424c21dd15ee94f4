import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, test } from 'vitest';
import { contractCommand } from '../../../daemon/cli/contract.js';
import { draftContract, signContract, withAlteredBody, type SignedContract } from '../../../daemon/agreement/contract.js';
import { generateAdvertKeyPair } from '../../../daemon/peering/advert.js';

const dir = mkdtempSync(join(tmpdir(), 'qb-contract-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const a = generateAdvertKeyPair();
const b = generateAdvertKeyPair();

function contract(): SignedContract {
  let c = draftContract({
    version: 2,
    agreementId: 'agr-cli',
    originator: { domain: 'a', customer: 'acme' },
    service: { from: 'a/s1', to: 'b/s2', qosClass: 'AF41', rateMbps: 50 },
    window: { start: '2026-11-24T14:00:00Z', end: '2026-11-24T16:00:00Z' },
    parties: [
      { domain: 'a', publicKey: a.publicKeyRaw, role: 'provider' },
      { domain: 'b', publicKey: b.publicKeyRaw, role: 'provider' },
    ],
    segments: [
      { domain: 'a', ingress: 's1', egress: 'a-b', latencyMs: 3, jitterMs: 1, lossPct: 0, priceMinor: 500 },
      { domain: 'b', ingress: 'b-a', egress: 's2', latencyMs: 4, jitterMs: 1, lossPct: 0, priceMinor: 700 },
    ],
    currency: 'EUR',
    totalPriceMinor: 1200,
    issuedAt: '2026-11-24T11:00:00Z',
  });
  c = signContract(c, 'a', a.privateKey);
  return signContract(c, 'b', b.privateKey);
}

test('cli - contract verify prints who agreed to what; a tampered file fails naming the field', async () => {
  const f = join(dir, 'c.json');
  writeFileSync(f, JSON.stringify(contract()));
  const lines: string[] = [];
  await contractCommand(['verify', f], (s) => lines.push(s));
  expect(lines[0]).toBe('OK: signed by a, b (keys as listed in the contract; pass --trust to pin them)');
  expect(lines.join('\n')).toContain('AF41 50 Mbit/s from a/s1 to b/s2');
  const trust = join(dir, 'trust.yaml');
  writeFileSync(trust, `a: ${a.publicKeyRaw}\nb: ${b.publicKeyRaw}\n`);
  const l2: string[] = [];
  await contractCommand(['verify', f, '--trust', trust], (s) => l2.push(s));
  expect(l2[0]).toContain('keys match the trust file');
  writeFileSync(f, JSON.stringify(withAlteredBody(contract(), (body) => (body.window.end = '2026-11-24T18:00:00Z'))));
  await expect(contractCommand(['verify', f], () => {})).rejects.toMatchObject({ code: 'QB_CONTRACT_TAMPERED', field: '/body/window/end' });
  // b's signature spoilt, then left out, then a file that is no JWS
  const c = contract();
  const spoilt = Buffer.from(c.signatures[1]!.signature, 'base64url');
  spoilt[0]! ^= 1;
  writeFileSync(f, JSON.stringify({ ...c, signatures: [c.signatures[0], { ...c.signatures[1], signature: spoilt.toString('base64url') }] }));
  await expect(contractCommand(['verify', f], () => {})).rejects.toMatchObject({ code: 'QB_CONTRACT_BAD_SIGNATURE', domain: 'b' });
  writeFileSync(f, JSON.stringify({ ...c, signatures: [c.signatures[0]] }));
  await expect(contractCommand(['verify', f], () => {})).rejects.toMatchObject({ code: 'QB_CONTRACT_UNSIGNED', domain: 'b' });
  writeFileSync(f, JSON.stringify({ payload: 'not base64url!', signatures: [] }));
  await expect(contractCommand(['verify', f], () => {})).rejects.toMatchObject({ code: 'QB_CONTRACT_MALFORMED', field: '/payload' });
  writeFileSync(f, '{not json');
  await expect(contractCommand(['verify', f], () => {})).rejects.toMatchObject({ code: 'QB_INVALID_ARGUMENT' });
  await expect(contractCommand(['verify'], () => {})).rejects.toThrow(/needs the contract FILE/);
  await expect(contractCommand(['sign', f], () => {})).rejects.toThrow(/unknown contract operation "sign"/);
});
