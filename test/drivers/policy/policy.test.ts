import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { PartitionViolationError, PolicyInvalidError, QosBrokerError } from '../../../drivers/errors.js';
import { admitPolicy, DEFAULT_DSCP, partitionsXml, policiesXml, TRAFFIC_CLASSES, validatePolicy, type QosPolicy, type ResolvedPolicy } from '../../../drivers/policy/index.js';
import { ALL_POLICIES, FEATURE_POLICIES, PE1, SHARED } from '../../fixtures/policies.js';

const YANG = join(import.meta.dirname, '../../../yang/qos-broker-policy.yang');
const base = FEATURE_POLICIES['ef-police-v4-remark']!.policy;
const retail = FEATURE_POLICIES['be-partition-ni']!.policy;

/** A copy of the base policy with a change applied. */
function variant(change: (p: QosPolicy) => void, from: QosPolicy = base): QosPolicy {
  const p = structuredClone(from);
  change(p);
  return p;
}

function refusal(fn: () => unknown): QosBrokerError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(QosBrokerError);
    return err as QosBrokerError;
  }
  throw new Error('expected a refusal, the policy was accepted');
}

const tmp = mkdtempSync(join(tmpdir(), 'qb-policy-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function yanglint(xml: string, name: string): { status: number | null; out: string } {
  const file = join(tmp, `${name}.xml`);
  writeFileSync(file, xml);
  const r = spawnSync('/usr/bin/yanglint', ['-t', 'config', YANG, file], { encoding: 'utf8' });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

describe('policy yang', () => {
  test('policy yang - module is valid for yanglint with no warnings', () => {
    const r = spawnSync('/usr/bin/yanglint', [YANG], { encoding: 'utf8' });
    expect(r.stdout + r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  test('policy yang - every fixture policy, resolved, is valid instance data of the module', () => {
    const resolved = Object.values(ALL_POLICIES).map(({ policy, device }) => admitPolicy(policy, device));
    const r = yanglint(policiesXml(resolved), 'policies');
    expect(r.out).toBe('');
    expect(r.status).toBe(0);
    const p = yanglint(partitionsXml(SHARED.partitions!), 'partitions');
    expect(p.out).toBe('');
    expect(p.status).toBe(0);
  });

  test('policy yang - the module itself refuses peak below committed and DSCP 64', () => {
    const ok = admitPolicy(base, PE1);
    const low: ResolvedPolicy = { ...ok, rates: { ...ok.rates, peakKbps: ok.rates.committedKbps - 1 } };
    const r = yanglint(policiesXml([low]), 'low-peak');
    expect(r.status).not.toBe(0);
    expect(r.out).toContain('peak-kbps must be >= committed-kbps');
    const d = yanglint(policiesXml([{ ...ok, dscp: 64 }]), 'dscp64');
    expect(d.status).not.toBe(0);
  });
});

describe('policy validation', () => {
  test('policy validation - resolves defaults: class DSCP, bursts, peak, action, priority', () => {
    const p = validatePolicy(variant((p) => { delete p.action; delete p.queuePriority; delete p.rates.peakKbps; delete p.rates.committedBurstBytes; delete p.rates.peakBurstBytes; delete p.remark; }), PE1);
    expect(p.dscp).toBe(46);
    expect(p.action).toBe('shape');
    expect(p.queuePriority).toBe(4);
    expect(p.remark).toBe(false);
    expect(p.rates).toEqual({ committedKbps: 10_000, peakKbps: 10_000, committedBurstBytes: 12_500, peakBurstBytes: 12_500 });
  });

  test('policy validation - every class gets its standard DSCP by default', () => {
    const expected = { EF: 46, AF11: 10, AF12: 12, AF13: 14, AF21: 18, AF22: 20, AF23: 22, AF31: 26, AF32: 28, AF33: 30, AF41: 34, AF42: 36, AF43: 38, BE: 0 };
    expect(DEFAULT_DSCP).toEqual(expected);
    for (const c of TRAFFIC_CLASSES) expect(validatePolicy(variant((p) => { p.trafficClass = c; }), PE1).dscp).toBe(expected[c]);
  });

  test('policy validation - an explicit class DSCP wins over the default', () => {
    expect(validatePolicy(variant((p) => { p.dscp = 40; }), PE1).dscp).toBe(40);
  });

  const bad: [string, (p: QosPolicy) => void, string, string][] = [
    ['zero committed rate', (p) => { p.rates.committedKbps = 0; }, 'QB_POLICY_INVALID_RATE', 'rates.committedKbps'],
    ['negative committed rate', (p) => { p.rates.committedKbps = -5; }, 'QB_POLICY_INVALID_RATE', 'rates.committedKbps'],
    ['fractional rate', (p) => { p.rates.committedKbps = 1.5; }, 'QB_POLICY_INVALID_RATE', 'rates.committedKbps'],
    ['zero peak rate', (p) => { p.rates.peakKbps = 0; }, 'QB_POLICY_INVALID_RATE', 'rates.peakKbps'],
    ['peak below committed', (p) => { p.rates.peakKbps = 9_999; }, 'QB_POLICY_PEAK_BELOW_COMMITTED', 'rates.peakKbps'],
    ['rate above line rate', (p) => { p.rates.committedKbps = 2_000_000; p.rates.peakKbps = 2_000_000; }, 'QB_POLICY_RATE_ABOVE_LINE_RATE', 'rates.peakKbps'],
    ['burst too small', (p) => { p.rates.committedBurstBytes = 100; }, 'QB_POLICY_INVALID_BURST', 'rates.committedBurstBytes'],
    ['peak burst below committed burst', (p) => { p.rates.peakBurstBytes = 14_000; }, 'QB_POLICY_INVALID_BURST', 'rates.peakBurstBytes'],
    ['v4 octet out of range', (p) => { p.classifier.sourcePrefixes = ['198.18.256.0/24']; }, 'QB_POLICY_INVALID_PREFIX', 'classifier.sourcePrefixes[0]'],
    ['v4 length 33', (p) => { p.classifier.sourcePrefixes = ['198.18.1.0/33']; }, 'QB_POLICY_INVALID_PREFIX', 'classifier.sourcePrefixes[0]'],
    ['no length', (p) => { p.classifier.destinationPrefixes = ['198.19.1.0']; }, 'QB_POLICY_INVALID_PREFIX', 'classifier.destinationPrefixes[0]'],
    ['host bits set', (p) => { p.classifier.sourcePrefixes = ['198.18.1.1/24']; }, 'QB_POLICY_INVALID_PREFIX', 'classifier.sourcePrefixes[0]'],
    ['v6 length 129', (p) => { p.classifier.sourcePrefixes = ['2001:db8::/129']; p.classifier.destinationPrefixes = []; }, 'QB_POLICY_INVALID_PREFIX', 'classifier.sourcePrefixes[0]'],
    ['v6 garbage', (p) => { p.classifier.sourcePrefixes = ['2001:db8:::1/64']; p.classifier.destinationPrefixes = []; }, 'QB_POLICY_INVALID_PREFIX', 'classifier.sourcePrefixes[0]'],
    ['v6 host bits', (p) => { p.classifier.sourcePrefixes = ['2001:db8::1/64']; p.classifier.destinationPrefixes = []; }, 'QB_POLICY_INVALID_PREFIX', 'classifier.sourcePrefixes[0]'],
    ['v4 source with v6 destination', (p) => { p.classifier.destinationPrefixes = ['2001:db8::/32']; }, 'QB_POLICY_INVALID_PREFIX', 'classifier.destinationPrefixes'],
    ['match DSCP 64', (p) => { p.classifier.dscp = [10, 64]; }, 'QB_POLICY_INVALID_DSCP', 'classifier.dscp[1]'],
    ['class DSCP -1', (p) => { p.dscp = -1; }, 'QB_POLICY_INVALID_DSCP', 'dscp'],
    ['class DSCP 64', (p) => { p.dscp = 64; }, 'QB_POLICY_INVALID_DSCP', 'dscp'],
    ['unknown class', (p) => { (p as { trafficClass: string }).trafficClass = 'AF44'; }, 'QB_POLICY_INVALID_CLASS', 'trafficClass'],
    ['VLAN 4095', (p) => { p.classifier.vlan = 4095; }, 'QB_POLICY_INVALID_VLAN', 'classifier.vlan'],
    ['unknown egress interface', (p) => { p.classifier.egressInterface = 'eth9'; }, 'QB_POLICY_UNKNOWN_INTERFACE', 'classifier.egressInterface'],
    ['unknown ingress interface', (p) => { p.classifier.ingressInterface = 'ge-0/0/0'; }, 'QB_POLICY_UNKNOWN_INTERFACE', 'classifier.ingressInterface'],
    ['ingress equals egress', (p) => { p.classifier.ingressInterface = 'eth1'; }, 'QB_POLICY_INVALID_CLASSIFIER', 'classifier.ingressInterface'],
    ['window end before start', (p) => { p.validity = { start: '2026-11-24T16:00:00Z', end: '2026-11-24T14:00:00Z' }; }, 'QB_POLICY_INVALID_VALIDITY', 'validity.end'],
    ['empty window', (p) => { p.validity = { start: '2026-11-24T16:00:00Z', end: '2026-11-24T16:00:00Z' }; }, 'QB_POLICY_INVALID_VALIDITY', 'validity.end'],
    ['window not RFC 3339', (p) => { p.validity.start = 'tomorrow'; }, 'QB_POLICY_INVALID_VALIDITY', 'validity.start'],
    ['queue priority 8', (p) => { p.queuePriority = 8; }, 'QB_POLICY_INVALID_PRIORITY', 'queuePriority'],
    ['unknown action', (p) => { (p as { action: string }).action = 'drop'; }, 'QB_POLICY_INVALID_ACTION', 'action'],
    ['service id with a space', (p) => { p.serviceId = 'svc 1'; }, 'QB_POLICY_INVALID_NAME', 'serviceId'],
    ['service id with markup', (p) => { p.serviceId = 'svc<1>'; }, 'QB_POLICY_INVALID_NAME', 'serviceId'],
    ['other device', (p) => { p.device = 'pe2'; }, 'QB_POLICY_WRONG_DEVICE', 'device'],
  ];
  test.each(bad)('policy validation - refuses %s', (_, change, code, field) => {
    const err = refusal(() => validatePolicy(variant(change), PE1));
    expect(err).toBeInstanceOf(PolicyInvalidError);
    expect(err.code).toBe(code);
    expect((err as PolicyInvalidError).field).toBe(field);
    expect(err.message).toContain(field.replace(/\[\d+\]$/, ''));
  });

  test('policy validation - the host-bits error names the network address to use', () => {
    expect(refusal(() => validatePolicy(variant((p) => { p.classifier.sourcePrefixes = ['198.18.1.77/24']; }), PE1)).message).toContain('198.18.1.0/24');
  });

  test('policy validation - accepts IPv6 prefixes in compressed and full form', () => {
    const p = validatePolicy(variant((p) => { p.classifier.sourcePrefixes = ['2001:db8::/32', '2001:0db8:0001:0000:0000:0000:0000:0000/48', '::/0']; p.classifier.destinationPrefixes = []; }), PE1);
    expect(p.classifier.sourcePrefixes).toHaveLength(3);
  });
});

describe('policy partitions', () => {
  test('policy partitions - a policy inside its partition gets the partition network-instance', () => {
    const p = admitPolicy(retail, SHARED);
    expect(p.networkInstance).toBe('ni-b');
    expect(p.partition).toBe('retail-b');
  });

  const refused: [string, (p: QosPolicy) => void, string, string][] = [
    ['an interface of the other provider', (p) => { p.classifier.egressInterface = 'eth1'; }, 'QB_PARTITION_INTERFACE_OUTSIDE', 'interface eth1'],
    ['an ingress interface of the other provider', (p) => { p.classifier.ingressInterface = 'eth2'; }, 'QB_PARTITION_INTERFACE_OUTSIDE', 'interface eth2'],
    ['the partition of another provider', (p) => { p.partition = 'wholesale-a'; p.classifier.egressInterface = 'eth1'; }, 'QB_PARTITION_NOT_OWNER', 'partition wholesale-a'],
    ['an unknown partition', (p) => { p.partition = 'nope'; }, 'QB_PARTITION_UNKNOWN', 'partition nope'],
    ['no partition on a shared device', (p) => { delete p.partition; }, 'QB_PARTITION_REQUIRED', 'device sw-shared'],
    ['a foreign network-instance', (p) => { p.networkInstance = 'ni-a'; }, 'QB_PARTITION_NETWORK_INSTANCE_OUTSIDE', 'network-instance ni-a'],
    ['a rate over the budget on its own', (p) => { p.rates.committedKbps = 50_001; p.rates.peakKbps = 60_000; }, 'QB_PARTITION_RATE_BUDGET_EXCEEDED', 'rate-budget of partition retail-b'],
  ];
  test.each(refused)('policy partitions - refuses %s, naming the resource', (_, change, code, resource) => {
    const err = refusal(() => admitPolicy(variant(change, retail), SHARED));
    expect(err).toBeInstanceOf(PartitionViolationError);
    expect(err.code).toBe(code);
    expect((err as PartitionViolationError).resource).toBe(resource);
    expect(err.message).toContain(resource.split(' ').pop()!);
  });

  test('policy partitions - the budget counts policies already installed in the partition, not the one replaced', () => {
    const first = admitPolicy(variant((p) => { p.serviceId = 'svc-1'; p.rates.committedKbps = 30_000; }, retail), SHARED);
    const second = variant((p) => { p.serviceId = 'svc-2'; p.rates.committedKbps = 25_000; }, retail);
    const err = refusal(() => admitPolicy(second, SHARED, [first]));
    expect(err.code).toBe('QB_PARTITION_RATE_BUDGET_EXCEEDED');
    expect(err.message).toContain('30000 kbit/s in use');
    // the same size fits when it replaces svc-1, or next to a policy of the other partition
    expect(admitPolicy(variant((p) => { p.serviceId = 'svc-1'; }, second), SHARED, [first]).rates.committedKbps).toBe(25_000);
    const other = admitPolicy(variant((p) => { p.serviceId = 'svc-a'; p.owner.provider = 'provider-a'; p.partition = 'wholesale-a'; p.classifier.egressInterface = 'eth1'; p.rates.committedKbps = 90_000; p.rates.peakKbps = 90_000; }, retail), SHARED);
    expect(admitPolicy(second, SHARED, [other]).partition).toBe('retail-b');
  });

  test('policy partitions - a partition on an unshared device is refused', () => {
    const err = refusal(() => admitPolicy(variant((p) => { p.partition = 'retail-b'; }), PE1));
    expect(err.code).toBe('QB_PARTITION_UNKNOWN');
  });

  test('policy partitions - an inventory giving one interface to two partitions is refused', () => {
    const broken = structuredClone(SHARED);
    broken.partitions![1]!.interfaces.push('eth1');
    const err = refusal(() => admitPolicy(retail, broken));
    expect(err.code).toBe('QB_PARTITION_INVALID');
    expect(err.message).toContain('eth1');
  });
});
