/**
 * `qos-broker demo [--keep] [--loopback]`: the product on the embedded default
 * network (demo-network.ts), with nothing configured. It starts one real
 * qos-brokerd process per provider, each with a config file written for the
 * run, its embedded redis-server, mTLS certificates and Ed25519 keys from the
 * lab PKI, and its routers:
 *   - as root, when network namespaces work: the linux_tc routers of the lab
 *     containerlab/four-provider.clab.yml (the demo network as a topology,
 *     brought up with labUp as `qos-broker lab up` does), named by
 *     `devices-from:` the lab's inventory.json, with the sites' prefixes from
 *     the hosts' links; iperf3 between host-x and host-z measures each rate;
 *   - otherwise (or with --loopback): two lab routers per provider (a real
 *     netconfd behind a real sshd on 127.0.0.1) in its `devices:`.
 * Then, as a user would with the CLI, it orders through
 * provider-x's Management service and prints what happens, every fact read
 * back before it is printed:
 *   1. advertisements: every provider holds every signed advertisement; a
 *      forged one, sent by the demo over a real peering session, is refused;
 *   2. orders (cheapest, fastest): path and prices, the signed contract
 *      (verified offline, a tampered copy refused naming the field), each
 *      domain's provisioning with its routers and the config they now hold,
 *      the per-step plan;
 *   3. the fast order ends (both orders carry the same packets, so the lab
 *      can measure one service at a time), a boost of the cheap one for a few
 *      seconds (routers at the higher rate, then back on their own), then
 *      terminate: routers as before, bookings zero.
 * With the lab, the rate iperf3 measures is printed before the order, with
 * the service active (and outside it), during the boost, after its revert and
 * after terminate.
 * It stops everything it started on success, failure or Ctrl-C, and says how
 * long each phase took; `--keep` leaves the providers running to explore with
 * the CLI and prints the commands.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
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
import { labDown, labExec, labStatus, labTraffic, labUp, run } from '../../lab/runner.js';
import { contractBody, verifyContract, withAlteredBody, type SignedContract } from '../agreement/contract.js';
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
  routers: DemoRouter[];
  proc?: ChildProcess;
}

type RouterInterface = { name: string; role: string; site?: string; 'peer-domain'?: string };

/** A router of a provider, whichever way the demo runs it. */
interface DemoRouter {
  name: string;
  border: string;
  /** Loopback: a lab NETCONF device on 127.0.0.1 and the interfaces its `devices:` entry lists. */
  dev?: NetconfDevice;
  interfaces?: RouterInterface[];
  /** Root: the lab node (a linux_tc router in its own network namespace) and its data interfaces. */
  node?: string;
  ifaces?: string[];
}

/** One policy a router holds: an id that stays the same while it is there, its interface and rate. */
interface Held {
  id: string;
  iface: string;
  kbps: number;
}

function classesYaml(t: ClassTable): Record<string, unknown> {
  return Object.fromEntries(Object.entries(t).map(([c, m]) => [c, { 'capacity-mbps': m.capacityMbps ?? m.availableMbps, 'latency-ms': m.latencyMs, 'jitter-ms': m.jitterMs, loss: m.loss }]));
}

/** The inventory section of a provider's config, from its entry of the demo network (and the sites' address prefixes in the lab). */
function inventoryOf(ad: DomainAdvertisement, sitePrefixes = new Map<string, string[]>()): Record<string, unknown> {
  return {
    borders: ad.borders,
    sites: (ad.sites ?? []).map((s) => ({ id: s.id, borders: s.borders, ...(sitePrefixes.has(s.id) ? { prefixes: sitePrefixes.get(s.id) } : {}) })),
    transits: ad.transits.map((t) => ({ id: `${t.from}-${t.to}`, from: t.from, to: t.to, bidirectional: t.bidirectional ?? false, classes: classesYaml(t.classes) })),
    links: ad.links.map((l) => ({ id: `${l.border}-${l.peerBorder}`, border: l.border, 'peer-domain': l.peerDomain, 'peer-border': l.peerBorder, classes: classesYaml(l.classes) })),
    prices: { currency: ad.prices.currency, 'per-mbps-hour': ad.prices.perMbpsHour },
  };
}

/** One lab router per border: the site on eth1, the core on eth2, one interface per peer domain from eth3. */
function routerPlan(ad: DomainAdvertisement): Array<{ border: string; interfaces: RouterInterface[] }> {
  return ad.borders.map((b) => {
    const interfaces: RouterInterface[] = [{ name: 'eth2', role: 'core' }];
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

async function until<T>(what: string, f: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
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

/** The lab of the root path: the demo network as a containerlab topology. */
export const DEMO_LAB_FILE = join(ROOT, 'containerlab', 'four-provider.clab.yml');
/** The customer hosts of the lab (sites site-x and site-z) and the DSCP of the ordered class (EF). */
const TRAFFIC = { from: 'host-x', to: 'host-z', dscp: 46 } as const;
/** A destination on the service's way that is not in site-z: its traffic is not the service's. */
const OTHER_DESTINATION = 'provider-z-z2';

/**
 * Why the root path (the lab, real traffic) cannot run here, or undefined when
 * it can: root, ip, tc and iperf3, and a network namespace that can be made.
 */
export async function labUnavailable(): Promise<string | undefined> {
  if (process.getuid?.() !== 0) return 'not root';
  for (const b of ['/usr/sbin/ip', '/usr/sbin/tc', '/usr/bin/iperf3', '/usr/sbin/sshd', '/usr/sbin/netconfd']) if (!existsSync(b)) return `${b} is not installed`;
  const probe = `qb-demo-probe-${process.pid}`;
  try {
    await run('ip', ['netns', 'add', probe], undefined, 'making a network namespace');
  } catch (err) {
    return `network namespaces do not work here (${(err as Error).message})`;
  }
  await run('ip', ['netns', 'del', probe]).catch(() => undefined);
  return undefined;
}

/** The htb classes of a lab router's data interfaces, read inside its namespace: what linux_tc provisioned. */
async function tcClasses(r: DemoRouter): Promise<Held[]> {
  const res = await labExec(DEMO_LAB_FILE, r.node!, ['sh', '-c', r.ifaces!.map((i) => `echo "dev ${i}"; tc class show dev ${i}`).join('; ')]);
  if (res.code !== 0) throw new DemoError('QB_DEMO_CHECK_FAILED', `cannot read the tc classes of ${r.name}: ${res.stderr.trim()}`);
  const held: Held[] = [];
  let dev = '';
  for (const line of res.stdout.split('\n')) {
    const d = /^dev (\S+)$/.exec(line);
    if (d) dev = d[1]!;
    const m = /^class htb (\S+) .*?\brate (\d+(?:\.\d+)?)([KMG]?)bit/.exec(line);
    if (m) held.push({ id: `${dev} ${m[1]}`, iface: dev, kbps: Math.round((Number(m[2]) * { '': 1, K: 1e3, M: 1e6, G: 1e9 }[m[3] as '' | 'K' | 'M' | 'G']) / 1000) });
  }
  return held;
}

/** Everything tc holds on a lab router's data interfaces (qdiscs, classes, filters), to compare before and after. */
async function tcState(r: DemoRouter): Promise<string> {
  const res = await labExec(DEMO_LAB_FILE, r.node!, ['sh', '-c', r.ifaces!.map((i) => `tc qdisc show dev ${i}; tc class show dev ${i}; tc filter show dev ${i}`).join('; ')]);
  if (res.code !== 0) throw new DemoError('QB_DEMO_CHECK_FAILED', `cannot read the tc state of ${r.name}: ${res.stderr.trim()}`);
  return res.stdout;
}

/** What a router holds now: policies (loopback, read back over NETCONF) or htb classes (lab, tc read back). */
async function heldOn(r: DemoRouter): Promise<Held[]> {
  if (r.dev) return (await policiesOn(r.dev)).map((p) => ({ id: p.name, iface: p.iface, kbps: p.kbps }));
  return tcClasses(r);
}

/** A router's whole state, to compare before and after: its running config (loopback) or its tc state (lab). */
async function stateOf(r: DemoRouter): Promise<string> {
  return r.dev ? onRouter(r.dev, (c) => c.getConfig({})) : tcState(r);
}

export async function demoCommand(argv: string[], out: (s: string) => void = (s) => process.stdout.write(s + '\n')): Promise<void> {
  const { values } = parseArgs({ args: argv, strict: true, options: { keep: { type: 'boolean' }, loopback: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } } });
  if (values.help) {
    return out(
      [
        'usage: qos-broker demo [--keep] [--loopback]',
        '  four qos-brokerd providers agree, sign and provision a service; as root (when network namespaces work) their routers are',
        `  the linux_tc routers of the lab ${relative(ROOT, DEMO_LAB_FILE)} and iperf3 measures the rate between its hosts; otherwise lab NETCONF routers on loopback`,
        '  --keep      leave the providers (and the lab) running for the CLI; prints the commands and how to stop them',
        '  --loopback  the loopback routers even as root (no lab, no traffic)',
      ].join('\n'),
    );
  }
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
  let labStarting: Promise<unknown> | undefined;
  let signalled: NodeJS.Signals | undefined;
  const exitCode = (sig: NodeJS.Signals) => (sig === 'SIGINT' ? 130 : 143);
  let stopping: Promise<void> | undefined;
  // one stop, whoever asks first (the signal or the main flow's finally); what was started while it ran is stopped too
  const stopAll = () =>
    (stopping ??= (async () => {
      if (kept) return;
      while (cleanup.length) for (const f of cleanup.splice(0).reverse()) await f().catch((err: unknown) => out(`demo: while stopping: ${(err as Error).message}`));
      rmSync(dir, { recursive: true, force: true });
    })());
  /** Throws once a signal came: the main flow starts nothing more. */
  const notStopped = () => {
    if (signalled) throw new DemoError('QB_DEMO_INTERRUPTED', `stopped by ${signalled}`);
  };
  const onSignal = (sig: NodeJS.Signals) => {
    signalled = sig;
    out(`\n${sig}: stopping everything the demo started`);
    // a lab half made is taken down once its runner is done with it
    void (labStarting ?? Promise.resolve())
      .catch(() => undefined)
      .then(stopAll)
      .finally(() => process.exit(exitCode(sig)));
  };
  // also with --keep: until the providers are handed over, a Ctrl-C stops what was started
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    const network = demoNetwork();
    const why = values.loopback ? 'asked for with --loopback' : await labUnavailable();
    const lab = why === undefined;
    if (lab) {
      out(`qos-broker demo: ${network.length} providers, each a qos-brokerd process with its own redis-server, driving its linux_tc routers of the lab ${relative(ROOT, DEMO_LAB_FILE)} (network namespaces) over SSH; iperf3 measures the traffic between host-x and host-z`);
    } else {
      out(`qos-broker demo: ${network.length} providers, each a qos-brokerd process with its own redis-server and two lab routers (netconfd behind sshd on 127.0.0.1)`);
      out(`  (loopback routers: ${why}; as root with network namespaces the demo runs the lab ${relative(ROOT, DEMO_LAB_FILE)} with real traffic)`);
    }
    const pki = makePki(dir);
    const visitor = pki.domain(VISITOR);
    const ports = await freePorts('127.0.0.1', network.length * 3);
    for (const [i, ad] of network.entries()) {
      const d = ad.origin;
      providers.push({ domain: d, ad, files: pki.domain(d), grpc: `127.0.0.1:${ports[3 * i]}`, admin: `127.0.0.1:${ports[3 * i + 1]}`, metrics: `127.0.0.1:${ports[3 * i + 2]}`, dataDir: join(dir, d), configFile: join(dir, `${d}.yaml`), logFile: join(dir, `${d}.log`), routers: [] });
    }
    let devicesFrom: string | undefined;
    const sitePrefixes = new Map<string, string[]>();
    const netconfDevs: NetconfDevice[] = [];
    if (lab) {
      const status = await labStatus(DEMO_LAB_FILE);
      if (status.state === 'up') throw new DemoError('QB_DEMO_LAB_BUSY', `the lab ${status.name} is already up (left by a demo --keep?); take it down first: qos-broker lab down ${relative(process.cwd(), DEMO_LAB_FILE) || DEMO_LAB_FILE}`);
      // registered first, so it runs last: after the daemons that drive the lab are gone
      notStopped();
      cleanup.push(() => labDown(DEMO_LAB_FILE));
      const starting = labUp(DEMO_LAB_FILE, { log: (l) => out(l) });
      labStarting = starting;
      const up = await starting;
      labStarting = undefined;
      devicesFrom = join(up.stateDir, 'inventory.json');
      // a site's addresses: the subnet of its host's link (the classifier of every policy of an order between two sites)
      for (const l of up.plan.links) {
        for (const end of [l.a, l.b]) {
          const site = up.plan.nodes.find((n) => n.name === end.node && n.role === 'host')?.labels['qos-broker.site'];
          if (site) sitePrefixes.set(site, [l.subnet]);
        }
      }
      for (const p of providers) {
        for (const n of up.plan.nodes.filter((x) => x.role !== 'host' && x.domain === p.domain)) {
          p.routers.push({ name: n.name, border: n.labels['qos-broker.border'] ?? n.name, node: n.name, ifaces: n.interfaces.map((i) => i.name) });
        }
      }
      phase('lab up');
    } else {
      // routers: one per border of every provider, all started at once
      notStopped();
      const plans = providers.map((p) => routerPlan(p.ad));
      const started = await Promise.allSettled(plans.flatMap((plan, i) => plan.map((r) => startNetconfDevice({ stateDir: join(dir, 'routers', `${providers[i]!.domain}-${r.border}`), detached: keep }))));
      for (const r of started) if (r.status === 'fulfilled') cleanup.push(() => r.value.stop());
      const failed = started.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed) throw failed.reason;
      netconfDevs.push(...started.map((r) => (r as PromiseFulfilledResult<NetconfDevice>).value));
      let k = 0;
      providers.forEach((p, i) => plans[i]!.forEach((r) => p.routers.push({ name: `${p.domain}-${r.border}`, border: r.border, dev: netconfDevs[k++]!, interfaces: r.interfaces })));
      await Promise.all(providers.flatMap((p) => p.routers.map((r) => onRouter(r.dev!, async (c) => {
        await c.editConfig({ config: `<device xmlns="${NS_LAB}"><hostname>${r.name}</hostname><interfaces>${['eth1', 'eth2', 'eth3', 'eth4'].map((n) => `<interface><name>${n}</name><speed-mbps>1000</speed-mbps></interface>`).join('')}</interfaces></device>` });
        await c.commit();
      }))));
      phase('routers up');
    }

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
        inventory: inventoryOf(p.ad, sitePrefixes),
        ...(devicesFrom
          ? { 'devices-from': devicesFrom }
          : { devices: p.routers.map((r) => ({ name: r.name, platform: 'lab_device', host: r.dev!.host, port: r.dev!.port, username: r.dev!.username, 'key-file': r.dev!.privateKeyFile, 'known-hosts-file': r.dev!.knownHostsFile, border: r.border, 'hello-settle-ms': 20, interfaces: r.interfaces })) }),
        metrics: { listen: p.metrics },
        admin: { listen: p.admin },
      };
      writeFileSync(p.configFile, `# written by qos-broker demo for this run\n${stringify(cfg)}`);
    }
    // the daemons: real processes, their logs in files
    for (const p of providers) {
      notStopped();
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
        // a loaded machine: four daemons, each starting its redis-server, at once
      }, 120_000).catch((err: unknown) => {
        if (p.proc!.exitCode !== null) throw new DemoError('QB_DEMO_DAEMON_EXITED', `${p.domain} exited with ${p.proc!.exitCode}: ${lastLines(p.logFile)} (log ${p.logFile})`);
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
    const routers = providers.flatMap((p) => p.routers);
    const before = new Map(await Promise.all(routers.map(async (r) => [r.name, await stateOf(r)] as const)));
    const heldAll = async () => new Map(await Promise.all(routers.map(async (r) => [r.name, await heldOn(r)] as const)));
    /** What each order put on the routers: router name and held id, found as what was new after it. */
    const owned = new Map<string, Array<{ router: string; id: string }>>();
    const seconds = 3;
    const measure = async (when: string, contractedMbps?: number, to: string = TRAFFIC.to): Promise<number> => {
      const t = await labTraffic(DEMO_LAB_FILE, { ...TRAFFIC, to, seconds });
      const mbps = t.receivedBitsPerSecond / 1e6;
      const vs = contractedMbps ? ` (contracted ${contractedMbps} Mbit/s: ${mbps >= contractedMbps ? '+' : ''}${(((mbps - contractedMbps) / contractedMbps) * 100).toFixed(1)} %)` : '';
      out(`  traffic ${when}: iperf3 ${TRAFFIC.from} -> ${to}${to === TRAFFIC.to ? '' : ` (${t.toAddress})`} (DSCP ${TRAFFIC.dscp}, ${seconds} s) measured ${mbps.toFixed(2)} Mbit/s${vs}`);
      return mbps;
    };
    if (lab) {
      await measure('before any order');
      phase('traffic before');
    }
    const keys = Object.fromEntries(providers.map((p) => [p.domain, pubOf(p)]));
    const orders: OrderMsg[] = [];
    out('order: acme wants EF 10 Mbit/s from provider-x/site-x to provider-z/site-z within 30 ms for 2 h (qos-broker order create ...)');
    for (const objective of ['cheapest', 'lowest-latency']) {
      const pre = await heldAll();
      const o = await mgmt.createOrder({ from: 'provider-x/site-x', to: 'provider-z/site-z', qos_class: 'EF', rate_mbps: 10, max_latency_ms: 30, duration_ms: 2 * 3_600_000, objective }, 'acme', true);
      if (o.state !== 'completed') throw new DemoError('QB_DEMO_ORDER_FAILED', `the ${objective} order ended ${o.state}: ${o.error ? `${o.error.domain}: ${o.error.code}: ${o.error.message}` : 'no error given'}`);
      orders.push(o);
      const post = await heldAll();
      owned.set(o.id, [...post].flatMap(([router, hs]) => hs.filter((h) => !pre.get(router)!.some((q) => q.id === h.id)).map((h) => ({ router, id: h.id }))));
      const c = JSON.parse(o.contract_json) as SignedContract;
      const cb = contractBody(c);
      out(`  [${objective}] order ${o.id}: ${o.state}, service ${o.service_state}; path ${o.domains.join(' > ')}; ${cb.segments.map((s) => `${s.domain} ${(s.priceMinor / 100).toFixed(2)}`).join(' + ')} = ${(cb.totalPriceMinor / 100).toFixed(2)} ${cb.currency}`);
      const summary = verifyContract(JSON.parse(o.contract_json), keys);
      const file = join(dir, `contract-${objective}.json`);
      writeFileSync(file, JSON.stringify(c, null, 2));
      out(`    contract ${cb.agreementId} (a JWS, RFC 7515 JSON serialization): signed by ${summary.signedBy.join(', ')}; verified offline against the providers' keys${cb.service.fromPrefixes ? `; carries ${cb.service.fromPrefixes.join(' ')} -> ${(cb.service.toPrefixes ?? []).join(' ')}` : ''}`);
      const tampered = withAlteredBody(c, (b) => {
        b.segments[0]!.priceMinor += 1;
        b.totalPriceMinor += 1;
      });
      try {
        verifyContract(tampered, keys);
        throw new DemoError('QB_DEMO_CHECK_FAILED', 'a tampered contract verified');
      } catch (err) {
        if ((err as QosBrokerError).code === 'QB_DEMO_CHECK_FAILED') throw err;
        out(`    a tampered copy is refused: ${(err as Error).message}`);
      }
      for (const d of o.domains) {
        const p = providers.find((q) => q.domain === d)!;
        const held = owned.get(o.id)!.filter((h) => p.routers.some((r) => r.name === h.router)).map((h) => {
          const now = post.get(h.router)!.find((q) => q.id === h.id)!;
          return `${h.router} ${now.iface} ${now.kbps} kbit/s`;
        });
        const step = o.plan.find((s) => s.step === 'provision' && s.domain === d)!;
        out(`    ${d} (${step.where}): ${step.state} in ${((Date.parse(step.finished) - Date.parse(step.started)) / 1000).toFixed(2)} s; routers now hold ${held.join(', ')} (${lab ? 'tc over SSH, htb classes read back' : 'confirmed commit, read back'})`);
      }
      out(`    plan: ${o.plan.map((s) => `${s.step} ${s.domain} ${s.state}`).join('; ')}`);
      if (lab && objective === 'cheapest') {
        await measure('with the service active', o.rate_mbps);
        await measure(`outside the service (to ${OTHER_DESTINATION}, not in site-z ${sitePrefixes.get('site-z')!.join(' ')}, the same way)`, undefined, OTHER_DESTINATION);
      }
    }
    phase('orders agreed and provisioned');

    // the hosts' packets between site-x and site-z are one traffic: one service carries them at a time
    const [first, second] = orders as [OrderMsg, OrderMsg];
    const terminate = async (o: OrderMsg) => {
      const t = await mgmt.terminateOrder(o.id);
      out(`terminate ${o.id}: service ${t.service_state}, final amount ${(t.final_amount_minor / 100).toFixed(2)} ${t.currency}`);
    };
    await terminate(second);

    // a boost for a few seconds, reverted by the daemon on its own
    const boostMs = lab ? 15_000 : 5_000;
    const boosted = await mgmt.modifyOrder(first.id, 20, boostMs);
    const rates = async (o: OrderMsg) => {
      const now = await heldAll();
      return [...new Set(owned.get(o.id)!.map((h) => now.get(h.router)!.find((q) => q.id === h.id)?.kbps ?? 0))];
    };
    out(`boost: ${first.id} to ${boosted.rate_mbps} Mbit/s for ${boostMs / 1000} s (qos-broker order modify ${first.id} --rate 20M --for ${boostMs / 1000}s): agreed as amendment, routers of ${first.domains.join(', ')} now at ${(await rates(first)).join(', ')} kbit/s`);
    if (lab) {
      await measure('during the boost', boosted.rate_mbps);
      const still = await mgmt.getOrder(first.id);
      if (still.boost?.state !== 'active') throw new DemoError('QB_DEMO_CHECK_FAILED', `the boost was ${still.boost?.state ?? 'gone'} before the measurement during it ended: the machine is too slow for a ${boostMs / 1000} s boost`);
    }
    const reverted = await until('the boost to revert on its own', async () => ((await mgmt.getOrder(first.id)).boost?.state === 'reverted' ? mgmt.getOrder(first.id) : undefined), boostMs + 30_000);
    out(`  after the window the daemon reverted it on its own: ${reverted.rate_mbps} Mbit/s, routers at ${(await rates(first)).join(', ')} kbit/s`);
    if (lab) await measure('after the revert', reverted.rate_mbps);
    phase('boost and revert');

    if (keep) {
      const file = relative(process.cwd(), DEMO_LAB_FILE) || DEMO_LAB_FILE;
      out('\nthe providers keep running. Try:');
      out(`  export QOS_BROKER_MANAGEMENT=unix:${join(x.dataDir, 'management.sock')}`);
      out(`  node ${CLI} order list`);
      out(`  node ${CLI} order get ${first.id}`);
      out(`  node ${CLI} devices --probe`);
      out(`  node ${CLI} peers`);
      if (lab) out(`  node ${CLI} lab traffic ${file} --from ${TRAFFIC.from} --to ${TRAFFIC.to} --dscp ${TRAFFIC.dscp} --seconds 3`);
      out(`  node ${CLI} order terminate ${first.id}`);
      out(`configs and logs: ${dir} (run one provider by hand: node ${BROKERD} --config ${x.configFile})`);
      out(`stop them: kill ${providers.map((p) => p.proc!.pid).join(' ')}${netconfDevs.length ? ` ${netconfDevs.flatMap((d) => [d.pids.sshd, d.pids.netconfd]).join(' ')}` : ''}${lab ? `; node ${CLI} lab down ${file}` : ''}; rm -rf ${dir}`);
      kept = true;
      mgmt.close();
      return;
    }

    await terminate(first);
    if (lab) await measure('after terminate');
    const differs = [];
    for (const r of routers) if ((await stateOf(r)) !== before.get(r.name)) differs.push(r.name);
    if (differs.length) throw new DemoError('QB_DEMO_CHECK_FAILED', `after terminate the ${lab ? 'tc state' : 'running config'} of ${differs.join(', ')} differs from before the orders`);
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
    out(lab
      ? "every router's tc state (qdiscs, classes, filters of every data interface) is as before the orders; no booking left in any provider's Redis"
      : "every router's running config is as before the orders (read back over NETCONF); no booking left in any provider's Redis");
    phase('terminate');
  } finally {
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
    if (!kept) {
      const tStop = performance.now();
      await stopAll();
      out(`  (stopped everything the demo started: ${((performance.now() - tStop) / 1000).toFixed(1)} s)`);
    }
    // after a signal the run ends here with the signal's exit code, not with what the stopped daemons made fail
    if (signalled) process.exit(exitCode(signalled));
  }
  out(`demo done in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
}

/** The last lines of a daemon's log, for the error when it exits. */
function lastLines(file: string, n = 3): string {
  try {
    return readFileSync(file, 'utf8').trim().split('\n').slice(-n).join(' | ');
  } catch {
    return 'no log';
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
