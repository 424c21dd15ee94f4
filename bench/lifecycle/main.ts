/**
 * bench/lifecycle: an order carried to a live service by three qos-brokerd
 * processes (dom-a -> dom-b -> dom-c on loopback, mutual TLS, an embedded
 * redis-server each), each provisioning two lab routers (a real netconfd
 * behind a real sshd, the lab_device model) from its `devices:` config.
 * Orders go to dom-a's Management service (unix socket), as the CLI's do.
 *
 * 1. Order to active: CreateOrder(wait) latency of sequential orders (after
 *    a warm-up), each terminated afterwards. The floor, measured in the same
 *    run after each order: the same policies the daemons rendered for it
 *    (designService on the same devices config), applied and verified with
 *    the library alone (provisionSegment: per device lock, edit, confirmed
 *    commit, read back, confirm) on the same routers, one domain after the
 *    other; domains provision in parallel, so the floor of an order is its
 *    slowest domain. The daemons keep one NETCONF session per device open, so
 *    the floor does too (its sessions opened before it is timed); the same
 *    with a new session per apply (SSH handshake and hello included: what the
 *    daemons did before) is reported beside it. The same applies are also
 *    timed in all three domains at once, as the daemons provision them: the
 *    slowest domain's apply+verify then. Target: p50 at most 1.5x the floor's
 *    p50, the floor judged being the latter (all domains at once: on this
 *    machine the domains' routers share its cores, so the slowest domain alone
 *    is faster than any order's provisioning can be; bench/README.md says why);
 *    the ratio to the slowest domain alone is printed beside it. Where an
 *    order's time goes is split from its plan.
 * 2. Orders/s with N in flight (closed loop), each CreateOrder(wait) to active
 *    (run last: orders it leaves unfinished would be resumed by part 3's restart).
 * 3. Reconcile after a restart: --services orders are made active first
 *    (CreateOrder(wait), --setup-inflight at once, 20 by default: segments
 *    waiting for the same routers share a transaction); dom-a gets SIGTERM and
 *    starts again; timed from its spawn until its workflow logs "orders
 *    reconciled" (after the provisioner's recovery). That recovery reads every
 *    order and segment record and resumes the unfinished ones; it reads no
 *    device. What reading the devices back would cost is measured apart:
 *    CheckSync (each of dom-a's devices of the service read over NETCONF) on a
 *    sample of the services, per service.
 *
 * Usage: npm run bench -- lifecycle [--warmup 5] [--orders 40] [--inflight 20]
 *          [--concurrent-orders 100] [--services 1000] [--setup-inflight 20] [--check-sync-sample 20]
 * Last line: one JSON object.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { contractBody, type SignedContract } from '../../daemon/agreement/contract.js';
import { loadConfigFile } from '../../daemon/config/load.js';
import type { DeviceConfig } from '../../daemon/config/devices.js';
import { ManagementClient } from '../../daemon/management/client.js';
import { designService, managedDevice } from '../../daemon/provisioning/domain.js';
import { SessionPool, freshSessions, provisionSegment, unprovisionSegment, type NetconfSessions } from '../../daemon/provisioning/segment.js';
import { NetconfClient } from '../../drivers/netconf/client.js';
import { startNetconfDevice, type NetconfDevice } from '../../lab/netconf-device.js';
import { makePki, type TestPki } from '../../lab/pki.js';
import { clusterAddresses, converged, DOMAINS, domainConfig, median, ownedDirs, ownedPids, quantile, reasonOf, round, spawnDaemon, stopDaemons, type BenchDaemon, type Domain, type DomainAddress } from '../daemons.js';

const NS = 'urn:qos-broker:yang:lab-device';
const TARGET_RATIO = 1.5;
/** What the bench orders: 1 Mbit/s EF for an hour from dom-a's site to dom-c's (capacity is 100 Gbit/s a link: never the limit). */
const SPEC = { from: 'dom-a/dom-a-site', to: 'dom-c/dom-c-site', qos_class: 'EF', rate_mbps: 1, duration_ms: 3_600_000, max_latency_ms: 30 };

export interface LifecycleResult {
  bench: 'lifecycle';
  /** Part 1: sequential orders timed (after the warm-up), failed among them. */
  orders: number;
  failed: number;
  p50_ms: number;
  p99_ms: number;
  /** Per order the slowest domain's apply+verify with the library alone; its p50 and p99. */
  floor_ms: number;
  floor_p99_ms: number;
  /** p50 of each domain's own apply+verify. */
  floor_by_domain_ms: Record<string, number>;
  /** The same floor with a new NETCONF session (SSH handshake, hello) per apply, and p50 against it. */
  floor_new_session_ms: number;
  ratio_p50_vs_floor_new_session: number;
  /** Where an order's time went (p50 of each part, ms, dom-a's clock): before the agree step, agree, to the first provision step, the provision steps (first start to last finish), to completed, and CreateOrder's answer after that. */
  split_ms: Record<string, number>;
  split_provision_by_domain_ms: Record<string, number>;
  /** The same policies applied+verified by the library in all three domains at once (as the daemons do): p50 of the slowest. The floor `met` judges. */
  floor_parallel_ms: number;
  /** p50 against floor_parallel_ms (what `met` judges), and floor_parallel_ms against floor_ms (what the domains applying at once cost on this machine's `cpus` cores). */
  ratio_p50_vs_floor_parallel: number;
  ratio_floor_parallel_vs_floor: number;
  cpus: number;
  /** From the orders' plans (dom-a's clock): p50 of the agree step and of the provision steps (all domains, in parallel). */
  plan_agree_ms: number;
  plan_provision_ms: number;
  ratio_p50_vs_floor: number;
  /** `met`: no order failed and p50 / floor_parallel_ms at most this. */
  target: { ratio_p50_vs_floor_parallel: number };
  met: boolean;
  /** Part 2: closed loop with `inflight` orders at once. */
  inflight: number;
  concurrent_orders: number;
  concurrent_failed: number;
  orders_per_s: number;
  concurrent_p50_ms: number;
  concurrent_p99_ms: number;
  /** Part 3: active services when dom-a was stopped, how long creating them took, and the restart. */
  services_active: number;
  services_failed: number;
  services_setup_s: number;
  /** From dom-a's spawn until "qos-brokerd started", and until "orders reconciled". */
  restart_started_ms: number;
  reconcile_ms: number;
  /** Until every device that carries active services was read back once and compared ("active segments reconciled with the devices"), and what it found. */
  reconcile_devices_ms: number;
  reconciled_segments: number;
  reconciled_devices: number;
  reconciled_redeployed: number;
  /** What the "orders reconciled" line says: orders read, orders resumed. */
  reconciled_orders: number;
  reconciled_resumed: number;
  /** CheckSync (devices read back) of a sample of the active services after the restart. */
  check_sync_sample: number;
  check_sync_in_sync: number;
  check_sync_ms_per_service: number;
  /** Failed orders counted by reason, over all parts. */
  failures: Record<string, number>;
}

interface Daemon extends BenchDaemon, DomainAddress {}

/** The lab routers of a domain: r1 at border b1 (the site on eth1, core eth2), r2 at b2 (core eth2, a peer interface per neighbour from eth3). */
function devicesOf(d: Domain, routers: NetconfDevice[]): Record<string, unknown>[] {
  const [r1, r2] = routers;
  const peers = DOMAINS.filter((n) => Math.abs(DOMAINS.indexOf(n) - DOMAINS.indexOf(d)) === 1);
  const access = (r: NetconfDevice) => ({ host: r.host, port: r.port, username: r.username, 'key-file': r.privateKeyFile, 'known-hosts-file': r.knownHostsFile, 'hello-settle-ms': 20, 'confirm-timeout-s': 30 });
  return [
    { name: `${d}-r1`, platform: 'lab_device', border: 'b1', ...access(r1!), interfaces: [{ name: 'eth1', role: 'customer', site: `${d}-site` }, { name: 'eth2', role: 'core' }] },
    { name: `${d}-r2`, platform: 'lab_device', border: 'b2', ...access(r2!), interfaces: [{ name: 'eth2', role: 'core' }, ...peers.map((n, i) => ({ name: `eth${3 + i}`, role: 'peer', 'peer-domain': n }))] },
  ];
}

async function startRouters(dir: string): Promise<NetconfDevice[]> {
  const started = await Promise.allSettled(
    DOMAINS.flatMap((d) =>
      [1, 2].map(async (i) => {
        const r = await startNetconfDevice({ stateDir: join(dir, `${d}-r${i}`) });
        ownedPids.add(r.pids.sshd).add(r.pids.netconfd);
        return r;
      }),
    ),
  );
  const routers = started.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  const bad = started.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (bad) {
    await stopRouters(routers);
    throw bad.reason;
  }
  // every router knows the interfaces its devices entry names (a policy's interface is a leafref)
  const ifs = ['eth1', 'eth2', 'eth3', 'eth4'].map((n) => `<interface><name>${n}</name><speed-mbps>1000</speed-mbps></interface>`).join('');
  await Promise.all(
    routers.map(async (r) => {
      const c = await NetconfClient.connect({ host: r.host, port: r.port, username: r.username, privateKeyFile: r.privateKeyFile, knownHostsFile: r.knownHostsFile, helloSettleMs: 20 });
      try {
        await c.editConfig({ config: `<device xmlns="${NS}"><interfaces>${ifs}</interfaces></device>` });
        await c.commit();
      } finally {
        await c.close();
      }
    }),
  );
  return routers;
}

async function stopRouters(routers: NetconfDevice[]): Promise<void> {
  await Promise.all(routers.map((r) => r.stop()));
  for (const r of routers) ownedPids.delete(r.pids.sshd) && ownedPids.delete(r.pids.netconfd);
}

export async function runLifecycle(opts: { warmup?: number; orders?: number; inflight?: number; concurrentOrders?: number; services?: number; setupInflight?: number; checkSyncSample?: number } = {}): Promise<LifecycleResult> {
  const warmup = opts.warmup ?? 5;
  const orders = opts.orders ?? 40;
  const inflight = opts.inflight ?? 20;
  const concurrentOrders = opts.concurrentOrders ?? 100;
  const services = opts.services ?? 1000;
  const sample = opts.checkSyncSample ?? 20;
  const setupInflight = opts.setupInflight ?? 20;
  const dir = mkdtempSync(join(tmpdir(), 'qb-bench-lifecycle-'));
  ownedDirs.add(dir);
  let pki: TestPki | undefined;
  let routers: NetconfDevice[] = [];
  const daemons: Daemon[] = [];
  let mgmt: ManagementClient | undefined;
  let floorPool: SessionPool | undefined;
  const failures = new Map<string, number>();
  const failedWith = (reason: string) => failures.set(reason, (failures.get(reason) ?? 0) + 1);
  try {
    pki = makePki();
    ownedDirs.add(pki.dir);
    routers = await startRouters(join(dir, 'routers'));
    const routersOf = (d: Domain) => routers.slice(2 * DOMAINS.indexOf(d), 2 * DOMAINS.indexOf(d) + 2);
    const addr = await clusterAddresses();
    const configs = new Map<Domain, Record<string, unknown>>();
    const file = (d: Domain) => join(dir, `${d}.yaml`);
    for (const d of [...DOMAINS].reverse()) {
      configs.set(d, domainConfig(d, dir, pki, addr, { devices: devicesOf(d, routersOf(d)), ...(process.env.QB_BENCH_DAEMON_LOG_DIR ? { log: { level: 'info' } } : {}) }));
      daemons.push({ ...spawnDaemon(d, file(d), configs.get(d)!), ...addr[d] });
    }
    await converged(daemons);
    // the devices as the daemons read them from their configs: the floor renders from the same
    const devices = new Map<Domain, DeviceConfig[]>(DOMAINS.map((d) => [d, loadConfigFile(file(d)).devices]));
    const dataDir = (d: Domain) => configs.get(d)!['data-dir'] as string;
    mgmt = new ManagementClient(`unix:${dataDir('dom-a')}/management.sock`);
    let m = mgmt;

    // ---- 1. order to active, sequential, against the floor
    /** Apply+verify of the order's policies per domain with the library alone, one domain after the other; removed again untimed. */
    // the daemons keep one NETCONF session per device open (SessionPool): the floor does the same
    // (sessions opened before it is timed); the floor with a new session per apply is measured too
    const pool = new SessionPool();
    floorPool = pool;
    const applyVerify = async (contract: SignedContract, d: Domain, sessions: NetconfSessions = pool) => {
      const devs = devices.get(d)!;
      const design = designService(contractBody(contract), d, devs);
      const t0 = performance.now();
      const done = await provisionSegment(design.map((x) => x.policy), devs.map(managedDevice), () => [], sessions);
      return { ms: performance.now() - t0, done };
    };
    const floorOf = async (contract: SignedContract, sessions: NetconfSessions = pool): Promise<Map<Domain, number>> => {
      const out = new Map<Domain, number>();
      for (const d of DOMAINS) {
        const { ms, done } = await applyVerify(contract, d, sessions);
        out.set(d, ms);
        await unprovisionSegment(done, pool);
      }
      return out;
    };
    /** The same in every domain at once: the daemons' parallelism without the daemons (the domains share two cores). */
    const parallelOf = async (contract: SignedContract): Promise<number> => {
      const all = await Promise.all(DOMAINS.map((d) => applyVerify(contract, d)));
      for (const x of all) await unprovisionSegment(x.done, pool);
      return Math.max(...all.map((x) => x.ms));
    };
    const ms = (a: string, b: string) => Date.parse(b) - Date.parse(a);
    const lat: number[] = [];
    const floors: number[] = [];
    const floorBy = new Map<Domain, number[]>(DOMAINS.map((d) => [d, []]));
    const planAgree: number[] = [];
    const planProvision: number[] = [];
    const parallel: number[] = [];
    const coldFloors: number[] = [];
    /** Where an order's time went, from its plan and record (dom-a's clock), ms each. */
    const split = { before_agree: [] as number[], agree: [] as number[], agree_to_provision: [] as number[], provision_slowest: [] as number[], provision_to_completed: [] as number[], reply: [] as number[] };
    const splitBy = new Map<Domain, number[]>(DOMAINS.map((d) => [d, []]));
    let failed = 0;
    for (let i = 0; i < warmup + orders; i++) {
      const t0 = performance.now();
      const o = await m.createOrder(SPEC, 'bench', true);
      const took = performance.now() - t0;
      const timed = i >= warmup;
      if (o.state !== 'completed' || o.service_state !== 'active') {
        if (timed) failed++;
        failedWith(`sequential: ${reasonOf(o)}`);
        continue;
      }
      await m.terminateOrder(o.id);
      const contract = JSON.parse(o.contract_json) as SignedContract;
      const floor = await floorOf(contract);
      const cold = await floorOf(contract, freshSessions);
      const par = await parallelOf(contract);
      if (!timed) continue;
      parallel.push(par);
      coldFloors.push(Math.max(...cold.values()));
      const agree = o.plan.find((s) => s.step === 'agree')!;
      const provs = o.plan.filter((s) => s.step === 'provision');
      const provStart = Math.min(...provs.map((s) => Date.parse(s.started)));
      const provEnd = Math.max(...provs.map((s) => Date.parse(s.finished)));
      split.before_agree.push(ms(o.created_at, agree.started));
      split.agree.push(ms(agree.started, agree.finished));
      split.agree_to_provision.push(provStart - Date.parse(agree.finished));
      split.provision_slowest.push(provEnd - provStart);
      split.provision_to_completed.push(Date.parse(o.updated_at) - provEnd);
      split.reply.push(took - ms(o.created_at, o.updated_at));
      for (const s of provs) splitBy.get(s.domain as Domain)?.push(ms(s.started, s.finished));
      lat.push(took);
      floors.push(Math.max(...floor.values()));
      for (const [d, t] of floor) floorBy.get(d)!.push(t);
      for (const s of o.plan) {
        if (s.step === 'agree') planAgree.push(ms(s.started, s.finished));
        if (s.step === 'provision' && s.domain === 'dom-a') planProvision.push(ms(s.started, s.finished));
      }
    }
    const p50 = quantile(lat, 0.5);
    const floor = quantile(floors, 0.5);
    const ratio = p50 / floor;
    const floorParallel = quantile(parallel, 0.5);
    const ratioParallel = p50 / floorParallel;
    console.log(`order to active, ${lat.length} sequential orders (after ${warmup} untimed): p50 ${p50.toFixed(1)} ms, p99 ${quantile(lat, 0.99).toFixed(1)} ms, ${failed} failed`);
    console.log(`floor, each domain alone (slowest domain's apply+verify with the library, same policies and routers, one domain after the other): p50 ${floor.toFixed(1)} ms (${[...floorBy].map(([d, t]) => `${d} ${median(t).toFixed(1)}`).join(', ')}); ratio p50/that ${ratio.toFixed(2)}`);
    console.log(`floor, every domain at once as the daemons provision (slowest domain's apply+verify with the library, the three started together on ${availableParallelism()} cores): p50 ${floorParallel.toFixed(1)} ms, ${(floorParallel / floor).toFixed(2)}x the domains alone; ratio p50/that ${ratioParallel.toFixed(2)} (judged: target <= ${TARGET_RATIO})`);
    console.log(`in the orders' plans (p50): agree ${median(planAgree).toFixed(1)} ms, provision (all domains) ${median(planProvision).toFixed(1)} ms`);
    const coldFloor = quantile(coldFloors, 0.5);
    console.log(`floor with a new NETCONF session per apply (SSH handshake and hello included, as the daemons did before they kept sessions open): p50 ${coldFloor.toFixed(1)} ms; ratio p50/that ${(p50 / coldFloor).toFixed(2)}`);
    console.log(`where an order's time goes (p50, ms): ${Object.entries(split).map(([k, v]) => `${k} ${median(v).toFixed(1)}`).join(', ')}; provision step per domain ${[...splitBy].map(([d, v]) => `${d} ${median(v).toFixed(1)}`).join(', ')}`);

    /** `n` CreateOrder(wait), `width` at a time. */
    const closedLoop = async (n: number, what: string, width: number) => {
      const times: number[] = [];
      const active: string[] = [];
      let bad = 0;
      let next = 0;
      const t0 = performance.now();
      await Promise.all(
        Array.from({ length: Math.min(width, n) }, async () => {
          while (next < n) {
            next++;
            const s = performance.now();
            try {
              const o = await m.createOrder(SPEC, 'bench', true);
              if (o.state === 'completed' && o.service_state === 'active') {
                times.push(performance.now() - s);
                active.push(o.id);
              } else {
                bad++;
                failedWith(`${what}: ${reasonOf(o)}`);
              }
            } catch (err) {
              bad++;
              failedWith(`${what}: ${(err as { code?: string }).code ?? 'error'}: ${(err as Error).message.slice(0, 160)}`);
            }
          }
        }),
      );
      return { times, active, failed: bad, seconds: (performance.now() - t0) / 1000 };
    };
    // ---- 3. reconcile after a restart with `services` active
    const setup = await closedLoop(services, 'setup', setupInflight);
    const active = setup.active;
    console.log(`${active.length} services active (created for this part, ${setupInflight} in flight, in ${setup.seconds.toFixed(1)} s, ${setup.failed} failed)`);
    m.close();
    mgmt = undefined;
    const a = daemons.find((d) => d.domain === 'dom-a')!;
    await stopDaemons([a]);
    const marks = new Map<string, { at: number; line: Record<string, unknown> }>();
    const wanted = ['qos-brokerd started', 'orders reconciled', 'active segments reconciled with the devices'];
    let onMark: () => void = () => {};
    const restarted = spawnDaemon('dom-a', file('dom-a'), { ...configs.get('dom-a')!, log: { level: 'info' } }, (line) => {
      const msg = wanted.find((w) => line.includes(`"msg":"${w}"`));
      if (!msg) return;
      marks.set(msg, { at: performance.now(), line: JSON.parse(line) as Record<string, unknown> });
      onMark();
    });
    daemons.splice(daemons.indexOf(a), 1, { ...restarted, ...addr['dom-a'] });
    await new Promise<void>((res, rej) => {
      const t = setTimeout(() => rej(new Error('dom-a did not log "orders reconciled" and "active segments reconciled with the devices" within 300 s of its restart')), 300_000);
      const exit = () => rej(new Error(`dom-a exited with ${restarted.proc.exitCode} while starting again`));
      restarted.proc.once('exit', exit);
      onMark = () => {
        if (!marks.has('orders reconciled') || !marks.has('active segments reconciled with the devices')) return;
        clearTimeout(t);
        restarted.proc.off('exit', exit);
        res();
      };
    });
    const reconciled = marks.get('orders reconciled')!;
    const reconcileMs = reconciled.at - restarted.spawnedAt;
    const startedMs = (marks.get('qos-brokerd started')?.at ?? NaN) - restarted.spawnedAt;
    const devicesRead = marks.get('active segments reconciled with the devices')!;
    const reconcileDevicesMs = devicesRead.at - restarted.spawnedAt;
    console.log(`restart of dom-a with ${active.length} active services: started after ${startedMs.toFixed(0)} ms, "orders reconciled" after ${reconcileMs.toFixed(0)} ms (orders read ${String(reconciled.line.orders)}, resumed ${String(reconciled.line.resumed)}); every device carrying them read back once and compared after ${reconcileDevicesMs.toFixed(0)} ms (segments ${String(devicesRead.line.segments)}, devices ${String(devicesRead.line.devices)}, redeployed ${String(devicesRead.line.redeployed)})`);
    // what reading the devices back costs: CheckSync on a sample, one after the other
    mgmt = new ManagementClient(`unix:${dataDir('dom-a')}/management.sock`);
    const picks = active.filter((_, i) => i % Math.max(1, Math.floor(active.length / sample)) === 0).slice(0, sample);
    let inSync = 0;
    const ts = performance.now();
    for (const id of picks) if ((await mgmt.checkSync(id)).in_sync) inSync++;
    const perService = picks.length ? (performance.now() - ts) / picks.length : NaN;
    console.log(`CheckSync of ${picks.length} of them (dom-a's devices read back): ${perService.toFixed(1)} ms per service, ${inSync} in sync; all ${active.length} one after the other would take about ${((perService * active.length) / 1000).toFixed(0)} s`);

    m = mgmt;

    // ---- 2. closed loop with `inflight` orders at once, last: the failures it meets leave nothing for part 3 to resume
    const cl = await closedLoop(concurrentOrders, 'closed loop', inflight);
    const perS = cl.active.length / cl.seconds;
    console.log(`${inflight} in flight: ${cl.active.length} orders active in ${cl.seconds.toFixed(1)} s: ${perS.toFixed(2)} orders/s (p50 ${quantile(cl.times, 0.5).toFixed(0)} ms, p99 ${quantile(cl.times, 0.99).toFixed(0)} ms), ${cl.failed} failed`);


    const reasons = [...failures].sort((x, y) => y[1] - x[1]);
    for (const [reason, n] of reasons.slice(0, 10)) console.log(`failed ${n}x: ${reason}`);
    return {
      bench: 'lifecycle',
      orders: lat.length,
      failed,
      p50_ms: round(p50, 1),
      p99_ms: round(quantile(lat, 0.99), 1),
      floor_ms: round(floor, 1),
      floor_p99_ms: round(quantile(floors, 0.99), 1),
      floor_by_domain_ms: Object.fromEntries([...floorBy].map(([d, t]) => [d, round(median(t), 1)])),
      floor_parallel_ms: round(floorParallel, 1),
      ratio_p50_vs_floor_parallel: round(ratioParallel, 3),
      ratio_floor_parallel_vs_floor: round(floorParallel / floor, 3),
      cpus: availableParallelism(),
      plan_provision_ms: round(median(planProvision), 1),
      plan_agree_ms: round(median(planAgree), 1),
      ratio_p50_vs_floor: round(ratio, 3),
      floor_new_session_ms: round(coldFloor, 1),
      ratio_p50_vs_floor_new_session: round(p50 / coldFloor, 3),
      split_ms: Object.fromEntries(Object.entries(split).map(([k, v]) => [k, round(median(v), 1)])),
      split_provision_by_domain_ms: Object.fromEntries([...splitBy].map(([d, v]) => [d, round(median(v), 1)])),
      target: { ratio_p50_vs_floor_parallel: TARGET_RATIO },
      met: failed === 0 && ratioParallel <= TARGET_RATIO,
      inflight,
      concurrent_orders: cl.active.length,
      concurrent_failed: cl.failed,
      orders_per_s: round(perS, 2),
      concurrent_p50_ms: round(quantile(cl.times, 0.5), 1),
      concurrent_p99_ms: round(quantile(cl.times, 0.99), 1),
      services_active: active.length,
      services_failed: setup.failed,
      services_setup_s: round(setup.seconds, 1),
      restart_started_ms: round(startedMs, 0),
      reconcile_ms: round(reconcileMs, 0),
      reconcile_devices_ms: round(reconcileDevicesMs, 0),
      reconciled_segments: Number(devicesRead.line.segments),
      reconciled_devices: Number(devicesRead.line.devices),
      reconciled_redeployed: Number(devicesRead.line.redeployed),
      reconciled_orders: Number(reconciled.line.orders),
      reconciled_resumed: Number(reconciled.line.resumed),
      check_sync_sample: picks.length,
      check_sync_in_sync: inSync,
      check_sync_ms_per_service: round(perService, 1),
      failures: Object.fromEntries(reasons),
    };
  } finally {
    await floorPool?.close();
    mgmt?.close();
    await stopDaemons(daemons);
    await stopRouters(routers);
    rmSync(dir, { recursive: true, force: true });
    pki?.cleanup();
    ownedDirs.clear();
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({
    options: { warmup: { type: 'string' }, orders: { type: 'string' }, inflight: { type: 'string' }, 'concurrent-orders': { type: 'string' }, services: { type: 'string' }, 'setup-inflight': { type: 'string' }, 'check-sync-sample': { type: 'string' } },
  });
  const num = (v: string | undefined, name: string, min = 1) => {
    if (v === undefined) return undefined;
    const x = Number(v);
    if (!(Number.isInteger(x) && x >= min)) throw new Error(`--${name} must be a whole number >= ${min}, got ${v}`);
    return x;
  };
  runLifecycle({
    warmup: num(values.warmup, 'warmup', 0),
    orders: num(values.orders, 'orders'),
    inflight: num(values.inflight, 'inflight'),
    concurrentOrders: num(values['concurrent-orders'], 'concurrent-orders'),
    services: num(values.services, 'services', 0),
    setupInflight: num(values['setup-inflight'], 'setup-inflight'),
    checkSyncSample: num(values['check-sync-sample'], 'check-sync-sample', 0),
  }).then(
    (r) => console.log(JSON.stringify(r)),
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
}
