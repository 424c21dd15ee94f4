/**
 * Three provider daemons in a line (origin -> transit -> far end, mutual
 * TLS with the lab PKI, one redis-server) and the routers they provision,
 * for the tests that drive the order path through real qos-brokerd
 * processes. Where the routers come from is the subclass's part: lab
 * NETCONF devices on loopback (three-domain-lab.ts) or the linux_tc routers
 * of a containerlab topology brought up as namespaces (test/e2e). Orders go
 * in through the origin's Management service (the CLI's); stop() removes
 * every daemon, the redis-server and the temp dirs.
 */
import { Redis } from 'ioredis';
import { Cluster, waitFor, type Daemon } from './harness.js';
import { ManagementClient } from '../../../daemon/management/client.js';
import type { OrderMsg } from '../../../daemon/management/proto.js';
import { RedisResourceStore } from '../../../daemon/state/redis-store.js';
import type { DomainFiles } from '../../../lab/pki.js';

const peering = { 'hold-time-s': 3, 'advert-lifetime-s': 30, 'poll-interval-ms': 500, 'backoff-initial-ms': 100, 'backoff-max-ms': 1000 };

export interface BrokerTrioOptions<D extends string> {
  /** Extra config keys of a domain's daemon (e.g. a `northbound:` listener on its host). */
  config?: (d: D, host: string) => Record<string, unknown> | Promise<Record<string, unknown>>;
}

export abstract class BrokerTrio<D extends string> {
  constructor(
    /** Origin, transit, far end: the origin dials both, the transit the far end. */
    readonly domains: readonly [D, D, D],
    private readonly opts: BrokerTrioOptions<D> = {},
  ) {}

  readonly cluster = new Cluster();
  readonly daemons = new Map<D, Daemon>();
  readonly files = new Map<D, DomainFiles>();
  readonly configs = new Map<D, Record<string, unknown>>();
  private readonly stores = new Map<D, RedisResourceStore>();
  private readonly addrs = new Map<D, { host: string; grpc: string; admin: string; metrics: string }>();
  redis!: Redis;
  mgmt!: ManagementClient;

  /** Start the routers of every domain (before any daemon). */
  protected abstract startRouters(): Promise<void>;
  /** The config keys that give a domain its routers and inventory (`devices`/`devices-from`, `inventory`). */
  protected abstract routerConfig(d: D): Record<string, unknown>;
  /** Stop what startRouters started (also after a partial start). */
  protected abstract stopRouters(): Promise<void>;

  get origin(): D {
    return this.domains[0];
  }

  async start(): Promise<void> {
    const cluster = this.cluster;
    await cluster.init();
    this.redis = new Redis({ path: cluster.redis.server.socketPath });
    const ca = cluster.pki.caCert;
    for (const d of this.domains) {
      this.files.set(d, cluster.pki.domain(d));
      this.addrs.set(d, await cluster.allocate());
      this.stores.set(d, new RedisResourceStore({ domain: d, redis: this.redis }));
    }
    await this.startRouters();
    const [a, b, c] = this.domains;
    const peer = (n: D, dial: boolean) => ({ 'domain-id': n, 'ca-file': ca, ...(dial ? { address: this.addrs.get(n)!.grpc } : {}) });
    this.configs.set(c, { role: 'provider', peering, peers: [peer(a, false), peer(b, false)], ...this.routerConfig(c) });
    this.configs.set(b, { role: 'provider', peering, peers: [peer(a, false), peer(c, true)], ...this.routerConfig(b) });
    this.configs.set(a, { role: 'provider', peering, peers: [peer(b, true), peer(c, true)], ...this.routerConfig(a), agreement: { 'hold-ttl-ms': 10_000, 'call-timeout-ms': 3000 } });
    for (const d of this.domains) if (this.opts.config) Object.assign(this.configs.get(d)!, await this.opts.config(d, this.addrs.get(d)!.host));
    for (const d of [c, b, a]) await this.startDomain(d);
    this.mgmt = new ManagementClient(`unix:${this.daemons.get(a)!.config['data-dir'] as string}/management.sock`);
    await this.connected();
  }

  /** Every daemon peers as configured and holds all three advertisements. */
  async connected(): Promise<void> {
    await waitFor(`${this.origin} established with the other two`, async () => ((await this.daemons.get(this.origin)!.get('/v1/peers')).peers as { state: string }[]).every((p) => p.state === 'established'));
    for (const d of this.domains) await waitFor(`${d} holds all three adverts`, async () => ((await this.daemons.get(d)!.get('/v1/adverts')).adverts as unknown[]).length === 3);
  }

  async stop(): Promise<void> {
    this.mgmt?.close();
    for (const s of this.stores.values()) await s.close().catch(() => {});
    this.redis?.disconnect();
    await this.cluster.stopAll();
    await this.stopRouters();
  }

  /** (Re)start a domain's daemon from its config; the management client follows the origin. */
  async startDomain(d: D, env: Record<string, string> = {}): Promise<Daemon> {
    const daemon = await this.cluster.start(this.files.get(d)!, this.addrs.get(d)!, this.configs.get(d)!, undefined, env);
    this.daemons.set(d, daemon);
    if (d === this.origin && this.mgmt) {
      this.mgmt.close();
      this.mgmt = new ManagementClient(this.mgmt.address);
    }
    return daemon;
  }

  /** Kill a daemon (SIGKILL by default) and wait for it to be gone. */
  async kill(d: D, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const daemon = this.daemons.get(d)!;
    if (daemon.proc.exitCode === null && daemon.proc.signalCode === null) daemon.proc.kill(signal);
    await daemon.exited;
  }

  /** Booked (or held) bit/s on every link of a domain now. */
  async usedBps(d: D): Promise<number> {
    return (await this.stores.get(d)!.utilisation()).reduce((s, u) => s + u.usedBps, 0);
  }

  /** Poll the origin's order until `ok`; the last state is in the error when it never comes. */
  async settled(id: string, ok: (o: OrderMsg) => boolean, what: string, timeoutMs = 30_000): Promise<OrderMsg> {
    let last: OrderMsg | undefined;
    await waitFor(what, async () => ok((last = await this.mgmt.getOrder(id))), timeoutMs).catch((err: Error) => {
      throw new Error(`${err.message}; last: ${JSON.stringify(last && { state: last.state, service: last.service_state, plan: last.plan, error: last.error })}`);
    });
    return last!;
  }
}
