/**
 * bench/e2e (root): the order path on a real data plane. The linux_tc routers
 * of containerlab/three-domain.clab.yml are brought up as network namespaces
 * by the lab runner; three qos-brokerd processes (domain-a -> domain-b ->
 * domain-c, mutual TLS, an embedded redis-server each) are configured as a
 * lab provider writes it: `devices-from:` the lab's inventory.json and the
 * inventory labInventory derives from the same file. Orders go to domain-a's
 * Management service (unix socket), as the CLI's do.
 *
 * 1. Order to active: CreateOrder(wait) latency of sequential orders host-a ->
 *    host-c (after a warm-up), each terminated afterwards. The floor, measured
 *    in the same run after each order: each domain's policies for it
 *    (designService on the same devices config) applied and verified alone
 *    with the library (provisionSegment: per router an SSH session, the tc
 *    lines, the read-back), one domain after the other; the domains provision
 *    in parallel, so the floor of an order is its slowest domain.
 * 2. Measured-rate accuracy: for each contracted rate (10, 20, 50 Mbit/s) an
 *    order is made active and iperf3 runs host-a -> host-c; the ratio is the
 *    flow's rate at the contracted layer over the contracted rate. The layer:
 *    Ethernet frames as the links carry them (destination MAC to the end of
 *    the IP packet), which is what each linux_tc shaper (HTB) counts per
 *    packet; iperf3 counts TCP payload, so its rate is taken to that layer
 *    with the run's MSS and the headers of each segment (lab/traffic.ts).
 *    Target: every ratio within 0.95-1.05. The goodput ratio is printed too.
 *    While iperf3 runs, domain-a's own measured rate (GetOrder's `measured`:
 *    its router's HTB class counters, sampled every MEASURE_INTERVAL_MS) is
 *    read: the mean of the samples whose window lies inside the flow after
 *    its first two seconds, over the contract and over iperf3's frame figure.
 *
 * Usage: npm run bench -- e2e [--warmup 2] [--orders 20] [--rates 10,20,50] [--seconds 5]
 * Last line: one JSON object.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { contractBody, type SignedContract } from '../../daemon/agreement/contract.js';
import { labInventory, type DeviceConfig } from '../../daemon/config/devices.js';
import { loadConfigFile } from '../../daemon/config/load.js';
import { ManagementClient } from '../../daemon/management/client.js';
import { designService, managedDevice } from '../../daemon/provisioning/domain.js';
import { provisionSegment, unprovisionSegment } from '../../daemon/provisioning/segment.js';
import { makePki, type TestPki } from '../../lab/pki.js';
import { labDown, labTraffic, labUp, type LabOptions, type LabUpResult } from '../../lab/runner.js';
import { beforeExit, clusterAddresses, converged, median, ownedDirs, quantile, reasonOf, round, spawnDaemon, stopDaemons, type BenchDaemon, type DomainAddress } from '../daemons.js';

const FILE = resolve(fileURLToPath(import.meta.url), '../../../../containerlab/three-domain.clab.yml');
const DOMAINS = ['domain-a', 'domain-b', 'domain-c'] as const;
type Dom = (typeof DOMAINS)[number];
const OFFER = { classes: { EF: { 'capacity-mbps': 200, 'latency-ms': 1, 'jitter-ms': 0.5, loss: 0 } }, prices: { currency: 'EUR', 'per-mbps-hour': { EF: 0.5 } } };
const spec = (rateMbps: number) => ({ from: 'domain-a/host-a', to: 'domain-c/host-c', qos_class: 'EF', rate_mbps: rateMbps, duration_ms: 3_600_000, max_latency_ms: 30 });
const ACCURACY = { min: 0.95, max: 1.05 };
/** domain-a's provisioning.measure-interval-ms here (the default is 5000: a 5 s flow would hold one window at most). */
const MEASURE_INTERVAL_MS = 1000;

export interface E2eResult {
  bench: 'e2e';
  /** Part 1: sequential orders timed (after the warm-up), failed among them. */
  orders: number;
  failed: number;
  p50_ms: number;
  p99_ms: number;
  /** Per order the slowest domain's apply+verify of its segment alone (library); its p50 and p99. */
  floor_ms: number;
  floor_p99_ms: number;
  floor_by_domain_ms: Record<string, number>;
  ratio_p50_vs_floor: number;
  ratio_p99_vs_floor_p99: number;
  /** Part 2: per contracted rate, the measured rate at the contracted layer (Ethernet frames) and iperf3's goodput, Mbit/s, and their ratios to the contract. */
  accuracy: Array<{ contracted_mbps: number; frame_mbps: number; goodput_mbps: number; ratio: number; goodput_ratio: number; mss: number; header_bytes: number; seconds: number; broker_mbps?: number; broker_samples: number; broker_ratio?: number; broker_vs_iperf?: number }>;
  target: { ratio: { min: number; max: number } };
  met: boolean;
  lab_up_ms: number;
  failures: Record<string, number>;
}

interface Daemon extends BenchDaemon, DomainAddress {}

export async function runE2e(opts: { warmup?: number; orders?: number; rates?: number[]; seconds?: number } = {}): Promise<E2eResult> {
  if (process.getuid?.() !== 0) throw new Error('bench e2e brings a lab up as network namespaces: run it as root');
  const warmup = opts.warmup ?? 2;
  const orders = opts.orders ?? 20;
  const rates = opts.rates ?? [10, 20, 50];
  const seconds = opts.seconds ?? 5;
  const dir = mkdtempSync(join(tmpdir(), 'qb-bench-e2e-'));
  ownedDirs.add(dir);
  const labOptions: LabOptions = { name: `qbb-e2e-${process.pid}`, mgmtSubnet: 'free', stateRoot: join(dir, 'lab') };
  let up: LabUpResult | undefined;
  let pki: TestPki | undefined;
  const daemons: Daemon[] = [];
  let mgmt: ManagementClient | undefined;
  const failures = new Map<string, number>();
  const failedWith = (reason: string) => failures.set(reason, (failures.get(reason) ?? 0) + 1);
  // a signal ends the bench: the lab goes with it (its namespaces outlive the process otherwise)
  const downLab = () => labDown(FILE, labOptions).then(() => undefined, () => undefined);
  beforeExit.add(downLab);
  try {
    pki = makePki();
    ownedDirs.add(pki.dir);
    up = await labUp(FILE, labOptions);
    console.log(`lab ${up.plan.name} up in ${(up.startupMs / 1000).toFixed(2)} s (${up.routers.length} linux_tc routers, management ${up.plan.mgmt.subnet})`);
    const cluster = await clusterAddresses();
    const addr = Object.fromEntries(DOMAINS.map((d, i) => [d, Object.values(cluster)[i]!])) as Record<Dom, DomainAddress>;
    const file = (d: Dom) => join(dir, `${d}.yaml`);
    const configs = new Map<Dom, Record<string, unknown>>();
    for (const d of [...DOMAINS].reverse()) {
      const keys = pki.domain(d);
      const dials = (n: Dom) => d === 'domain-a' || (d === 'domain-b' && n === 'domain-c');
      configs.set(d, {
        role: 'provider',
        'domain-id': d,
        listen: addr[d].grpc,
        'data-dir': join(dir, `${d}-data`),
        keys: { 'advert-key': keys.advertKey, 'tls-cert': keys.cert, 'tls-key': keys.key },
        peering: { 'hold-time-s': 9, 'advert-lifetime-s': 60, 'backoff-initial-ms': 100, 'backoff-max-ms': 1000 },
        peers: DOMAINS.filter((n) => n !== d).map((n) => ({ 'domain-id': n, 'ca-file': pki!.caCert, ...(dials(n) ? { address: addr[n].grpc } : {}) })),
        redis: { embedded: true },
        inventory: labInventory(up.plan, d, OFFER),
        'devices-from': join(up.stateDir, 'inventory.json'),
        admin: { listen: addr[d].admin },
        ...(d === 'domain-a' ? { provisioning: { 'measure-interval-ms': MEASURE_INTERVAL_MS } } : {}),
        log: { level: 'warn' },
      });
      daemons.push({ ...spawnDaemon(d, file(d), configs.get(d)!), ...addr[d] });
    }
    await converged(daemons, 60_000, 'domain-a');
    // the devices as the daemons read them (devices-from resolved): the floor designs from the same
    const devices = new Map<Dom, DeviceConfig[]>(DOMAINS.map((d) => [d, loadConfigFile(file(d)).devices]));
    mgmt = new ManagementClient(`unix:${configs.get('domain-a')!['data-dir'] as string}/management.sock`);
    const m = mgmt;

    // ---- 1. order to active, sequential, against the floor
    const floorOf = async (contract: SignedContract): Promise<Map<Dom, number>> => {
      const out = new Map<Dom, number>();
      for (const d of DOMAINS) {
        const devs = devices.get(d)!;
        const design = designService(contractBody(contract), d, devs);
        const t0 = performance.now();
        const done = await provisionSegment(design.map((x) => x.policy), devs.map(managedDevice));
        out.set(d, performance.now() - t0);
        await unprovisionSegment(done);
      }
      return out;
    };
    const lat: number[] = [];
    const floors: number[] = [];
    const floorBy = new Map<Dom, number[]>(DOMAINS.map((d) => [d, []]));
    let failed = 0;
    for (let i = 0; i < warmup + orders; i++) {
      const t0 = performance.now();
      const o = await m.createOrder(spec(10), 'bench', true);
      const took = performance.now() - t0;
      const timed = i >= warmup;
      if (o.state !== 'completed' || o.service_state !== 'active') {
        if (timed) failed++;
        failedWith(`sequential: ${reasonOf(o)}`);
        continue;
      }
      await m.terminateOrder(o.id);
      const floor = await floorOf(JSON.parse(o.contract_json) as SignedContract);
      if (!timed) continue;
      lat.push(took);
      floors.push(Math.max(...floor.values()));
      for (const [d, t] of floor) floorBy.get(d)!.push(t);
    }
    const p50 = quantile(lat, 0.5);
    const p99 = quantile(lat, 0.99);
    const floor = quantile(floors, 0.5);
    const floorP99 = quantile(floors, 0.99);
    console.log(`order to active on linux_tc, ${lat.length} sequential orders (after ${warmup} untimed): p50 ${p50.toFixed(1)} ms, p99 ${p99.toFixed(1)} ms, ${failed} failed`);
    console.log(`floor (slowest domain's apply+verify of its segment alone, library, same routers): p50 ${floor.toFixed(1)} ms, p99 ${floorP99.toFixed(1)} ms (${[...floorBy].map(([d, t]) => `${d} ${median(t).toFixed(1)}`).join(', ')}); p50/floor ${(p50 / floor).toFixed(2)}, p99/floor p99 ${(p99 / floorP99).toFixed(2)}`);

    // ---- 2. measured-rate accuracy
    const accuracy: E2eResult['accuracy'] = [];
    for (const rate of rates) {
      const o = await m.createOrder(spec(rate), 'bench', true);
      if (o.state !== 'completed' || o.service_state !== 'active') {
        failedWith(`accuracy ${rate} Mbit/s: ${reasonOf(o)}`);
        continue;
      }
      try {
        const t0 = Date.now();
        let done = false;
        const flow = labTraffic(FILE, { from: 'host-a', to: 'host-c', seconds }, labOptions).finally(() => (done = true));
        // the broker's own figure meanwhile: each sample whose window lies inside the flow after its first two seconds
        // (iperf3 starts some time after labTraffic is called, longer on a loaded machine)
        const inside = new Map<string, number>();
        while (!done) {
          const ms = (await m.getOrder(o.id)).measured;
          if (ms && Date.parse(ms.at) - ms.interval_ms >= t0 + 2000 && Date.parse(ms.at) <= t0 + seconds * 1000) inside.set(ms.at, ms.rate_mbps);
          await Promise.race([flow.catch(() => undefined), new Promise((r) => setTimeout(r, MEASURE_INTERVAL_MS / 4))]);
        }
        const t = await flow;
        const broker = inside.size ? [...inside.values()].reduce((a, b) => a + b, 0) / inside.size : undefined;
        const row = {
          contracted_mbps: rate,
          frame_mbps: round(t.frameBitsPerSecond / 1e6, 3),
          goodput_mbps: round(t.receivedBitsPerSecond / 1e6, 3),
          ratio: round(t.frameBitsPerSecond / 1e6 / rate, 4),
          goodput_ratio: round(t.receivedBitsPerSecond / 1e6 / rate, 4),
          mss: t.mss,
          header_bytes: t.headerBytesPerSegment,
          seconds,
          ...(broker !== undefined ? { broker_mbps: round(broker, 3), broker_ratio: round(broker / rate, 4), broker_vs_iperf: round(broker / (t.frameBitsPerSecond / 1e6), 4) } : {}),
          broker_samples: inside.size,
        };
        accuracy.push(row);
        console.log(`contracted ${rate} Mbit/s: measured ${row.frame_mbps} Mbit/s as Ethernet frames (ratio ${row.ratio}), iperf3 goodput ${row.goodput_mbps} Mbit/s (ratio ${row.goodput_ratio}; MSS ${t.mss}, ${t.headerBytesPerSegment} header bytes a segment), over ${seconds} s`);
        console.log(`  domain-a's measured rate meanwhile: ${broker === undefined ? 'none' : `${round(broker, 3)} Mbit/s (ratio ${row.broker_ratio}, ${row.broker_vs_iperf} of iperf3's frame figure)`} from ${inside.size} sample(s) every ${MEASURE_INTERVAL_MS} ms (${[...inside.values()].map((x) => x.toFixed(2)).join(', ')})`);
      } finally {
        await m.terminateOrder(o.id);
      }
    }
    const reasons = [...failures].sort((x, y) => y[1] - x[1]);
    for (const [reason, n] of reasons.slice(0, 10)) console.log(`failed ${n}x: ${reason}`);
    const accurate = accuracy.length === rates.length && accuracy.every((a) => a.ratio >= ACCURACY.min && a.ratio <= ACCURACY.max);
    return {
      bench: 'e2e',
      orders: lat.length,
      failed,
      p50_ms: round(p50, 1),
      p99_ms: round(p99, 1),
      floor_ms: round(floor, 1),
      floor_p99_ms: round(floorP99, 1),
      floor_by_domain_ms: Object.fromEntries([...floorBy].map(([d, t]) => [d, round(median(t), 1)])),
      ratio_p50_vs_floor: round(p50 / floor, 3),
      ratio_p99_vs_floor_p99: round(p99 / floorP99, 3),
      accuracy,
      target: { ratio: ACCURACY },
      met: failed === 0 && accurate,
      lab_up_ms: up.startupMs,
      failures: Object.fromEntries(reasons),
    };
  } finally {
    mgmt?.close();
    await stopDaemons(daemons);
    await downLab();
    beforeExit.delete(downLab);
    rmSync(dir, { recursive: true, force: true });
    pki?.cleanup();
    ownedDirs.clear();
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({ options: { warmup: { type: 'string' }, orders: { type: 'string' }, rates: { type: 'string' }, seconds: { type: 'string' } } });
  const num = (v: string | undefined, name: string, min = 1) => {
    if (v === undefined) return undefined;
    const x = Number(v);
    if (!(Number.isFinite(x) && x >= min)) throw new Error(`--${name} must be a number >= ${min}, got ${v}`);
    return x;
  };
  runE2e({
    warmup: num(values.warmup, 'warmup', 0),
    orders: num(values.orders, 'orders'),
    rates: values.rates?.split(',').map((r) => num(r, 'rates', 0.001)!),
    seconds: num(values.seconds, 'seconds'),
  }).then(
    (r) => console.log(JSON.stringify(r)),
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
}
