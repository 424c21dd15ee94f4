/**
 * The exchange brokers (seed 000 claims 2, 4, 6, 10), with real qos-brokerd
 * processes: an exchange and three providers that register with it and peer
 * with nobody else. prov-a and prov-c each have two lab routers (a real
 * netconfd behind a real sshd on loopback). An order of prov-a's customer to
 * prov-c's site goes to the exchange, which computes the path over what the
 * providers handed it, agrees it with both, signs it as broker; prov-a then
 * provisions its own routers and prov-c's through the exchange.
 *   exchange-x: allow-providers [prov-a, prov-c], may-contact [prov-a, prov-c]
 *   prov-d: registered, but may neither use the exchange nor be contacted by it
 */
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import * as grpc from '@grpc/grpc-js';
import { Redis } from 'ioredis';
import { CLI, Cluster, inventory, metricValue, waitFor, type Daemon } from './harness.js';
import { NS } from './three-domain-lab.js';
import { contractBody, verifyContract, withAlteredBody, type SignedContract } from '../../../daemon/agreement/contract.js';
import { rawPublicKey } from '../../../daemon/peering/advert.js';
import { clientCredentials } from '../../../daemon/peering/tls.js';
import { ManagementClient } from '../../../daemon/management/client.js';
import type { ServiceSpecMsg } from '../../../daemon/management/proto.js';
import { RedisResourceStore } from '../../../daemon/state/redis-store.js';
import { loadBrokerageProto, type AdvertiseReplyMsg } from '../../../daemon/exchange/proto.js';
import { NetconfClient } from '../../../drivers/netconf/client.js';
import { startNetconfDevice, type NetconfDevice } from '../../../lab/netconf-device.js';

const run = promisify(execFile);
const cluster = new Cluster();
// advertisements are refreshed every 100 s: a test that waits less sees them handed in for another reason
const peering = { 'hold-time-s': 3, 'advert-lifetime-s': 300, 'poll-interval-ms': 500, 'backoff-initial-ms': 100, 'backoff-max-ms': 1000 };
const PROVIDERS = ['prov-a', 'prov-c', 'prov-d'] as const;
type Prov = (typeof PROVIDERS)[number];
const daemons = new Map<string, Daemon>();
const routers = new Map<Prov, NetconfDevice[]>();
const stores = new Map<Prov, RedisResourceStore>();
const mgmt = new Map<Prov, ManagementClient>();
let redis: Redis;

const order = (over: Partial<ServiceSpecMsg> = {}): Partial<ServiceSpecMsg> => ({ from: 'prov-a/prov-a-site', to: 'prov-c/prov-c-site', qos_class: 'EF', rate_mbps: 10, duration_ms: 3_600_000, max_latency_ms: 30, via_exchange: 'exchange-x', ...over });

async function onRouter<T>(r: NetconfDevice, fn: (c: NetconfClient) => Promise<T>): Promise<T> {
  const c = await NetconfClient.connect({ host: r.host, port: r.port, username: r.username, privateKeyFile: r.privateKeyFile, knownHostsFile: r.knownHostsFile, helloSettleMs: 20 });
  try {
    return await fn(c);
  } finally {
    await c.close();
  }
}

/** The lab_device policies on a router: name -> committed rate (kbit/s) and interface. */
async function policiesOn(r: NetconfDevice): Promise<Array<[string, string, number]>> {
  const xml = await onRouter(r, (c) => c.getConfig({ filter: { type: 'subtree', xml: `<device xmlns="${NS}"><qos/></device>` } }));
  return [...xml.matchAll(/<policy>([\s\S]*?)<\/policy>/g)].map((m) => {
    const leaf = (k: string) => new RegExp(`<${k}>([^<]*)</${k}>`).exec(m[1]!)?.[1] ?? '';
    return [leaf('name'), leaf('interface'), Number(leaf('committed-rate-kbps'))];
  });
}

const usedBps = async (d: Prov) => (await stores.get(d)!.utilisation()).reduce((s, u) => s + u.usedBps, 0);
const held = async (d: Prov, agreementId: string) => (await stores.get(d)!.agreement(agreementId)).filter((r) => r.state === 'held' || r.state === 'committed');

beforeAll(async () => {
  await cluster.init();
  redis = new Redis({ path: cluster.redis.server.socketPath });
  const ca = cluster.pki.caCert;
  for (const d of PROVIDERS) stores.set(d, new RedisResourceStore({ domain: d, redis }));
  const started = await Promise.allSettled([0, 1, 2, 3].map(() => startNetconfDevice()));
  const devs = started.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  routers.set('prov-a', devs.slice(0, 2));
  routers.set('prov-c', devs.slice(2, 4));
  const bad = started.find((r) => r.status === 'rejected') as PromiseRejectedResult | undefined;
  if (bad) throw bad.reason;
  await Promise.all(
    devs.map((r) =>
      onRouter(r, async (c) => {
        await c.editConfig({ config: `<device xmlns="${NS}"><interfaces>${['eth1', 'eth2', 'eth3', 'eth4'].map((n) => `<interface><name>${n}</name><speed-mbps>1000</speed-mbps></interface>`).join('')}</interfaces></device>` });
        await c.commit();
      }),
    ),
  );
  const access = (r: NetconfDevice) => ({ host: r.host, port: r.port, username: r.username, 'key-file': r.privateKeyFile, 'known-hosts-file': r.knownHostsFile, 'hello-settle-ms': 20, 'confirm-timeout-s': 30 });
  const [a1, a2] = routers.get('prov-a')!;
  const [c1, c2] = routers.get('prov-c')!;
  const exAddr = await cluster.allocate();
  daemons.set(
    'exchange-x',
    await cluster.start(cluster.pki.domain('exchange-x'), exAddr, {
      role: 'exchange',
      peering,
      peers: PROVIDERS.map((d) => ({ 'domain-id': d, 'ca-file': ca })),
      exchange: { 'allow-providers': ['prov-a', 'prov-c'], 'may-contact': ['prov-a', 'prov-c'] },
      agreement: { 'hold-ttl-ms': 10_000, 'call-timeout-ms': 3000 },
    }),
  );
  const viaExchange = [{ 'domain-id': 'exchange-x', 'ca-file': ca, address: exAddr.grpc, exchange: true }];
  // prov-c's site is on its far border: its segment crosses its own transit (a booking of its own)
  const configs: Record<Prov, Record<string, unknown>> = {
    'prov-a': {
      inventory: inventory('prov-a', ['prov-c', 'prov-d']),
      devices: [
        { name: 'prov-a-r1', platform: 'lab_device', border: 'b1', ...access(a1!), interfaces: [{ name: 'eth1', role: 'customer', site: 'prov-a-site' }, { name: 'eth2', role: 'core' }] },
        { name: 'prov-a-r2', platform: 'lab_device', border: 'b2', ...access(a2!), interfaces: [{ name: 'eth2', role: 'core' }, { name: 'eth3', role: 'peer', 'peer-domain': 'prov-c' }, { name: 'eth4', role: 'peer', 'peer-domain': 'prov-d' }] },
      ],
    },
    'prov-c': {
      inventory: { ...inventory('prov-c', ['prov-a']), sites: [{ id: 'prov-c-site', borders: ['b2'] }] },
      devices: [
        { name: 'prov-c-r1', platform: 'lab_device', border: 'b1', ...access(c1!), interfaces: [{ name: 'eth2', role: 'core' }] },
        { name: 'prov-c-r2', platform: 'lab_device', border: 'b2', ...access(c2!), interfaces: [{ name: 'eth1', role: 'customer', site: 'prov-c-site' }, { name: 'eth2', role: 'core' }] },
      ],
    },
    'prov-d': { inventory: inventory('prov-d', ['prov-c']) },
  };
  for (const d of PROVIDERS) {
    daemons.set(d, await cluster.start(cluster.pki.domain(d), await cluster.allocate(), { role: 'provider', peering, peers: viaExchange, ...configs[d] }));
    mgmt.set(d, new ManagementClient(`unix:${daemons.get(d)!.config['data-dir'] as string}/management.sock`));
  }
  // every provider has handed the exchange its signed advertisement
  await waitFor('the exchange holds every provider advertisement', async () => ((await daemons.get('exchange-x')!.get('/v1/adverts')).adverts as unknown[]).length === 3);
}, 120_000);

afterAll(async () => {
  for (const m of mgmt.values()) m.close();
  for (const s of stores.values()) await s.close().catch(() => {});
  redis?.disconnect();
  await cluster.stopAll();
  await Promise.all([...routers.values()].flat().map((r) => r.stop()));
});

describe.sequential('qos-brokerd: the exchange brokers', () => {
  test('exchange - providers that peer with nobody but the exchange: an order it brokers is signed by both and the exchange, booked in both, active on all four routers', async () => {
    const ex = daemons.get('exchange-x')!;
    // prov-a and prov-c do not peer: each knows only the exchange
    for (const d of ['prov-a', 'prov-c'] as const) expect(((await daemons.get(d)!.get('/v1/peers')).peers as { domain: string }[]).map((p) => p.domain)).toEqual(['exchange-x']);
    // the exchange sees what providers advertise (abstract borders, transits, links), nothing of their devices
    const adverts = JSON.stringify((await ex.get('/v1/adverts')).adverts);
    for (const r of [...routers.values()].flat()) expect(adverts).not.toContain(`${r.host}:${r.port}`);
    expect(adverts).not.toMatch(/prov-[ac]-r[12]|eth[1-4]/);

    const o = await mgmt.get('prov-a')!.createOrder(order(), 'acme', true);
    expect(o.state, JSON.stringify({ error: o.error, plan: o.plan })).toBe('completed');
    expect(o.service_state).toBe('active');
    expect(o.domains).toEqual(['prov-a', 'prov-c']);
    expect(o.service.via_exchange).toBe('exchange-x');
    const contract = JSON.parse(o.contract_json) as SignedContract;
    // verifies offline against every party's own key, the broker's signature included
    const keys = Object.fromEntries(['prov-a', 'prov-c', 'exchange-x'].map((d) => [d, rawPublicKey(readFileSync(daemons.get(d)!.files.advertKey, 'utf8'))]));
    expect(verifyContract(contract, keys).signedBy.sort()).toEqual(['exchange-x', 'prov-a', 'prov-c']);
    expect(contractBody(contract).parties.find((p) => p.domain === 'exchange-x')).toMatchObject({ role: 'broker', publicKey: keys['exchange-x'] });
    expect(contractBody(contract).originator).toEqual({ domain: 'prov-a', customer: 'acme' });
    // the broker carries no segment and charges nothing: the total is the providers'
    expect(contractBody(contract).segments.map((s) => s.domain)).toEqual(['prov-a', 'prov-c']);
    expect(contractBody(contract).totalPriceMinor).toBe(contractBody(contract).segments.reduce((t, s) => t + s.priceMinor, 0));
    // a copy whose broker was changed is refused, naming the field
    const forged = withAlteredBody(contract, (b) => (b.parties.find((p) => p.domain === 'exchange-x')!.role = 'provider'));
    expect(() => verifyContract(forged, keys)).toThrow(/lists exchange-x as provider|\/body\/parties\/2\/role/);
    // the CLI says who brokered it: the order, and the contract checked offline with a trust file
    const shown = await run(process.execPath, [CLI, 'order', 'get', o.id, '--management', mgmt.get('prov-a')!.address]);
    expect(shown.stdout).toContain('brokered by exchange exchange-x');
    const file = join(cluster.dir, 'brokered-contract.json');
    writeFileSync(file, o.contract_json);
    writeFileSync(join(cluster.dir, 'trust.json'), JSON.stringify(keys));
    const verified = await run(process.execPath, [CLI, 'contract', 'verify', file, '--trust', join(cluster.dir, 'trust.json')]);
    expect(verified.stdout).toMatch(/brokered by exchange exchange-x, signed/);

    // both providers booked (committed, not held) what they sell on the path; the exchange holds no store at all
    expect((await held('prov-a', o.agreement_id)).map((r) => r.state)).toEqual(['committed']);
    expect((await held('prov-c', o.agreement_id)).map((r) => r.state)).toEqual(['committed']);
    expect(await usedBps('prov-a')).toBe(2 * 10e6); // its transit and its link to prov-c
    expect(await usedBps('prov-c')).toBe(10e6); // its transit
    expect(ex.logs.some((l) => l.msg === 'no Redis configured: started an embedded redis-server')).toBe(false);
    expect(ex.logs.find((l) => l.event === 'agreement-brokered')).toMatchObject({ agreement_id: o.agreement_id, for: 'prov-a', domains: ['prov-a', 'prov-c'] });

    // the plan: agreed (through the exchange), our routers internally, prov-c's through the exchange
    expect(o.plan.map((s) => [s.step, s.domain, s.where, s.state])).toEqual([
      ['agree', 'prov-a', 'internal', 'completed'],
      ['provision', 'prov-a', 'internal', 'completed'],
      ['provision', 'prov-c', 'external', 'completed'],
    ]);
    expect(ex.logs.filter((l) => l.event === 'provisioning-relayed').map((l) => [l.domain, l.op])).toEqual([['prov-c', 'activate']]);
    const id = (d: string, k: number) => `${o.agreement_id}-${d}-${k}`;
    const [a1, a2] = routers.get('prov-a')!;
    const [c1, c2] = routers.get('prov-c')!;
    expect(await policiesOn(a1!)).toEqual([[id('prov-a', 1), 'eth2', 10_000]]);
    expect(await policiesOn(a2!)).toEqual([[id('prov-a', 0), 'eth3', 10_000]]);
    expect(await policiesOn(c1!)).toEqual([[id('prov-c', 3), 'eth2', 10_000]]);
    expect(await policiesOn(c2!)).toEqual([[id('prov-c', 2), 'eth1', 10_000]]);

    // another provider may not have the exchange pass on calls for prov-a's contract
    const c = daemons.get('prov-c')!;
    const B = loadBrokerageProto();
    const asC = new B(ex.grpc, clientCredentials({ certPem: c.files.certPem, keyPem: c.files.keyPem }, { domain: 'exchange-x', caPem: cluster.pki.caPem }));
    try {
      const err = await new Promise<grpc.ServiceError | null>((res) =>
        (asC as unknown as { Relay(r: object, cb: (e: grpc.ServiceError | null) => void): void }).Relay({ domain: 'prov-a', op: 'deactivate', contract_json: o.contract_json }, (e) => res(e)),
      );
      expect(err?.code).toBe(grpc.status.PERMISSION_DENIED);
      expect(err?.metadata.get('qb-code')[0]?.toString()).toBe('QB_EXCHANGE_NOT_BROKERED');
      expect(err?.details).toMatch(/brokered for prov-a; prov-c may not provision it/);
    } finally {
      asC.close();
    }
    expect(await policiesOn(a2!)).toEqual([[id('prov-a', 0), 'eth3', 10_000]]);

    // a boost goes through the same exchange: an amendment it brokers, 20 Mbit/s on every router, back to 10 on its own
    const boosted = await mgmt.get('prov-a')!.modifyOrder(o.id, 20, 6000);
    expect(boosted, JSON.stringify(boosted.error)).toMatchObject({ rate_mbps: 20, boost: { state: 'active', rate_mbps: 20 } });
    for (const r of [a1!, a2!, c1!, c2!]) expect((await policiesOn(r)).map((p) => p[2])).toEqual([20_000]);
    expect(await usedBps('prov-c')).toBe(2 * 10e6);
    expect(ex.logs.filter((l) => l.event === 'agreement-brokered').map((l) => l.agreement_id)).toEqual([o.agreement_id, `${o.agreement_id}-boost-1`]);
    await waitFor('the boost to revert on its own', async () => (await mgmt.get('prov-a')!.getOrder(o.id)).boost?.state === 'reverted');
    for (const r of [a1!, a2!, c1!, c2!]) expect((await policiesOn(r)).map((p) => p[2])).toEqual([10_000]);
    expect(await usedBps('prov-c')).toBe(10e6);

    // check-sync and redeploy reach prov-c's routers through the exchange too (Brokerage.RelaySync), with the same checks
    const am = mgmt.get('prov-a')!;
    const sync = await am.checkSync(o.id);
    expect(sync, JSON.stringify(sync)).toMatchObject({ in_sync: true });
    expect(sync.devices.map((d) => `${d.domain}/${d.device}`).sort()).toEqual(['prov-a/prov-a-r1', 'prov-a/prov-a-r2', 'prov-c/prov-c-r1', 'prov-c/prov-c-r2']);
    // drift on prov-c's site router: seen from prov-a, put back by its redeploy, which asks prov-c (only prov-c) through the exchange
    await onRouter(c2!, async (n) => {
      await n.editConfig({ config: `<device xmlns="${NS}"><qos><policy xmlns:nc="urn:ietf:params:xml:ns:netconf:base:1.0" nc:operation="delete"><name>${id('prov-c', 2)}</name></policy></qos></device>` });
      await n.commit();
    });
    expect(await policiesOn(c2!)).toEqual([]);
    const seen = await am.checkSync(o.id);
    expect(seen.in_sync).toBe(false);
    expect(seen.devices.filter((d) => !d.in_sync).map((d) => `${d.domain}/${d.device}`)).toEqual(['prov-c/prov-c-r2']);
    expect(seen.devices.find((d) => d.device === 'prov-c-r2')?.diffs).toEqual(expect.arrayContaining([expect.stringMatching(/^missing .*committed-rate-kbps=10000$/)]));
    const back = await am.redeploy(o.id);
    expect(back, JSON.stringify(back)).toMatchObject({ in_sync: true });
    expect(back.devices).toHaveLength(4);
    expect(await policiesOn(c2!)).toEqual([[id('prov-c', 2), 'eth1', 10_000]]);
    expect(ex.logs.filter((l) => l.event === 'provisioning-relayed' && ['check-sync', 'redeploy'].includes(l.op as string)).map((l) => [l.domain, l.op, l.agreement_id])).toEqual([
      ['prov-c', 'check-sync', o.agreement_id],
      ['prov-c', 'check-sync', o.agreement_id],
      ['prov-c', 'check-sync', o.agreement_id], // redeploy's look first
      ['prov-c', 'redeploy', o.agreement_id],
    ]);
    // another provider may not have the exchange read or redeploy prov-a's contract's segments either; a bad op is named
    const asC2 = new B(ex.grpc, clientCredentials({ certPem: c.files.certPem, keyPem: c.files.keyPem }, { domain: 'exchange-x', caPem: cluster.pki.caPem }));
    const asA = new B(ex.grpc, clientCredentials({ certPem: daemons.get('prov-a')!.files.certPem, keyPem: daemons.get('prov-a')!.files.keyPem }, { domain: 'exchange-x', caPem: cluster.pki.caPem }));
    const relaySync = (cl: grpc.Client, req: object) => new Promise<grpc.ServiceError | null>((res) => (cl as unknown as { RelaySync(r: object, cb: (e: grpc.ServiceError | null) => void): void }).RelaySync(req, (e) => res(e)));
    try {
      for (const op of ['check-sync', 'redeploy']) {
        const err = await relaySync(asC2, { domain: 'prov-a', op, contract_json: o.contract_json });
        expect(err?.code).toBe(grpc.status.PERMISSION_DENIED);
        expect(err?.metadata.get('qb-code')[0]?.toString()).toBe('QB_EXCHANGE_NOT_BROKERED');
        expect(err?.details).toMatch(/brokered for prov-a; prov-c may not provision it/);
      }
      const badOp = await relaySync(asA, { domain: 'prov-c', op: 'activate', contract_json: o.contract_json });
      expect(badOp).toMatchObject({ code: grpc.status.INVALID_ARGUMENT, details: expect.stringContaining('BrokeredRelay.op of RelaySync must be check-sync or redeploy') });
      // prov-d's segment: not a party; not contactable by the exchange either way
      const notParty = await relaySync(asA, { domain: 'prov-d', op: 'check-sync', contract_json: o.contract_json });
      expect(notParty?.metadata.get('qb-code')[0]?.toString()).toBe('QB_PROVISION_NOT_A_PARTY');
    } finally {
      asC2.close();
      asA.close();
    }

    // terminate: removed from every router (prov-c's through the exchange), every booking released
    const t = await mgmt.get('prov-a')!.terminateOrder(o.id);
    expect(t.service_state).toBe('terminated');
    for (const r of [a1!, a2!, c1!, c2!]) expect(await policiesOn(r)).toEqual([]);
    expect(await usedBps('prov-a')).toBe(0);
    expect(await usedBps('prov-c')).toBe(0);
    expect(ex.logs.filter((l) => l.event === 'provisioning-relayed' && l.op === 'deactivate').map((l) => l.agreement_id)).toEqual([`${o.agreement_id}-boost-1`, o.agreement_id]);
  });

  test('exchange - a provider not under allow-providers is refused with QB_EXCHANGE_NOT_ALLOWED; nothing is held anywhere', async () => {
    const o = await mgmt.get('prov-d')!.createOrder(order({ from: 'prov-d/prov-d-site' }), 'acme', true);
    expect(o.state).toBe('failed');
    expect(o.error).toMatchObject({ code: 'QB_EXCHANGE_NOT_ALLOWED', message: expect.stringContaining('prov-d may not use exchange exchange-x') });
    for (const d of PROVIDERS) {
      expect(await held(d, o.agreement_id)).toEqual([]);
      expect(await usedBps(d)).toBe(0);
    }
    // a caller whose certificate is no configured peer's at all: the same code, before anything else
    const stranger = cluster.pki.domain('stranger');
    const B = loadBrokerageProto();
    const client = new B(daemons.get('exchange-x')!.grpc, clientCredentials({ certPem: stranger.certPem, keyPem: stranger.keyPem }, { domain: 'exchange-x', caPem: cluster.pki.caPem }));
    try {
      const err = await new Promise<grpc.ServiceError | null>((res) =>
        (client as unknown as { Broker(r: object, cb: (e: grpc.ServiceError | null) => void): void }).Broker({ agreement_id: 'agr-x', customer: 'acme', from: 'prov-a/prov-a-site', to: 'prov-c/prov-c-site', qos_class: 'EF', rate_mbps: 1, start_ms: Date.now(), end_ms: Date.now() + 60_000 }, (e) => res(e)),
      );
      expect(err?.code).toBe(grpc.status.PERMISSION_DENIED);
      expect(err?.metadata.get('qb-code')[0]?.toString()).toBe('QB_EXCHANGE_NOT_ALLOWED');
    } finally {
      client.close();
    }
  });

  test('exchange - an order whose path needs a provider the exchange may not contact is refused with QB_EXCHANGE_CONTACT_NOT_ALLOWED; nothing is held', async () => {
    const o = await mgmt.get('prov-a')!.createOrder(order({ to: 'prov-d/prov-d-site' }), 'acme', true);
    expect(o.state).toBe('failed');
    expect(o.error).toMatchObject({ code: 'QB_EXCHANGE_CONTACT_NOT_ALLOWED', message: expect.stringContaining('exchange exchange-x may not contact prov-d') });
    for (const d of PROVIDERS) {
      expect(await held(d, o.agreement_id)).toEqual([]);
      expect(await usedBps(d)).toBe(0);
    }
  });

  test('exchange - an order via an exchange the provider does not have fails with QB_EXCHANGE_UNKNOWN', async () => {
    const o = await mgmt.get('prov-a')!.createOrder(order({ via_exchange: 'exchange-y' }), 'acme', true);
    expect(o.state).toBe('failed');
    expect(o.error).toMatchObject({ code: 'QB_EXCHANGE_UNKNOWN', message: expect.stringContaining('its exchanges: exchange-x') });
  });

  test('exchange - an advertisement handed in is checked like any broker checks one: a forged one and another provider\'s are refused', async () => {
    const ex = daemons.get('exchange-x')!;
    const a = daemons.get('prov-a')!;
    const B = loadBrokerageProto();
    const client = new B(ex.grpc, clientCredentials({ certPem: a.files.certPem, keyPem: a.files.keyPem }, { domain: 'exchange-x', caPem: cluster.pki.caPem }));
    const advertise = (bytes: Buffer) =>
      new Promise<AdvertiseReplyMsg>((res, rej) => (client as unknown as { Advertise(r: object, cb: (e: grpc.ServiceError | null, r: AdvertiseReplyMsg) => void): void }).Advertise({ signed_advert: bytes, withdrawal: false }, (e, r) => (e ? rej(e) : res(r))));
    try {
      const held = (await ex.get('/v1/adverts')).adverts as Array<{ envelope: { origin: string; seq: number; body: unknown } }>;
      const mine = held.find((x) => x.envelope.origin === 'prov-a')!;
      // its sequence raised, prov-a's signature kept: refused and counted as any broker counts it
      const forged = structuredClone(mine);
      forged.envelope.seq += 1;
      const rejected = async () => metricValue(await ex.metricsText(), 'qos_broker_adverts_rejected_total', { reason: 'bad-signature' }) ?? 0;
      const before = await rejected();
      expect(await advertise(Buffer.from(JSON.stringify(forged)))).toMatchObject({ accepted: false, reason: 'bad-signature' });
      expect(await rejected()).toBe(before + 1);
      const theirs = held.find((x) => x.envelope.origin === 'prov-c')!;
      expect(await advertise(Buffer.from(JSON.stringify(theirs)))).toMatchObject({ accepted: false, reason: 'not-own-advert' });
      // the exchange kept prov-a's own, unchanged
      const after = ((await ex.get('/v1/adverts')).adverts as typeof held).find((x) => x.envelope.origin === 'prov-a')!;
      expect(after.envelope.seq).toBeGreaterThanOrEqual(mine.envelope.seq);
      expect(after.envelope.body).toEqual(mine.envelope.body);
    } finally {
      client.close();
    }
  });

  test('exchange - bad Broker and Relay calls of an allowed provider are INVALID_ARGUMENT naming the field; nothing is held', async () => {
    const a = daemons.get('prov-a')!;
    const B = loadBrokerageProto();
    const client = new B(daemons.get('exchange-x')!.grpc, clientCredentials({ certPem: a.files.certPem, keyPem: a.files.keyPem }, { domain: 'exchange-x', caPem: cluster.pki.caPem }));
    const call = (rpc: 'Broker' | 'Relay', req: object) =>
      new Promise<grpc.ServiceError | null>((res) => (client as unknown as Record<string, (r: object, cb: (e: grpc.ServiceError | null) => void) => void>)[rpc]!.call(client, req, (e) => res(e)));
    try {
      const now = Date.now();
      const broker = await call('Broker', { agreement_id: 'agr-bad-rate', customer: 'acme', from: 'prov-a/prov-a-site', to: 'prov-c/prov-c-site', qos_class: 'EF', rate_mbps: 0, start_ms: now, end_ms: now + 60_000 });
      expect(broker).toMatchObject({ code: grpc.status.INVALID_ARGUMENT, details: expect.stringContaining('BrokerRequest.rate_mbps must be > 0') });
      const relay = await call('Relay', { domain: 'prov-c', op: 'activate', contract_json: '' });
      expect(relay).toMatchObject({ code: grpc.status.INVALID_ARGUMENT, details: expect.stringContaining('BrokeredRelay.contract_json is empty') });
      const tampered = await call('Relay', { domain: 'prov-c', op: 'deactivate', contract_json: '{"body": 1}' });
      expect(tampered?.metadata.get('qb-code')[0]?.toString()).toBe('QB_CONTRACT_MALFORMED');
    } finally {
      client.close();
    }
    for (const d of PROVIDERS) {
      expect(await held(d, 'agr-bad-rate')).toEqual([]);
      expect(await usedBps(d)).toBe(0);
    }
  });

  test('exchange - the exchange keeps no state: restarted, it is handed every advertisement again at once, and removes a service it brokered before', async () => {
    const o = await mgmt.get('prov-a')!.createOrder(order(), 'acme', true);
    expect(o.state, JSON.stringify(o.error)).toBe('completed');
    const [c1, c2] = routers.get('prov-c')!;
    expect((await policiesOn(c2!)).length).toBe(1);
    const ex = daemons.get('exchange-x')!;
    ex.proc.kill('SIGTERM');
    expect(await ex.exited).toBe(0);
    const again = await cluster.start(ex.files, { host: ex.host, grpc: ex.grpc, admin: ex.admin, metrics: ex.metrics }, ex.config);
    daemons.set('exchange-x', again);
    // each provider registers again and hands in its newest advertisement then, well before its 100 s refresh
    await waitFor('the restarted exchange holds every provider advertisement', async () => ((await again.get('/v1/adverts')).adverts as unknown[]).length === 3, 15_000);
    // the contract is the proof: prov-c's segment is removed through the new process
    const t = await mgmt.get('prov-a')!.terminateOrder(o.id);
    expect(t.service_state).toBe('terminated');
    for (const r of [c1!, c2!]) expect(await policiesOn(r)).toEqual([]);
    expect(await usedBps('prov-c')).toBe(0);
    expect(again.logs.filter((l) => l.event === 'provisioning-relayed').map((l) => [l.domain, l.op])).toEqual([['prov-c', 'deactivate']]);
  });
});
