/**
 * `qos-broker demo [--keep]`: the product on the embedded default network
 * (demo-network.ts), with nothing configured. It starts one real qos-brokerd
 * process per provider, each with a config file written for the run, its
 * embedded redis-server, mTLS certificates and Ed25519 keys from the lab PKI,
 * and two lab routers (a real netconfd behind a real sshd on 127.0.0.1) in
 * its `devices:`. Then, as a user would with the CLI, it orders through
 * provider-x's Management service and prints what happens, every fact read
 * back before it is printed:
 *   1. advertisements: every provider holds every signed advertisement; a
 *      forged one, sent by the demo over a real peering session, is refused;
 *   2. orders (cheapest, fastest): path and prices, the signed contract
 *      (verified offline, a tampered copy refused naming the field), each
 *      domain's provisioning with its routers and the config they now hold,
 *      the per-step plan;
 *   3. a boost for a few seconds (routers at the higher rate, then back on
 *      their own), then terminate: routers as before, bookings zero.
 * It stops everything it started on success, failure or Ctrl-C, and says how
 * long each phase took; `--keep` leaves the providers running to explore with
 * the CLI and prints the commands.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import { Redis } from 'ioredis';
import { stringify } from 'yaml';
import { NetconfClient } from '../../drivers/netconf/client.js';
import { QosBrokerError } from '../../drivers/errors.js';
import { DemoError } from '../errors.js';
import { makePki, type DomainFiles } from '../../lab/pki.js';
import { freePorts, startNetconfDevice, type NetconfDevice } from '../../lab/netconf-device.js';
import { verifyContract, type SignedContract } from '../agreement/contract.js';
import { ManagementClient } from '../management/client.js';
import type { OrderMsg } from '../management/proto.js';
import { rawPublicKey, type SignedAdvert } from '../peering/advert.js';
import { loadProtos, type PeerFrame } from '../peering/proto.js';
import { clientCredentials } from '../peering/tls.js';
import { RedisResourceStore } from '../state/redis-store.js';
import type { ClassTable, DomainAdvertisement } from '../topology/types.js';
import { demoNetwork } from './demo-network.js';

const ROOT = resolve(fileURLToPath(import.meta.url), '../../..').replace(/\/dist$/, '');
const BROKERD = join(ROOT, 'dist', 'daemon', 'brokerd.js');
const CLI = join(ROOT, 'dist', 'daemon', 'cli', 'main.js');
const NS_LAB = 'urn:qos-broker:yang:lab-device';
/** The demo's own identity: a visiting broker that tries a forged advertisement. */
const VISITOR = 'demo-visitor';

interface Provider {
  domain: string;
  ad: DomainAdvertisement;
  files: DomainFiles;
  grpc: string;
  admin: string;
  metrics: string;
  dataDir: string;
  configFile: string;
  logFile: string;
  routers: Array<{ name: string; border: string; dev: NetconfDevice; interfaces: Array<{ name: string; role: string; site?: string; 'peer-domain'?: string }> }>;
  proc?: ChildProcess;
}

function classesYaml(t: ClassTable): Record<string, unknown> {
  return Object.fromEntries(Object.entries(t).map(([c, m]) => [c, { 'capacity-mbps': m.capacityMbps ?? m.availableMbps, 'latency-ms': m.latencyMs, 'jitter-ms': m.jitterMs, loss: m.loss }]));
}

/** The inventory section of a provider's config, from its entry of the demo network. */
function inventoryOf(ad: DomainAdvertisement): Record<string, unknown> {
  return {
    borders: ad.borders,
    sites: (ad.sites ?? []).map((s) => ({ id: s.id, borders: s.borders })),
    transits: ad.transits.map((t) => ({ id: `${t.from}-${t.to}`, from: t.from, to: t.to, bidirectional: t.bidirectional ?? false, classes: classesYaml(t.classes) })),
    links: ad.links.map((l) => ({ id: `${l.border}-${l.peerBorder}`, border: l.border, 'peer-domain': l.peerDomain, 'peer-border': l.peerBorder, classes: classesYaml(l.classes) })),
    prices: { currency: ad.prices.currency, 'per-mbps-hour': ad.prices.perMbpsHour },
  };
}

/** One lab router per border: the site on eth1, the core on eth2, one interface per peer domain from eth3. */
function routerPlan(ad: DomainAdvertisement): Array<{ border: string; interfaces: Provider['routers'][number]['interfaces'] }> {
  return ad.borders.map((b) => {
    const interfaces: Provider['routers'][number]['interfaces'] = [{ name: 'eth2', role: 'core' }];
    for (const s of ad.sites ?? []) if (s.borders.includes(b)) interfaces.push({ name: 'eth1', role: 'customer', site: s.id });
    ad.links.filter((l) => l.border === b).forEach((l, i) => interfaces.push({ name: `eth${3 + i}`, role: 'peer', 'peer-domain': l.peerDomain }));
    return { border: b, interfaces };
  });
}

async function onRouter<T>(dev: NetconfDevice, fn: (c: NetconfClient) => Promise<T>): Promise<T> {
  const c = await NetconfClient.connect({ host: dev.host, port: dev.port, username: dev.username, privateKeyFile: dev.privateKeyFile, knownHostsFile: dev.knownHostsFile, helloSettleMs: 20 });
  try {
    return await fn(c);
  } finally {
    await c.close();
  }
}

/** The policies a lab router holds: name, interface, committed rate (kbit/s). */
async function policiesOn(dev: NetconfDevice): Promise<Array<{ name: string; iface: string; kbps: number }>> {
  const xml = await onRouter(dev, (c) => c.getConfig({ filter: { type: 'subtree', xml: `<device xmlns="${NS_LAB}"><qos/></device>` } }));
  return [...xml.matchAll(/<policy>([\s\S]*?)<\/policy>/g)].map((m) => {
    const leaf = (k: string) => new RegExp(`<${k}>([^<]*)</${k}>`).exec(m[1]!)?.[1] ?? '';
    return { name: leaf('name'), iface: leaf('interface'), kbps: Number(leaf('committed-rate-kbps')) };
  });
}

async function until<T>(what: string, f: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await f().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > end) throw new DemoError('QB_DEMO_TIMEOUT', `the demo waited ${timeoutMs / 1000} s for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function getJson(addr: string, path: string): Promise<Record<string, unknown>> {
  return (await (await fetch(`http://${addr}${path}`)).json()) as Record<string, unknown>;
}

export async function demoCommand(argv: string[], out: (s: string) => void = (s) => process.stdout.write(s + '\n')): Promise<void> {
  const { values } = parseArgs({ args: argv, strict: true, options: { keep: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } } });
  if (values.help) return out('usage: qos-broker demo [--keep]\n  --keep  leave the providers running for the CLI; prints the commands and how to stop them');
  const keep = values.keep ?? false;
  const t0 = performance.now();
  let tPhase = t0;
  const phase = (name: string) => {
    const now = performance.now();
    out(`  (${name}: ${((now - tPhase) / 1000).toFixed(1)} s)`);
    tPhase = now;
  };
  const dir = mkdtempSync(join(tmpdir(), 'qb-demo-'));
  const cleanup: Array<() => Promise<unknown>> = [];
  const providers: Provider[] = [];
  let kept = false;
  const stopAll = async () => {
    if (kept) return;
    for (const f of cleanup.splice(0).reverse()) await f().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  };
  const onSignal = (sig: NodeJS.Signals) => {
    out(`\n${sig}: stopping everything the demo started`);
    void stopAll().finally(() => process.exit(sig === 'SIGINT' ? 130 : 143));
  };
  if (!keep) {
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
  }
  try {
    const network = demoNetwork();
    out(`qos-broker demo: ${network.length} providers, each a qos-brokerd process with its own redis-server and two lab routers (netconfd behind sshd on 127.0.0.1)`);
    const pki = makePki(dir);
    const visitor = pki.domain(VISITOR);
    const ports = await freePorts('127.0.0.1', network.length * 3);
    for (const [i, ad] of network.entries()) {
      const d = ad.origin;
      providers.push({ domain: d, ad, files: pki.domain(d), grpc: `127.0.0.1:${ports[3 * i]}`, admin: `127.0.0.1:${ports[3 * i + 1]}`, metrics: `127.0.0.1:${ports[3 * i + 2]}`, dataDir: join(dir, d), configFile: join(dir, `${d}.yaml`), logFile: join(dir, `${d}.log`), routers: [] });
    }
    // routers: one per border of every provider, all started at once
    const plans = providers.map((p) => routerPlan(p.ad));
    const started = await Promise.allSettled(plans.flatMap((plan, i) => plan.map((r) => startNetconfDevice({ stateDir: join(dir, 'routers', `${providers[i]!.domain}-${r.border}`), detached: keep }))));
    for (const r of started) if (r.status === 'fulfilled') cleanup.push(() => r.value.stop());
    const failed = started.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
    const devs = started.map((r) => (r as PromiseFulfilledResult<NetconfDevice>).value);
    let k = 0;
    providers.forEach((p, i) => plans[i]!.forEach((r) => p.routers.push({ name: `${p.domain}-${r.border}`, border: r.border, dev: devs[k++]!, interfaces: r.interfaces })));
    await Promise.all(providers.flatMap((p) => p.routers.map((r) => onRouter(r.dev, async (c) => {
      await c.editConfig({ config: `<device xmlns="${NS_LAB}"><hostname>${r.name}</hostname><interfaces>${['eth1', 'eth2', 'eth3', 'eth4'].map((n) => `<interface><name>${n}</name><speed-mbps>1000</speed-mbps></interface>`).join('')}</interfaces></device>` });
      await c.commit();
    }))));
    phase('routers up');

    // one config file per provider: peers are the neighbours (the originator also dials every domain it may agree with), origin keys for the others
    const x = providers[0]!;
    const neighbours = (p: Provider) => new Set(p.ad.links.map((l) => l.peerDomain));
    const pubOf = (p: Provider) => rawPublicKey(p.files.advertKeyPem);
    for (const p of providers) {
      const peers = providers.filter((q) => q !== p && (neighbours(p).has(q.domain) || p === x || q === x));
      const dials = (q: Provider) => p === x || (neighbours(p).has(q.domain) && p.domain < q.domain && q !== x);
      const cfg: Record<string, unknown> = {
        role: 'provider',
        'domain-id': p.domain,
        listen: p.grpc,
        'data-dir': p.dataDir,
        keys: { 'advert-key': p.files.advertKey, 'tls-cert': p.files.cert, 'tls-key': p.files.key },
        peering: { 'hold-time-s': 9, 'advert-lifetime-s': 300, 'poll-interval-ms': 500, 'backoff-initial-ms': 100, 'backoff-max-ms': 2000 },
        peers: [
          ...peers.map((q) => ({ 'domain-id': q.domain, 'ca-file': pki.caCert, 'advert-public-key': pubOf(q), ...(dials(q) ? { address: q.grpc } : {}) })),
          ...(p === x ? [{ 'domain-id': VISITOR, 'ca-file': pki.caCert }] : []),
        ],
        'origin-keys': providers.filter((q) => q !== p && !peers.includes(q)).map((q) => ({ 'domain-id': q.domain, 'public-key': pubOf(q) })),
        inventory: inventoryOf(p.ad),
        devices: p.routers.map((r) => ({ name: r.name, platform: 'lab_device', host: r.dev.host, port: r.dev.port, username: r.dev.username, 'key-file': r.dev.privateKeyFile, 'known-hosts-file': r.dev.knownHostsFile, border: r.border, 'hello-settle-ms': 20, interfaces: r.interfaces })),
        metrics: { listen: p.metrics },
        admin: { listen: p.admin },
      };
      writeFileSync(p.configFile, `# written by qos-broker demo for this run\n${stringify(cfg)}`);
    }
    // the daemons: real processes, their logs in files
    for (const p of providers) {
      const fd = openSync(p.logFile, 'a');
      const proc = spawn(process.execPath, [BROKERD, '--config', p.configFile], { stdio: ['ignore', fd, fd], detached: keep });
      closeSync(fd);
      p.proc = proc;
      if (keep) proc.unref();
      cleanup.push(async () => {
        if (proc.exitCode !== null || proc.signalCode !== null) return;
        const gone = new Promise((r) => proc.once('exit', r));
        proc.kill('SIGTERM');
        const t = setTimeout(() => proc.kill('SIGKILL'), 10_000);
        await gone;
        clearTimeout(t);
      });
    }
    for (const p of providers) {
      await until(`${p.domain} to start (log ${p.logFile})`, async () => {
        if (p.proc!.exitCode !== null) throw new DemoError('QB_DEMO_DAEMON_EXITED', `${p.domain} exited with ${p.proc!.exitCode}: see ${p.logFile}`);
        return (await getJson(p.admin, '/v1/status')).domain ? true : undefined;
      }).catch((err: unknown) => {
        if (p.proc!.exitCode !== null) throw new DemoError('QB_DEMO_DAEMON_EXITED', `${p.domain} exited with ${p.proc!.exitCode}: see ${p.logFile}`);
        throw err;
      });
    }
    for (const p of providers) {
      await until(`${p.domain} to hold every advertisement`, async () => (((await getJson(p.admin, '/v1/adverts')).adverts as unknown[]).length === providers.length ? true : undefined));
    }
    await until('provider-x to peer with every provider', async () => (((await getJson(x.admin, '/v1/peers')).peers as Array<{ domain: string; state: string }>).filter((q) => q.domain !== VISITOR).every((q) => q.state === 'established') ? true : undefined));
    out(`daemons: ${providers.map((p) => `${p.domain} (pid ${p.proc!.pid}, gRPC ${p.grpc})`).join(', ')}`);
    out(`advertisements: every provider holds all ${providers.length}, each signed by its origin and checked against the origin's key`);

    // a forged advertisement over a real peering session: provider-y's, with its price changed
    const rejected = await forgedAdvert(x, visitor, pki.caPem);
    out(`a forged provider-y advertisement (price changed, provider-y's signature kept) sent to provider-x by ${VISITOR}: refused (${rejected.reason}); qos_broker_adverts_rejected_total{reason="${rejected.reason}"} ${rejected.before} -> ${rejected.after}`);
    phase('daemons up and peered');

    const mgmt = new ManagementClient(`unix:${join(x.dataDir, 'management.sock')}`);
    cleanup.push(async () => mgmt.close());
    const before = new Map(await Promise.all(providers.flatMap((p) => p.routers.map(async (r) => [r.name, await onRouter(r.dev, (c) => c.getConfig({}))] as const))));
    const keys = Object.fromEntries(providers.map((p) => [p.domain, pubOf(p)]));
    const routerOf = new Map(providers.flatMap((p) => p.routers.map((r) => [r.name, r] as const)));
    const orders: OrderMsg[] = [];
    out('order: acme wants EF 10 Mbit/s from provider-x/site-x to provider-z/site-z within 30 ms for 2 h (qos-broker order create ...)');
    for (const objective of ['cheapest', 'lowest-latency']) {
      const o = await mgmt.createOrder({ from: 'provider-x/site-x', to: 'provider-z/site-z', qos_class: 'EF', rate_mbps: 10, max_latency_ms: 30, duration_ms: 2 * 3_600_000, objective }, 'acme', true);
      if (o.state !== 'completed') throw new DemoError('QB_DEMO_ORDER_FAILED', `the ${objective} order ended ${o.state}: ${o.error ? `${o.error.domain}: ${o.error.code}: ${o.error.message}` : 'no error given'}`);
      orders.push(o);
      const c = JSON.parse(o.contract_json) as SignedContract;
      out(`  [${objective}] order ${o.id}: ${o.state}, service ${o.service_state}; path ${o.domains.join(' > ')}; ${c.body.segments.map((s) => `${s.domain} ${(s.priceMinor / 100).toFixed(2)}`).join(' + ')} = ${(c.body.totalPriceMinor / 100).toFixed(2)} ${c.body.currency}`);
      const summary = verifyContract(JSON.parse(o.contract_json), keys);
      const file = join(dir, `contract-${objective}.json`);
      writeFileSync(file, JSON.stringify(c, null, 2));
      out(`    contract ${c.body.agreementId}: signed by ${summary.signedBy.join(', ')}; verified offline against the providers' keys`);
      const tampered = JSON.parse(o.contract_json) as SignedContract;
      tampered.body.segments[0]!.priceMinor += 1;
      tampered.body.totalPriceMinor += 1;
      try {
        verifyContract(tampered, keys);
        throw new DemoError('QB_DEMO_CHECK_FAILED', 'a tampered contract verified');
      } catch (err) {
        if ((err as QosBrokerError).code === 'QB_DEMO_CHECK_FAILED') throw err;
        out(`    a tampered copy is refused: ${(err as Error).message}`);
      }
      for (const d of o.domains) {
        const p = providers.find((q) => q.domain === d)!;
        const held = [];
        for (const r of p.routers) for (const pol of await policiesOn(r.dev)) if (pol.name.startsWith(o.agreement_id)) held.push(`${r.name} ${pol.iface} ${pol.kbps} kbit/s`);
        const step = o.plan.find((s) => s.step === 'provision' && s.domain === d)!;
        out(`    ${d} (${step.where}): ${step.state} in ${((Date.parse(step.finished) - Date.parse(step.started)) / 1000).toFixed(2)} s; routers now hold ${held.join(', ')} (confirmed commit, read back)`);
      }
      out(`    plan: ${o.plan.map((s) => `${s.step} ${s.domain} ${s.state}`).join('; ')}`);
    }
    phase('orders agreed and provisioned');

    // a boost for a few seconds, reverted by the daemon on its own
    const first = orders[0]!;
    const boosted = await mgmt.modifyOrder(first.id, 20, 5000);
    const rates = async (o: OrderMsg) => [...new Set((await Promise.all([...routerOf.values()].map((r) => policiesOn(r.dev)))).flat().filter((p) => p.name.startsWith(o.agreement_id)).map((p) => p.kbps))];
    out(`boost: ${first.id} to ${boosted.rate_mbps} Mbit/s for 5 s (qos-broker order modify ${first.id} --rate 20M --for 5s): agreed as amendment, routers of ${first.domains.join(', ')} now at ${(await rates(first)).join(', ')} kbit/s`);
    const reverted = await until('the boost to revert on its own', async () => ((await mgmt.getOrder(first.id)).boost?.state === 'reverted' ? mgmt.getOrder(first.id) : undefined), 30_000);
    out(`  after the window the daemon reverted it on its own: ${reverted.rate_mbps} Mbit/s, routers at ${(await rates(first)).join(', ')} kbit/s`);
    phase('boost and revert');

    if (keep) {
      out('\nthe providers keep running. Try:');
      out(`  export QOS_BROKER_MANAGEMENT=unix:${join(x.dataDir, 'management.sock')}`);
      out(`  node ${CLI} order list`);
      out(`  node ${CLI} order get ${first.id}`);
      out(`  node ${CLI} devices --probe`);
      out(`  node ${CLI} peers`);
      out(`  node ${CLI} order terminate ${first.id}`);
      out(`configs and logs: ${dir}`);
      out(`stop them: kill ${providers.map((p) => p.proc!.pid).join(' ')} ${devs.flatMap((d) => [d.pids.sshd, d.pids.netconfd]).join(' ')}; rm -rf ${dir}`);
      kept = true;
      mgmt.close();
      return;
    }

    // terminate both: every router as before, no booking left in any provider's Redis
    for (const o of orders) {
      const t = await mgmt.terminateOrder(o.id);
      out(`terminate ${o.id}: service ${t.service_state}, final amount ${(t.final_amount_minor / 100).toFixed(2)} ${t.currency}`);
    }
    const differs = [];
    for (const [name, r] of routerOf) if ((await onRouter(r.dev, (c) => c.getConfig({}))) !== before.get(name)) differs.push(name);
    if (differs.length) throw new DemoError('QB_DEMO_CHECK_FAILED', `after terminate the running config of ${differs.join(', ')} differs from before the orders`);
    const booked: string[] = [];
    for (const p of providers) {
      const redis = new Redis({ path: join(p.dataDir, 'redis', 'redis.sock'), lazyConnect: true, maxRetriesPerRequest: 1 });
      const store = new RedisResourceStore({ domain: p.domain, redis });
      try {
        const used = (await store.utilisation()).reduce((s, u) => s + u.usedBps, 0);
        if (used) booked.push(`${p.domain} ${used} bit/s`);
      } finally {
        redis.disconnect();
      }
    }
    if (booked.length) throw new DemoError('QB_DEMO_CHECK_FAILED', `after terminate bookings are left: ${booked.join(', ')}`);
    out(`every router's running config is as before the orders (read back over NETCONF); no booking left in any provider's Redis`);
    phase('terminate');
    out(`demo done in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  } finally {
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
    await stopAll();
  }
}

/** Send provider-y's advertisement with a changed price to provider-x as the visiting broker; the rejection and the metric's move. */
async function forgedAdvert(x: Provider, visitor: DomainFiles, caPem: Buffer): Promise<{ reason: string; before: number; after: number }> {
  const count = async () => {
    const text = await (await fetch(`http://${x.metrics}/metrics`)).text();
    const m = /^qos_broker_adverts_rejected_total\{reason="bad-signature"\} (\S+)$/m.exec(text);
    return m ? Number(m[1]) : 0;
  };
  const before = await count();
  const { peering: Peering } = loadProtos();
  const client = new Peering(x.grpc, clientCredentials({ certPem: visitor.certPem, keyPem: visitor.keyPem }, { domain: x.domain, caPem }));
  const call = (client as unknown as { Session(): grpc.ClientDuplexStream<PeerFrame, PeerFrame> }).Session();
  const received: PeerFrame[] = [];
  call.on('data', (f: PeerFrame) => received.push(f));
  call.on('error', () => {});
  try {
    call.write({ open: { domain_id: VISITOR, broker_id: `${VISITOR}-1`, public_key: rawPublicKey(visitor.advertKeyPem), capabilities: [], hold_time_s: 30 } });
    const y = await until('provider-x to send its table', async () => {
      const f = received.find((r) => r.advertisement && (JSON.parse(Buffer.from(r.advertisement.signed_advert).toString()) as SignedAdvert<DomainAdvertisement>).envelope.origin === 'provider-y');
      return f ? (JSON.parse(Buffer.from(f.advertisement!.signed_advert).toString()) as SignedAdvert<DomainAdvertisement>) : undefined;
    });
    const forged = { ...y, envelope: { ...y.envelope, body: { ...y.envelope.body, prices: { ...y.envelope.body.prices, perMbpsHour: { EF: 0 } } } } };
    call.write({ advertisement: { signed_advert: Buffer.from(JSON.stringify(forged)) } });
    const notice = await until('the rejection notice', async () => received.find((f) => f.notification?.code === 'advert-rejected')?.notification);
    const after = await until('the metric to count it', async () => {
      const n = await count();
      return n > before ? n : undefined;
    });
    return { reason: notice.reason ?? "", before, after };
  } finally {
    call.end();
    client.close();
  }
}
