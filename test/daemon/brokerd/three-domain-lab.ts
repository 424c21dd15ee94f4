/**
 * Three provider daemons (dom-a -> dom-b -> dom-c, mutual TLS, one
 * redis-server) each with two lab routers (a real netconfd behind a real sshd
 * on loopback, the lab_device model) in its `devices:` config, for the order
 * lifecycle tests. r1 is border b1 (the site on eth1, the core on eth2), r2
 * border b2 (the core on eth2, one peer interface per neighbour from eth3).
 * Orders go in through dom-a's Management service; the tests read the
 * routers' running configs over NETCONF and every domain's bookings in Redis
 * themselves. stop() removes everything started. The daemons' part is
 * BrokerTrio (broker-trio.ts), which the root lab's harness shares.
 */
import { BrokerTrio, type BrokerTrioOptions } from './broker-trio.js';
import { inventory } from './harness.js';
import { NetconfClient } from '../../../drivers/netconf/client.js';
import { startNetconfDevice, type NetconfDevice } from '../../../lab/netconf-device.js';

export const NS = 'urn:qos-broker:yang:lab-device';
export const DOMAINS = ['dom-a', 'dom-b', 'dom-c'] as const;
export type Dom = (typeof DOMAINS)[number];
const NEIGHBOURS: Record<Dom, string[]> = { 'dom-a': ['dom-b'], 'dom-b': ['dom-a', 'dom-c'], 'dom-c': ['dom-b'] };

/** The order of the tests: EF 10 Mbit/s from dom-a's site to dom-c's, within 30 ms, for an hour. */
export const spec = (over: Partial<{ rate_mbps: number; duration_ms: number; start_ms: number }> = {}) => ({ from: 'dom-a/dom-a-site', to: 'dom-c/dom-c-site', qos_class: 'EF', rate_mbps: 10, duration_ms: 3_600_000, max_latency_ms: 30, ...over });

/**
 * The policies the orders of `spec` with these agreement ids put on each
 * router, sorted: the egress towards the next domain (or the site) and the
 * core side of the ingress where that is another router (dom-c-r2 carries none), as
 * the first lifecycle test finds for one order.
 */
export function expectedPolicyNames(agreementIds: string[]): Record<string, string[]> {
  const id = (a: string, d: string, k: number) => `${a}-${d}-${k}`;
  const on = (d: string, k: number) => agreementIds.map((a) => id(a, d, k)).sort();
  return { 'dom-a-r1': on('dom-a', 1), 'dom-a-r2': on('dom-a', 0), 'dom-b-r1': on('dom-b', 3), 'dom-b-r2': on('dom-b', 2), 'dom-c-r1': on('dom-c', 4), 'dom-c-r2': [] };
}

export type ThreeDomainLabOptions = BrokerTrioOptions<Dom>;

export class ThreeDomainLab extends BrokerTrio<Dom> {
  constructor(opts: ThreeDomainLabOptions = {}) {
    super(DOMAINS, opts);
  }

  readonly routers = new Map<Dom, NetconfDevice[]>();

  protected async startRouters(): Promise<void> {
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
  }

  protected routerConfig(d: Dom): Record<string, unknown> {
    return { inventory: inventory(d, NEIGHBOURS[d]), devices: this.devicesOf(d) };
  }

  protected async stopRouters(): Promise<void> {
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

  /** The names of the policies on every router, sorted, by `dom-x-rN`. */
  async allPolicyNames(): Promise<Record<string, string[]>> {
    return Object.fromEntries(await Promise.all([...this.routers].flatMap(([d, rs]) => rs.map(async (r, i) => [`${d}-r${i + 1}`, [...(await this.policiesOn(r)).keys()].sort()] as const))));
  }

  /** Committed rates of every policy on every router. */
  async allRates(): Promise<number[]> {
    const out: number[] = [];
    for (const rs of this.routers.values()) for (const r of rs) for (const p of (await this.policiesOn(r)).values()) out.push(p.rate);
    return out;
  }
}
