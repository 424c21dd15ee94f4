/**
 * End to end in the three-domain lab (root, real data plane): three real
 * qos-brokerd processes, each configured from containerlab/three-domain.clab.yml
 * (devices-from the lab's inventory, the inventory derived from the same file),
 * peering over mTLS, provisioning their linux_tc routers over SSH. Orders go in
 * through domain-a's Management service as the CLI places them; iperf3 between
 * host-a and host-c measures what the routers enforce, and meanwhile domain-a's
 * own measured rate (GetOrder, from a-border's class counters) and its
 * Prometheus gauge are checked against it and the contract. One lab and one set of
 * daemons serve every case of the file, in order; each case leaves the routers
 * as it found them.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { contractBody, verifyContract, type SignedContract } from '../../daemon/agreement/contract.js';
import { labDeviceEntries } from '../../daemon/config/devices.js';
import { ManagementClient } from '../../daemon/management/client.js';
import { rawPublicKey } from '../../daemon/peering/advert.js';
import { RecordStore } from '../../daemon/state/records.js';
import { tcId } from '../../drivers/platforms/linux_tc/index.js';
import { loadLabPlan } from '../../lab/topology.js';
import { metricValue, waitFor } from '../daemon/brokerd/harness.js';
import type { OrderMsg } from '../../daemon/management/proto.js';
import type { TrafficResult } from '../../lab/runner.js';
import { FILE, LAB_DOMAINS, LinuxTcTrio, MEASURE_INTERVAL_MS, labSpec, type LabDom, type TcObjects } from './three-domain-brokers.js';

const isRoot = process.getuid?.() === 0;
// made in beforeAll: a skipped file (not root) makes nothing, not even a temp dir
let lab: LinuxTcTrio;
const fileStart = performance.now();

/** The classifier every router holds for host-a (198.18.10.0/24) -> host-c (198.18.30.0/24): u32 keys at offsets 12 and 16. */
const MATCHES = ['match c6120a00/ffffff00 at 12', 'match c6121e00/ffffff00 at 16'];

/**
 * Where the design puts the order's policies (serviceId suffix k): the egress of each domain towards
 * the next (or the site) and the core side of its ingress router.
 */
const PLACEMENT: Record<string, { domain: LabDom; iface: string; k: number }> = {
  'a-border': { domain: 'domain-a', iface: 'eth2', k: 0 },
  'a-edge': { domain: 'domain-a', iface: 'eth2', k: 1 },
  'b-border2': { domain: 'domain-b', iface: 'eth2', k: 2 },
  'b-border1': { domain: 'domain-b', iface: 'eth1', k: 3 },
  'c-edge': { domain: 'domain-c', iface: 'eth1', k: 4 },
  'c-border': { domain: 'domain-c', iface: 'eth1', k: 5 },
};

/** Every router's tc objects: exactly the order's class at `mbps` and its filter where PLACEMENT says, nothing elsewhere. */
async function expectPolicies(agreementId: string, mbps: number): Promise<void> {
  for (const r of lab.routerInterfaces) {
    const got = await lab.tcObjects(r.node);
    const p = PLACEMENT[r.node]!;
    const classid = `1:${tcId(`qb-${agreementId}-${p.domain}-${p.k}`).toString(16)}`;
    const want: Record<string, TcObjects> = Object.fromEntries(r.interfaces.map((i) => [i, i === p.iface ? { classes: [{ classid, rate: `${mbps}Mbit` }], filters: [{ flowid: classid, matches: MATCHES }] } : { classes: [], filters: [] }]));
    expect(got, r.node).toEqual(want);
  }
}

/**
 * iperf3 from `from` to `to` for `seconds`; prints both layers and returns the flow's rate as
 * Ethernet frames (the layer of the contracted rate and of what the shapers count), Mbit/s.
 */
async function measure(what: string, from: string, to: string, seconds: number, contractedMbps?: number): Promise<number> {
  const t = await lab.traffic(from, to, seconds);
  const mbps = t.frameBitsPerSecond / 1e6;
  const err = contractedMbps ? ` (${(((mbps - contractedMbps) / contractedMbps) * 100).toFixed(1)} % against ${contractedMbps})` : '';
  console.log(`e2e three-domain: ${what}: ${from} -> ${to} ${mbps.toFixed(2)} Mbit/s as Ethernet frames over ${seconds} s${err}; iperf3 goodput ${(t.receivedBitsPerSecond / 1e6).toFixed(2)} Mbit/s (MSS ${t.mss})`);
  return mbps;
}

/**
 * Run iperf3 from `from` to `to` for `seconds` and, while it runs, read the originator's order
 * (Management getOrder) as the CLI does: every measured rate whose two samples both fall inside
 * the flow after its first two seconds (iperf3 starts a while after it is asked to on a loaded machine), once each, and the service's Prometheus gauge at the first of them.
 */
async function measuredDuring(id: string, from: string, to: string, seconds: number): Promise<{ rates: number[]; gauge: number | undefined; flow: TrafficResult; seen: NonNullable<OrderMsg['measured']>[] }> {
  const t0 = Date.now();
  let done = false;
  const flow = lab.traffic(from, to, seconds).finally(() => (done = true));
  const byAt = new Map<string, number>();
  const seen: NonNullable<OrderMsg['measured']>[] = [];
  let gauge: number | undefined;
  while (!done) {
    const o = await lab.mgmt.getOrder(id);
    const m = o.measured;
    if (m && !seen.some((x) => x.at === m.at)) {
      seen.push(m);
      const end = Date.parse(m.at);
      if (end - m.interval_ms >= t0 + 2000 && end <= t0 + seconds * 1000 && !byAt.has(m.at)) {
        byAt.set(m.at, m.rate_mbps);
        if (byAt.size === 1) gauge = metricValue(await lab.daemons.get('domain-a')!.metricsText(), 'qos_broker_service_measured_rate_bits_per_second', { agreement_id: o.agreement_id });
      }
    }
    await Promise.race([flow.catch(() => undefined), new Promise((r) => setTimeout(r, MEASURE_INTERVAL_MS / 4))]);
  }
  return { rates: [...byAt.values()], gauge, flow: await flow, seen };
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

/** The measured rate while iperf3 runs is the contracted rate within 10 %, and iperf3's own figure as Ethernet frames (the layer the routers count). */
async function expectMeasured(what: string, id: string, contractedMbps: number, seconds = 6): Promise<void> {
  const { rates, gauge, flow, seen } = await measuredDuring(id, 'host-a', 'host-c', seconds);
  const iperfMbps = flow.frameBitsPerSecond / 1e6;
  console.log(`e2e three-domain: ${what}: measured on ${seen.at(-1)?.device ?? '-'} ${rates.map((r) => r.toFixed(2)).join(', ')} Mbit/s (samples every ${MEASURE_INTERVAL_MS} ms inside the flow); iperf3 ${iperfMbps.toFixed(2)} Mbit/s as Ethernet frames`);
  expect(rates.length, `measured rates inside the flow, seen ${JSON.stringify(seen)}`).toBeGreaterThanOrEqual(2);
  for (const m of seen) expect(m.rate_mbps, 'no negative or huge rate, also across a re-provision').toBeGreaterThanOrEqual(0);
  for (const m of seen) expect(m.rate_mbps).toBeLessThan(contractedMbps * 1.5);
  expect(seen.every((m) => m.device === 'a-border'), 'measured on the originator\'s egress router').toBe(true);
  within(mean(rates), contractedMbps);
  within(mean(rates), iperfMbps);
  expect(gauge, 'the Prometheus gauge of the service').toBeDefined();
  within(gauge! / 1e6, contractedMbps);
}

const within = (mbps: number, contracted: number, tol = 0.1) => expect(Math.abs(mbps - contracted) / contracted, `${mbps.toFixed(2)} Mbit/s against ${contracted}`).toBeLessThan(tol);

async function bookingsZero(): Promise<void> {
  for (const d of LAB_DOMAINS) expect(await lab.usedBps(d), `bookings in ${d}`).toBe(0);
}

const seconds = (t0: number) => ((performance.now() - t0) / 1000).toFixed(1);

describe.skipIf(!isRoot)('e2e three qos-brokerd in the three-domain lab (needs root: network namespaces)', () => {
  let before: Record<string, string>;
  let orderId = '';
  let agreementId = '';

  beforeAll(async () => {
    const t0 = performance.now();
    lab = new LinuxTcTrio(`qbe3-${process.pid}`);
    await lab.start();
    before = await lab.tcState();
    console.log(`e2e three-domain: lab ${lab.up.plan.name} up in ${(lab.up.startupMs / 1000).toFixed(2)} s, three daemons peered in ${seconds(t0)} s`);
  }, 180_000);
  afterAll(async () => {
    await lab?.stop();
    console.log(`e2e three-domain: the file took ${seconds(fileStart)} s`);
  }, 120_000);

  describe.sequential('the order path', () => {
    test('e2e - EF 10 Mbit/s host-a -> host-c: active, measured within 10 %, best effort still flows, the contract verifies, every router holds exactly the rendered policy', async () => {
      const t0 = performance.now();
      const o = await lab.mgmt.createOrder(labSpec(), 'acme', true);
      expect(o.state, JSON.stringify(o.error)).toBe('completed');
      expect(o.service_state).toBe('active');
      expect(o.domains).toEqual([...LAB_DOMAINS]);
      console.log(`e2e three-domain: order ${o.id} active in ${seconds(t0)} s`);
      orderId = o.id;
      agreementId = o.agreement_id;
      const contract = JSON.parse(o.contract_json) as SignedContract;
      const keys = Object.fromEntries(LAB_DOMAINS.map((d) => [d, rawPublicKey(readFileSync(lab.files.get(d)!.advertKey, 'utf8'))]));
      expect(verifyContract(contract, keys).signedBy.sort()).toEqual([...LAB_DOMAINS]);
      expect(contractBody(contract).service).toMatchObject({ fromPrefixes: ['198.18.10.0/24'], toPrefixes: ['198.18.30.0/24'] });
      await expectPolicies(agreementId, 10);
      // each domain reads its routers back (linux_tc read-back) and finds them in sync
      for (const d of LAB_DOMAINS) {
        const m = d === 'domain-a' ? lab.mgmt : new ManagementClient(`unix:${lab.daemons.get(d)!.config['data-dir'] as string}/management.sock`);
        try {
          expect(await m.checkSync(d === 'domain-a' ? o.id : agreementId), d).toMatchObject({ in_sync: true });
        } finally {
          if (m !== lab.mgmt) m.close();
        }
      }
      within(await measure('EF 10 Mbit/s service', 'host-a', 'host-c', 5, 10), 10);
      // the originator's own figure, from its router's counters while traffic flows
      await expectMeasured('EF 10 Mbit/s service', o.id, 10);
      // another destination through the same egress interfaces is not in the class, nor in the measured rate
      const other = await measuredDuring(o.id, 'host-a', 'c-border', 4);
      console.log(`e2e three-domain: best effort to another destination: ${(other.flow.frameBitsPerSecond / 1e6).toFixed(2)} Mbit/s as frames, the service measured ${other.rates.map((r) => r.toFixed(3)).join(', ')} Mbit/s meanwhile`);
      expect(other.flow.frameBitsPerSecond / 1e6).toBeGreaterThan(30);
      expect(other.rates.length).toBeGreaterThanOrEqual(1);
      for (const r of other.rates) expect(r, 'outside traffic counted in the service').toBeLessThan(0.1);
    }, 120_000);

    test('e2e - a boost to 20 Mbit/s for 30 s is measured at 20, then at 10 again after the window with no action by the test', async () => {
      expect(orderId).not.toBe('');
      const t0 = performance.now();
      const b = await lab.mgmt.modifyOrder(orderId, 20, 30_000);
      expect(b).toMatchObject({ rate_mbps: 20, boost: { state: 'active', rate_mbps: 20 } });
      console.log(`e2e three-domain: boost to 20 Mbit/s active in ${seconds(t0)} s`);
      await expectPolicies(agreementId, 20);
      within(await measure('boosted to 20 Mbit/s', 'host-a', 'host-c', 5, 20), 20);
      // the boost put new classes on the routers (their counters start at 0): measured at 20, never negative
      await expectMeasured('boosted to 20 Mbit/s', orderId, 20);
      const reverted = await lab.settled(orderId, (x) => x.boost?.state === 'reverted', 'the boost to revert on its own', 90_000);
      console.log(`e2e three-domain: reverted on its own ${seconds(t0)} s after the boost was asked for (window 30 s)`);
      expect(reverted.rate_mbps).toBe(10);
      await expectPolicies(agreementId, 10);
      within(await measure('after the boost window', 'host-a', 'host-c', 5, 10), 10);
    }, 150_000);

    test('e2e - terminate: every router\'s tc state is as before the order, no booking left in any domain', async () => {
      expect(orderId).not.toBe('');
      const t = await lab.mgmt.terminateOrder(orderId);
      expect(t.service_state).toBe('terminated');
      expect(await lab.tcState()).toEqual(before);
      await bookingsZero();
      expect(await measure('after terminate (unshaped)', 'host-a', 'host-c', 2)).toBeGreaterThan(30);
    }, 60_000);

    test('e2e - a domain-b router that refuses its config (tc: no such interface) fails the order with domain-b\'s reason; a and c roll back; nothing is left on any router', async () => {
      const b = lab.daemons.get('domain-b')!;
      const inventoryFile = join(lab.up.stateDir, 'inventory.json');
      // the same devices as devices-from gives, but b-border2's interface towards domain-c named as one the router does not have
      const entries = labDeviceEntries(inventoryFile, 'domain-b', (f) => JSON.parse(readFileSync(f, 'utf8')) as unknown, (f) => loadLabPlan(f));
      const wrong = entries.map((e) => (e.name !== 'b-border2' ? e : { ...e, interfaces: (e.interfaces as Array<Record<string, unknown>>).map((i) => (i.role === 'peer' && i['peer-domain'] === 'domain-c' ? { ...i, name: 'eth9' } : i)) }));
      const reloaded = () => b.logs.filter((l) => l.msg === 'config reloaded').length;
      const n = reloaded();
      b.reload((c) => {
        delete c['devices-from'];
        c.devices = wrong;
      });
      await waitFor('domain-b to reload its devices', () => reloaded() > n);
      try {
        const t0 = performance.now();
        const o = await lab.mgmt.createOrder(labSpec(), 'acme', true);
        console.log(`e2e three-domain: order with a refusing domain-b router ${o.state} in ${seconds(t0)} s: ${o.error?.message}`);
        expect(o.state).toBe('failed');
        expect(o.error).toMatchObject({ domain: 'domain-b', device: 'b-border2', message: expect.stringMatching(/eth9/) });
        expect(o.plan.find((s) => s.step === 'provision' && s.domain === 'domain-b')).toMatchObject({ state: 'failed' });
        // domains a and c had provisioned their segments and took them off again
        for (const d of ['domain-a', 'domain-c'] as const) {
          expect(o.plan.find((s) => s.step === 'provision' && s.domain === d), d).toMatchObject({ state: 'completed' });
          expect((await new RecordStore({ redis: lab.redis, domain: d }).get<{ state: string }>('segment', o.agreement_id))?.doc.state, d).toBe('removed');
        }
        expect(await lab.tcState()).toEqual(before);
        await bookingsZero();
      } finally {
        const m = reloaded();
        b.reload((c) => {
          delete c.devices;
          c['devices-from'] = inventoryFile;
        });
        await waitFor('domain-b to reload devices-from', () => reloaded() > m);
      }
    }, 90_000);

    test('e2e - the originator killed (SIGKILL) while the transit domain applies: after its restart the order ends active (measured) or cleanly failed', async () => {
      const records = new RecordStore({ redis: lab.redis, domain: 'domain-b' });
      const known = new Set(await records.ids('segment'));
      const o = await lab.mgmt.createOrder(labSpec(), 'acme', false);
      const t0 = performance.now();
      // domain-b writes its segment as applying before it touches a router
      let applying = '';
      await waitFor('domain-b to be applying its segment', async () => {
        for (const id of await records.ids('segment')) {
          if (known.has(id)) continue;
          if ((await records.get<{ state: string }>('segment', id))?.doc.state === 'applying') applying = id;
        }
        return applying !== '';
      }, 60_000);
      await lab.kill('domain-a', 'SIGKILL');
      const atKill = (await records.get<{ state: string }>('segment', applying))?.doc.state;
      console.log(`e2e three-domain: domain-a killed ${seconds(t0)} s after the order, domain-b's segment ${applying} was applying (now ${atKill})`);
      expect(lab.daemons.get('domain-a')!.proc.signalCode).toBe('SIGKILL');
      await lab.startDomain('domain-a');
      await lab.connected();
      const done = await lab.settled(o.id, (x) => x.state === 'completed' || x.state === 'failed', 'the order to settle after the restart', 120_000);
      console.log(`e2e three-domain: after the restart the order is ${done.state} (${seconds(t0)} s after it was placed)${done.error ? `: ${done.error.message}` : ''}`);
      if (done.state === 'completed') {
        expect(done.service_state).toBe('active');
        await expectPolicies(done.agreement_id, 10);
        within(await measure('EF 10 Mbit/s after the originator\'s restart', 'host-a', 'host-c', 3, 10), 10);
        await lab.mgmt.terminateOrder(o.id);
      } else {
        expect(done.error?.code).toBeTruthy();
      }
      expect(await lab.tcState()).toEqual(before);
      await bookingsZero();
    }, 240_000);
  });
});
