/**
 * The demo's lab (containerlab/four-provider.clab.yml) is the demo network
 * (daemon/cli/demo-network.ts): the devices its inventory gives each
 * provider (devices-from) check against that provider's inventory, every
 * border has its router, every link and site its interface, and the hosts'
 * packets take the cheap way. Pure: no lab is brought up.
 */
import { describe, expect, test } from 'vitest';
import { labDeviceEntries, parseDevices } from '../../../daemon/config/devices.js';
import { demoNetwork } from '../../../daemon/cli/demo-network.js';
import { DEMO_LAB_FILE } from '../../../daemon/cli/demo.js';
import type { Inventory } from '../../../daemon/peering/origin.js';
import { loadLabPlan } from '../../../lab/topology.js';

const plan = loadLabPlan(DEMO_LAB_FILE);
// the inventory.json lab up would write (lab/runner.ts), without bringing the lab up
const inventoryJson = {
  name: plan.name,
  file: plan.file,
  routers: plan.nodes.filter((n) => n.role !== 'host').map((n) => ({ node: n.name, platform: n.platform, domain: n.domain, host: n.mgmtAddress, port: plan.port, username: 'root', privateKeyFile: '/lab/id_ed25519', knownHostsFile: '/lab/known_hosts' })),
};

describe('demo lab - containerlab/four-provider.clab.yml is the demo network', () => {
  test.each(demoNetwork().map((ad) => [ad.origin, ad] as const))('demo lab - %s: its lab routers check against its inventory, one per border, an interface per link and site', (domain, ad) => {
    const inv: Inventory = {
      borders: ad.borders,
      sites: (ad.sites ?? []).map((s) => ({ id: s.id, borders: s.borders })),
      transits: [],
      links: ad.links.map((l) => ({ id: `${l.border}-${l.peerBorder}`, border: l.border, peerDomain: l.peerDomain, peerBorder: l.peerBorder, classes: {} })),
      prices: { currency: 'EUR', perMbpsHour: {} },
    };
    const devices = parseDevices(labDeviceEntries('/lab/inventory.json', domain, () => inventoryJson, loadLabPlan), inv, 'devices-from');
    expect(devices.map((d) => d.border).sort()).toEqual([...ad.borders].sort());
    expect(devices.every((d) => d.platform === 'linux_tc' && d.name === `${domain}-${d.border}`)).toBe(true);
    for (const l of ad.links) expect(devices.find((d) => d.border === l.border)!.interfaces.filter((i) => i.role === 'peer' && i.peerDomain === l.peerDomain)).toHaveLength(1);
    for (const s of ad.sites ?? []) for (const b of s.borders) expect(devices.find((d) => d.border === b)!.interfaces.some((i) => i.role === 'customer' && i.site === s.id)).toBe(true);
    // every router reaches the rest of its domain over a core interface (the ingress router of a segment shapes there)
    for (const d of devices) expect(d.interfaces.filter((i) => i.role === 'core')).toHaveLength(1);
  });

  test('demo lab - the hosts packets cross provider-y (the cheapest order path) both ways', () => {
    const route = (node: string, to: string) => plan.nodes.find((n) => n.name === node)!.routes.find((r) => r.prefix === to)!;
    const via = (node: string, to: string) => plan.nodes.find((n) => n.interfaces.some((i) => i.cidr.startsWith(`${route(node, to).via}/`)))!.name;
    expect(via('provider-x-x2', '198.18.50.0/24')).toBe('provider-y-y1');
    expect(via('provider-z-z1', '198.18.40.0/24')).toBe('provider-y-y2');
  });
});
