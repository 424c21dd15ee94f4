/**
 * Three qos-brokerd processes on loopback in a line dom-a <-> dom-b <-> dom-c
 * (mutual TLS, one redis-server), plus an in-process test peer of dom-a that
 * injects forged, replayed and expired advertisements.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import { Cluster, CLI, inventory, metricValue, waitFor, type Daemon } from './harness.js';
import { loadProtos, type PeerFrame } from '../../../daemon/peering/proto.js';
import { clientCredentials } from '../../../daemon/peering/tls.js';
import { rawPublicKey, signAdvert, type SignedAdvert } from '../../../daemon/peering/advert.js';
import { RedisResourceStore } from '../../../daemon/state/redis-store.js';
import type { DomainAdvertisement } from '../../../daemon/topology/types.js';

const run = promisify(execFile);
const cluster = new Cluster();
let a: Daemon, b: Daemon, c: Daemon;
const peering = { 'hold-time-s': 3, 'advert-lifetime-s': 4, 'poll-interval-ms': 200, 'readvertise-min-interval-ms': 200, 'backoff-initial-ms': 100, 'backoff-max-ms': 1000 };

type Ad = SignedAdvert<DomainAdvertisement>;
const adverts = async (d: Daemon) => ((await d.get('/v1/adverts')).adverts as Ad[]);
const origins = async (d: Daemon) => (await adverts(d)).map((x) => x.envelope.origin);

beforeAll(async () => {
  await cluster.init();
  const pki = cluster.pki;
  const fa = pki.domain('dom-a');
  const fb = pki.domain('dom-b');
  const fc = pki.domain('dom-c');
  const ft = pki.domain('dom-t');
  cluster['testPeer'] = ft;
  const [xa, xb, xc] = [await cluster.allocate(), await cluster.allocate(), await cluster.allocate()];
  const ca = pki.caCert;
  a = await cluster.start(fa, xa, {
    role: 'provider',
    peering,
    peers: [{ 'domain-id': 'dom-b', 'ca-file': ca }, { 'domain-id': 'dom-t', 'ca-file': ca }],
    'origin-keys': [{ 'domain-id': 'dom-c', 'public-key': rawPublicKey(fc.advertKeyPem) }],
    inventory: inventory('dom-a', ['dom-b']),
  });
  c = await cluster.start(fc, xc, {
    role: 'provider',
    peering,
    peers: [{ 'domain-id': 'dom-b', 'ca-file': ca }, { 'domain-id': 'dom-a', 'ca-file': ca }],
    'origin-keys': [{ 'domain-id': 'dom-a', 'public-key': rawPublicKey(fa.advertKeyPem) }],
    inventory: inventory('dom-c', ['dom-b']),
  });
  b = await cluster.start(fb, xb, {
    role: 'provider',
    peering,
    peers: [
      { 'domain-id': 'dom-a', 'ca-file': ca, address: a.grpc },
      { 'domain-id': 'dom-c', 'ca-file': ca, address: c.grpc },
    ],
    inventory: inventory('dom-b', ['dom-a', 'dom-c']),
  });
});

afterAll(async () => {
  await cluster.stopAll();
});

describe('qos-brokerd: three daemons on loopback', () => {
  test('brokerd - the three converge on each other\'s advertisements across two hops', async () => {
    for (const d of [a, b, c]) await waitFor(`${d.domain} holds all three`, async () => (await origins(d)).length === 3);
    expect(await origins(a)).toEqual(['dom-a', 'dom-b', 'dom-c']);
    const peers = (await b.get('/v1/peers')).peers as { domain: string; state: string; direction: string }[];
    expect(peers.map((p) => [p.domain, p.state, p.direction])).toEqual([
      ['dom-a', 'established', 'outbound'],
      ['dom-c', 'established', 'outbound'],
    ]);
    const { stdout } = await run(process.execPath, [CLI, 'peers', '--management', `unix:${String(b.config['data-dir'])}/management.sock`]);
    expect(stdout).toMatch(/dom-a\s+established\s+outbound/);
    const json = JSON.parse((await run(process.execPath, [CLI, 'domains', '--management', `unix:${String(a.config['data-dir'])}/management.sock`, '--json'])).stdout) as { domains: { domain: string; keySource: string }[] };
    expect(json.domains.map((d) => [d.domain, d.keySource])).toEqual([
      ['dom-a', 'self'],
      ['dom-b', 'peer-open'],
      ['dom-c', 'config'],
    ]);
    const text = await c.metricsText();
    expect(metricValue(text, 'qos_broker_peers', { state: 'established' })).toBe(1);
    expect(metricValue(text, 'qos_broker_adverts_held')).toBe(3);
  });

  test('brokerd - a capacity change at dom-a reaches dom-c', async () => {
    const store = new RedisResourceStore({ domain: 'dom-a', redis: cluster.redis.client() });
    const now = Date.now();
    const r = await store.reserve({ id: 'test-60m', links: ['dom-a-core'], cls: 'EF', rateBps: 60_000_000, start: now, end: now + 180_000 });
    expect(r.admitted).toBe(true);
    const efAt = async (d: Daemon) => (await adverts(d)).find((x) => x.envelope.origin === 'dom-a')?.envelope.body.transits[0]?.classes.EF?.availableMbps;
    await waitFor('dom-c sees 40 Mbit/s left on dom-a', async () => (await efAt(c)) === 40);
    expect(await efAt(b)).toBe(40);
    const text = await a.metricsText();
    expect(metricValue(text, 'qos_broker_link_utilisation_ratio', { link: 'dom-a-core', class: 'EF' })).toBeCloseTo(0.6, 5);
    expect(metricValue(text, 'qos_broker_link_capacity_bytes_per_second', { link: 'dom-a-core', class: 'EF' })).toBe(100_000_000 / 8);
    expect(metricValue(text, 'qos_broker_redis_duration_seconds_count', { op: 'utilisation' })).toBeGreaterThan(0);
  });

  test('brokerd - forged, replayed and expired advertisements from a peer are rejected, counted, and change nothing', async () => {
    const ft = cluster['testPeer'] as ReturnType<typeof cluster.pki.domain>;
    const { peering: Peering } = loadProtos();
    const client = new Peering(a.grpc, clientCredentials({ certPem: ft.certPem, keyPem: ft.keyPem }, { domain: 'dom-a', caPem: cluster.pki.caPem }));
    const call = (client as unknown as { Session(): grpc.ClientDuplexStream<PeerFrame, PeerFrame> }).Session();
    const received: PeerFrame[] = [];
    call.on('data', (f: PeerFrame) => received.push(f));
    call.on('error', () => {});
    try {
      call.write({ open: { domain_id: 'dom-t', broker_id: 't-1', public_key: rawPublicKey(ft.advertKeyPem), capabilities: [], hold_time_s: 30 } });
      await waitFor('Open and the table dump', () => received.filter((f) => f.advertisement).length >= 3);
      const dump = received.filter((f) => f.advertisement).map((f) => JSON.parse(Buffer.from(f.advertisement!.signed_advert).toString()) as Ad);
      const oldA = dump.find((x) => x.envelope.origin === 'dom-a')!;
      const heldB = dump.find((x) => x.envelope.origin === 'dom-b')!;
      // wait until dom-a has re-advertised (refresh), so oldA is a replay of an older sequence
      await waitFor('a newer dom-a advert', async () => (await adverts(a)).find((x) => x.envelope.origin === 'dom-a')!.envelope.seq > oldA.envelope.seq);
      const before = await a.metricsText();
      const count = (t: string, reason: string) => metricValue(t, 'qos_broker_adverts_rejected_total', { reason }) ?? 0;
      const forged = { ...heldB, envelope: { ...heldB.envelope, body: { ...heldB.envelope.body, prices: { currency: 'EUR', perMbpsHour: { EF: 0 } } } } };
      const now = Date.now();
      const expired = signAdvert({ origin: 'dom-t', seq: 5, issuedAt: now - 60_000, expiresAt: now - 30_000, body: { ...heldB.envelope.body, origin: 'dom-t' } }, ft.advertKeyPem);
      for (const x of [forged, oldA, expired]) call.write({ advertisement: { signed_advert: Buffer.from(JSON.stringify(x)) } });
      await waitFor('three rejection notices', () => received.filter((f) => f.notification?.code === 'advert-rejected').length >= 3);
      const reasons = received.filter((f) => f.notification).map((f) => f.notification!.reason);
      expect(reasons).toEqual(['bad-signature', 'older-sequence', 'expired']);
      const after = await a.metricsText();
      expect(count(after, 'bad-signature') - count(before, 'bad-signature')).toBe(1);
      expect(count(after, 'older-sequence') - count(before, 'older-sequence')).toBe(1);
      expect(count(after, 'expired') - count(before, 'expired')).toBe(1);
      // nothing else was torn down: dom-a still holds every origin with the genuine dom-b advert, its sessions are up
      const held = await adverts(a);
      expect(held.map((x) => x.envelope.origin)).toEqual(['dom-a', 'dom-b', 'dom-c']);
      expect(held.find((x) => x.envelope.origin === 'dom-b')!.envelope.body.prices.perMbpsHour.EF).toBe(0.5);
      const peers = (await a.get('/v1/peers')).peers as { domain: string; state: string }[];
      expect(peers.map((p) => p.state)).toEqual(['established', 'established']);
    } finally {
      call.end();
      client.close();
    }
  });

  test('brokerd - SIGHUP adds a peer without restart', async () => {
    const pid = a.proc.pid;
    a.reload((cfg) => {
      (cfg.peers as Record<string, unknown>[]).push({ 'domain-id': 'dom-c', 'ca-file': cluster.pki.caCert, address: c.grpc });
    });
    await waitFor('dom-a peers with dom-c', async () => ((await a.get('/v1/peers')).peers as { domain: string; state: string }[]).some((p) => p.domain === 'dom-c' && p.state === 'established'));
    expect(a.logs.some((l) => l.msg === 'config reloaded' && JSON.stringify(l.peers_added) === '["dom-c"]')).toBe(true);
    expect(a.proc.pid).toBe(pid);
    // removing it again closes the session; dom-c's view of dom-a goes back to idle
    a.reload((cfg) => {
      cfg.peers = (cfg.peers as Record<string, unknown>[]).filter((p) => p['domain-id'] !== 'dom-c');
    });
    await waitFor('dom-c peer gone at dom-a', async () => !((await a.get('/v1/peers')).peers as { domain: string }[]).some((p) => p.domain === 'dom-c'));
    await waitFor('dom-c sees dom-a idle', async () => ((await c.get('/v1/peers')).peers as { domain: string; state: string }[]).find((p) => p.domain === 'dom-a')!.state !== 'established');
  });

  test('brokerd - killing dom-c makes the others age it out when its advertisement expires, not before', async () => {
    c.proc.kill('SIGKILL');
    await c.exited;
    // nothing from dom-c can refresh its advertisement now: each holds it until its expiry
    const expiry = async (d: Daemon) => (await adverts(d)).find((x) => x.envelope.origin === 'dom-c')?.envelope.expiresAt;
    const until = new Map<Daemon, number>();
    for (const d of [a, b]) {
      const e = await expiry(d);
      expect(e, `${d.domain} still holds dom-c right after the kill`).toBeGreaterThan(Date.now());
      until.set(d, e!);
    }
    for (const d of [a, b]) {
      let goneAt = 0;
      await waitFor(`${d.domain} ages out dom-c`, async () => {
        const held = (await origins(d)).includes('dom-c');
        if (!held) goneAt = Date.now();
        return !held;
      }, 15_000);
      // lower bound: not aged out before the advertisement expired (seen held until then);
      // upper bound: the waitFor's 15 s
      expect(goneAt, `${d.domain} aged out dom-c ${until.get(d)! - goneAt} ms before it expired`).toBeGreaterThanOrEqual(until.get(d)!);
    }
    await waitFor('dom-b sees dom-c down', async () => ((await b.get('/v1/peers')).peers as { domain: string; state: string }[]).find((p) => p.domain === 'dom-c')!.state !== 'established');
    expect(await origins(a)).toEqual(['dom-a', 'dom-b']);
    expect(metricValue(await a.metricsText(), 'qos_broker_adverts_aged_out_total')).toBeGreaterThanOrEqual(1);
  });

  test('brokerd - SIGTERM drains: dom-a withdraws at once and exits 0', async () => {
    a.proc.kill('SIGTERM');
    expect(await a.exited).toBe(0);
    await waitFor('dom-b drops dom-a', async () => !(await origins(b)).includes('dom-a'), 3000);
    const domains = (await b.get('/v1/domains')).domains as { domain: string; withdrawn: boolean }[];
    expect(domains.find((d) => d.domain === 'dom-a')!.withdrawn).toBe(true);
    expect(a.logs.at(-1)!.msg).toBe('qos-brokerd stopped');
    expect(JSON.stringify(a.logs)).not.toContain('PRIVATE KEY');
  });
});
