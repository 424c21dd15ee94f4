import { afterAll, beforeAll, expect, test } from 'vitest';
import type { Redis } from 'ioredis';
import { RedisResourceStore } from '../../../daemon/state/redis-store.js';
import type { ReserveResult } from '../../../daemon/state/store.js';
import { startTestRedis, type TestRedis } from './redis-harness.js';

const MIN = 60_000;
const SHORT_HOLD_MS = 3_000;
let redis: TestRedis;
let raw: Redis;

beforeAll(async () => {
  redis = await startTestRedis();
  raw = redis.client();
});
afterAll(async () => {
  await redis?.stop();
});

test('state - two replicas and 256 concurrent reservations on a bottleneck never overbook and leak no holds', async () => {
  // two daemon replicas of one domain = two stores on two connections
  const replicas = [0, 1].map(
    () => new RedisResourceStore({ domain: 'dom-a', redis: redis.client(), slotMs: MIN, holdTtlMs: 60_000 }),
  );
  const [r0] = replicas as [RedisResourceStore, RedisResourceStore];
  const cap = 2_000;
  await r0.setCapacity('bn', 'ef', cap);
  for (let i = 0; i < 4; i++) await r0.setCapacity(`acc${i}`, 'ef', 1_000_000);
  const T = Math.ceil((Date.now() + 3_600_000) / MIN) * MIN;

  let seed = 7;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  const reqs = Array.from({ length: 256 }, (_, i) => {
    const s = Math.floor(rnd() * 8);
    const len = 1 + Math.floor(rnd() * 4);
    return {
      id: `c${i}`,
      links: rnd() < 0.5 ? [`acc${i % 4}`, 'bn'] : ['bn', `acc${i % 4}`],
      cls: 'ef',
      rateBps: 50 + Math.floor(rnd() * 150),
      start: T + s * MIN,
      end: T + (s + len) * MIN,
      // a third of the clients abandon their hold; give those a short one
      holdTtlMs: i % 3 === 2 ? SHORT_HOLD_MS : 60_000,
    };
  });

  // phase 1: everyone reserves at once, alternating replicas; every request is admitted or cleanly rejected
  const results: ReserveResult[] = await Promise.all(reqs.map((r, i) => replicas[i % 2]!.reserve(r)));
  const admitted = reqs.filter((_, i) => results[i]!.admitted);
  const rejected = reqs.filter((_, i) => !results[i]!.admitted);
  expect(admitted.length).toBeGreaterThan(0);
  expect(rejected.length).toBeGreaterThan(0);
  expect(admitted.length + rejected.length).toBe(256);

  const window = [T, T + 12 * MIN] as const;
  const covers = (r: (typeof reqs)[number], slotStart: number) => r.start <= slotStart && slotStart < r.end;
  const bnAfterReserve = await r0.usage('bn', 'ef', ...window);
  for (const slot of bnAfterReserve) {
    expect(slot.usedBps).toBeLessThanOrEqual(cap);
    expect(slot.usedBps).toBe(admitted.filter((r) => covers(r, slot.slotStart)).reduce((s, r) => s + r.rateBps, 0));
  }
  for (const [i, r] of reqs.entries()) {
    const res = results[i]!;
    if (res.admitted) continue;
    // the bottleneck is the only link that can lack room, and it still does in the slot named
    expect(res.shortfalls.map((s) => s.link)).toEqual(['bn']);
    const slot = bnAfterReserve.find((u) => u.slotStart === res.shortfalls[0]!.slotStart)!;
    expect(covers(r, slot.slotStart)).toBe(true);
    expect(slot.usedBps + r.rateBps).toBeGreaterThan(cap);
    expect(await raw.exists(`${r0.base}res:${r.id}`)).toBe(0);
  }

  // phase 2: concurrently commit half of the long holds, abort the other half through the other replica;
  // the short holds are abandoned
  const abandoned = admitted.filter((r) => r.holdTtlMs === SHORT_HOLD_MS);
  const long = admitted.filter((r) => r.holdTtlMs !== SHORT_HOLD_MS);
  const committed = long.filter((_, i) => i % 2 === 0);
  const aborted = long.filter((_, i) => i % 2 === 1);
  expect(abandoned.length).toBeGreaterThan(0);
  await Promise.all([
    ...committed.map((r, i) => replicas[(i + 1) % 2]!.commit(r.id)),
    ...aborted.map((r, i) => replicas[i % 2]!.abort(r.id)),
  ]);

  // phase 3: the abandoned holds expire on their own; committed bookings are all that is left
  await new Promise((res) => setTimeout(res, SHORT_HOLD_MS + 500));
  const holdsLeft = (await raw.zrange(`${r0.base}holds`, '0', '-1')).sort();
  expect(holdsLeft).toEqual(abandoned.map((r) => r.id).sort());
  expect(await r0.sweepExpired()).toBe(abandoned.length);
  expect(await raw.zcard(`${r0.base}holds`)).toBe(0);

  const keys = await raw.keys(`qb:{dom-a}:res:*`);
  const states = await Promise.all(keys.map((k) => raw.hget(k, 'state')));
  expect(states.filter((s) => s === 'held')).toEqual([]);
  expect(states.filter((s) => s === 'committed').length).toBe(committed.length);
  expect(states.filter((s) => s === 'expired').length).toBe(abandoned.length);
  expect(states.filter((s) => s === 'aborted').length).toBe(aborted.length);

  for (const link of ['bn', 'acc0', 'acc1', 'acc2', 'acc3']) {
    const usage = await replicas[1]!.usage(link, 'ef', ...window);
    for (const slot of usage) {
      const expected = committed.filter((r) => r.links.includes(link) && covers(r, slot.slotStart)).reduce((s, r) => s + r.rateBps, 0);
      expect(slot.usedBps).toBe(expected);
      if (link === 'bn') expect(slot.usedBps).toBeLessThanOrEqual(cap);
    }
  }
  // no usage field left over for slots with nothing booked
  const bnFields = await raw.hgetall(`${r0.base}use:bn|ef`);
  for (const v of Object.values(bnFields)) expect(Number(v)).toBeGreaterThan(0);

  for (const r of replicas) await r.close();
});
