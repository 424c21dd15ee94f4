/**
 * Three real qos-brokerd processes (domain-a -> domain-b -> domain-c) driving
 * the linux_tc routers of containerlab/three-domain.clab.yml, brought up as
 * network namespaces by the project's lab runner (root). Each daemon's config
 * is what a lab provider writes: `devices-from:` the lab's inventory.json and
 * the inventory labInventory derives from the same file (its classes and
 * prices are the provider's); the daemons peer over mTLS with the lab PKI
 * (BrokerTrio). The tests read every router's tc state in its namespace and
 * measure the data plane with iperf3 between the hosts; the originator
 * samples its routers' counters every MEASURE_INTERVAL_MS (the measured
 * rate of getOrder). stop() removes the
 * daemons, the redis-server, the lab and every temp dir.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { BrokerTrio } from '../daemon/brokerd/broker-trio.js';
import { labInventory } from '../../daemon/config/devices.js';
import { labDown, labExec, labTraffic, labUp, type LabOptions, type LabUpResult, type TrafficResult } from '../../lab/runner.js';

export const FILE = resolve(import.meta.dirname, '../../containerlab/three-domain.clab.yml');
export const LAB_DOMAINS = ['domain-a', 'domain-b', 'domain-c'] as const;
export type LabDom = (typeof LAB_DOMAINS)[number];

/** How often the daemons sample their routers' counters, ms. */
export const MEASURE_INTERVAL_MS = 1000;

/** What each provider offers on every transit and link of the lab, and its price. */
export const OFFER = {
  classes: { EF: { 'capacity-mbps': 200, 'latency-ms': 1, 'jitter-ms': 0.5, loss: 0 } },
  prices: { currency: 'EUR', 'per-mbps-hour': { EF: 0.5 } },
};

/** The order of the tests: EF from host-a (domain-a) to host-c (domain-c), within 30 ms, for an hour. */
export const labSpec = (over: Partial<{ rate_mbps: number; duration_ms: number }> = {}) => ({ from: 'domain-a/host-a', to: 'domain-c/host-c', qos_class: 'EF', rate_mbps: 10, duration_ms: 3_600_000, max_latency_ms: 30, ...over });

/** One router's tc objects on one interface: HTB classes and the u32/fw filter entries into them. */
export interface TcObjects {
  classes: Array<{ classid: string; rate: string }>;
  filters: Array<{ flowid: string; matches: string[] }>;
}

export class LinuxTcTrio extends BrokerTrio<LabDom> {
  private stateRoot?: string;
  /** The lab's name is unique per process; its management subnet one no other lab uses; its state in a temp dir. */
  labOptions!: LabOptions;
  up!: LabUpResult;

  constructor(private readonly name: string) {
    super(LAB_DOMAINS);
  }

  protected async startRouters(): Promise<void> {
    this.stateRoot = mkdtempSync(join(tmpdir(), 'qb-e2e-3d-'));
    this.labOptions = { name: this.name, mgmtSubnet: 'free', stateRoot: this.stateRoot };
    this.up = await labUp(FILE, this.labOptions);
  }

  protected routerConfig(d: LabDom): Record<string, unknown> {
    // the originator samples its routers' counters every second (the measured rate); the others originate nothing here
    return { inventory: labInventory(this.up.plan, d, OFFER), 'devices-from': join(this.up.stateDir, 'inventory.json'), provisioning: { 'measure-interval-ms': MEASURE_INTERVAL_MS } };
  }

  protected async stopRouters(): Promise<void> {
    if (!this.stateRoot) return;
    await labDown(FILE, this.labOptions).catch(() => undefined);
    rmSync(this.stateRoot, { recursive: true, force: true });
  }

  /** The lab's routers (node names) with their data interfaces. */
  get routerInterfaces(): Array<{ node: string; domain: string; interfaces: string[] }> {
    return this.up.plan.nodes.filter((n) => n.role !== 'host').map((n) => ({ node: n.name, domain: n.domain!, interfaces: n.interfaces.map((i) => i.name) }));
  }

  /** Run a shell line in a node's namespace; its stdout (a non-zero exit throws). */
  async sh(node: string, line: string): Promise<string> {
    const r = await labExec(FILE, node, ['sh', '-c', line], this.labOptions);
    if (r.code !== 0) throw new Error(`${node}: ${line} exited ${r.code}: ${r.stderr.trim()}`);
    return r.stdout;
  }

  /** Every router's whole tc state (qdiscs, classes, filters of every data interface), by node. */
  async tcState(): Promise<Record<string, string>> {
    const all = await Promise.all(
      this.routerInterfaces.map(async (r) => [r.node, await this.sh(r.node, r.interfaces.map((i) => `echo "## ${i}"; tc qdisc show dev ${i}; tc class show dev ${i}; tc filter show dev ${i}`).join('; '))] as const),
    );
    return Object.fromEntries(all);
  }

  /** The HTB classes and filter entries (flowid, match keys) on every data interface of a router. */
  async tcObjects(node: string): Promise<Record<string, TcObjects>> {
    const r = this.routerInterfaces.find((x) => x.node === node)!;
    const out: Record<string, TcObjects> = {};
    for (const i of r.interfaces) {
      const classes = [...(await this.sh(node, `tc class show dev ${i}`)).matchAll(/^class htb (\S+) .*\brate (\S+)/gm)].map((m) => ({ classid: m[1]!, rate: m[2]! }));
      const filters: TcObjects['filters'] = [];
      let cur: TcObjects['filters'][number] | undefined;
      for (const line of (await this.sh(node, `tc filter show dev ${i}`)).split('\n')) {
        if (line.startsWith('filter ')) {
          const f = /\b(?:flowid|classid) (\S+)/.exec(line);
          cur = f ? { flowid: f[1]!, matches: [] } : undefined;
          if (cur) filters.push(cur);
        } else if (cur && /^\s+match /.test(line)) cur.matches.push(line.trim());
      }
      out[i] = { classes, filters };
    }
    return out;
  }

  /** iperf3 between two nodes of the lab (TCP, the receiver's rate). */
  traffic(from: string, to: string, seconds: number, port?: number): Promise<TrafficResult> {
    return labTraffic(FILE, { from, to, seconds, ...(port ? { port } : {}) }, this.labOptions);
  }
}
