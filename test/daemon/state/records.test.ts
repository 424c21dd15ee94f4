/** Durable records on a real redis-server: versions, deadlines and the outbox move together. */
import { afterAll, beforeAll, expect, test } from 'vitest';
import { Redis } from 'ioredis';
import { RecordStore } from '../../../daemon/state/records.js';
import { startTestRedis, type TestRedis } from './redis-harness.js';

let server: TestRedis;
let redis: Redis;
let records: RecordStore;

beforeAll(async () => {
  server = await startTestRedis();
  redis = new Redis({ path: server.server.socketPath });
  records = new RecordStore({ redis, domain: 'dom-r' });
});
afterAll(async () => {
  redis?.disconnect();
  await server?.stop();
});

test('records - a write needs the version it started from; the loser of a race changes nothing and emits nothing', async () => {
  const v1 = await records.put('order', 'o1', 0, { n: 1 }, { score: 1, event: { type: 'created' } });
  expect(v1).toBe(1);
  await expect(records.put('order', 'o1', 0, { n: 99 }, { score: 1, event: { type: 'again' } })).rejects.toMatchObject({ code: 'QB_STATE_CONFLICT' });
  const v2 = await records.put('order', 'o1', v1, { n: 2 }, { score: 1, event: { type: 'changed' } });
  await expect(records.put('order', 'o1', v1, { n: 3 }, { score: 1, event: { type: 'stale' } })).rejects.toMatchObject({ code: 'QB_STATE_CONFLICT' });
  expect(await records.get('order', 'o1')).toEqual({ version: v2, doc: { n: 2 } });
  expect((await records.outbox()).filter((e) => e.recordId === 'o1').map((e) => e.type)).toEqual(['created', 'changed']);
});

test('records - deadlines are set and cleared with the record, due ones found by time; delete removes record, index and deadlines', async () => {
  await records.put('order', 'o2', 0, { n: 1 }, { score: 2, deadlines: { end: 5000, start: 1000 } });
  await records.put('order', 'o3', 0, { n: 1 }, { score: 3, deadlines: { end: 9000 } });
  expect(await records.nextDeadline()).toBe(1000);
  expect(await records.due(5000)).toEqual([{ kind: 'start', id: 'o2', at: 1000 }, { kind: 'end', id: 'o2', at: 5000 }]);
  const v = (await records.get('order', 'o2'))!.version;
  await records.put('order', 'o2', v, { n: 2 }, { score: 2, deadlines: { start: null } });
  expect(await records.due(5000)).toEqual([{ kind: 'end', id: 'o2', at: 5000 }]);
  expect(await records.ids('order')).toEqual(['o1', 'o2', 'o3']);
  await records.delete('order', 'o2', ['start', 'end'], { type: 'purged' });
  expect(await records.get('order', 'o2')).toBeUndefined();
  expect(await records.ids('order')).toEqual(['o1', 'o3']);
  expect(await records.due(1e12)).toEqual([{ kind: 'end', id: 'o3', at: 9000 }]);
  expect((await records.outbox()).at(-1)).toMatchObject({ type: 'purged', recordId: 'o2' });
});

test('records - every key of a domain shares its hash tag (Redis Cluster keeps them on one slot)', async () => {
  const keys = await redis.keys('*');
  expect(keys.length).toBeGreaterThan(0);
  for (const k of keys) expect(k).toMatch(/^qb:\{dom-r\}:/);
});
