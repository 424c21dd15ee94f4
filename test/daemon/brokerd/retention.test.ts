/**
 * A provider daemon sweeps records past their retention on its own
 * (workflow.record-retention-ms): an old quote goes from Redis and from its
 * customer's index, a young one and a raised alarm stay, and it says so in
 * its log.
 */
import { afterAll, beforeAll, expect, test } from 'vitest';
import { Redis } from 'ioredis';
import { RecordStore } from '../../../daemon/state/records.js';
import { Cluster, inventory, waitFor, type Daemon } from './harness.js';

const cluster = new Cluster();
let d: Daemon;
let redis: Redis;

beforeAll(async () => {
  await cluster.init();
  d = await cluster.start(cluster.pki.domain('dom-ret'), await cluster.allocate(), {
    role: 'provider',
    peers: [{ 'domain-id': 'dom-other', 'ca-file': cluster.pki.caCert }],
    inventory: inventory('dom-ret', ['dom-other']),
    workflow: { 'record-retention-ms': 2000 },
  });
  redis = new Redis({ path: cluster.redis.server.socketPath });
});
afterAll(async () => {
  redis?.disconnect();
  await cluster.stopAll();
});

test('retention - the daemon removes a quote older than workflow.record-retention-ms, keeps a young one and a raised alarm, and logs what it removed', async () => {
  const records = new RecordStore({ redis, domain: 'dom-ret' });
  const now = Date.now();
  const put = (kind: string, id: string, doc: Record<string, unknown>, score: number) => records.put(kind, id, 0, { id, customer: 'acme', ...doc }, { score, customer: 'acme' });
  await put('quote', 'quo-old', { createdAt: new Date(now - 60_000).toISOString() }, now - 60_000);
  await put('quote', 'quo-young', { createdAt: new Date(now + 3_600_000).toISOString() }, now + 3_600_000);
  await put('alarm', 'alm-raised', { state: 'raised', alarmRaisedTime: new Date(now - 60_000).toISOString() }, now - 60_000);
  await waitFor('the old quote removed', async () => (await records.get('quote', 'quo-old')) === undefined, 15_000);
  expect(await records.ids('quote')).toEqual(['quo-young']);
  expect((await records.page(['quote'], { customer: 'acme', offset: 0, limit: 10 })).total).toBe(1);
  expect(await records.get('alarm', 'alm-raised')).toBeDefined();
  await waitFor('the sweep logged', () => d.logs.some((l) => l.msg === 'records past their retention removed' && l.quote === 1));
  expect((await records.outbox()).some((e) => e.type === 'quote-purged' && e.recordId === 'quo-old')).toBe(true);
});
