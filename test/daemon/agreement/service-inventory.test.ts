/** A provider's AgreementService holds under its inventory's link ids, and a reloaded inventory applies to the next hold. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { AgreementService } from '../../../daemon/agreement/service.js';
import { segmentOrders } from '../../../daemon/agreement/participant.js';
import { demoNetwork } from '../../../daemon/cli/demo-network.js';
import { generateAdvertKeyPair } from '../../../daemon/peering/advert.js';
import type { Inventory } from '../../../daemon/peering/origin.js';
import { startEmbeddedRedis, type EmbeddedRedis } from '../../../daemon/state/embedded-redis.js';
import { RedisResourceStore } from '../../../daemon/state/redis-store.js';
import { buildTopology } from '../../../daemon/topology/graph.js';
import { computePaths } from '../../../daemon/topology/paths.js';

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
  await expect(svc.reserve(odd, 10_000)).rejects.toMatchObject({ code: 'QB_AGREEMENT_UNKNOWN_EDGE' });
  await svc.abort('agr-inv-1');
  await svc.abort('agr-inv-2');
});
