/**
 * `qos-broker demo`: the loopback demo on the embedded default network
 * (demo-network.ts), with nothing configured. Four providers, each with its
 * own signing key, its own resource store (one private redis-server, one
 * hash tag per domain) and a lab router (a real netconfd behind a real sshd
 * on 127.0.0.1). A customer of provider-x orders EF 10 Mbit/s from site-x
 * to site-z; the brokers:
 *   1. advertise: each provider signs its domain advertisement, the
 *      originator checks every signature and builds the multi-domain graph;
 *   2. agree: path computation, Quote, Reserve, Commit; every provider on
 *      the path signs the contract, which is then verified offline;
 *   3. provision: each provider designs its segment, renders it for its
 *      router and applies it with a confirmed commit, then verifies;
 *   4. tear down: policies removed (routers back as before), bookings
 *      released, everything stopped.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { NetconfClient } from '../../drivers/netconf/client.js';
import { AgreementCoordinator } from '../agreement/coordinator.js';
import { verifyContract } from '../agreement/contract.js';
import { LocalParticipant, seedCapacities } from '../agreement/participant.js';
import { AdvertTable, generateAdvertKeyPair, signAdvert } from '../peering/advert.js';
import { designSegment, provisionSegment, unprovisionSegment, type ManagedDevice, type ProvisionedPolicy } from '../provisioning/segment.js';
import { startEmbeddedRedis } from '../state/embedded-redis.js';
import { RedisResourceStore } from '../state/redis-store.js';
import { buildTopology } from '../topology/graph.js';
import type { DomainAdvertisement } from '../topology/types.js';
import { startNetconfDevice, type NetconfDevice } from '../../lab/netconf-device.js';
import { demoNetwork } from './demo-network.js';

const NS_LAB = 'urn:qos-broker:yang:lab-device';

export async function demoCommand(_argv: string[], out: (s: string) => void = (s) => process.stdout.write(s + '\n')): Promise<void> {
  const t0 = performance.now();
  const dir = mkdtempSync(join(tmpdir(), 'qb-demo-'));
  const cleanup: Array<() => Promise<unknown>> = [];
  try {
    const network = demoNetwork();
    const domains = network.map((a) => a.origin);
    out(`qos-broker demo: ${domains.length} providers on loopback (${domains.join(', ')})`);

    // 1. advertise: signed by each origin, checked by the originating broker
    const keys = new Map(domains.map((d) => [d, generateAdvertKeyPair()]));
    const table = new AdvertTable<DomainAdvertisement>({ originKeys: Object.fromEntries(domains.map((d) => [d, keys.get(d)!.publicKeyRaw])) });
    const now = Date.now();
    for (const ad of network) {
      const signed = signAdvert({ origin: ad.origin, seq: 1, issuedAt: now, expiresAt: now + 3_600_000, body: ad }, keys.get(ad.origin)!.privateKey);
      const d = table.offer(signed);
      if (!d.accepted) throw new Error(`advertisement of ${ad.origin} rejected: ${d.reason}`);
    }
    const forged = signAdvert({ origin: 'provider-y', seq: 2, issuedAt: now, expiresAt: now + 3_600_000, body: { ...network[1]!, prices: { currency: 'EUR', perMbpsHour: { EF: 0.0001 } } } }, keys.get('provider-w')!.privateKey);
    const refused = table.offer(forged);
    out(`advertisements: ${domains.length} accepted; a provider-y advertisement signed with provider-w's key: ${refused.accepted ? 'ACCEPTED (bug)' : `rejected (${refused.reason})`}`);
    const graph = buildTopology(table.entries().map((s) => s.envelope.body));

    // live state: one private redis-server, one store (hash tag) per provider
    const redis = await startEmbeddedRedis(join(dir, 'redis'), { log: () => {} });
    cleanup.push(() => redis.stop());
    const stores = new Map<string, RedisResourceStore>();
    for (const d of domains) {
      const store = new RedisResourceStore({ domain: d, redis: new Redis({ path: redis.socketPath }) });
      cleanup.push(() => store.close());
      await seedCapacities(store, graph);
      stores.set(d, store);
    }
    const participants = new Map(domains.map((d) => [d, new LocalParticipant(stores.get(d)!, keys.get(d)!.privateKey, () => graph)]));
    out(`live state: private redis-server (${redis.socketPath}), capacities of every link and class loaded`);

    // lab routers: one per provider, at the border where the X -> Z direction leaves the domain
    const routers = new Map<string, ManagedDevice>();
    const egressBorder: Record<string, string> = { 'provider-x': 'x2', 'provider-y': 'y2', 'provider-w': 'w2', 'provider-z': 'z2' };
    const started = await Promise.allSettled(domains.map((d) => startNetconfDevice({ stateDir: join(dir, `router-${d}`) })));
    for (const r of started) if (r.status === 'fulfilled') cleanup.push(() => r.value.stop());
    const failed = started.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
    const devs = started.map((r) => (r as PromiseFulfilledResult<NetconfDevice>).value);
    await Promise.all(domains.map((d, i) => bootstrapRouter(d, devs[i]!)));
    domains.forEach((d, i) => {
      const dev = devs[i]!;
      routers.set(d, {
        border: egressBorder[d]!,
        egressInterface: 'eth2',
        inventory: { name: `${d}-${egressBorder[d]}`, platform: 'lab_device', interfaces: [{ name: 'eth1', speedMbps: 1000 }, { name: 'eth2', speedMbps: 1000 }] },
        connection: { host: dev.host, port: dev.port, username: dev.username, privateKeyFile: dev.privateKeyFile, knownHostsFile: dev.knownHostsFile, helloSettleMs: 20 },
      });
    });
    out(`lab routers: ${devs.map((d, i) => `${domains[i]}-${egressBorder[domains[i]!]} at ${d.host}:${d.port}`).join(', ')}`);

    // 2. agree
    const start = Date.now() + 60_000;
    const coordinator = new AgreementCoordinator('provider-x', () => graph, (d) => participants.get(d));
    const order = { customer: 'acme-corp', from: { domain: 'provider-x', site: 'site-x' }, to: { domain: 'provider-z', site: 'site-z' }, qosClass: 'EF', rateMbps: 10, maxLatencyMs: 30, start, end: start + 2 * 3_600_000 };
    out(`order: ${order.customer} wants ${order.qosClass} ${order.rateMbps} Mbit/s site-x -> site-z, <= ${order.maxLatencyMs} ms, for 2 h`);
    for (const objective of ['cheapest', 'lowest-latency'] as const) {
      const agreement = await coordinator.agree({ ...order, objective });
      const c = agreement.contract;
      out(`  [${objective}] path ${agreement.path.domains.join(' > ')}: ${agreement.path.metrics.latencyMs.toFixed(1)} ms, jitter ${agreement.path.metrics.jitterMs.toFixed(1)} ms; ` +
        `quotes ${agreement.quotes.map((q) => `${q.domain} ${(q.priceMinor / 100).toFixed(2)}`).join(', ')} = ${(c.body.totalPriceMinor / 100).toFixed(2)} ${c.body.currency}`);
      const file = join(dir, `contract-${objective}.json`);
      writeFileSync(file, JSON.stringify(c, null, 2));
      const summary = verifyContract(JSON.parse(JSON.stringify(c)), Object.fromEntries(domains.map((d) => [d, keys.get(d)!.publicKeyRaw])));
      out(`  contract ${c.body.agreementId} signed by ${summary.signedBy.join(', ')}; verified offline against the providers' keys`);
      const tampered = JSON.parse(JSON.stringify(c));
      tampered.body.segments[0].priceMinor += 1;
      tampered.body.totalPriceMinor += 1;
      try {
        verifyContract(tampered);
        out('  tampered contract: ACCEPTED (bug)');
      } catch (err) {
        out(`  tampered copy refused: ${(err as Error).message}`);
      }

      // 3. provision each provider's segment on its router
      const provisioned: ProvisionedPolicy[] = [];
      const before = new Map<string, string>();
      for (const seg of c.body.segments) {
        const router = routers.get(seg.domain)!;
        before.set(seg.domain, await runningConfig(router));
        const done = await provisionSegment(designSegment(c.body, seg, [router]), [router]);
        provisioned.push(...done);
        out(`  provisioned ${seg.domain}: policy ${done[0]!.policy.serviceId} on ${router.inventory.name} ${router.egressInterface}, ` +
          `${done[0]!.policy.rates.committedKbps} kbit/s ${done[0]!.policy.trafficClass} (confirmed commit, verified)`);
      }

      // 4. tear down this service: every router's running config must be what it was
      await unprovisionSegment(provisioned);
      for (const seg of c.body.segments) {
        if ((await runningConfig(routers.get(seg.domain)!)) !== before.get(seg.domain)) throw new Error(`${seg.domain}'s router differs from before the service after removal`);
      }
      for (const p of new Set(agreement.path.domains)) await participants.get(p)!.abort(c.body.agreementId);
      // what is printed as released is read back: no store books anything in the service's window
      const [from, to] = [Date.parse(c.body.window.start), Date.parse(c.body.window.end)];
      for (const [d, store] of stores) {
        for (const cap of await store.capacities()) {
          for (const u of await store.usage(cap.link, cap.cls, from, to)) {
            if (u.usedBps !== 0) throw new Error(`${d} still books ${u.usedBps} bit/s of ${cap.cls} on ${cap.link} after the service was removed`);
          }
        }
      }
      out(`  service removed: running config of every router as before, bookings released`);
    }
    out(`demo done in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  } finally {
    for (const f of cleanup.reverse()) await f().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The lab router's interfaces (they exist before any policy refers to them). */
async function bootstrapRouter(domain: string, dev: NetconfDevice): Promise<void> {
  const c = await NetconfClient.connect({ host: dev.host, port: dev.port, username: dev.username, privateKeyFile: dev.privateKeyFile, knownHostsFile: dev.knownHostsFile, helloSettleMs: 20, device: domain });
  try {
    await c.editConfig({
      config: `<device xmlns="${NS_LAB}"><hostname>${domain}</hostname><interfaces><interface><name>eth1</name><speed-mbps>1000</speed-mbps></interface><interface><name>eth2</name><speed-mbps>1000</speed-mbps></interface></interfaces></device>`,
    });
    await c.commit();
  } finally {
    await c.close();
  }
}

/** The router's whole running config. */
async function runningConfig(router: ManagedDevice): Promise<string> {
  const c = await NetconfClient.connect({ ...router.connection, device: router.inventory.name });
  try {
    return await c.getConfig({});
  } finally {
    await c.close();
  }
}
