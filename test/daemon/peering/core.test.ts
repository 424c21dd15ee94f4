/** PeeringCore over in-memory streams: hold timer, keepalives, collisions, backoff, withdrawals; live-state re-advertisement on a real Redis. */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { PeeringCore, type PeerSpec } from '../../../daemon/peering/peering-core.js';
import { MemoryTransport, memoryPair } from '../../../daemon/peering/memory.js';
import { rawPublicKey, signAdvert } from '../../../daemon/peering/advert.js';
import { buildAdvertisement, capacityMovedPastThreshold, usageKey } from '../../../daemon/peering/origin.js';
import type { FrameStream } from '../../../daemon/peering/session.js';
import type { PeerFrame } from '../../../daemon/peering/proto.js';
import { RedisResourceStore } from '../../../daemon/state/redis-store.js';
import { startTestRedis, type TestRedis } from '../state/redis-harness.js';
import { inventoryFor, waitFor } from './cores.js';

const cores: PeeringCore[] = [];
let redis: TestRedis | undefined;
afterAll(async () => {
  for (const c of cores) await c.stop();
  await redis?.stop();
});

function mesh(names: string[], edges: [string, string, 'a' | 'b' | 'both'][], opts: Partial<ConstructorParameters<typeof PeeringCore>[0]> = {}) {
  const transport = new MemoryTransport();
  const keys = Object.fromEntries(names.map((n) => [n, generateKeyPairSync('ed25519').privateKey])) as Record<string, KeyObject>;
  const originKeys = Object.fromEntries(names.map((n) => [n, rawPublicKey(keys[n]!)]));
  const out: Record<string, PeeringCore> = {};
  for (const n of names) {
    const peers: PeerSpec[] = [];
    for (const [x, y, who] of edges) {
      if (x === n) peers.push({ domain: y, caPem: Buffer.alloc(0), address: who === 'a' || who === 'both' ? 'mem' : undefined });
      if (y === n) peers.push({ domain: x, caPem: Buffer.alloc(0), address: who === 'b' || who === 'both' ? 'mem' : undefined });
    }
    const core = new PeeringCore({ role: 'provider', domain: n, brokerId: `${n}-1`, signingKey: keys[n]!, peers, originKeys, holdTimeS: 3, inventory: inventoryFor(n, []), transport, backoff: { initialMs: 50, maxMs: 200 }, ...opts });
    transport.cores.set(n, core);
    cores.push(core);
    out[n] = core;
  }
  return { transport, keys, cores: out };
}

describe('peering core', () => {
  test('core - a silent peer is dropped when the hold timer runs out; keepalives keep a live one', async () => {
    const { cores: m } = mesh(['h1', 'h2'], [['h1', 'h2', 'b']]);
    const silentKey = generateKeyPairSync('ed25519').privateKey;
    const { cores: s } = mesh(['h3'], [], {});
    // h3 also accepts a session from a raw, silent peer "quiet"
    s.h3!.addPeer({ domain: 'quiet', caPem: Buffer.alloc(0) });
    for (const c of [m.h1!, m.h2!, s.h3!]) await c.start();
    const [mine, theirs] = memoryPair();
    const got: PeerFrame[] = [];
    mine.on('data', (f: PeerFrame) => got.push(f));
    s.h3!.acceptSession(theirs as unknown as FrameStream, undefined, false);
    mine.write({ open: { domain_id: 'quiet', broker_id: 'q', public_key: rawPublicKey(silentKey), capabilities: [], hold_time_s: 3 } });
    await waitFor('quiet established', () => s.h3!.peerViews()[0]!.state === 'established');
    await waitFor('hold timer expiry', () => got.some((f) => f.notification?.code === 'hold-timer-expired'), 6000);
    expect(s.h3!.peerViews()[0]).toMatchObject({ state: 'idle', lastError: expect.stringContaining('hold-timer-expired') });
    // h1-h2 stay up through well over a hold time (3 s) thanks to keepalives: the same session
    // carries four of them each way (one a second)
    const [s1, s2] = [m.h1!.peers.get('h2')!.session!, m.h2!.peers.get('h1')!.session!];
    await waitFor('four keepalives each way', () => s1.received.keepalive! >= 4 && s2.received.keepalive! >= 4, 15_000);
    expect(m.h1!.peers.get('h2')!.session).toBe(s1);
    expect(m.h2!.peers.get('h1')!.session).toBe(s2);
    expect(m.h1!.peerViews()[0]!.state).toBe('established');
    expect(m.h2!.peerViews()[0]!.state).toBe('established');
  });

  test('core - when both sides dial, one session survives on both sides (dialed by the smaller domain id)', async () => {
    const { cores: m } = mesh(['c1', 'c2'], [['c1', 'c2', 'both']]);
    await Promise.all([m.c1!.start(), m.c2!.start()]);
    // until the collision is resolved: the losing session closed on each side
    await waitFor('established, the other session closed', () =>
      [m.c1!.peers.get('c2')!, m.c2!.peers.get('c1')!].every((r) => r.state === 'established' && r.pending.size === 0));
    expect(m.c1!.peerViews()[0]).toMatchObject({ state: 'established', direction: 'outbound' });
    expect(m.c2!.peerViews()[0]).toMatchObject({ state: 'established', direction: 'inbound' });
    expect(m.c1!.adverts().map((a) => a.envelope.origin)).toEqual(['c1', 'c2']);
  });

  test('core - reconnects with backoff while the peer is down, then converges', async () => {
    const { cores: m, transport } = mesh(['r1', 'r2'], [['r1', 'r2', 'a']]);
    transport.down.add('r2');
    await m.r1!.start();
    await m.r2!.start();
    await waitFor('several attempts', () => m.r1!.peerViews()[0]!.attempts >= 3);
    expect(m.r1!.peerViews()[0]!.state).not.toBe('established');
    transport.down.delete('r2');
    await waitFor('established after the peer came back', () => m.r1!.peerViews()[0]!.state === 'established');
    expect(m.r1!.peerViews()[0]!.attempts).toBe(0);
    await waitFor('converged', () => m.r2!.adverts().length === 2);
  });

  test('core - a withdrawal floods, a late peer learns it, and frame kinds cannot be swapped', async () => {
    const { cores: m, keys } = mesh(['w1', 'w2', 'w3'], [['w1', 'w2', 'a']]);
    await Promise.all([m.w1!.start(), m.w2!.start(), m.w3!.start()]);
    await waitFor('w2 holds w1', () => m.w2!.adverts().length === 2);
    // an advertisement frame carrying a withdrawal body is malformed
    const now = Date.now();
    const w = signAdvert({ origin: 'w1', seq: now + 10_000, issuedAt: now, expiresAt: now + 60_000, body: { withdrawn: true } }, keys.w1!);
    expect(m.w2!.receiveAdvert(Buffer.from(JSON.stringify(w)), 'w1', 'advertisement')).toMatchObject({ reason: 'malformed' });
    expect(m.w2!.adverts().map((a) => a.envelope.origin)).toEqual(['w1', 'w2']);
    // the genuine withdrawal as a withdrawal frame is accepted
    expect(m.w2!.receiveAdvert(Buffer.from(JSON.stringify(w)), 'w1', 'withdrawal')).toBeUndefined();
    expect(m.w2!.adverts().map((a) => a.envelope.origin)).toEqual(['w2']);
    expect(m.w2!.domainViews().find((d) => d.domain === 'w1')!.withdrawn).toBe(true);
    // a peer that connects later gets the withdrawal with the table dump
    m.w3!.addPeer({ domain: 'w2', caPem: Buffer.alloc(0), address: 'mem' });
    m.w2!.addPeer({ domain: 'w3', caPem: Buffer.alloc(0) });
    await waitFor('w3 learns the withdrawal', () => m.w3!.domainViews().some((d) => d.domain === 'w1' && d.withdrawn));
    expect(m.w3!.adverts().map((a) => a.envelope.origin)).toEqual(['w2', 'w3']);
  });

  test('origin - capacity threshold compares each class against its capacity', () => {
    const inv = inventoryFor('t', ['u'], 100);
    const used = (mbps: number) => new Map([[`t-core\u0000EF`, mbps * 1e6]]);
    const a = buildAdvertisement('t', inv, used(0));
    expect(a.transits[0]!.classes.EF).toMatchObject({ availableMbps: 100, capacityMbps: 100 });
    expect(capacityMovedPastThreshold(a, buildAdvertisement('t', inv, used(9.9)), 0.1)).toBe(false);
    expect(capacityMovedPastThreshold(a, buildAdvertisement('t', inv, used(10)), 0.1)).toBe(true);
    expect(capacityMovedPastThreshold(a, buildAdvertisement('t', inventoryFor('t', ['u'], 120), used(0)), 0.1)).toBe(true);
    expect(buildAdvertisement('t', inv, used(150)).transits[0]!.classes.EF!.availableMbps).toBe(0);
  });

  test('origin - live usage past the threshold re-advertises, rate-limited; small moves do not', async () => {
    redis = await startTestRedis();
    const store = new RedisResourceStore({ domain: 'live', redis: redis.client() });
    const key = generateKeyPairSync('ed25519').privateKey;
    // the core's clock, injected: moved on past the rate limit, a move past the threshold would be
    // advertised at the very poll that sees it, so a poll that sees a small move and advertises nothing decides
    let skewMs = 0;
    const core = new PeeringCore({
      role: 'provider', domain: 'live', brokerId: 'live-1', signingKey: key, peers: [], transport: new MemoryTransport(),
      inventory: inventoryFor('live', [], 100), store, pollIntervalMs: 50, readvertiseThreshold: 0.1, readvertiseMinIntervalMs: 800, advertLifetimeS: 300,
      now: () => Date.now() + skewMs,
    });
    cores.push(core);
    await core.start();
    expect(await store.capacities()).toContainEqual({ link: 'live-core', cls: 'EF', capacityBps: 100_000_000 });
    const seqs = () => core.stats.originated;
    const reserve = async (id: string, mbps: number) => {
      const now = Date.now();
      expect((await store.reserve({ id, links: ['live-core'], cls: 'EF', rateBps: mbps * 1e6, start: now, end: now + 300_000 })).admitted).toBe(true);
    };
    expect(seqs()).toBe(1);
    skewMs = 800; // the rate limit of the first advertisement is over
    await reserve('small', 5);
    // the live-state poll saw the small move (the re-advertise decision follows each poll at once) ...
    await waitFor('a poll sees the small move', () => core.usage.get(usageKey('live-core', 'EF')) === 5e6);
    // ... and did not advertise it
    expect(seqs()).toBe(1);
    await reserve('big1', 20);
    await waitFor('re-advertised', () => seqs() === 2);
    const t1 = core.table.get('live')!.envelope.issuedAt;
    expect(core.table.get('live')!.envelope.body).toMatchObject({ transits: [{ classes: { EF: { availableMbps: 75 } } }] });
    await reserve('big2', 20);
    await waitFor('re-advertised again', () => seqs() === 3);
    const a = core.table.get('live')!;
    expect(a.envelope.issuedAt - t1).toBeGreaterThanOrEqual(790);
    expect(a.envelope.body).toMatchObject({ transits: [{ classes: { EF: { availableMbps: 55 } } }] });
  });
});
