/**
 * A service carries the packets between its two sites: the sites' prefixes
 * (inventory.sites[].prefixes, advertised, signed in the contract) become
 * every provider's classifier, so other traffic on the same interfaces is
 * not held to the service's rate.
 */
import { describe, expect, test } from 'vitest';
import { parseConfig } from '../../../daemon/config/schema.js';
import { ConfigError } from '../../../daemon/errors.js';
import { buildAdvertisement } from '../../../daemon/peering/origin.js';
import { designService } from '../../../daemon/provisioning/domain.js';
import type { ContractBody } from '../../../daemon/agreement/contract.js';
import { sealContractBody } from '../../../daemon/agreement/contract.js';
import { admitPolicy } from '../../../drivers/policy/index.js';
import { linuxTc } from '../../../drivers/platforms/linux_tc/index.js';
import type { CliPayload } from '../../../drivers/platforms/index.js';
import { buildTopology } from '../../../daemon/topology/graph.js';

const cls = { EF: { 'capacity-mbps': 100, 'latency-ms': 2 } };
const config = (sites: unknown[]) => ({
  role: 'provider',
  'domain-id': 'dom-a',
  listen: '127.0.0.1:50061',
  keys: { 'advert-key': 'a.key', 'tls-cert': 'a.pem', 'tls-key': 'a.key' },
  inventory: {
    borders: ['a1', 'a2'],
    sites,
    transits: [{ id: 'a1-a2', from: 'a1', to: 'a2', classes: cls }],
    links: [{ id: 'a2-b1', border: 'a2', 'peer-domain': 'dom-b', 'peer-border': 'b1', classes: cls }],
    prices: { currency: 'EUR', 'per-mbps-hour': { EF: 0.5 } },
  },
  devices: [
    { name: 'a1-r', platform: 'linux_tc', host: '127.0.0.1', username: 'root', 'key-file': 'k', 'known-hosts-file': 'kh', border: 'a1', interfaces: [{ name: 'eth1', role: 'customer', site: 'paris' }, { name: 'eth2', role: 'core' }] },
    { name: 'a2-r', platform: 'linux_tc', host: '127.0.0.1', username: 'root', 'key-file': 'k', 'known-hosts-file': 'kh', border: 'a2', interfaces: [{ name: 'eth1', role: 'core' }, { name: 'eth2', role: 'peer', 'peer-domain': 'dom-b' }] },
  ],
});

const body = (service: Partial<ContractBody['service']>): ContractBody => ({
  version: 2,
  agreementId: 'agr-1',
  originator: { domain: 'dom-a', customer: 'acme' },
  service: { from: 'dom-a/paris', to: 'dom-b/berlin', qosClass: 'EF', rateMbps: 10, ...service },
  window: { start: '2026-01-01T00:00:00.000Z', end: '2026-01-01T02:00:00.000Z' },
  parties: [],
  segments: [{ domain: 'dom-a', ingress: 'a1', egress: 'a2', latencyMs: 2, jitterMs: 0, lossPct: 0, priceMinor: 10 }, { domain: 'dom-b', ingress: 'b1', egress: 'b2', latencyMs: 2, jitterMs: 0, lossPct: 0, priceMinor: 10 }],
  currency: 'EUR',
  totalPriceMinor: 20,
  issuedAt: '2026-01-01T00:00:00.000Z',
});

describe('site prefixes', () => {
  test('site prefixes - inventory.sites[].prefixes are read and advertised', () => {
    const cfg = parseConfig(config([{ id: 'paris', borders: ['a1'], prefixes: ['198.18.40.0/24', '2001:db8:40::/48'] }]));
    expect(cfg.inventory!.sites[0]).toEqual({ id: 'paris', borders: ['a1'], prefixes: ['198.18.40.0/24', '2001:db8:40::/48'] });
    const ad = buildAdvertisement('dom-a', cfg.inventory!, new Map());
    expect(ad.sites).toEqual([{ id: 'paris', borders: ['a1'], prefixes: ['198.18.40.0/24', '2001:db8:40::/48'] }]);
    expect(buildTopology([ad]).siteOf('dom-a', 'paris')?.prefixes).toEqual(['198.18.40.0/24', '2001:db8:40::/48']);
    // without prefixes the site advertises none
    expect(buildAdvertisement('dom-a', parseConfig(config([{ id: 'paris', borders: ['a1'] }])).inventory!, new Map()).sites).toEqual([{ id: 'paris', borders: ['a1'] }]);
  });

  test.each([
    ['not a prefix', 'paris-dc1', 'inventory.sites[0].prefixes[0]'],
    ['a host bit pattern too long', '198.18.40.0/33', 'inventory.sites[0].prefixes[0]'],
    ['not a string', 42, 'inventory.sites[0].prefixes[0]'],
  ])('site prefixes - %s is refused naming its key', (_what, bad, key) => {
    try {
      parseConfig(config([{ id: 'paris', borders: ['a1'], prefixes: [bad] }]));
      expect.unreachable('accepted');
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as ConfigError).message).toContain(key);
    }
  });

  test('site prefixes - a contract body with an empty or malformed prefix list is malformed', () => {
    expect(() => sealContractBody({ ...body({ fromPrefixes: [] }), parties: [{ domain: 'dom-a', publicKey: Buffer.alloc(32).toString('base64'), role: 'provider' }, { domain: 'dom-b', publicKey: Buffer.alloc(32, 1).toString('base64'), role: 'provider' }] })).toThrow(/service\/fromPrefixes/);
  });

  test('site prefixes - the contract prefixes are the classifier of every policy of the segment; linux_tc matches them', () => {
    const devices = parseConfig(config([{ id: 'paris', borders: ['a1'] }])).devices;
    const design = designService(body({ fromPrefixes: ['198.18.40.0/24'], toPrefixes: ['198.18.50.0/24'] }), 'dom-a', devices);
    expect(design.map((d) => [d.device.name, d.policy.classifier])).toEqual([
      ['a2-r', { egressInterface: 'eth2', sourcePrefixes: ['198.18.40.0/24'], destinationPrefixes: ['198.18.50.0/24'] }],
      ['a1-r', { egressInterface: 'eth2', sourcePrefixes: ['198.18.40.0/24'], destinationPrefixes: ['198.18.50.0/24'] }],
    ]);
    const inv = { name: 'a2-r', platform: 'linux_tc', interfaces: [{ name: 'eth2' }] };
    const lines = (linuxTc.render(admitPolicy(design[0]!.policy, inv, [])) as CliPayload).apply;
    expect(lines.filter((l) => l.startsWith('tc filter add'))).toEqual([expect.stringMatching(/protocol ip prio \d+ u32 match ip src 198\.18\.40\.0\/24 match ip dst 198\.18\.50\.0\/24 classid 1:/)]);
    // a contract without prefixes: the policy carries every packet on its interface
    expect(designService(body({}), 'dom-a', devices)[0]!.policy.classifier).toEqual({ egressInterface: 'eth2' });
  });
});
