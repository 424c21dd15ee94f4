/**
 * A peer's dialing address from an exchange registration: dom-a has dom-b as
 * a peer without an address (dom-b dials it), so before it learns dom-b's
 * registration it has no channel of its own to call dom-b's Agreement
 * service; both register with an exchange, and dom-a calls dom-b at the
 * address dom-b registered. Real qos-brokerd processes.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { Cluster, inventory, waitFor, type Daemon } from './harness.js';
import { verifyContract, type SignedContract } from '../../../daemon/agreement/contract.js';
import { rawPublicKey } from '../../../daemon/peering/advert.js';
import type { DomainFiles } from '../../../lab/pki.js';

const cluster = new Cluster();
let ex: Daemon, a: Daemon, b: Daemon;
let fa: DomainFiles, fb: DomainFiles;
const peering = { 'hold-time-s': 3, 'backoff-initial-ms': 100, 'backoff-max-ms': 1000, 'poll-interval-ms': 500 };

beforeAll(async () => {
  await cluster.init();
  const pki = cluster.pki;
  const ca = pki.caCert;
  const fx = pki.domain('exchange-x');
  [fa, fb] = [pki.domain('dom-a'), pki.domain('dom-b')];
  const [ax, aa, ab] = [await cluster.allocate(), await cluster.allocate(), await cluster.allocate()];
  ex = await cluster.start(fx, ax, { role: 'exchange', peering, peers: [{ 'domain-id': 'dom-a', 'ca-file': ca }, { 'domain-id': 'dom-b', 'ca-file': ca }] });
  const exchange = { 'domain-id': 'exchange-x', 'ca-file': ca, address: ex.grpc, exchange: true };
  a = await cluster.start(fa, aa, { role: 'provider', peering, peers: [exchange, { 'domain-id': 'dom-b', 'ca-file': ca }], inventory: inventory('dom-a', ['dom-b']) });
  b = await cluster.start(fb, ab, { role: 'provider', peering, peers: [exchange, { 'domain-id': 'dom-a', 'ca-file': ca, address: a.grpc }], inventory: inventory('dom-b', ['dom-a']) });
  await waitFor('dom-a established with dom-b and the exchange', async () => ((await a.get('/v1/peers')).peers as { state: string }[]).every((p) => p.state === 'established'));
  await waitFor('dom-a holds both adverts', async () => ((await a.get('/v1/adverts')).adverts as unknown[]).length === 2);
  await waitFor('dom-a learns dom-b registered', async () => ((await a.get('/v1/domains')).domains as { domain: string; registered: boolean }[]).some((d) => d.domain === 'dom-b' && d.registered));
}, 90_000);

afterAll(() => cluster.stopAll());

describe('qos-brokerd: dialing addresses from an exchange registration', () => {
  test('chain registration - dom-a has no address for dom-b in its config; it agrees with dom-b at the address dom-b registered with the exchange', async () => {
    const view = ((await a.get('/v1/peers')).peers as { domain: string; address: string | null }[]).find((p) => p.domain === 'dom-b')!;
    expect(view).toMatchObject({ address: null, state: 'established', direction: 'inbound' }); // nothing configured: dom-b dialed dom-a
    const row = ((await a.get('/v1/domains')).domains as { domain: string; peeringAddress: string | null }[]).find((d) => d.domain === 'dom-b')!;
    expect(row.peeringAddress).toBe(b.grpc);
    const start = Math.ceil((Date.now() + 3_600_000) / 60_000) * 60_000;
    const r = await fetch(`http://${a.admin}/v1/order`, { method: 'POST', body: JSON.stringify({ from: 'dom-a/dom-a-site', to: 'dom-b/dom-b-site', qosClass: 'EF', rateMbps: 5, start, durationMs: 3_600_000, customer: 'acme' }) });
    const body = (await r.json()) as { contract?: SignedContract; error?: string };
    expect(r.status, body.error).toBe(200);
    const keys = { 'dom-a': rawPublicKey(fa.advertKeyPem), 'dom-b': rawPublicKey(fb.advertKeyPem) };
    expect(verifyContract(body.contract!, keys).signedBy.sort()).toEqual(['dom-a', 'dom-b']);
    await waitFor('dom-b logs the commit for dom-a', () => b.logs.some((l) => l.event === 'agreement-committed' && l.caller === 'dom-a'));
  });
});
