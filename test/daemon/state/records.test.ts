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

test('records - transitions noted in memory are appended with the write that follows them, in order, each with its own time; a refused write appends none', async () => {
  const v1 = await records.put('memo', 'o9', 0, { n: 1 }, { score: 9, event: { type: 'received' } });
  await expect(records.put('memo', 'o9', 0, { n: 2 }, { score: 9, events: [{ type: 'lost', at: 5 }], event: { type: 'lost-too' } })).rejects.toMatchObject({ code: 'QB_STATE_CONFLICT' });
  await records.put('memo', 'o9', v1, { n: 3 }, { score: 9, events: [{ type: 'agreeing', at: 7 }, { type: 'signed', at: 8 }], event: { type: 'provisioning' } });
  const got = (await records.outbox()).filter((e) => e.recordId === 'o9');
  expect(got.map((e) => e.type)).toEqual(['received', 'agreeing', 'signed', 'provisioning']);
  expect(got.slice(1, 3).map((e) => e.at)).toEqual([7, 8]);
  expect(got[3]!.at).toBeGreaterThan(8);
  expect(await records.get('memo', 'o9')).toEqual({ version: v1 + 1, doc: { n: 3 } });
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

test('records - a customer\'s index and the lookups are written by the same script as the record; a page reads one customer\'s records, merged across kinds by score', async () => {
  const c = new RecordStore({ redis, domain: 'dom-idx' });
  for (let i = 1; i <= 5; i++) await c.put('order', `a${i}`, 0, { who: 'acme', i }, { score: 10 * i, customer: 'acme', lookup: { agreement: `agr-a${i}` } });
  for (let i = 1; i <= 3; i++) await c.put('order', `g${i}`, 0, { who: 'globex', i }, { score: 10 * i + 5, customer: 'globex' });
  await c.put('modify-order', 'm1', 0, { who: 'acme', mod: true }, { score: 25, customer: 'acme' });
  // every record in the kind's index, each customer's in its own
  expect(await c.page(['order'], { offset: 0, limit: 100 })).toMatchObject({ total: 8 });
  const acme = await c.page<{ who: string; i?: number }>(['order'], { customer: 'acme', offset: 1, limit: 2 });
  expect(acme).toEqual({ items: [{ kind: 'order', doc: { who: 'acme', i: 2 } }, { kind: 'order', doc: { who: 'acme', i: 3 } }], total: 5 });
  expect((await c.page<{ who: string }>(['order'], { customer: 'globex', offset: 0, limit: 10 })).items.every((x) => x.doc.who === 'globex')).toBe(true);
  // two kinds merged by score: a1 (10), a2 (20), m1 (25), a3 (30)
  const merged = await c.page<{ i?: number; mod?: boolean }>(['order', 'modify-order'], { customer: 'acme', offset: 0, limit: 4 });
  expect(merged.total).toBe(6);
  expect(merged.items.map((x) => (x.kind === 'order' ? `a${x.doc.i}` : 'm1'))).toEqual(['a1', 'a2', 'm1', 'a3']);
  // a filter reads the customer's records only (globex's are not offered to it)
  const seen: string[] = [];
  const odd = await c.page<{ who: string; i: number }>(['order'], { customer: 'acme', offset: 0, limit: 10, where: (_k, d) => (seen.push(d.who), d.i % 2 === 1) });
  expect(odd).toMatchObject({ total: 3, items: [{ doc: { i: 1 } }, { doc: { i: 3 } }, { doc: { i: 5 } }] });
  expect(new Set(seen)).toEqual(new Set(['acme']));
  expect(await c.lookup('order', 'agreement', 'agr-a3')).toBe('a3');
  expect(await c.lookup('order', 'agreement', 'agr-none')).toBeUndefined();
  // delete takes the record out of its customer's index and lookups too; reindex puts an old record in
  await c.delete('order', 'a3', [], undefined, { customer: 'acme', lookup: { agreement: 'agr-a3' } });
  expect((await c.page(['order'], { customer: 'acme', offset: 0, limit: 10 })).total).toBe(4);
  expect(await c.lookup('order', 'agreement', 'agr-a3')).toBeUndefined();
  await c.put('order', 'old', 0, { who: 'initech' }, { score: 1 });
  expect((await c.page(['order'], { customer: 'initech', offset: 0, limit: 10 })).total).toBe(0);
  await c.put('order', 'old2', 0, { who: 'initech' }, { score: 2 });
  await c.reindex('order', [{ id: 'old', score: 1, customer: 'initech', lookup: { agreement: 'agr-old' } }, { id: 'old2', score: 2, customer: 'initech' }]);
  await c.reindex('order', [{ id: 'old', score: 1, customer: 'initech', lookup: { agreement: 'agr-old' } }]); // again: idempotent
  expect(await c.page(['order'], { customer: 'initech', offset: 0, limit: 10 })).toEqual({ items: [{ kind: 'order', doc: { who: 'initech' } }, { kind: 'order', doc: { who: 'initech' } }], total: 2 });
  expect(await c.lookup('order', 'agreement', 'agr-old')).toBe('old');
  expect((await c.getMany<{ who: string }>('order', ['a1', 'nope', 'g1'])).map((x) => [x.id, x.doc.who])).toEqual([['a1', 'acme'], ['g1', 'globex']]);
});
