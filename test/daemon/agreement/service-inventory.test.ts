/** A provider's AgreementService: holds under its inventory's link ids, a reloaded inventory applies to the next hold; committed agreements are forgotten after their retention window. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { AgreementService } from '../../../daemon/agreement/service.js';
import { signatureDomain } from '../../../daemon/agreement/contract.js';
import { segmentOrders } from '../../../daemon/agreement/participant.js';
import { demoNetwork } from '../../../daemon/cli/demo-network.js';
import { generateAdvertKeyPair } from '../../../daemon/peering/advert.js';
import type { Inventory } from '../../../daemon/peering/origin.js';
import { startEmbeddedRedis, type EmbeddedRedis } from '../../../daemon/state/embedded-redis.js';
import { RedisResourceStore } from '../../../daemon/state/redis-store.js';
import { buildTopology } from '../../../daemon/topology/graph.js';
import { computePaths } from '../../../daemon/topology/paths/index.js';

const dir = mkdtempSync(join(tmpdir(), 'qb-svc-inv-'));
let redis: EmbeddedRedis;
let store: RedisResourceStore;
const graph = buildTopology(demoNetwork());
const HOUR = 3_600_000;

const inventory = (core: string): Inventory => {
  const ad = graph.advertisements.get('provider-y')!;
  const ef = { capacityMbps: 120, latencyMs: 14, jitterMs: 2, loss: 0.0005 };
  return {
    borders: ad.borders,
    sites: [],
    transits: [{ id: core, from: 'y1', to: 'y2', bidirectional: true, classes: { EF: ef } }],
    links: [{ id: 'y2-to-z', border: 'y2', peerDomain: 'provider-z', peerBorder: 'z1', classes: { EF: { ...ef, latencyMs: 1 } } }],
    prices: ad.prices,
  };
};

beforeAll(async () => {
  redis = await startEmbeddedRedis(join(dir, 'redis'), { log: () => {} });
  store = new RedisResourceStore({ domain: 'provider-y', redis: new Redis({ path: redis.socketPath }) });
  for (const link of ['core-1', 'core-2', 'y2-to-z']) await store.setCapacity(link, 'EF', 120e6);
});
async function waitUntil(what: string, cond: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

afterAll(async () => {
  await store?.close();
  await redis?.stop();
  rmSync(dir, { recursive: true, force: true });
});

test('agreement service - holds go on the inventory link ids; a reloaded inventory applies to the next hold', async () => {
  const svc = new AgreementService({ store, signingKey: generateAdvertKeyPair().privateKey, graph: () => ({ graph, key: 'k' }), inventory: inventory('core-1') });
  const path = computePaths(graph, { from: { domain: 'provider-x', site: 'site-x' }, to: { domain: 'provider-z', site: 'site-z' }, qosClass: 'EF', rateMbps: 5, objective: 'cheapest' }).paths[0]!;
  expect(path.domains).toContain('provider-y');
  const start = Date.now() + HOUR;
  const order = (id: string) => segmentOrders(path, { agreementId: id, alternative: 0, qosClass: 'EF', rateMbps: 5, start, end: start + HOUR }).find((o) => o.domain === 'provider-y')!;
  await svc.reserve(order('agr-inv-1'), 10_000);
  expect((await store.get(`agr-inv-1:0:${order('agr-inv-1').index}`))?.links.sort()).toEqual(['core-1', 'y2-to-z']);
  svc.setInventory(inventory('core-2'));
  await svc.reserve(order('agr-inv-2'), 10_000);
  expect((await store.get(`agr-inv-2:0:${order('agr-inv-2').index}`))?.links.sort()).toEqual(['core-2', 'y2-to-z']);
  // an edge the inventory does not have is refused with a typed error, nothing held
  const odd = { ...order('agr-inv-3'), hops: [{ from: 'provider-y/y9', to: 'provider-y/y2', kind: 'transit' as const, metrics: { availableMbps: 1, latencyMs: 1, jitterMs: 0, loss: 0 } }] };
  const usedBefore = await Promise.all(['core-1', 'core-2', 'y2-to-z'].map(async (l) => (await store.usage(l, 'EF', start, start + 1))[0]!.usedBps));
  await expect(svc.reserve(odd, 10_000)).rejects.toMatchObject({ code: 'QB_AGREEMENT_UNKNOWN_EDGE' });
  // the store has no reservation of it and no capacity moved; the service tracks no hold of it
  expect(await store.get(`agr-inv-3:0:${odd.index}`)).toBeUndefined();
  expect(await Promise.all(['core-1', 'core-2', 'y2-to-z'].map(async (l) => (await store.usage(l, 'EF', start, start + 1))[0]!.usedBps))).toEqual(usedBefore);
  expect(usedBefore).toEqual([5e6, 5e6, 10e6]); // what agr-inv-1 and -2 hold: the reads see holds
  expect(await store.agreement('agr-inv-3')).toEqual([]);
  await svc.abort('agr-inv-1');
  await svc.abort('agr-inv-2');
});

test('agreement service - a committed agreement is remembered for a retried commit, then forgotten: memory is bounded by the window, the booking stays', async () => {
  const key = generateAdvertKeyPair();
  const svc = new AgreementService({ store, signingKey: key.privateKey, graph: () => ({ graph, key: 'k' }), inventory: inventory('core-1'), retainCommittedMs: 60_000 });
  const path = computePaths(graph, { from: { domain: 'provider-x', site: 'site-x' }, to: { domain: 'provider-z', site: 'site-z' }, qosClass: 'EF', rateMbps: 1, objective: 'cheapest' }).paths[0]!;
  const start = Date.now() + 3 * HOUR;
  const bodies = [];
  for (let i = 0; i < 20; i++) {
    const id = `agr-keep-${i}`;
    const o = segmentOrders(path, { agreementId: id, alternative: 0, qosClass: 'EF', rateMbps: 1, start, end: start + HOUR }).find((x) => x.domain === 'provider-y')!;
    const q = await svc.quote(o, 'provider-x');
    await svc.reserve(o, 10_000, 'provider-x');
    const body = {
      version: 2 as const,
      agreementId: id,
      originator: { domain: 'provider-x', customer: 'acme' },
      service: { from: 'provider-x/site-x', to: 'provider-z/site-z', qosClass: 'EF', rateMbps: 1 },
      window: { start: new Date(start).toISOString(), end: new Date(start + HOUR).toISOString() },
      parties: [{ domain: 'provider-y', publicKey: svc.publicKey, role: 'provider' as const }],
      segments: [{ domain: 'provider-y', ingress: o.ingress, egress: o.egress, latencyMs: 1, jitterMs: 0, lossPct: 0, priceMinor: q.priceMinor }],
      currency: q.currency,
      totalPriceMinor: q.priceMinor,
      issuedAt: new Date().toISOString(),
    };
    await svc.commit(id, body, 'provider-x');
    bodies.push(body);
  }
  expect(svc.remembered).toBe(20);
  // within the window a lost answer can be asked again, and only by the owner
  expect(signatureDomain(await svc.commit('agr-keep-0', bodies[0]!, 'provider-x'))).toBe('provider-y');
  await expect(svc.abort('agr-keep-0', 'provider-q')).rejects.toMatchObject({ code: 'QB_AGREEMENT_NOT_OWNER' });
  // a sweep inside the window forgets nothing; one past it (the sweep takes its clock) forgets all.
  // The window is long enough for the test's calls on a loaded machine; the sweep's clock crosses it
  await svc.sweep(Date.now());
  expect(svc.remembered).toBe(20);
  await svc.sweep(Date.now() + 61_000);
  expect(svc.remembered).toBe(0);
  // the store keeps the agreement's index for the same window (a Redis TTL, so a restarted
  // daemon or another replica can answer a retried commit): once it is gone, the agreement is
  // closed: a commit finds nothing held. A service with a short window shows it.
  const short = new AgreementService({ store, signingKey: key.privateKey, graph: () => ({ graph, key: 'k' }), inventory: inventory('core-1'), retainCommittedMs: 1000 });
  const o = segmentOrders(path, { agreementId: 'agr-keep-short', alternative: 0, qosClass: 'EF', rateMbps: 1, start, end: start + HOUR }).find((x) => x.domain === 'provider-y')!;
  const q = await short.quote(o, 'provider-x');
  await short.reserve(o, 10_000, 'provider-x');
  const body = { ...bodies[0]!, agreementId: 'agr-keep-short', parties: [{ domain: 'provider-y', publicKey: short.publicKey, role: 'provider' as const }], segments: [{ ...bodies[0]!.segments[0]!, priceMinor: q.priceMinor }], totalPriceMinor: q.priceMinor };
  await short.commit('agr-keep-short', body, 'provider-x');
  expect((await store.agreement('agr-keep-short')).length).toBeGreaterThan(0);
  await waitUntil('the store to forget agr-keep-short', async () => (await store.agreement('agr-keep-short')).length === 0, 15_000);
  await short.sweep(Date.now() + 2000);
  await expect(short.commit('agr-keep-short', body, 'provider-x')).rejects.toMatchObject({ code: 'QB_AGREEMENT_NOTHING_HELD' });
  // the bookings stay in the store
  expect((await store.get(`agr-keep-short:0:${o.index}`))?.state).toBe('committed');
  for (let i = 0; i < 20; i++) expect((await store.get(`agr-keep-${i}:0:${segmentOrders(path, { agreementId: 'x', alternative: 0, qosClass: 'EF', rateMbps: 1, start, end: start + HOUR }).find((x) => x.domain === 'provider-y')!.index}`))?.state).toBe('committed');
});
