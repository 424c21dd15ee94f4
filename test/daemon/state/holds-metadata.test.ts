/** The resource store keeps a hold's owner, order and quote with its booking, indexed by agreement, on every replica of the domain. */
import { afterAll, beforeAll, expect, test } from 'vitest';
import { ResourceStoreError } from '../../../drivers/errors.js';
import { RedisResourceStore } from '../../../daemon/state/redis-store.js';
import type { ReservationMetadata } from '../../../daemon/state/store.js';
import { startTestRedis, type TestRedis } from './redis-harness.js';

const MIN = 60_000;
const VALID = Date.now() + 10 * MIN;
let redis: TestRedis;
let seq = 0;

beforeAll(async () => {
  redis = await startTestRedis();
});
afterAll(async () => {
  await redis?.stop();
});

/** Two replicas of a fresh domain, each with its own connection. */
async function replicas(holdTtlMs = 30_000): Promise<[RedisResourceStore, RedisResourceStore]> {
  seq += 1;
  const mk = () => new RedisResourceStore({ domain: `m${seq}`, redis: redis.client(), slotMs: MIN, holdTtlMs });
  const a = mk();
  await a.setCapacity('l1', 'ef', 100);
  return [a, mk()];
}

const start = () => Math.ceil((Date.now() + 60 * MIN) / MIN) * MIN;
const meta = (agreementId: string, index: number, owner = 'dom-x', priceMinor = 500): ReservationMetadata => ({
  owner,
  order: { agreementId, alternative: 0, index, ingress: 'b1', egress: 'b2', qosClass: 'ef', rateMbps: 0.00001, start: 0, end: 0 },
  quote: { priceMinor, currency: 'EUR', validUntil: VALID },
});

const code = async (p: Promise<unknown>) => ((await p.then(() => undefined, (e: unknown) => e)) as ResourceStoreError | undefined)?.code;

test('state - a hold stores its metadata with the booking; another replica reads it by id and by agreement', async () => {
  const [a, b] = await replicas();
  const t = start();
  const r = await a.reserve({ id: 'agr-1:0:1', links: ['l1'], cls: 'ef', rateBps: 10, start: t, end: t + MIN, meta: meta('agr-1', 1) });
  expect(r.admitted && r.reservation.meta).toEqual(meta('agr-1', 1));
  // a party with no edge of its own: a record that books nothing
  await a.reserve({ id: 'agr-1:0:2', links: [], cls: 'ef', rateBps: 10, start: t, end: t + MIN, meta: meta('agr-1', 2) });
  expect((await b.get('agr-1:0:1'))?.meta).toEqual(meta('agr-1', 1));
  const list = await b.agreement('agr-1');
  expect(list.map((x) => [x.id, x.state, x.links, x.meta?.order.index])).toEqual([
    ['agr-1:0:1', 'held', ['l1'], 1],
    ['agr-1:0:2', 'held', [], 2],
  ]);
  expect((await b.usage('l1', 'ef', t, t + MIN))[0]!.usedBps).toBe(10);
  expect(await b.agreement('agr-none')).toEqual([]);
  // commit on the other replica returns the metadata too; abort of the record-only one leaves the index
  expect((await b.commit('agr-1:0:1')).meta?.quote?.priceMinor).toBe(500);
  await b.abort('agr-1:0:2');
  expect((await a.agreement('agr-1')).map((x) => [x.id, x.state])).toEqual([['agr-1:0:1', 'committed']]);
  // release takes the booking out of the index too; the tombstone keeps its metadata
  await a.release('agr-1:0:1');
  expect(await b.agreement('agr-1')).toEqual([]);
  expect((await b.get('agr-1:0:1'))?.meta?.owner).toBe('dom-x');
  // without metadata a reservation must still book a link
  expect(await code(a.reserve({ id: 'plain', links: [], cls: 'ef', rateBps: 10, start: t, end: t + MIN }))).toBe('QB_INVALID_ARGUMENT');
});

test('state - an agreement belongs to its first holder: another owner is refused atomically, also on another replica and when racing', async () => {
  const [a, b] = await replicas();
  const t = start();
  const req = (id: string, owner: string) => ({ id, links: ['l1'], cls: 'ef', rateBps: 10, start: t, end: t + MIN, meta: meta('agr-2', Number(id.slice(-1)), owner) });
  // two owners race for one agreement on two replicas: exactly one wins
  const race = await Promise.allSettled([a.reserve(req('agr-2:0:1', 'dom-x')), b.reserve(req('agr-2:0:2', 'dom-q'))]);
  expect(race.filter((x) => x.status === 'fulfilled')).toHaveLength(1);
  const lost = race.find((x) => x.status === 'rejected') as PromiseRejectedResult;
  expect((lost.reason as ResourceStoreError).code).toBe('QB_STATE_OWNER_CONFLICT');
  const winner = (await a.agreement('agr-2'))[0]!.meta!.owner;
  const loser = winner === 'dom-x' ? 'dom-q' : 'dom-x';
  // a retried reserve of the winner's own id by the other owner is refused too, nothing booked twice
  const own = (await a.agreement('agr-2'))[0]!.id;
  expect(await code(b.reserve({ ...req(own, loser), meta: meta('agr-2', Number(own.slice(-1)), loser) }))).toBe('QB_STATE_OWNER_CONFLICT');
  expect((await a.usage('l1', 'ef', t, t + MIN))[0]!.usedBps).toBe(10);
  // once the winner aborts, the agreement is free again
  await a.abort(own);
  expect((await b.reserve(req('agr-2:0:3', loser))).admitted).toBe(true);
});

test('state - a retried reserve of a live hold stores the new quote; commit keeps it and can require the agreement unchanged', async () => {
  const [a, b] = await replicas();
  const t = start();
  const r = (priceMinor: number) => ({ id: 'agr-3:0:1', links: ['l1'], cls: 'ef', rateBps: 10, start: t, end: t + MIN, meta: meta('agr-3', 1, 'dom-x', priceMinor) });
  await a.reserve(r(500));
  expect((await b.reserve(r(510))).admitted).toBe(true);
  expect((await a.get('agr-3:0:1'))?.meta?.quote?.priceMinor).toBe(510);
  // a cached view of one segment while the index has two: refused, nothing committed
  await b.reserve({ ...r(510), id: 'agr-3:0:2', meta: meta('agr-3', 2) });
  expect(await code(a.commit('agr-3:0:1', { expectAgreementSize: 1 }))).toBe('QB_STATE_AGREEMENT_CHANGED');
  expect((await a.get('agr-3:0:1'))?.state).toBe('held');
  await a.commit('agr-3:0:1', { expectAgreementSize: 2, agreementTtlMs: 200 });
  await a.reserve(r(520)); // a retry after commit changes nothing
  expect((await a.get('agr-3:0:1'))?.meta?.quote?.priceMinor).toBe(510);
  // the index of a committed agreement lives as long as told; the booking stays
  await new Promise((res) => setTimeout(res, 300));
  expect(await a.agreement('agr-3')).toEqual([]);
  expect((await a.get('agr-3:0:1'))?.state).toBe('committed');
});

test('state - an expired hold reports its agreement once, to one replica, with its metadata', async () => {
  const [a, b] = await replicas(150);
  const t = start();
  for (const i of [1, 2]) await a.reserve({ id: `agr-4:0:${i}`, links: ['l1'], cls: 'ef', rateBps: 10, start: t, end: t + MIN, meta: meta('agr-4', i) });
  await a.reserve({ id: 'plain-4', links: ['l1'], cls: 'ef', rateBps: 10, start: t, end: t + MIN });
  await new Promise((res) => setTimeout(res, 250));
  const [ta, tb] = await Promise.all([a.takeAbandoned(), b.takeAbandoned()]);
  const all = [...ta.agreements, ...tb.agreements];
  expect(all.map((x) => x.agreementId)).toEqual(['agr-4']);
  expect(ta.expired + tb.expired).toBe(3);
  expect(all[0]!.reservations.map((x) => [x.id, x.state, x.meta?.owner])).toEqual([
    ['agr-4:0:1', 'expired', 'dom-x'],
    ['agr-4:0:2', 'expired', 'dom-x'],
  ]);
  expect(all[0]!.reservations[0]!.holdExpiresAt).toBeGreaterThan(Date.now() - 5_000);
  expect((await a.takeAbandoned()).agreements).toEqual([]);
  expect((await a.usage('l1', 'ef', t, t + MIN))[0]!.usedBps).toBe(0);
});
