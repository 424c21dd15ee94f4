/**
 * Quote -> Reserve -> Commit across four domains, each with its own store
 * on a real redis-server, over the demo network (two ways from X to Z).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { AgreementCoordinator, AgreementFailedError } from '../../../daemon/agreement/coordinator.js';
import { contractBody, signContract, signatureDomain, verifyContract } from '../../../daemon/agreement/contract.js';
import { LocalParticipant, edgeId, seedCapacities, type AgreementParticipant } from '../../../daemon/agreement/participant.js';
import { demoNetwork } from '../../../daemon/cli/demo-network.js';
import { generateAdvertKeyPair, rawPublicKey } from '../../../daemon/peering/advert.js';
import { startEmbeddedRedis, type EmbeddedRedis } from '../../../daemon/state/embedded-redis.js';
import { RedisResourceStore } from '../../../daemon/state/redis-store.js';
import { buildTopology } from '../../../daemon/topology/graph.js';
import { PathInfeasibleError } from '../../../daemon/errors.js';

const dir = mkdtempSync(join(tmpdir(), 'qb-agree-'));
let redis: EmbeddedRedis;
const graph = buildTopology(demoNetwork());
const stores = new Map<string, RedisResourceStore>();
const participants = new Map<string, LocalParticipant>();
const HOUR = 3_600_000;

beforeAll(async () => {
  redis = await startEmbeddedRedis(join(dir, 'redis'), { log: () => {} });
  for (const domain of graph.domains) {
    const store = new RedisResourceStore({ domain, redis: new Redis({ path: redis.socketPath }), holdTtlMs: 30_000 });
    await seedCapacities(store, graph);
    stores.set(domain, store);
    participants.set(domain, new LocalParticipant(store, generateAdvertKeyPair().privateKey, () => graph));
  }
});
afterAll(async () => {
  for (const s of stores.values()) await s.close();
  await redis?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** A participant that does what `p` does, except for the methods given. */
const like = (p: AgreementParticipant, over: Partial<AgreementParticipant> = {}): AgreementParticipant => ({
  domain: p.domain,
  publicKey: p.publicKey,
  quote: (o) => p.quote(o),
  reserve: (o, ttl) => p.reserve(o, ttl),
  prepare: (o, ttl) => p.prepare(o, ttl),
  commit: (id, body) => p.commit(id, body),
  abort: (id) => p.abort(id),
  ...over,
});

const coordinator = (get: (d: string) => AgreementParticipant | undefined = (d) => participants.get(d)) =>
  new AgreementCoordinator('provider-x', () => graph, get, { holdTtlMs: 30_000 });

const request = (over: Record<string, unknown> = {}) => {
  const start = Date.now() + HOUR;
  return { customer: 'acme', from: { domain: 'provider-x', site: 'site-x' }, to: { domain: 'provider-z', site: 'site-z' }, qosClass: 'EF', rateMbps: 10, start, end: start + 2 * HOUR, ...over };
};

describe('agreement', () => {
  test('agreement - cheapest goes through provider-y, lowest latency through provider-w; every domain signs; bounds met', async () => {
    const cheap = await coordinator().agree(request({ objective: 'cheapest' }));
    expect(cheap.path.domains).toEqual(['provider-x', 'provider-y', 'provider-z']);
    const fast = await coordinator().agree(request({ objective: 'lowest-latency', maxLatencyMs: 20 }));
    expect(fast.path.domains).toEqual(['provider-x', 'provider-w', 'provider-z']);
    expect(fast.path.metrics.latencyMs).toBeLessThanOrEqual(20);
    for (const a of [cheap, fast]) {
      const s = verifyContract(JSON.parse(JSON.stringify(a.contract)));
      expect(s.signedBy).toEqual(a.path.domains);
      expect(contractBody(a.contract).totalPriceMinor).toBeGreaterThan(0);
    }
    // EF 10 Mbit/s for 2 h at provider-y's 0.04/Mbit/s-h list price is 0.80 EUR (no congestion at this load)
    expect(cheap.quotes.find((q) => q.domain === 'provider-y')!.priceMinor).toBe(80);
    // the holds were booked in each domain's store
    const y = await stores.get('provider-y')!.get(`${contractBody(cheap.contract).agreementId}:0:1`);
    expect(y?.state).toBe('committed');
  });

  test('agreement - infeasible bounds get a reason naming the bound', async () => {
    const e = await coordinator().agree(request({ maxLatencyMs: 3 })).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(PathInfeasibleError);
    expect((e as Error).message).toMatch(/latency/);
  });

  test('agreement - a domain that cannot hold its segment makes the coordinator abort every hold and take the next alternative', async () => {
    // fill provider-y's EF transit in the window so only provider-w is left
    const start = Date.now() + 10 * HOUR;
    const y = stores.get('provider-y')!;
    const fill = await y.reserve({ id: 'filler-y', links: [edgeId({ from: 'provider-y/y1', to: 'provider-y/y2' })], cls: 'EF', rateBps: 120e6, start, end: start + HOUR });
    expect(fill.admitted).toBe(true);
    // the graph still advertises capacity on y (the advertisement lags): the hold is what refuses
    const a = await coordinator().agree(request({ start, end: start + HOUR, objective: 'cheapest', rateMbps: 5 }));
    expect(a.path.domains).toEqual(['provider-x', 'provider-w', 'provider-z']);
    expect(a.refused).toHaveLength(1);
    expect(a.refused[0]!.reason).toMatch(/provider-y cannot hold 5 Mbit\/s of EF on provider-y\/y1:provider-y\/y2/);
    // provider-x's hold for the refused alternative was aborted, not left to expire
    expect((await stores.get('provider-x')!.get(`${contractBody(a.contract).agreementId}:1:0`))?.state).toBe('committed');
    expect((await stores.get('provider-x')!.get(`${contractBody(a.contract).agreementId}:0:0`))?.state).toBe('aborted');
    const usage = await stores.get('provider-x')!.usage(edgeId({ from: 'provider-x/x1', to: 'provider-x/x2' }), 'EF', start, start + 1);
    expect(usage[0]!.usedBps).toBe(5e6);
  });

  test('agreement - without an agreement with a domain, the path through it is refused', async () => {
    const e = (await coordinator((d) => (d === 'provider-w' || d === 'provider-y' ? undefined : participants.get(d))).agree(request()).catch((x: unknown) => x)) as AgreementFailedError;
    expect(e).toBeInstanceOf(AgreementFailedError);
    expect(e.refused.map((r) => r.reason)).toEqual(expect.arrayContaining([expect.stringMatching(/no agreement with domain provider-(y|w)/)]));
  });

  test('agreement - a provider refuses to sign terms it did not quote', async () => {
    const start = Date.now() + 40 * HOUR;
    let tampered = false;
    const cheat = (d: string): AgreementParticipant | undefined => {
      const p = participants.get(d)!;
      if (d !== 'provider-y') return p;
      return like(p, {
        commit: (id, body) => {
          tampered = true;
          const seg = body.segments.find((x) => x.domain === 'provider-y')!;
          return p.commit(id, { ...body, segments: body.segments.map((x) => (x === seg ? { ...x, priceMinor: x.priceMinor - 1 } : x)), totalPriceMinor: body.totalPriceMinor - 1 });
        },
      });
    };
    const e = (await coordinator(cheat).agree(request({ start, end: start + HOUR, excludeDomains: ['provider-w'] })).catch((x: unknown) => x)) as AgreementFailedError;
    expect(tampered).toBe(true);
    expect(e).toBeInstanceOf(AgreementFailedError);
    expect(e.refused[0]!.reason).toMatch(/provider-y will not sign agreement .*: the price of segment 1 is \d+, but it agreed to \d+/);
  });

  test('agreement - a provider that gets Reserve before Quote (separate calls, that order) still signs what it quoted', async () => {
    const start = Date.now() + 44 * HOUR;
    const order: string[] = [];
    const reversed = (d: string): AgreementParticipant | undefined => {
      const p = participants.get(d)!;
      if (d !== 'provider-y') return p;
      return like(p, {
        prepare: async (o, ttl) => {
          await p.reserve(o, ttl);
          order.push('reserve');
          const q = await p.quote(o);
          order.push('quote');
          return q;
        },
      });
    };
    const a = await coordinator(reversed).agree(request({ start, end: start + HOUR, excludeDomains: ['provider-w'] }));
    expect(order).toEqual(['reserve', 'quote']);
    expect(a.path.domains).toContain('provider-y');
    expect(verifyContract(a.contract).signedBy).toContain('provider-y');
  });

  test('agreement - a domain that cannot quote holds nothing, and the holds made elsewhere are aborted', async () => {
    const start = Date.now() + 46 * HOUR;
    // provider-y is a real participant on its real store, but its own view of its advertisement has
    // no EF price: its quote fails inside LocalParticipant.prepare, before the reserve that would hold
    const noEf = buildTopology(
      demoNetwork().map((ad) => (ad.origin === 'provider-y' ? { ...ad, prices: { ...ad.prices, perMbpsHour: { AF41: ad.prices.perMbpsHour.AF41!, BE: ad.prices.perMbpsHour.BE! } } } : ad)),
    );
    const refusingY = new LocalParticipant(stores.get('provider-y')!, generateAdvertKeyPair().privateKey, () => noEf);
    const refuse = (d: string): AgreementParticipant | undefined => (d === 'provider-y' ? refusingY : participants.get(d));
    const agreementId = 'agr-refused-quote';
    const e = (await coordinator(refuse).agree(request({ agreementId, start, end: start + HOUR, excludeDomains: ['provider-w'] })).catch((x: unknown) => x)) as AgreementFailedError;
    expect(e).toBeInstanceOf(AgreementFailedError);
    expect(e.refused[0]!.domains).toContain('provider-y');
    expect(e.refused[0]!.reason).toMatch(/domain provider-y does not sell class EF/);
    // provider-x held its segment, and that hold is aborted; provider-y's store has no reservation of the
    // agreement: no capacity used anywhere
    expect((await stores.get('provider-x')!.get(`${agreementId}:0:0`))?.state).toBe('aborted');
    expect(await stores.get('provider-y')!.get(`${agreementId}:0:1`)).toBeUndefined();
    for (const [d, link] of [['provider-x', { from: 'provider-x/x1', to: 'provider-x/x2' }], ['provider-y', { from: 'provider-y/y1', to: 'provider-y/y2' }]] as const) {
      expect((await stores.get(d)!.usage(edgeId(link), 'EF', start, start + 1))[0]!.usedBps).toBe(0);
    }
  });

  test('agreement - a commit that fails at one domain releases what the others booked', async () => {
    const start = Date.now() + 50 * HOUR;
    const failing = (d: string): AgreementParticipant | undefined => {
      const p = participants.get(d)!;
      if (d !== 'provider-z') return p;
      return like(p, {
        commit: async (id, body) => {
          // the others commit at the same time: fail only once their stores say they booked
          const booked = async () =>
            (await Promise.all(body.segments.map(async (seg, i) => seg.domain === 'provider-z' || (await stores.get(seg.domain)!.get(`${id}:0:${i}`))?.state === 'committed'))).every(Boolean);
          const end = Date.now() + 20_000;
          while (!(await booked()) && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
          othersBooked = await booked();
          throw new Error('provider-z commit failed');
        },
      });
    };
    let othersBooked = false;
    const e = (await coordinator(failing).agree(request({ start, end: start + HOUR, k: 1 })).catch((x: unknown) => x)) as AgreementFailedError;
    expect(othersBooked).toBe(true);
    expect(e).toBeInstanceOf(AgreementFailedError);
    expect(e.refused[0]!.reason).toContain('provider-z commit failed');
    expect(e.refused[0]!.reason).not.toContain('abort failed');
    for (const store of stores.values()) {
      for (const cap of await store.capacities()) {
        for (const u of await store.usage(cap.link, cap.cls, start, start + HOUR)) expect(u.usedBps, `${store.domain} ${cap.link}`).toBe(0);
      }
    }
  });

  test('agreement - 500 concurrent requests on a bottleneck: never over capacity, each committed or cleanly rejected, no hold left', async () => {
    const start = Date.now() + 20 * HOUR;
    const end = start + HOUR;
    // x2->w1 and x2->y1 EF links have 30 Mbit/s each: 60 Mbit/s leave provider-x in EF
    const results = await Promise.allSettled(
      Array.from({ length: 500 }, (_, i) => coordinator().agree(request({ agreementId: `burst-${i}`, start, end, rateMbps: 1, k: 2 }))),
    );
    const ok = results.filter((r) => r.status === 'fulfilled').length;
    const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    for (const f of failed) expect(f.reason).toBeInstanceOf(AgreementFailedError);
    expect(ok + failed.length).toBe(500);
    expect(ok).toBeGreaterThan(0);
    expect(ok).toBeLessThanOrEqual(60);
    // no link/class/slot over capacity, in any domain
    for (const store of stores.values()) {
      for (const cap of await store.capacities()) {
        for (const u of await store.usage(cap.link, cap.cls, start, end)) expect(u.usedBps).toBeLessThanOrEqual(cap.capacityBps);
      }
    }
    // no hold leaked: every reservation of the burst is committed or a tombstone
    {
      for (const [domain, store] of stores) {
        for (let i = 0; i < 500; i++) {
          for (const alt of [0, 1]) {
            for (let seg = 0; seg < 3; seg++) {
              const r = await store.get(`burst-${i}:${alt}:${seg}`);
              if (r) expect(r.state, `${domain} burst-${i}:${alt}:${seg}`).not.toBe('held');
            }
          }
        }
      }
      const used = (await stores.get('provider-x')!.usage(edgeId({ from: 'provider-x/x1', to: 'provider-x/x2' }), 'EF', start, start + 1))[0]!.usedBps;
      expect(used).toBe(ok * 1e6);
    }
  }, 120_000);

  test('agreement - a coordinator that disappears between Reserve and Commit leaves holds that expire and return capacity', async () => {
    const start = Date.now() + 30 * HOUR;
    const orders = { agreementId: 'abandoned-1', alternative: 0, index: 1, domain: 'provider-y', ingress: 'y1', egress: 'y2', qosClass: 'EF', rateMbps: 7, start, end: start + HOUR };
    const y = stores.get('provider-y')!;
    const p = new LocalParticipant(y, generateAdvertKeyPair().privateKey, () => graph);
    await p.reserve({ ...orders, hops: [{ from: 'provider-y/y1', to: 'provider-y/y2', kind: 'transit', metrics: { availableMbps: 1, latencyMs: 1, jitterMs: 0, loss: 0 } }] }, 3000);
    const link = edgeId({ from: 'provider-y/y1', to: 'provider-y/y2' });
    expect((await y.usage(link, 'EF', start, start + 1))[0]!.usedBps).toBe(7e6);
    // until the hold's expiry has passed on the store's clock (Redis TIME)
    const expiresAt = (await y.get('abandoned-1:0:1'))!.holdExpiresAt!;
    const clock = new Redis({ path: redis.socketPath });
    try {
      const now = async () => (([s, us]) => Number(s) * 1000 + Math.floor(Number(us) / 1000))(await clock.time());
      const end = Date.now() + 30_000;
      while ((await now()) < expiresAt && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
      expect(await now()).toBeGreaterThanOrEqual(expiresAt);
    } finally {
      clock.disconnect();
    }
    expect((await y.usage(link, 'EF', start, start + 1))[0]!.usedBps).toBe(0);
    expect((await y.get('abandoned-1:0:1'))?.state).toBe('expired');
  });

  test('agreement - a coordinator that is an exchange: the contract names the provider it brokered for as originator, lists the exchange as a party of role broker, signed last', async () => {
    const key = generateAdvertKeyPair();
    const publicKey = rawPublicKey(key.publicKey);
    const signed: string[] = [];
    const exchange = new AgreementCoordinator('exchange-x', () => graph, (d) => participants.get(d), {
      holdTtlMs: 30_000,
      broker: {
        publicKey,
        sign: (c) => {
          signed.push(...c.signatures.map((s) => signatureDomain(s)!));
          return signContract(c, 'exchange-x', key.privateKey);
        },
      },
    });
    const a = await exchange.agree(request({ originator: 'provider-x' }));
    expect(contractBody(a.contract).originator).toEqual({ domain: 'provider-x', customer: 'acme' });
    expect(contractBody(a.contract).parties.at(-1)).toEqual({ domain: 'exchange-x', publicKey, role: 'broker' });
    expect(contractBody(a.contract).parties.slice(0, -1).every((p) => p.role === 'provider')).toBe(true);
    // every provider had signed when the exchange signed
    expect(signed.sort()).toEqual([...a.path.domains].sort());
    expect(verifyContract(JSON.parse(JSON.stringify(a.contract))).signedBy).toEqual([...a.path.domains, 'exchange-x']);
    // the broker carries no segment and no price
    expect(contractBody(a.contract).segments.map((s) => s.domain)).toEqual(a.path.domains);
  });

  test('agreement - an order for an exchange goes to the coordinator\'s viaExchange; without one it is QB_EXCHANGE_UNKNOWN', async () => {
    await expect(coordinator().agree(request({ viaExchange: 'exchange-x' }))).rejects.toMatchObject({ code: 'QB_EXCHANGE_UNKNOWN' });
    const seen: string[] = [];
    const c = new AgreementCoordinator('provider-x', () => graph, () => undefined, {
      viaExchange: async (req) => {
        seen.push(`${req.viaExchange}:${req.agreementId}`);
        throw new Error('handed over');
      },
    });
    await expect(c.agree(request({ viaExchange: 'exchange-x', agreementId: 'agr-via' }))).rejects.toThrow('handed over');
    expect(seen).toEqual(['exchange-x:agr-via']);
  });
});

describe('agreement - site prefixes', () => {
  test('agreement - the prefixes the two sites advertise are signed in the contract as the service traffic', async () => {
    const ads = demoNetwork().map((ad) => ({
      ...ad,
      sites: (ad.sites ?? []).map((s) => ({ ...s, prefixes: [s.id === 'site-x' ? '198.18.40.0/24' : '198.18.50.0/24'] })),
    }));
    const withPrefixes = buildTopology(ads);
    // the participants see the same advertisements (and check the prefixes against them)
    const seeing = new Map([...stores].map(([d, store]) => [d, new LocalParticipant(store, generateAdvertKeyPair().privateKey, () => withPrefixes)]));
    const a = await new AgreementCoordinator('provider-x', () => withPrefixes, (d) => seeing.get(d), { holdTtlMs: 30_000 }).agree(request());
    expect(contractBody(a.contract).service).toMatchObject({ from: 'provider-x/site-x', to: 'provider-z/site-z', fromPrefixes: ['198.18.40.0/24'], toPrefixes: ['198.18.50.0/24'] });
    expect(verifyContract(JSON.parse(JSON.stringify(a.contract))).signedBy).toEqual(a.path.domains);
    // sites that advertise none: the contract names none (a policy then carries every packet on its interfaces)
    const plain = await coordinator().agree(request());
    expect(contractBody(plain.contract).service).not.toHaveProperty('fromPrefixes');
    expect(contractBody(plain.contract).service).not.toHaveProperty('toPrefixes');
  });

  test('agreement - a provider signs no prefixes other than the ones the sites advertise', async () => {
    const ads = demoNetwork().map((ad) => ({ ...ad, sites: (ad.sites ?? []).map((s) => ({ ...s, prefixes: ['203.0.113.0/24'] })) }));
    const claimed = buildTopology(ads);
    const used = async () => Object.fromEntries(await Promise.all([...stores].map(async ([d, s]) => [d, (await s.utilisation()).reduce((n, u) => n + u.usedBps, 0)] as const)));
    const before = await used();
    // the coordinator claims prefixes the participants' advertisements do not have
    const err = await new AgreementCoordinator('provider-x', () => claimed, (d) => participants.get(d), { holdTtlMs: 30_000 }).agree(request()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AgreementFailedError);
    expect((err as Error).message).toMatch(/will not sign agreement \S+: service\.fromPrefixes is \["203\.0\.113\.0\/24"\], but it agreed to "none \(the site advertises no prefixes\)"/);
    // and every hold it made was released
    expect(await used()).toEqual(before);
  });
});
