/** designService: which policy goes on which device and interface, and what it classifies by. */
import { expect, test } from 'vitest';
import type { ContractBody } from '../../../daemon/agreement/contract.js';
import type { DeviceConfig } from '../../../daemon/config/devices.js';
import { designService } from '../../../daemon/provisioning/domain.js';

const device = (name: string, border: string, interfaces: DeviceConfig['interfaces']): DeviceConfig => ({
  name, platform: 'linux_tc', host: '198.19.3.11', port: 830, username: 'root', keyFile: 'k', knownHostsFile: 'kh', border, helloSettleMs: 20, rpcTimeoutMs: 60_000, confirmTimeoutS: 30, interfaces,
});
// domain-a of containerlab/three-domain.clab.yml as devices-from reads it
const devices = [
  device('a-edge', 'a-edge', [{ name: 'eth1', role: 'customer', site: 'host-a' }, { name: 'eth2', role: 'core' }]),
  device('a-border', 'a-border', [{ name: 'eth1', role: 'core' }, { name: 'eth2', role: 'peer', peerDomain: 'domain-b', link: 'a-b' }]),
];
const body = (service: Partial<ContractBody['service']> = {}): ContractBody => ({
  version: 1,
  agreementId: 'agr-1',
  originator: { domain: 'domain-a', customer: 'acme' },
  service: { from: 'domain-a/host-a', to: 'domain-c/host-c', qosClass: 'EF', rateMbps: 10, ...service },
  window: { start: '2026-01-01T00:00:00.000Z', end: '2026-01-01T01:00:00.000Z' },
  parties: [],
  segments: [
    { domain: 'domain-a', ingress: 'a-edge', egress: 'a-border', latencyMs: 1, jitterMs: 0, lossPct: 0, priceMinor: 1 },
    { domain: 'domain-b', ingress: 'b-border1', egress: 'b-border2', latencyMs: 1, jitterMs: 0, lossPct: 0, priceMinor: 1 },
  ] as ContractBody['segments'],
  currency: 'EUR',
  totalPriceMinor: 2,
  issuedAt: '2026-01-01T00:00:00.000Z',
});

test('design - the egress towards the next domain and the ingress router\'s core side, classified by the sites\' prefixes of the contract', () => {
  const d = designService(body({ fromPrefixes: ['198.18.10.0/24'], toPrefixes: ['198.18.30.0/24'] }), 'domain-a', devices);
  expect(d.map((x) => [x.device.name, x.policy.classifier])).toEqual([
    ['a-border', { egressInterface: 'eth2', sourcePrefixes: ['198.18.10.0/24'], destinationPrefixes: ['198.18.30.0/24'] }],
    ['a-edge', { egressInterface: 'eth2', sourcePrefixes: ['198.18.10.0/24'], destinationPrefixes: ['198.18.30.0/24'] }],
  ]);
  expect(d.every((x) => x.policy.rates.committedKbps === 10_000)).toBe(true);
});

test('design - a contract without prefixes classifies the whole class on the interface', () => {
  const d = designService(body(), 'domain-a', devices, 20);
  expect(d.map((x) => x.policy.classifier)).toEqual([{ egressInterface: 'eth2' }, { egressInterface: 'eth2' }]);
  expect(d.map((x) => x.policy.rates.committedKbps)).toEqual([20_000, 20_000]);
});
