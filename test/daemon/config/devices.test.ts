/** The `devices:` list of a provider's config: every bad entry is refused naming its key. */
import { expect, test } from 'vitest';
import { parseConfig } from '../../../daemon/config/schema.js';
import { configErrorOf } from './parse.js';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { stringify } from 'yaml';
import { loadLabPlan } from '../../../lab/topology.js';
import { parseConfigText } from '../../../daemon/config/load.js';
import { labInventory } from '../../../daemon/config/devices.js';

function cfg(devices: unknown[]): Record<string, unknown> {
  return {
    role: 'provider',
    'domain-id': 'dom-a',
    listen: '127.0.0.1:50061',
    keys: { 'advert-key': 'a.key', 'tls-cert': 'a.pem', 'tls-key': 'a.key' },
    inventory: {
      borders: ['a1', 'a2'],
      sites: [{ id: 'paris', borders: ['a1'] }],
      transits: [{ id: 'a1-a2', from: 'a1', to: 'a2', classes: { EF: { 'capacity-mbps': 100, 'latency-ms': 2 } } }],
      links: [{ id: 'a2-b1', border: 'a2', 'peer-domain': 'dom-b', 'peer-border': 'b1', classes: { EF: { 'capacity-mbps': 100, 'latency-ms': 1 } } }],
      prices: { currency: 'EUR', 'per-mbps-hour': { EF: 0.5 } },
    },
    devices,
  };
}

const good = (over: Record<string, unknown> = {}) => ({
  name: 'a2-r',
  platform: 'juniper_junos',
  host: '127.0.0.1',
  username: 'netconf',
  'key-file': 'a2.key',
  'known-hosts-file': 'known_hosts',
  border: 'a2',
  interfaces: [{ name: 'ge-0/0/1', role: 'peer', 'peer-domain': 'dom-b' }, { name: 'ge-0/0/0', role: 'core' }],
  ...over,
});

const errorOf = (devices: unknown[]) => configErrorOf(() => parseConfig(cfg(devices)));

test('devices - a good entry gets its defaults and its peer link from the inventory', () => {
  const [d] = parseConfig(cfg([good()])).devices;
  expect(d).toMatchObject({ name: 'a2-r', platform: 'juniper_junos', port: 830, helloSettleMs: 0, rpcTimeoutMs: 60_000, confirmTimeoutS: 30, border: 'a2' });
  expect(d!.interfaces[0]).toEqual({ name: 'ge-0/0/1', role: 'peer', peerDomain: 'dom-b', link: 'a2-b1' });
  expect(parseConfig(cfg([good({ platform: 'linux_tc' })])).devices[0]!.port).toBe(22);
});

test.each([
  ['an unknown platform', good({ platform: 'cisco_ios' }), 'devices[0].platform', /unknown platform "cisco_ios"; expected one of openconfig/],
  ['a border not in the inventory', good({ border: 'a9' }), 'devices[0].border', /"a9" is not in inventory.borders/],
  ['a peer interface without a link to that domain', good({ interfaces: [{ name: 'x', role: 'peer', 'peer-domain': 'dom-z' }] }), 'devices[0].interfaces[0].peer-domain', /no link from border a2 to dom-z/],
  ['a customer interface for a site at another border', good({ interfaces: [{ name: 'x', role: 'customer', site: 'paris' }] }), 'devices[0].interfaces[0].site', /site paris is not reached at border a2/],
  ['an unknown interface role', good({ interfaces: [{ name: 'x', role: 'uplink' }] }), 'devices[0].interfaces[0].role', /expected peer, customer or core/],
  ['both a key and a password file', good({ 'password-file': 'pw' }), 'devices[0].key-file', /exactly one of key-file and password-file/],
  ['no host key check', good({ 'known-hosts-file': undefined }), 'devices[0].known-hosts-file', /host keys are always checked/],
  ['a malformed fingerprint', good({ 'known-hosts-file': undefined, 'host-key-sha256': 'md5:ab' }), 'devices[0].host-key-sha256', /SHA256:<43 base64/],
  ['a partition over an interface it does not list', good({ partition: { name: 'p', 'network-instance': 'ni', interfaces: ['ge-9'], 'rate-budget-kbps': 1000 } }), 'devices[0].partition.interfaces[0]', /expected an interface listed in devices\[0\].interfaces/],
  ['an unknown key', good({ colour: 'red' }), 'devices[0].colour', /unknown key/],
])('devices - %s is refused naming the key', (_what, entry, key, message) => {
  const e = errorOf([entry]);
  expect(e.key).toBe(key);
  expect(e.message).toMatch(message);
});

test('devices - two entries with one name are refused', () => {
  expect(errorOf([good(), good()]).key).toBe('devices[1].name');
});

test('devices - devices-from a lab inventory and labInventory of the same file agree: routers are borders, hosts sites with their link prefix, links peers or transits', () => {
  const file = resolve(import.meta.dirname, '../../../containerlab/three-domain.clab.yml');
  const plan = loadLabPlan(file);
  const dir = mkdtempSync(join(tmpdir(), 'qb-devfrom-'));
  try {
    const access = (node: string, domain: string) => ({ node, platform: 'linux_tc', domain, host: '198.19.3.1', port: 830, username: 'root', privateKeyFile: join(dir, 'id'), knownHostsFile: join(dir, 'kh') });
    writeFileSync(join(dir, 'inventory.json'), JSON.stringify({ name: plan.name, file, routers: [access('a-edge', 'domain-a'), access('a-border', 'domain-a'), access('b-border1', 'domain-b'), access('b-border2', 'domain-b')] }));
    const offer = { classes: { EF: { 'capacity-mbps': 100, 'latency-ms': 1 } }, prices: { currency: 'EUR', 'per-mbps-hour': { EF: 0.5 } } };
    const inv = labInventory(plan, 'domain-a', offer);
    expect(inv).toMatchObject({
      borders: ['a-edge', 'a-border'],
      sites: [{ id: 'host-a', borders: ['a-edge'], prefixes: ['198.18.10.0/24'] }],
      transits: [{ id: 'a-edge-a-border', from: 'a-edge', to: 'a-border', bidirectional: true }],
      links: [{ id: 'a-border-domain-b-b-border1', border: 'a-border', 'peer-domain': 'domain-b', 'peer-border': 'b-border1' }],
    });
    expect(labInventory(plan, 'domain-b', offer)).toMatchObject({ borders: ['b-border1', 'b-border2'], sites: [], links: [{ border: 'b-border1', 'peer-domain': 'domain-a', 'peer-border': 'a-border' }, { border: 'b-border2', 'peer-domain': 'domain-c', 'peer-border': 'c-border' }] });
    const cfg = parseConfigText(stringify({ ...cfg0(), 'domain-id': 'domain-a', inventory: inv, 'devices-from': 'inventory.json' }), dir);
    expect(cfg.devices.map((d) => [d.name, d.platform, d.border, d.interfaces.map((i) => `${i.name}:${i.role}:${i.site ?? i.peerDomain ?? ''}`)])).toEqual([
      ['a-edge', 'linux_tc', 'a-edge', ['eth1:customer:host-a', 'eth2:core:']],
      ['a-border', 'linux_tc', 'a-border', ['eth1:core:', 'eth2:peer:domain-b']],
    ]);
    expect(cfg.inventory!.sites[0]!.prefixes).toEqual(['198.18.10.0/24']);
    expect(() => labInventory(plan, 'domain-x', offer)).toThrow(/no router of domain domain-x/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

function cfg0(): Record<string, unknown> {
  const { devices: _d, ...rest } = cfg([]);
  return rest;
}
