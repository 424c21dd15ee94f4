/**
 * The domain's sampler on a real lab router (root: network namespaces) and
 * a real redis-server: DomainProvisioner.measureEvery reads the linux_tc
 * router's class counters over SSH for the active segments this domain
 * originated (skipping a device whose platform has no counters), gives a
 * rate within 10 % of the 10 Mbit/s shaper while iperf3 runs through it,
 * leaves other domains' segments alone, picks up a segment another replica
 * activated when asked for it, and drops a service whose class went away.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { DeviceConfig } from '../../../daemon/config/devices.js';
import { DomainProvisioner, managedDevice, type SegmentRecord } from '../../../daemon/provisioning/domain.js';
import { provisionSegment, unprovisionSegment } from '../../../daemon/provisioning/segment.js';
import { RecordStore } from '../../../daemon/state/records.js';
import { RedisResourceStore } from '../../../daemon/state/redis-store.js';
import { admitPolicy, type QosPolicy, type ResolvedPolicy } from '../../../drivers/policy/index.js';
import { labDown, labTraffic, labUp, type LabOptions, type LabUpResult } from '../../../lab/runner.js';
import { waitFor } from '../brokerd/harness.js';
import { startTestRedis, type TestRedis } from '../state/redis-harness.js';

const FILE = resolve(import.meta.dirname, '../../../containerlab/single-router.clab.yml');
const isRoot = process.getuid?.() === 0;
const DOMAIN = 'domain-a';
const INTERVAL_MS = 1000;

const policy = (serviceId: string, dst: string, device = 'r1'): QosPolicy => ({
  serviceId,
  owner: { provider: DOMAIN, customer: 'acme' },
  device,
  classifier: { destinationPrefixes: [dst], egressInterface: 'eth2' },
  trafficClass: 'EF',
  rates: { committedKbps: 10_000 },
  action: 'shape',
  queuePriority: 0,
  validity: { start: '2026-11-24T14:00:00Z', end: '2036-11-24T16:00:00Z' },
});

describe.skipIf(!isRoot)('provisioning measure on a lab router (needs root: network namespaces)', () => {
  const dir = isRoot ? mkdtempSync(join(tmpdir(), 'qb-measure-')) : '';
  const opts: LabOptions = { name: `qbm-${process.pid}`, mgmtSubnet: 'free', stateRoot: join(dir, 'labs') };
  let up: LabUpResult;
  let redis: TestRedis;
  let records: RecordStore;
  let store: RedisResourceStore;
  let devices: DeviceConfig[];
  let provisioner: DomainProvisioner | undefined;
  const applied: ResolvedPolicy[] = [];

  const record = (agreementId: string, originator: string, policies: SegmentRecord['policies']): SegmentRecord => ({ agreementId, originator, state: 'active', rateMbps: 10, policies, reservations: [], updatedAt: new Date().toISOString() });

  beforeAll(async () => {
    up = await labUp(FILE, opts);
    redis = await startTestRedis();
    records = new RecordStore({ redis: redis.client(), domain: DOMAIN });
    store = new RedisResourceStore({ domain: DOMAIN, redis: redis.client() });
    const r = up.routers[0]!;
    devices = [
      // a NETCONF platform first: it has no counters, so the linux_tc router after it is the one measured
      { name: 'nc1', platform: 'lab_device', host: '198.18.255.254', port: 830, username: 'root', border: 'r0', helloSettleMs: 20, rpcTimeoutMs: 5000, confirmTimeoutS: 30, interfaces: [{ name: 'eth1', role: 'core' }] },
      { name: 'r1', platform: 'linux_tc', host: r.host, port: r.port, username: r.username, keyFile: r.privateKeyFile, knownHostsFile: up.knownHostsFile, border: 'r1', helloSettleMs: 0, rpcTimeoutMs: 10_000, confirmTimeoutS: 30, interfaces: [{ name: 'eth1', role: 'customer', site: 'host-1' }, { name: 'eth2', role: 'core' }] },
    ];
  }, 90_000);

  afterAll(async () => {
    await provisioner?.stopMeasuring();
    const r1 = devices?.find((d) => d.name === 'r1');
    if (r1 && applied.length) await unprovisionSegment(applied.map((p) => ({ device: managedDevice(r1), policy: p }))).catch(() => undefined);
    await store?.close().catch(() => undefined);
    await redis?.stop();
    await labDown(FILE, opts).catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }, 90_000);

  test('provisioning measure - the originated segment is measured on its linux_tc router within 10 % while iperf3 runs; a transit segment is not; a replica\'s segment is picked up when asked for; a removed class drops the rate', async () => {
    const r1 = managedDevice(devices.find((d) => d.name === 'r1')!);
    const ncPolicy = admitPolicy({ ...policy('agr-own-domain-a-1', '198.18.20.2/32', 'nc1'), classifier: { destinationPrefixes: ['198.18.20.2/32'], egressInterface: 'eth1' } }, managedDevice(devices[0]!).inventory);
    const [own, transit, late] = await provisionSegment([policy('agr-own-domain-a-0', '198.18.20.2/32'), policy('agr-transit-domain-a-0', '198.18.20.9/32'), policy('agr-late-domain-a-0', '198.18.20.8/32')], [r1]);
    applied.push(own!.policy, transit!.policy, late!.policy);
    await records.put('segment', 'agr-own', 0, record('agr-own', DOMAIN, [{ device: 'nc1', policy: ncPolicy }, { device: 'r1', policy: own!.policy }]), { score: Date.now() });
    await records.put('segment', 'agr-transit', 0, record('agr-transit', 'domain-z', [{ device: 'r1', policy: transit!.policy }]), { score: Date.now() });

    const logs: Array<{ msg: string; fields: Record<string, unknown> }> = [];
    provisioner = new DomainProvisioner({ domain: DOMAIN, records, store, devices: () => devices, bookingOf: async () => undefined, log: (_level, msg, fields) => logs.push({ msg, fields: fields ?? {} }) });
    provisioner.measureEvery(INTERVAL_MS);

    // the flow: every sample whose window lies inside it, after its first two seconds
    const t0 = Date.now();
    let done = false;
    const flow = labTraffic(FILE, { from: 'host-1', to: 'host-2', seconds: 6 }, opts).finally(() => (done = true));
    const inside = new Map<string, number>();
    while (!done) {
      const m = provisioner.measuredRate('agr-own');
      if (m && Date.parse(m.at) - m.intervalMs >= t0 + 2000 && Date.parse(m.at) <= t0 + 6000) inside.set(m.at, m.rateMbps);
      await Promise.race([flow.catch(() => undefined), new Promise((r) => setTimeout(r, INTERVAL_MS / 4))]);
    }
    const t = await flow;
    const rates = [...inside.values()];
    console.log(`provisioning measure: r1 measured ${rates.map((r) => r.toFixed(2)).join(', ')} Mbit/s; iperf3 ${(t.frameBitsPerSecond / 1e6).toFixed(2)} Mbit/s as frames`);
    expect(rates.length).toBeGreaterThanOrEqual(2);
    const mean = rates.reduce((a, b) => a + b, 0) / rates.length;
    expect(Math.abs(mean - 10) / 10).toBeLessThan(0.1);
    expect(Math.abs(mean - t.frameBitsPerSecond / 1e6) / (t.frameBitsPerSecond / 1e6)).toBeLessThan(0.1);
    expect(provisioner.measuredRate('agr-own')).toMatchObject({ device: 'r1', policy: 'agr-own-domain-a-0' });
    // another domain's segment through our router is not ours to measure; nc1 was never contacted (no counters, no warning)
    expect(provisioner.measuredRate('agr-transit')).toBeUndefined();
    expect(provisioner.measuredRates().map(([id]) => id)).toEqual(['agr-own']);
    expect(logs.filter((l) => l.msg === 'traffic counters unreadable')).toEqual([]);

    // a segment another replica activated: unknown here until asked for, then sampled
    await records.put('segment', 'agr-late', 0, record('agr-late', DOMAIN, [{ device: 'r1', policy: late!.policy }]), { score: Date.now() });
    expect(provisioner.measuredRate('agr-late')).toBeUndefined();
    await waitFor('agr-late to be measured', () => provisioner!.measuredRate('agr-late') !== undefined, 15_000);
    expect(provisioner.measuredRate('agr-late')!.rateMbps).toBeLessThan(0.1);

    // its class taken off the router (by another replica): no rate any more, not an old one
    await unprovisionSegment([late!]);
    applied.splice(applied.indexOf(late!.policy), 1);
    await waitFor('agr-late to lose its rate', () => !provisioner!.measuredRates().some(([id]) => id === 'agr-late'), 15_000);
    expect(provisioner.measuredRates().map(([id]) => id)).toEqual(['agr-own']);

    // stopped (measure-interval-ms 0, or the daemon stopping): no rate is served, not even the last one
    await provisioner.stopMeasuring();
    expect(provisioner.measuredRate('agr-own')).toBeUndefined();
    expect(provisioner.measuredRates()).toEqual([]);
  }, 120_000);
});
