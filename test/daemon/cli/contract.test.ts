import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parse as parseYaml } from 'yaml';
import { afterAll, expect, test } from 'vitest';
import { contractCommand } from '../../../daemon/cli/contract.js';
import { draftContract, signContract, withAlteredBody, type SignedContract } from '../../../daemon/agreement/contract.js';
import { generateAdvertKeyPair } from '../../../daemon/peering/advert.js';
import { joseVerify, jwcryptoMissing, jwcryptoVerify } from '../agreement/independent.js';

const run = promisify(execFile);

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

test('cli - the example of docs/contract.md verifies with qos-broker, jose, OpenSSL (the documented script) and jwcrypto; a changed copy fails with each', async () => {
  const ex = 'docs/examples/contract';
  const text = readFileSync(join(ex, 'contract.json'), 'utf8');
  const lines: string[] = [];
  await contractCommand(['verify', join(ex, 'contract.json'), '--trust', join(ex, 'trust.yaml')], (s) => lines.push(s));
  expect(lines[0]).toBe('OK: signed by dom-a, dom-b, dom-c (keys match the trust file)');
  // the doc shows these lines as they are
  const doc = readFileSync('docs/contract.md', 'utf8');
  for (const l of lines.slice(0, -1)) expect(doc).toContain(l);
  const trust = parseYaml(readFileSync(join(ex, 'trust.yaml'), 'utf8')) as Record<string, string>;
  const byJose = await joseVerify(JSON.parse(text), trust);
  expect(Object.keys(byJose).sort()).toEqual(['dom-a', 'dom-b', 'dom-c']);
  const changed = join(dir, 'changed.json');
  writeFileSync(changed, JSON.stringify(withAlteredBody(JSON.parse(text) as SignedContract, (b) => (b.segments[1]!.priceMinor = 1))));
  await expect(joseVerify(JSON.parse(readFileSync(changed, 'utf8')), { 'dom-b': trust['dom-b']! })).rejects.toThrow(/signature verification failed/);
  const script = join(ex, 'verify-openssl.sh');
  for (const d of ['dom-a', 'dom-b', 'dom-c']) {
    const { stdout } = await run(script, [join(ex, 'contract.json'), d, join(ex, `${d}.pub.pem`)]);
    expect(stdout).toContain(`"domain":"${d}"`);
    expect(stdout).toContain('Signature Verified Successfully');
  }
  await expect(run(script, [join(ex, 'contract.json'), 'dom-b', join(ex, 'dom-a.pub.pem')])).rejects.toMatchObject({ stdout: expect.stringContaining('Signature Verification Failure') });
  await expect(run(script, [changed, 'dom-b', join(ex, 'dom-b.pub.pem')])).rejects.toMatchObject({ stdout: expect.stringContaining('Signature Verification Failure') });
  const missing = jwcryptoMissing();
  if (missing && process.env.CI) throw new Error(`jwcrypto check cannot run in CI: ${missing}`);
  if (missing) console.warn(`jwcrypto check skipped: ${missing}`);
  else {
    expect((await jwcryptoVerify(text, trust)).verified).toEqual(['dom-a', 'dom-b', 'dom-c']);
    await expect(jwcryptoVerify(readFileSync(changed, 'utf8'), { 'dom-b': trust['dom-b']! })).rejects.toThrow(/failed/);
  }
});
