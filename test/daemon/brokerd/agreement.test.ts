/**
 * Agreements across three qos-brokerd processes on loopback (dom-a -> dom-b
 * -> dom-c, mutual TLS, one redis-server): `qos-broker quote` and `agree`
 * through dom-a's admin endpoint, the contract checked with every provider's
 * key; a test-side coordinator (pinned as peer dom-t) that reserves over gRPC
 * and then goes away leaves holds that expire, give their capacity back and
 * are logged as abandoned by the providers.
 */
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { Cluster, CLI, inventory, waitFor, type Daemon } from './harness.js';
import { assembleContract, contractBody, contractKeyId, sealContractBody, verifyContract, type SignedContract } from '../../../daemon/agreement/contract.js';
import { joseVerify, jwcryptoMissing, jwcryptoVerify } from '../agreement/independent.js';
import { edgeId, segmentOrders, SegmentRejectedError } from '../../../daemon/agreement/participant.js';
import { loadAgreementProto, RemoteParticipant } from '../../../daemon/agreement/remote.js';
import { rawPublicKey, type SignedAdvert } from '../../../daemon/peering/advert.js';
import { clientCredentials } from '../../../daemon/peering/tls.js';
import { loadProtos } from '../../../daemon/peering/proto.js';
import { RedisResourceStore } from '../../../daemon/state/redis-store.js';
import { buildTopology } from '../../../daemon/topology/graph.js';
import { computePaths } from '../../../daemon/topology/paths/index.js';
import type { DomainAdvertisement } from '../../../daemon/topology/types.js';
import type { DomainFiles } from '../../../lab/pki.js';

const run = promisify(execFile);
const cluster = new Cluster();
let a: Daemon, b: Daemon, c: Daemon;
let ft: DomainFiles, fx: DomainFiles;
const stores: RedisResourceStore[] = [];
const clients: grpc.Client[] = [];
const HOUR = 3_600_000;
const peering = { 'hold-time-s': 3, 'advert-lifetime-s': 30, 'poll-interval-ms': 500, 'backoff-initial-ms': 100, 'backoff-max-ms': 1000 };

beforeAll(async () => {
  await cluster.init();
  const pki = cluster.pki;
  const [fa, fb, fc] = [pki.domain('dom-a'), pki.domain('dom-b'), pki.domain('dom-c')];
  ft = pki.domain('dom-t');
  fx = pki.domain('dom-x');
  const ca = pki.caCert;
  const [xa, xb, xc] = [await cluster.allocate(), await cluster.allocate(), await cluster.allocate()];
  // dom-c and dom-b accept; dom-a dials both (it agrees with both), dom-b dials dom-c. dom-t is the test coordinator.
  c = await cluster.start(fc, xc, {
    role: 'provider',
    peering,
    peers: [{ 'domain-id': 'dom-a', 'ca-file': ca }, { 'domain-id': 'dom-b', 'ca-file': ca }, { 'domain-id': 'dom-t', 'ca-file': ca }],
    inventory: inventory('dom-c', ['dom-b']),
    agreement: { 'sweep-interval-ms': 250 },
  });
  b = await cluster.start(fb, xb, {
    role: 'provider',
    peering,
    peers: [{ 'domain-id': 'dom-a', 'ca-file': ca }, { 'domain-id': 'dom-c', 'ca-file': ca, address: c.grpc }, { 'domain-id': 'dom-t', 'ca-file': ca }],
    inventory: inventory('dom-b', ['dom-a', 'dom-c']),
    agreement: { 'sweep-interval-ms': 250 },
  });
  a = await cluster.start(fa, xa, {
    role: 'provider',
    peering,
    peers: [{ 'domain-id': 'dom-b', 'ca-file': ca, address: b.grpc }, { 'domain-id': 'dom-c', 'ca-file': ca, address: c.grpc }],
    inventory: inventory('dom-a', ['dom-b']),
    agreement: { 'hold-ttl-ms': 10_000, 'call-timeout-ms': 3000 },
  });
  for (const d of [a, b, c]) {
    await waitFor(`${d.domain} holds all three adverts`, async () => ((await d.get('/v1/adverts')).adverts as unknown[]).length === 3);
  }
  await waitFor('dom-a established with dom-b and dom-c', async () => ((await a.get('/v1/peers')).peers as { state: string }[]).every((p) => p.state === 'established'));
}, 60_000);

afterAll(async () => {
  for (const cl of clients) cl.close();
  for (const s of stores) await s.close().catch(() => {});
  await cluster.stopAll();
});

const cli = (...args: string[]) => run(process.execPath, [CLI, ...args]);
const flags = (start: number) => ['--from', 'dom-a/dom-a-site', '--to', 'dom-c/dom-c-site', '--class', 'EF', '--rate', '10M', '--latency', '30ms', '--for', '2h', '--start', new Date(start).toISOString(), '--management', `unix:${String(a.config['data-dir'])}/management.sock`];
const store = (domain: string) => {
  const s = new RedisResourceStore({ domain, redis: cluster.redis.client() });
  stores.push(s);
  return s;
};
const maxUsed = async (s: RedisResourceStore, link: string, start: number, end: number) => Math.max(...(await s.usage(link, 'EF', start, end)).map((u) => u.usedBps));
/** Each domain's order of an agreement on the best dom-a -> dom-c path as dom-a sees it, for an hour starting `inHours` from now. */
const ordersOnPath = async (agreementId: string, rateMbps: number, inHours: number) => {
  const ads = ((await a.get('/v1/adverts')).adverts as SignedAdvert<DomainAdvertisement>[]).map((x) => x.envelope.body);
  const path = computePaths(buildTopology(ads), { from: { domain: 'dom-a', site: 'dom-a-site' }, to: { domain: 'dom-c', site: 'dom-c-site' }, qosClass: 'EF', rateMbps }).paths[0]!;
  const start = Date.now() + inHours * HOUR;
  const end = start + HOUR;
  return { orders: segmentOrders(path, { agreementId, alternative: 0, qosClass: 'EF', rateMbps, start, end }), start, end };
};
/** A RemoteParticipant for `d`, dialed with the certificate of `as` (not through a daemon). */
const remote = (d: Daemon, as: DomainFiles) => {
  const Agreement = loadAgreementProto();
  const client = new Agreement(d.grpc, clientCredentials({ certPem: as.certPem, keyPem: as.keyPem }, { domain: d.domain, caPem: cluster.pki.caPem }), {
    'grpc.ssl_target_name_override': d.domain,
    'grpc.default_authority': d.domain,
  });
  clients.push(client);
  return new RemoteParticipant(d.domain, rawPublicKey(d.files.advertKeyPem), client, { callTimeoutMs: 5000 });
};

describe('qos-brokerd: agreements across three daemons', () => {
  test('agreement - quote prints priced options; agree agrees across dom-a, dom-b, dom-c; the contract verifies with every provider key', async () => {
    const start = Date.now() + HOUR;
    const q = await cli('quote', ...flags(start));
    expect(q.stdout).toMatch(/1\. \[cheapest, fastest, balanced\] dom-a > dom-b > dom-c: 30\.00 EUR, latency \d+(\.\d+)? ms/);
    const file = join(cluster.dir, 'contract.json');
    const o = await cli('agree', ...flags(start), '--objective', 'cheapest', '--customer', 'acme', '--out', file);
    expect(o.stdout).toMatch(/^agreed agr-[0-9a-f-]+: dom-a > dom-b > dom-c, total 30\.00 EUR/);
    expect(o.stdout).toMatch(/signed by dom-a, dom-b, dom-c; written to/);
    // offline, keys pinned to each provider's own advert key
    const trust = join(cluster.dir, 'trust.json');
    writeFileSync(trust, JSON.stringify(Object.fromEntries([a, b, c].map((d) => [d.domain, rawPublicKey(d.files.advertKeyPem)]))));
    const v = await cli('contract', 'verify', file, '--trust', trust);
    expect(v.stdout).toMatch(/^OK: signed by dom-a, dom-b, dom-c \(keys match the trust file\)/);
    const text = (await import('node:fs')).readFileSync(file, 'utf8');
    const contract = JSON.parse(text) as SignedContract;
    const body = contractBody(contract);
    expect(body.totalPriceMinor).toBe(3000); // 3 domains x 0.50 EUR/Mbit/s-h x 10 Mbit/s x 2 h
    expect(body.originator).toEqual({ domain: 'dom-a', customer: 'acme' });
    // the daemons' contract, checked by implementations that share no code with ours: jose (Node) and jwcrypto (Python)
    const keys = Object.fromEntries([a, b, c].map((d) => [d.domain, rawPublicKey(d.files.advertKeyPem)]));
    const byJose = await joseVerify(contract, keys);
    for (const d of [a, b, c]) {
      expect(byJose[d.domain]!.header).toEqual({ alg: 'EdDSA', kid: byJose[d.domain]!.kid, domain: d.domain, role: 'provider' });
      expect(byJose[d.domain]!.kid).toBe(contractKeyId(d.files.advertKeyPem));
      expect(byJose[d.domain]!.payload).toEqual(body);
    }
    await expect(joseVerify(contract, { 'dom-b': rawPublicKey(ft.advertKeyPem) })).rejects.toThrow(/signature verification failed/);
    const missing = jwcryptoMissing();
    if (missing && process.env.CI) throw new Error(`jwcrypto check cannot run in CI: ${missing}`);
    if (missing) console.warn(`jwcrypto check skipped: ${missing}`);
    else {
      const byPython = await jwcryptoVerify(text, keys);
      expect(byPython.verified).toEqual(['dom-a', 'dom-b', 'dom-c']);
      expect(byPython.payload).toEqual(body);
      expect(byPython.headers.map((h) => [h.domain, h.kid])).toEqual(expect.arrayContaining([a, b, c].map((d) => [d.domain, byPython.kids[d.domain]])));
      await expect(jwcryptoVerify(text, { 'dom-b': rawPublicKey(ft.advertKeyPem) })).rejects.toThrow(/failed/);
    }
    // a key that is not dom-b's makes verification fail naming dom-b
    const wrong = { ...Object.fromEntries([a, b, c].map((d) => [d.domain, rawPublicKey(d.files.advertKeyPem)])), 'dom-b': rawPublicKey(ft.advertKeyPem) };
    expect(() => verifyContract(contract, wrong)).toThrow(/dom-b/);
    // each provider booked what it advertises in its own store, under its inventory's link ids:
    // dom-a and dom-b their transit and egress link; dom-c (entered and left at the site's border) nothing
    const id = body.agreementId;
    for (const d of ['dom-a', 'dom-b']) expect((await store(d).get(`${id}:0:${d === 'dom-a' ? 0 : 1}`))?.state).toBe('committed');
    expect(await store('dom-c').get(`${id}:0:2`)).toBeUndefined();
    expect(await maxUsed(store('dom-b'), 'dom-b-dom-c', start, start + 2 * HOUR)).toBe(10e6);
    expect(await maxUsed(store('dom-b'), 'dom-b-core', start, start + 2 * HOUR)).toBe(10e6);
    for (const d of [b, c]) await waitFor(`${d.domain} logs the commit`, () => d.logs.some((l) => l.event === 'agreement-committed' && l.agreement_id === id && l.caller === 'dom-a'));
  });

  test('agreement - bad flags and unmeetable orders are typed errors with exit codes', async () => {
    const start = Date.now() + HOUR;
    const bad = await cli('agree', ...flags(start).map((x) => (x === '10M' ? '10X' : x))).catch((e: { code: number; stderr: string }) => e);
    expect((bad as { code: number }).code).toBe(2);
    expect((bad as { stderr: string }).stderr).toMatch(/QB_INVALID_ARGUMENT: --rate must be .* unit M or G/);
    const dur = await cli('quote', ...flags(start).map((x) => (x === '2h' ? '2d' : x))).catch((e: { code: number; stderr: string }) => e);
    expect((dur as { stderr: string }).stderr).toMatch(/--for must be .* unit s, m \(minutes\) or h \(hours\)/);
    const far = await cli('agree', ...flags(start).map((x) => (x === '30ms' ? '1ms' : x))).catch((e: { code: number; stderr: string }) => e);
    expect((far as { code: number }).code).toBe(1);
    expect((far as { stderr: string }).stderr).toMatch(/QB_PATH_LATENCY_BOUND: .*latency/i);
    const big = await cli('agree', ...flags(start).map((x) => (x === '10M' ? '1G' : x))).catch((e: { code: number; stderr: string }) => e);
    expect((big as { stderr: string }).stderr).toMatch(/QB_PATH_NO_BANDWIDTH: /);
    // the admin edge: JSON body required, each path takes its own method, bad fields named
    const post = async (path: string, body: string) => {
      const r = await fetch(`http://${a.admin}${path}`, { method: 'POST', body });
      return { status: r.status, body: (await r.json()) as { error: string; code?: string } };
    };
    expect(await post('/v1/order', '{not json')).toMatchObject({ status: 400, body: { code: 'QB_INVALID_ARGUMENT' } });
    expect(await post('/v1/order', JSON.stringify({ from: 'dom-a', to: 'dom-c/dom-c-site', qosClass: 'EF', rateMbps: 1, durationMs: 60_000 }))).toMatchObject({ status: 400, body: { error: expect.stringMatching(/^from must be DOMAIN\/SITE/) } });
    expect((await post('/v1/peers', '{}')).status).toBe(405);
    expect((await post('/v1/nothing', '{}')).status).toBe(404);
    expect((await fetch(`http://${a.admin}/v1/order`)).status).toBe(405);
  });

  test('agreement - a caller that is not a configured peer is refused (PERMISSION_DENIED -> QB_AGREEMENT_NOT_A_PEER)', async () => {
    const e = await remote(b, fx).abort('agr-nobody').catch((x: unknown) => x);
    expect((e as { code: string }).code).toBe('QB_AGREEMENT_NOT_A_PEER');
  });

  test('agreement - a provider lists qosbroker.v1.Agreement in its health service', async () => {
    const { health } = loadProtos();
    const client = new health(b.grpc, clientCredentials({ certPem: ft.certPem, keyPem: ft.keyPem }, { domain: b.domain, caPem: cluster.pki.caPem }), {
      'grpc.ssl_target_name_override': b.domain,
      'grpc.default_authority': b.domain,
    });
    clients.push(client);
    const status = await new Promise<unknown>((res) =>
      (client as unknown as { Check(r: unknown, cb: (e: grpc.ServiceError | null, r: unknown) => void): void }).Check({ service: 'qosbroker.v1.Agreement' }, (e, r) => res(e ?? r)),
    );
    expect(status).toEqual({ status: 'SERVING' });
  });

  test('agreement - coordinator gone between Reserve and Commit: holds expire, capacity returns, the provider that held (dom-b) logs the abandoned agreement once', async () => {
    const agreementId = `agr-gone-${process.pid}`;
    const { orders, start, end } = await ordersOnPath(agreementId, 40, 10);
    const [ob, oc] = [orders.find((o) => o.domain === 'dom-b')!, orders.find((o) => o.domain === 'dom-c')!];
    const [pb, pc] = [remote(b, ft), remote(c, ft)];
    expect((await pb.quote(ob)).priceMinor).toBe(2000); // 0.50 x 40 Mbit/s x 1 h
    await pb.reserve(ob, 1500);
    await pb.reserve(ob, 1500); // a retried Reserve does not book twice
    await pc.reserve(oc, 1500); // dom-c holds nothing on this path but is a party
    const [bCore, bLink] = ['dom-b-core', 'dom-b-dom-c'];
    const sb = store('dom-b');
    expect(await maxUsed(sb, bCore, start, end)).toBe(40e6);
    expect(await maxUsed(sb, bLink, start, end)).toBe(40e6);
    // more than what is left is refused with the domain and the link that lacks it
    const tooMuch = await pb.reserve({ ...ob, agreementId: `${agreementId}-2`, rateMbps: 70 }, 1500).catch((x: unknown) => x);
    expect(tooMuch).toBeInstanceOf(SegmentRejectedError);
    expect((tooMuch as SegmentRejectedError).domain).toBe('dom-b');
    expect((tooMuch as Error).message).toMatch(/dom-b cannot hold 70 Mbit\/s of EF on (dom-b-core|dom-b-dom-c): 10\.000 Mbit\/s short/);
    // ... and the coordinator disappears without Commit or Abort. dom-b held, so dom-b logs it;
    // dom-c held nothing on this path (only a party), and has no hold to expire
    const abandoned = (id: string) => b.logs.filter((l) => l.event === 'agreement-abandoned' && l.agreement_id === id);
    await waitFor(`dom-b logs ${agreementId} as abandoned`, () => abandoned(agreementId).length > 0, 15_000);
    expect(abandoned(agreementId)[0]).toMatchObject({ level: 'warn', component: 'agreement', caller: 'dom-t' });
    expect((await sb.get(`${agreementId}:0:1`))?.state).toBe('expired');
    expect(await maxUsed(sb, bCore, start, end)).toBe(0);
    expect(await maxUsed(sb, bLink, start, end)).toBe(0);
    // a Commit that comes too late is refused with the typed error, not signed
    const lateBody = sealContractBody({
      version: 2,
      agreementId,
      originator: { domain: 'dom-t', customer: 'acme' },
      service: { from: 'dom-a/dom-a-site', to: 'dom-c/dom-c-site', qosClass: 'EF', rateMbps: 40 },
      window: { start: new Date(start).toISOString(), end: new Date(end).toISOString() },
      parties: [{ domain: 'dom-b', publicKey: rawPublicKey(b.files.advertKeyPem), role: 'provider' }],
      segments: [{ domain: 'dom-b', ingress: ob.ingress, egress: ob.egress, latencyMs: 1, jitterMs: 0, lossPct: 0, priceMinor: 2000 }],
      currency: 'EUR',
      totalPriceMinor: 2000,
      issuedAt: new Date().toISOString(),
    });
    const late = await pb.commit(agreementId, lateBody).catch((x: unknown) => x);
    expect((late as { code: string }).code).toBe('QB_AGREEMENT_NOTHING_HELD');
    // logged once, not on every sweep: a second agreement abandoned later is logged by a later
    // sweep, which would have logged the first one again
    const later = `${agreementId}-later`;
    await pb.reserve({ ...ob, agreementId: later }, 300);
    await waitFor(`dom-b logs ${later} as abandoned`, () => abandoned(later).length > 0, 15_000);
    expect(abandoned(agreementId)).toHaveLength(1);
    expect(abandoned(later)).toHaveLength(1);
  });

  test('agreement - a provider restarted between Reserve and Commit still commits: the hold, its owner and its quote are in Redis', async () => {
    const agreementId = `agr-restart-${process.pid}`;
    const { orders, start, end } = await ordersOnPath(agreementId, 20, 20);
    const ob = orders.find((o) => o.domain === 'dom-b')!;
    const quote = await remote(b, ft).prepare(ob, 60_000);
    const sb = store('dom-b');
    expect((await sb.get(`${agreementId}:0:1`))?.meta).toMatchObject({ owner: 'dom-t', order: { agreementId, index: 1, ingress: ob.ingress, egress: ob.egress }, quote: { priceMinor: quote.priceMinor } });
    // dom-b dies without a word and comes back on the same config: nothing of the agreement is in its memory
    b.proc.kill('SIGKILL');
    await b.exited;
    const before = b;
    b = await cluster.start(before.files, before, before.config);
    const body = sealContractBody({
      version: 2 as const,
      agreementId,
      originator: { domain: 'dom-t', customer: 'acme' },
      service: { from: 'dom-a/dom-a-site', to: 'dom-c/dom-c-site', qosClass: 'EF', rateMbps: 20 },
      window: { start: new Date(start).toISOString(), end: new Date(end).toISOString() },
      parties: [{ domain: 'dom-b', publicKey: rawPublicKey(b.files.advertKeyPem), role: 'provider' }],
      segments: [{ domain: 'dom-b', ingress: ob.ingress, egress: ob.egress, latencyMs: 1, jitterMs: 0, lossPct: 0, priceMinor: quote.priceMinor }],
      currency: quote.currency,
      totalPriceMinor: quote.priceMinor,
      issuedAt: new Date().toISOString(),
    });
    // another peer may not commit it after the restart either
    const other = await remote(b, a.files).commit(agreementId, body).catch((x: unknown) => x);
    expect((other as { code: string }).code).toBe('QB_AGREEMENT_NOT_OWNER');
    // a price other than the stored quote is refused; the owner's Commit with the quoted one is signed
    const cheaper = await remote(b, ft).commit(agreementId, sealContractBody({ ...body, segments: [{ ...body.segments[0]!, priceMinor: quote.priceMinor - 1 }], totalPriceMinor: quote.priceMinor - 1 })).catch((x: unknown) => x);
    expect((cheaper as { code: string }).code).toBe('QB_AGREEMENT_BODY_MISMATCH');
    const sig = await remote(b, ft).commit(agreementId, body);
    expect(verifyContract(assembleContract(body, [sig])).signedBy).toEqual(['dom-b']);
    expect((await sb.get(`${agreementId}:0:1`))?.state).toBe('committed');
    expect(await maxUsed(sb, 'dom-b-core', start, end)).toBe(20e6);
    await waitFor('dom-b logs the commit', () => b.logs.some((l) => l.event === 'agreement-committed' && l.agreement_id === agreementId && l.caller === 'dom-t'));
    // the restarted daemon does not call the committed hold abandoned
    expect(b.logs.some((l) => l.event === 'agreement-abandoned' && l.agreement_id === agreementId)).toBe(false);
  });
});
