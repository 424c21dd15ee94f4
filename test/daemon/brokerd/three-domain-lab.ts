/**
 * Three provider daemons (dom-a -> dom-b -> dom-c, mutual TLS, one
 * redis-server) each with two lab routers (a real netconfd behind a real sshd
 * on loopback, the lab_device model) in its `devices:` config, for the order
 * lifecycle tests. r1 is border b1 (the site on eth1, the core on eth2), r2
 * border b2 (the core on eth2, one peer interface per neighbour from eth3).
 * Orders go in through dom-a's Management service; the tests read the
 * routers' running configs over NETCONF and every domain's bookings in Redis
 * themselves. stop() removes everything started.
 */
import { Redis } from 'ioredis';
import { Cluster, inventory, waitFor, type Daemon } from './harness.js';
import { NetconfClient } from '../../../drivers/netconf/client.js';
import { ManagementClient } from '../../../daemon/management/client.js';
import type { OrderMsg } from '../../../daemon/management/proto.js';
import { RedisResourceStore } from '../../../daemon/state/redis-store.js';
import { startNetconfDevice, type NetconfDevice } from '../../../lab/netconf-device.js';
import type { DomainFiles } from '../../../lab/pki.js';

export const NS = 'urn:qos-broker:yang:lab-device';
export const DOMAINS = ['dom-a', 'dom-b', 'dom-c'] as const;
export type Dom = (typeof DOMAINS)[number];
const peering = { 'hold-time-s': 3, 'advert-lifetime-s': 30, 'poll-interval-ms': 500, 'backoff-initial-ms': 100, 'backoff-max-ms': 1000 };
const NEIGHBOURS: Record<Dom, string[]> = { 'dom-a': ['dom-b'], 'dom-b': ['dom-a', 'dom-c'], 'dom-c': ['dom-b'] };

/** The order of the tests: EF 10 Mbit/s from dom-a's site to dom-c's, within 30 ms, for an hour. */
export const spec = (over: Partial<{ rate_mbps: number; duration_ms: number; start_ms: number }> = {}) => ({ from: 'dom-a/dom-a-site', to: 'dom-c/dom-c-site', qos_class: 'EF', rate_mbps: 10, duration_ms: 3_600_000, max_latency_ms: 30, ...over });

export interface ThreeDomainLabOptions {
  /** Extra config keys of a domain's daemon (e.g. a `northbound:` listener on its host). */
  config?: (d: Dom, host: string) => Record<string, unknown> | Promise<Record<string, unknown>>;
}

export class ThreeDomainLab {
  constructor(private readonly opts: ThreeDomainLabOptions = {}) {}

  readonly cluster = new Cluster();
  readonly daemons = new Map<Dom, Daemon>();
  readonly routers = new Map<Dom, NetconfDevice[]>();
  readonly files = new Map<Dom, DomainFiles>();
  readonly configs = new Map<Dom, Record<string, unknown>>();
  private readonly stores = new Map<Dom, RedisResourceStore>();
  private readonly addrs = new Map<Dom, { host: string; grpc: string; admin: string; metrics: string }>();
  redis!: Redis;
  mgmt!: ManagementClient;

  async start(): Promise<void> {
    const cluster = this.cluster;
    await cluster.init();
    this.redis = new Redis({ path: cluster.redis.server.socketPath });
    const ca = cluster.pki.caCert;
    for (const d of DOMAINS) {
      this.files.set(d, cluster.pki.domain(d));
      this.addrs.set(d, await cluster.allocate());
      this.stores.set(d, new RedisResourceStore({ domain: d, redis: this.redis }));
    }
    const started = await Promise.allSettled(DOMAINS.flatMap(() => [startNetconfDevice(), startNetconfDevice()]));
    const devs = started.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    DOMAINS.forEach((d, i) => this.routers.set(d, devs.slice(2 * i, 2 * i + 2)));
    const bad = started.find((r) => r.status === 'rejected') as PromiseRejectedResult | undefined;
    if (bad) throw bad.reason;
    // every router knows the interfaces its devices entry names (the policy's interface is a leafref)
    await Promise.all(
      devs.map((r) =>
        this.onRouter(r, async (c) => {
          await c.editConfig({ config: `<device xmlns="${NS}"><interfaces>${['eth1', 'eth2', 'eth3', 'eth4'].map((n) => `<interface><name>${n}</name><speed-mbps>1000</speed-mbps></interface>`).join('')}</interfaces></device>` });
          await c.commit();
        }),
      ),
    );
    const peer = (n: Dom, dial: boolean) => ({ 'domain-id': n, 'ca-file': ca, ...(dial ? { address: this.addrs.get(n)!.grpc } : {}) });
    this.configs.set('dom-c', { role: 'provider', peering, peers: [peer('dom-a', false), peer('dom-b', false)], inventory: inventory('dom-c', ['dom-b']), devices: this.devicesOf('dom-c') });
    this.configs.set('dom-b', { role: 'provider', peering, peers: [peer('dom-a', false), peer('dom-c', true)], inventory: inventory('dom-b', ['dom-a', 'dom-c']), devices: this.devicesOf('dom-b') });
    this.configs.set('dom-a', { role: 'provider', peering, peers: [peer('dom-b', true), peer('dom-c', true)], inventory: inventory('dom-a', ['dom-b']), devices: this.devicesOf('dom-a'), agreement: { 'hold-ttl-ms': 10_000, 'call-timeout-ms': 3000 } });
    for (const d of DOMAINS) if (this.opts.config) Object.assign(this.configs.get(d)!, await this.opts.config(d, this.addrs.get(d)!.host));
    for (const d of ['dom-c', 'dom-b', 'dom-a'] as const) await this.startDomain(d);
    this.mgmt = new ManagementClient(`unix:${this.daemons.get('dom-a')!.config['data-dir'] as string}/management.sock`);
    await this.connected();
  }

  /** Every daemon peers as configured and holds all three advertisements. */
  async connected(): Promise<void> {
    await waitFor('dom-a established with dom-b and dom-c', async () => ((await this.daemons.get('dom-a')!.get('/v1/peers')).peers as { state: string }[]).every((p) => p.state === 'established'));
    for (const d of DOMAINS) await waitFor(`${d} holds all three adverts`, async () => ((await this.daemons.get(d)!.get('/v1/adverts')).adverts as unknown[]).length === 3);
  }

  async stop(): Promise<void> {
    this.mgmt?.close();
    for (const s of this.stores.values()) await s.close().catch(() => {});
    this.redis?.disconnect();
    await this.cluster.stopAll();
    await Promise.all([...this.routers.values()].flat().map((r) => r.stop()));
  }

  /** The devices entry of a domain; `peerIf` names the peer interfaces (a test may name ones the router lacks). */
  devicesOf(d: Dom, peerIf: (n: string, i: number) => string = (_n, i) => `eth${3 + i}`): Record<string, unknown>[] {
    const [r1, r2] = this.routers.get(d)!;
    const access = (r: NetconfDevice) => ({ host: r.host, port: r.port, username: r.username, 'key-file': r.privateKeyFile, 'known-hosts-file': r.knownHostsFile, 'hello-settle-ms': 20, 'confirm-timeout-s': 30 });
    return [
      { name: `${d}-r1`, platform: 'lab_device', border: 'b1', ...access(r1!), interfaces: [{ name: 'eth1', role: 'customer', site: `${d}-site` }, { name: 'eth2', role: 'core' }] },
      { name: `${d}-r2`, platform: 'lab_device', border: 'b2', ...access(r2!), interfaces: [{ name: 'eth2', role: 'core' }, ...NEIGHBOURS[d].map((n, i) => ({ name: peerIf(n, i), role: 'peer', 'peer-domain': n }))] },
    ];
  }

  /** (Re)start a domain's daemon from its config; the management client follows dom-a. */
  async startDomain(d: Dom, env: Record<string, string> = {}): Promise<Daemon> {
    const daemon = await this.cluster.start(this.files.get(d)!, this.addrs.get(d)!, this.configs.get(d)!, undefined, env);
    this.daemons.set(d, daemon);
    if (d === 'dom-a' && this.mgmt) {
      this.mgmt.close();
      this.mgmt = new ManagementClient(this.mgmt.address);
    }
    return daemon;
  }

  /** Kill a daemon (SIGKILL by default) and wait for it to be gone. */
  async kill(d: Dom, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const daemon = this.daemons.get(d)!;
    if (daemon.proc.exitCode === null && daemon.proc.signalCode === null) daemon.proc.kill(signal);
    await daemon.exited;
  }

  async onRouter<T>(r: NetconfDevice, fn: (c: NetconfClient) => Promise<T>): Promise<T> {
    const c = await NetconfClient.connect({ host: r.host, port: r.port, username: r.username, privateKeyFile: r.privateKeyFile, knownHostsFile: r.knownHostsFile, helloSettleMs: 20 });
    try {
      return await fn(c);
    } finally {
      await c.close();
    }
  }

  running(r: NetconfDevice): Promise<string> {
    return this.onRouter(r, (c) => c.getConfig({}));
  }

  /** Every router's whole running config, by `dom-x-rN`. */
  async allRunning(): Promise<Record<string, string>> {
    return Object.fromEntries(await Promise.all([...this.routers].flatMap(([d, rs]) => rs.map(async (r, i) => [`${d}-r${i + 1}`, await this.running(r)] as const))));
  }

  /** The lab_device policies on a router: name -> committed rate and interface. */
  async policiesOn(r: NetconfDevice): Promise<Map<string, { rate: number; iface: string }>> {
    const xml = await this.onRouter(r, (c) => c.getConfig({ filter: { type: 'subtree', xml: `<device xmlns="${NS}"><qos/></device>` } }));
    const out = new Map<string, { rate: number; iface: string }>();
    for (const m of xml.matchAll(/<policy>([\s\S]*?)<\/policy>/g)) {
      const leaf = (k: string) => new RegExp(`<${k}>([^<]*)</${k}>`).exec(m[1]!)?.[1];
      out.set(leaf('name')!, { rate: Number(leaf('committed-rate-kbps')), iface: leaf('interface')! });
    }
    return out;
  }

  /** Committed rates of every policy on every router. */
  async allRates(): Promise<number[]> {
    const out: number[] = [];
    for (const rs of this.routers.values()) for (const r of rs) for (const p of (await this.policiesOn(r)).values()) out.push(p.rate);
    return out;
  }

  /** Booked (or held) bit/s on every link of a domain now. */
  async usedBps(d: Dom): Promise<number> {
    return (await this.stores.get(d)!.utilisation()).reduce((s, u) => s + u.usedBps, 0);
  }

  /** Poll dom-a's order until `ok`; the last state is in the error when it never comes. */
  async settled(id: string, ok: (o: OrderMsg) => boolean, what: string, timeoutMs = 30_000): Promise<OrderMsg> {
    let last: OrderMsg | undefined;
    await waitFor(what, async () => ok((last = await this.mgmt.getOrder(id))), timeoutMs).catch((err: Error) => {
      throw new Error(`${err.message}; last: ${JSON.stringify(last && { state: last.state, service: last.service_state, plan: last.plan, error: last.error })}`);
    });
    return last!;
  }
}
