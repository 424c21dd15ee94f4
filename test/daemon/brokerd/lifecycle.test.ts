/**
 * The order path end to end through real daemons: three qos-brokerd
 * processes (dom-a -> dom-b -> dom-c, mutual TLS), each with two lab routers
 * (a real netconfd behind a real sshd on loopback, the lab_device model) in
 * its `devices:` config. Orders go in through dom-a's Management service (the
 * CLI's); the tests read the routers' running configs over NETCONF and the
 * bookings in every domain's Redis themselves.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { Redis } from 'ioredis';
import { Cluster, BROKERD, CLI, inventory, waitFor, type Daemon } from './harness.js';
import { NetconfClient } from '../../../drivers/netconf/client.js';
import { verifyContract, type SignedContract } from '../../../daemon/agreement/contract.js';
import { rawPublicKey } from '../../../daemon/peering/advert.js';
import { ManagementClient } from '../../../daemon/management/client.js';
import type { OrderMsg } from '../../../daemon/management/proto.js';
import { RedisResourceStore } from '../../../daemon/state/redis-store.js';
import { RecordStore } from '../../../daemon/state/records.js';
import { startNetconfDevice, type NetconfDevice } from '../../../lab/netconf-device.js';
import type { DomainFiles } from '../../../lab/pki.js';

const run = promisify(execFile);
const NS = 'urn:qos-broker:yang:lab-device';
const DOMAINS = ['dom-a', 'dom-b', 'dom-c'] as const;
type Dom = (typeof DOMAINS)[number];
const peering = { 'hold-time-s': 3, 'advert-lifetime-s': 30, 'poll-interval-ms': 500, 'backoff-initial-ms': 100, 'backoff-max-ms': 1000 };

const cluster = new Cluster();
const daemons = new Map<Dom, Daemon>();
const routers = new Map<Dom, NetconfDevice[]>();
const stores = new Map<Dom, RedisResourceStore>();
const files = new Map<Dom, DomainFiles>();
const addrs = new Map<Dom, { host: string; grpc: string; admin: string; metrics: string }>();
const configs = new Map<Dom, Record<string, unknown>>();
let redis: Redis;
let mgmt: ManagementClient;

const neighbours: Record<Dom, string[]> = { 'dom-a': ['dom-b'], 'dom-b': ['dom-a', 'dom-c'], 'dom-c': ['dom-b'] };

/** r1 at border b1 (the site, eth1; core eth2), r2 at b2 (core eth2; one peer interface per neighbour, eth3...). */
function devicesOf(d: Dom, peerIf: (n: string, i: number) => string = (_n, i) => `eth${3 + i}`): Record<string, unknown>[] {
  const [r1, r2] = routers.get(d)!;
  const access = (r: NetconfDevice) => ({ host: r.host, port: r.port, username: r.username, 'key-file': r.privateKeyFile, 'known-hosts-file': r.knownHostsFile, 'hello-settle-ms': 20, 'confirm-timeout-s': 30 });
  return [
    { name: `${d}-r1`, platform: 'lab_device', border: 'b1', ...access(r1!), interfaces: [{ name: 'eth1', role: 'customer', site: `${d}-site` }, { name: 'eth2', role: 'core' }] },
    { name: `${d}-r2`, platform: 'lab_device', border: 'b2', ...access(r2!), interfaces: [{ name: 'eth2', role: 'core' }, ...neighbours[d].map((n, i) => ({ name: peerIf(n, i), role: 'peer', 'peer-domain': n }))] },
  ];
}

async function onRouter<T>(r: NetconfDevice, fn: (c: NetconfClient) => Promise<T>): Promise<T> {
  const c = await NetconfClient.connect({ host: r.host, port: r.port, username: r.username, privateKeyFile: r.privateKeyFile, knownHostsFile: r.knownHostsFile, helloSettleMs: 20 });
  try {
    return await fn(c);
  } finally {
    await c.close();
  }
}
const running = (r: NetconfDevice) => onRouter(r, (c) => c.getConfig({}));
const allRunning = async () => Object.fromEntries(await Promise.all([...routers].flatMap(([d, rs]) => rs.map(async (r, i) => [`${d}-r${i + 1}`, await running(r)] as const))));

/** The lab_device policies on a router: name -> committed rate and interface. */
async function policiesOn(r: NetconfDevice): Promise<Map<string, { rate: number; iface: string }>> {
  const xml = await onRouter(r, (c) => c.getConfig({ filter: { type: 'subtree', xml: `<device xmlns="${NS}"><qos/></device>` } }));
  const out = new Map<string, { rate: number; iface: string }>();
  for (const m of xml.matchAll(/<policy>([\s\S]*?)<\/policy>/g)) {
    const leaf = (k: string) => new RegExp(`<${k}>([^<]*)</${k}>`).exec(m[1]!)?.[1];
    out.set(leaf('name')!, { rate: Number(leaf('committed-rate-kbps')), iface: leaf('interface')! });
  }
  return out;
}

/** Booked (or held) bit/s on every link of a domain now. */
async function usedBps(d: Dom): Promise<number> {
  return (await stores.get(d)!.utilisation()).reduce((s, u) => s + u.usedBps, 0);
}

async function startDomain(d: Dom): Promise<Daemon> {
  const daemon = await cluster.start(files.get(d)!, addrs.get(d)!, configs.get(d)!);
  daemons.set(d, daemon);
  return daemon;
}

async function settled(id: string, ok: (o: OrderMsg) => boolean, what: string, timeoutMs = 30_000): Promise<OrderMsg> {
  let last: OrderMsg | undefined;
  await waitFor(what, async () => ok((last = await mgmt.getOrder(id))), timeoutMs).catch((err: Error) => {
    throw new Error(`${err.message}; last: ${JSON.stringify(last && { state: last.state, service: last.service_state, plan: last.plan, error: last.error })}`);
  });
  return last!;
}

const spec = (over: Partial<{ rate_mbps: number; duration_ms: number; start_ms: number }> = {}) => ({ from: 'dom-a/dom-a-site', to: 'dom-c/dom-c-site', qos_class: 'EF', rate_mbps: 10, duration_ms: 3_600_000, max_latency_ms: 30, ...over });

beforeAll(async () => {
  await cluster.init();
  redis = new Redis({ path: cluster.redis.server.socketPath });
  const ca = cluster.pki.caCert;
  for (const d of DOMAINS) {
    files.set(d, cluster.pki.domain(d));
    addrs.set(d, await cluster.allocate());
    stores.set(d, new RedisResourceStore({ domain: d, redis }));
  }
  const started = await Promise.allSettled(DOMAINS.flatMap(() => [startNetconfDevice(), startNetconfDevice()]));
  const devs = started.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  DOMAINS.forEach((d, i) => routers.set(d, devs.slice(2 * i, 2 * i + 2)));
  const bad = started.find((r) => r.status === 'rejected') as PromiseRejectedResult | undefined;
  if (bad) throw bad.reason;
  // every router knows the interfaces its devices entry names (the policy's interface is a leafref)
  await Promise.all(devs.map((r) => onRouter(r, async (c) => {
    await c.editConfig({ config: `<device xmlns="${NS}"><interfaces>${['eth1', 'eth2', 'eth3', 'eth4'].map((n) => `<interface><name>${n}</name><speed-mbps>1000</speed-mbps></interface>`).join('')}</interfaces></device>` });
    await c.commit();
  })));
  const peer = (n: Dom, dial: boolean) => ({ 'domain-id': n, 'ca-file': ca, ...(dial ? { address: addrs.get(n)!.grpc } : {}) });
  configs.set('dom-c', { role: 'provider', peering, peers: [peer('dom-a', false), peer('dom-b', false)], inventory: inventory('dom-c', ['dom-b']), devices: devicesOf('dom-c') });
  configs.set('dom-b', { role: 'provider', peering, peers: [peer('dom-a', false), peer('dom-c', true)], inventory: inventory('dom-b', ['dom-a', 'dom-c']), devices: devicesOf('dom-b') });
  configs.set('dom-a', { role: 'provider', peering, peers: [peer('dom-b', true), peer('dom-c', true)], inventory: inventory('dom-a', ['dom-b']), devices: devicesOf('dom-a'), agreement: { 'hold-ttl-ms': 10_000, 'call-timeout-ms': 3000 } });
  for (const d of ['dom-c', 'dom-b', 'dom-a'] as const) await startDomain(d);
  mgmt = new ManagementClient(`unix:${(daemons.get('dom-a')!.config['data-dir'] as string)}/management.sock`);
  await waitFor('dom-a established with dom-b and dom-c', async () => ((await daemons.get('dom-a')!.get('/v1/peers')).peers as { state: string }[]).every((p) => p.state === 'established'));
  for (const d of DOMAINS) await waitFor(`${d} holds all three adverts`, async () => ((await daemons.get(d)!.get('/v1/adverts')).adverts as unknown[]).length === 3);
}, 120_000);

afterAll(async () => {
  mgmt?.close();
  for (const s of stores.values()) await s.close().catch(() => {});
  redis?.disconnect();
  await cluster.stopAll();
  await Promise.all([...routers.values()].flat().map((r) => r.stop()));
});

describe.sequential('lifecycle', () => {
  test('lifecycle - an order becomes a service active on every router of the path; the contract verifies; the plan is complete', async () => {
    const before = await allRunning();
    const o = await mgmt.createOrder(spec(), 'acme', true);
    expect(o.state, JSON.stringify(o.error)).toBe('completed');
    expect(o.service_state).toBe('active');
    expect(o.domains).toEqual(['dom-a', 'dom-b', 'dom-c']);
    const contract = JSON.parse(o.contract_json) as SignedContract;
    const keys = Object.fromEntries(DOMAINS.map((d) => [d, rawPublicKey(readFileSync(files.get(d)!.advertKey, 'utf8'))]));
    expect(verifyContract(contract, keys).signedBy.sort()).toEqual(['dom-a', 'dom-b', 'dom-c']);
    // the per-step plan: agreed here, provisioned internally here and externally in the other two, each with times
    expect(o.plan.map((s) => [s.step, s.domain, s.where, s.state])).toEqual([
      ['agree', 'dom-a', 'internal', 'completed'],
      ['provision', 'dom-a', 'internal', 'completed'],
      ['provision', 'dom-b', 'external', 'completed'],
      ['provision', 'dom-c', 'external', 'completed'],
    ]);
    for (const s of o.plan) expect(Date.parse(s.finished)).toBeGreaterThanOrEqual(Date.parse(s.started));
    expect(o.history.map((h) => h.state)).toEqual(expect.arrayContaining(['acknowledged', 'inProgress', 'completed']));
    // exactly the rendered policy on each router: the egress towards the next domain (or the site) and the core side of the ingress
    const id = (d: string, k: number) => `${o.agreement_id}-${d}-${k}`;
    const expected: Record<string, Array<[string, string]>> = {
      'dom-a-r1': [[id('dom-a', 1), 'eth2']],
      'dom-a-r2': [[id('dom-a', 0), 'eth3']],
      'dom-b-r1': [[id('dom-b', 3), 'eth2']],
      'dom-b-r2': [[id('dom-b', 2), 'eth4']],
      'dom-c-r1': [[id('dom-c', 4), 'eth1']],
      'dom-c-r2': [],
    };
    for (const [d, rs] of routers) {
      for (const [i, r] of rs.entries()) {
        const got = await policiesOn(r);
        const want = expected[`${d}-r${i + 1}`]!;
        expect([...got.entries()].map(([n, p]) => [n, p.iface, p.rate]), `${d}-r${i + 1}`).toEqual(want.map(([n, iface]) => [n, iface, 10_000]));
      }
    }
    // the outbox holds every state change, in order
    const events = (await new RecordStore({ redis, domain: 'dom-a' }).outbox()).filter((e) => e.recordId === o.id).map((e) => e.state);
    expect(events[0]).toBe('acknowledged');
    expect(events.at(-1)).toBe('completed');
    // dom-b books its transit and its link to dom-c
    const baseUsed = await usedBps('dom-b');
    expect(baseUsed).toBe(2 * 10e6);
    // the CLI sees the same order through the same service
    const shown = await run(process.execPath, [CLI, 'order', 'get', o.id, '--management', mgmt.address]);
    expect(shown.stdout).toContain(`order ${o.id} (acme): completed; service ${o.service_id} active at 10 Mbit/s EF`);
    const sync = await mgmt.checkSync(o.id);
    expect(sync).toMatchObject({ in_sync: true });
    expect(sync.devices.map((d) => d.device).sort()).toEqual(['dom-a-r1', 'dom-a-r2']);

    // a boost for a short while: 20 Mbit/s on every router, then back to 10 on its own
    const until = Date.now() + 4000;
    const boosted = await mgmt.modifyOrder(o.id, 20, 4000);
    expect(boosted).toMatchObject({ rate_mbps: 20, boost: { state: 'active', rate_mbps: 20 } });
    expect([...(await policiesOn(routers.get("dom-b")![1]!)).entries()].map(([n, p]) => [n, p.rate])).toEqual([[id("dom-b", 2), 20_000]]);
    expect(await usedBps('dom-b')).toBe(2 * baseUsed);
    const reverted = await settled(o.id, (x) => x.boost?.state === 'reverted', 'the boost to revert on its own');
    expect(Date.now()).toBeGreaterThanOrEqual(until);
    expect(reverted.rate_mbps).toBe(10);
    for (const rs of routers.values()) for (const r of rs) for (const p of (await policiesOn(r)).values()) expect(p.rate).toBe(10_000);
    expect(await usedBps('dom-b')).toBe(baseUsed);

    // terminate: every router as before the order, no booking left anywhere
    const t = await mgmt.terminateOrder(o.id);
    expect(t.service_state).toBe('terminated');
    expect(t.final_amount_minor).toBeGreaterThanOrEqual(0);
    expect(await allRunning()).toEqual(before);
    for (const d of DOMAINS) expect(await usedBps(d), d).toBe(0);
    // a terminated service cannot be modified or terminated again
    await expect(mgmt.modifyOrder(o.id, 30, 1000)).rejects.toMatchObject({ code: 'QB_ORDER_NOT_ACTIVE' });
    await expect(mgmt.terminateOrder(o.id)).rejects.toMatchObject({ code: 'QB_ORDER_NOT_ACTIVE' });
  }, 90_000);

  test('lifecycle - a transit router that refuses its config (a real rpc-error) fails the order with its domain and device; every domain rolls back', async () => {
    const before = await allRunning();
    // dom-b's r2 now names a peer interface its router does not have: netconfd refuses the leafref
    const b = daemons.get('dom-b')!;
    const reloaded = b.logs.filter((l) => l.msg === 'config reloaded').length;
    b.reload((cfg) => (cfg.devices = devicesOf('dom-b', (_n, i) => `eth${7 + i}`)));
    await waitFor('dom-b to reload', () => b.logs.filter((l) => l.msg === 'config reloaded').length > reloaded);
    try {
      const o = await mgmt.createOrder(spec(), 'acme', true);
      expect(o.state).toBe('failed');
      expect(o.error, JSON.stringify(o.error)).toMatchObject({ domain: 'dom-b', device: 'dom-b-r2' });
      expect(o.error!.message).toMatch(/rpc-error data-missing .*interface: required value instance not found/);
      expect(o.plan.find((s) => s.step === 'provision' && s.domain === 'dom-b')).toMatchObject({ state: 'failed', where: 'external' });
      expect(o.plan.filter((s) => s.step === 'remove').map((s) => [s.domain, s.state])).toEqual(DOMAINS.map((d) => [d, 'completed']));
      expect(await allRunning()).toEqual(before);
      for (const d of DOMAINS) expect(await usedBps(d), d).toBe(0);
    } finally {
      const n = b.logs.filter((l) => l.msg === 'config reloaded').length;
      b.reload((cfg) => (cfg.devices = devicesOf('dom-b')));
      await waitFor('dom-b to reload', () => b.logs.filter((l) => l.msg === 'config reloaded').length > n);
    }
  }, 60_000);

  test('lifecycle - bad management calls are typed errors naming the field; nothing is stored', async () => {
    const n = (await mgmt.listOrders()).length;
    await expect(mgmt.createOrder(spec({ rate_mbps: -5 }), 'acme', true)).rejects.toMatchObject({ code: 'QB_INVALID_ARGUMENT', message: expect.stringMatching(/^rateMbps must be/) });
    await expect(mgmt.createOrder({ ...spec(), from: 'dom-a' }, 'acme', true)).rejects.toMatchObject({ code: 'QB_INVALID_ARGUMENT', message: expect.stringMatching(/^from must be DOMAIN\/SITE/) });
    await expect(mgmt.createOrder(spec({ duration_ms: 0 }), 'acme', true)).rejects.toMatchObject({ code: 'QB_INVALID_ARGUMENT', message: expect.stringMatching(/^durationMs/) });
    await expect(mgmt.createOrder(spec(), 'bad customer!', true)).rejects.toMatchObject({ code: 'QB_INVALID_ARGUMENT', message: expect.stringMatching(/^customer/) });
    await expect(mgmt.getOrder('ord-00000000-0000-0000-0000-000000000000')).rejects.toMatchObject({ code: 'QB_ORDER_NOT_FOUND' });
    await expect(mgmt.getOrder('nonsense')).rejects.toMatchObject({ code: 'QB_INVALID_ARGUMENT', message: expect.stringMatching(/^id must be/) });
    await expect(mgmt.listOrders({ state: 'done' })).rejects.toMatchObject({ code: 'QB_INVALID_ARGUMENT', message: expect.stringMatching(/^state must be/) });
    expect((await mgmt.listOrders()).length).toBe(n);
    // another customer's order is as absent as one that does not exist
    const [first] = await mgmt.listOrders({ customer: 'acme' });
    await expect(mgmt.getOrder(first!.id, 'globex')).rejects.toMatchObject({ code: 'QB_ORDER_NOT_FOUND' });
    // a devices entry whose key file is missing: --check names the field
    const cfg = structuredClone(configs.get('dom-a')!);
    (cfg.devices as Record<string, unknown>[])[0]!['key-file'] = '/nonexistent/key';
    const { writeFileSync } = await import('node:fs');
    const { stringify } = await import('yaml');
    const file = `${cluster.dir}/bad-devices.yaml`;
    writeFileSync(file, stringify({ ...daemons.get('dom-a')!.config, ...cfg }));
    const e = await run(process.execPath, [BROKERD, '--config', file, '--check']).catch((x: { code: number; stderr: string }) => x);
    expect(e).toMatchObject({ code: 2, stderr: expect.stringContaining('devices[0].key-file: cannot read the SSH private key of device dom-a-r1 /nonexistent/key') });
  }, 30_000);

  test('lifecycle - the originator killed (SIGKILL) while the others apply: after its restart the order ends active or cleanly failed', async () => {
    const before = await allRunning();
    const a = daemons.get('dom-a')!;
    const o = await mgmt.createOrder(spec(), 'acme', false);
    // provisioning has started somewhere: kill the originator there and then
    await waitFor('provisioning to start', async () => (await mgmt.getOrder(o.id)).service_state === 'inactive' || (await mgmt.getOrder(o.id)).state === 'completed', 20_000);
    a.proc.kill('SIGKILL');
    await a.exited;
    mgmt.close();
    await startDomain('dom-a');
    mgmt = new ManagementClient(mgmt.address);
    const done = await settled(o.id, (x) => x.state === 'completed' || x.state === 'failed', 'the order to settle after the restart');
    if (done.state === 'completed') {
      expect((await mgmt.checkSync(o.id)).in_sync).toBe(true);
      for (const rs of routers.values()) for (const r of rs) for (const p of (await policiesOn(r)).values()) expect(p.rate).toBe(10_000);
      await mgmt.terminateOrder(o.id);
    }
    expect(await allRunning()).toEqual(before);
    for (const d of DOMAINS) expect(await usedBps(d), d).toBe(0);
  }, 90_000);

  test('lifecycle - a service whose end passed while its originator was down is removed when it starts again', async () => {
    const before = await allRunning();
    const o = await mgmt.createOrder(spec({ duration_ms: 6000 }), 'acme', true);
    expect(o.state, JSON.stringify(o.error)).toBe('completed');
    const end = o.service.start_ms + o.service.duration_ms;
    const a = daemons.get('dom-a')!;
    a.proc.kill('SIGTERM');
    await a.exited;
    mgmt.close();
    // down while the end passes: nobody removes the service meanwhile
    await new Promise((r) => setTimeout(r, Math.max(0, end - Date.now()) + 500));
    expect((await policiesOn(routers.get('dom-b')![1]!)).size).toBe(1);
    await startDomain('dom-a');
    mgmt = new ManagementClient(mgmt.address);
    const t = await settled(o.id, (x) => x.service_state === 'terminated', 'the passed end to be acted on');
    expect(t.history.at(-1)!.reason).toBe('the service window ended');
    expect(await allRunning()).toEqual(before);
    for (const d of DOMAINS) expect(await usedBps(d), d).toBe(0);
  }, 60_000);
});
