/**
 * `devices:` of a provider's config: the routers the daemon provisions.
 * Each device names its platform (`vendor_os`), how to reach it (management
 * host and port, user, key or password file, known_hosts file or pinned host
 * key fingerprint, NETCONF settings), which border of the inventory it is,
 * and its interfaces with their role: towards a peer domain (over a link of
 * the inventory), towards a customer site, or into the core. A device shared
 * between providers (seed 002) carries the provider's partition.
 */
import { PLATFORMS } from '../../drivers/platforms/index.js';
import type { Inventory } from '../peering/origin.js';
import { ConfigError } from '../errors.js';
import { Section } from './schema.js';

/** An interface of a device and what it faces. */
export interface DeviceInterfaceConfig {
  name: string;
  /** `peer`: towards another domain; `customer`: towards a site; `core`: inside the domain. */
  role: 'peer' | 'customer' | 'core';
  /** role peer: the domain it faces. */
  peerDomain?: string;
  /** role peer: the inventory link it carries (optional when one link goes to peerDomain from this border). */
  link?: string;
  /** role customer: the site it faces. */
  site?: string;
  speedMbps?: number;
}

/** One router of the domain. */
export interface DeviceConfig {
  name: string;
  /** Platform id, `vendor_os` (drivers/platforms). */
  platform: string;
  host: string;
  /** @default 830 (NETCONF); 22 for CLI platforms */
  port: number;
  username: string;
  /** Private key file for public-key authentication (never logged). */
  keyFile?: string;
  /** File holding the password (never logged). */
  passwordFile?: string;
  /** OpenSSH known_hosts file with the device's host key. */
  knownHostsFile?: string;
  /** Pinned host key fingerprints, `SHA256:...`. */
  hostKeySha256?: string[];
  /** Border router id of the inventory this device is. */
  border: string;
  /** NETCONF: wait after hello (yuma123 quirk; the lab's netconfd wants 20). @default 0 */
  helloSettleMs: number;
  /** Deadline of each RPC, ms. @default 60000 */
  rpcTimeoutMs: number;
  /** Confirmed-commit timeout while a segment is applied, s. @default 30 */
  confirmTimeoutS: number;
  interfaces: DeviceInterfaceConfig[];
  /** The provider's share of a shared device. */
  partition?: { name: string; networkInstance: string; interfaces: string[]; rateBudgetKbps: number; role?: 'wholesale' | 'retail' };
}

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const IF_RE = /^[A-Za-z0-9][A-Za-z0-9._:/-]{0,63}$/;
const PLATFORM_IDS = PLATFORMS.map((p) => p.id);

/** Check the `devices` list against the inventory; every error names its key. */
export function parseDevices(list: unknown[], inv: Inventory | undefined, key = 'devices'): DeviceConfig[] {
  if (list.length && !inv) throw new ConfigError(key, 'needs an inventory: each device is a border of inventory.borders');
  const names = new Set<string>();
  return list.map((v, i) => {
    const s = Section.of(`${key}[${i}]`, v);
    const name = s.str('name', { re: NAME_RE, what: 'a device name (letters, digits, ._-)' });
    if (names.has(name)) throw new ConfigError(s.key('name'), `device ${name} is configured twice`);
    names.add(name);
    const platform = s.str('platform', { what: `a platform id: ${PLATFORM_IDS.join(', ')}` });
    if (!PLATFORM_IDS.includes(platform as (typeof PLATFORM_IDS)[number])) throw new ConfigError(s.key('platform'), `unknown platform ${JSON.stringify(platform)}; expected one of ${PLATFORM_IDS.join(', ')}`);
    const cli = PLATFORMS.find((p) => p.id === platform)!.transport === 'cli';
    const border = s.str('border', { what: 'a border id of inventory.borders' });
    if (!inv!.borders.includes(border)) throw new ConfigError(s.key('border'), `${JSON.stringify(border)} is not in inventory.borders (${inv!.borders.join(', ')})`);
    const d: DeviceConfig = {
      name,
      platform,
      host: s.str('host', { what: 'the management address (IP or host name)' }),
      port: s.num('port', { min: 1, max: 65535, int: true, def: cli ? 22 : 830 }),
      username: s.str('username', { what: 'the SSH user' }),
      keyFile: s.str('key-file', { optional: true, what: 'path of the SSH private key' }),
      passwordFile: s.str('password-file', { optional: true, what: 'path of a file holding the password' }),
      knownHostsFile: s.str('known-hosts-file', { optional: true, what: 'path of an OpenSSH known_hosts file' }),
      border,
      helloSettleMs: s.num('hello-settle-ms', { min: 0, max: 10_000, int: true, def: 0 }),
      rpcTimeoutMs: s.num('rpc-timeout-ms', { min: 100, max: 3_600_000, int: true, def: 60_000 }),
      confirmTimeoutS: s.num('confirm-timeout-s', { min: 1, max: 3600, int: true, def: 30 }),
      interfaces: [],
    };
    const fp = s.raw('host-key-sha256');
    if (fp !== undefined) {
      const fps = Array.isArray(fp) ? fp : [fp];
      fps.forEach((f, j) => {
        if (typeof f !== 'string' || !/^SHA256:[A-Za-z0-9+/]{43}=?$/.test(f)) throw new ConfigError(`${s.key('host-key-sha256')}${Array.isArray(fp) ? `[${j}]` : ''}`, `expected an OpenSSH fingerprint SHA256:<43 base64 characters>, got ${JSON.stringify(f)}`);
      });
      d.hostKeySha256 = fps as string[];
    }
    if (!d.keyFile === !d.passwordFile) throw new ConfigError(s.key('key-file'), 'give exactly one of key-file and password-file');
    if (!d.knownHostsFile && !d.hostKeySha256) throw new ConfigError(s.key('known-hosts-file'), 'is required (or host-key-sha256): host keys are always checked');
    const ifNames = new Set<string>();
    d.interfaces = s.list('interfaces', false).map((iv, j) => {
      const x = Section.of(`${s.key('interfaces')}[${j}]`, iv);
      const ifc: DeviceInterfaceConfig = { name: x.str('name', { re: IF_RE, what: 'an interface name' }), role: x.str('role', { what: 'peer, customer or core' }) as DeviceInterfaceConfig['role'] };
      if (ifNames.has(ifc.name)) throw new ConfigError(x.key('name'), `interface ${ifc.name} is listed twice`);
      ifNames.add(ifc.name);
      if (!['peer', 'customer', 'core'].includes(ifc.role)) throw new ConfigError(x.key('role'), `expected peer, customer or core, got ${JSON.stringify(ifc.role)}`);
      if (x.has('speed-mbps')) ifc.speedMbps = x.num('speed-mbps', { min: 0.001, max: 10_000_000 });
      if (ifc.role === 'peer') {
        ifc.peerDomain = x.str('peer-domain', { what: 'the domain this interface faces' });
        ifc.link = x.str('link', { optional: true, what: 'a link id of inventory.links' });
        const links = inv!.links.filter((l) => l.border === border && l.peerDomain === ifc.peerDomain && (!ifc.link || l.id === ifc.link));
        if (links.length === 0) throw new ConfigError(x.key(ifc.link ? 'link' : 'peer-domain'), `inventory.links has no link from border ${border} to ${ifc.peerDomain}${ifc.link ? ` with id ${ifc.link}` : ''}`);
        ifc.link ??= links[0]!.id;
      } else if (ifc.role === 'customer') {
        ifc.site = x.str('site', { what: 'a site id of inventory.sites' });
        const site = inv!.sites.find((st) => st.id === ifc.site);
        if (!site) throw new ConfigError(x.key('site'), `${JSON.stringify(ifc.site)} is not in inventory.sites`);
        if (!site.borders.includes(border)) throw new ConfigError(x.key('site'), `site ${ifc.site} is not reached at border ${border} (its borders: ${site.borders.join(', ')})`);
      }
      x.done();
      return ifc;
    });
    if (d.interfaces.length === 0) throw new ConfigError(s.key('interfaces'), 'expected at least one interface');
    const ps = s.section('partition', true);
    if (ps) {
      const ifs = ps.list('interfaces', false).map((n, j) => {
        if (typeof n !== 'string' || !ifNames.has(n)) throw new ConfigError(`${ps.key('interfaces')}[${j}]`, `expected an interface listed in ${s.key('interfaces')}, got ${JSON.stringify(n)}`);
        return n;
      });
      const role = ps.str('role', { optional: true, what: 'wholesale or retail' });
      if (role !== undefined && role !== 'wholesale' && role !== 'retail') throw new ConfigError(ps.key('role'), `expected wholesale or retail, got ${JSON.stringify(role)}`);
      d.partition = {
        name: ps.str('name', { re: NAME_RE, what: 'a partition name' }),
        networkInstance: ps.str('network-instance', { re: NAME_RE, what: 'the network-instance / logical node of the partition' }),
        interfaces: ifs,
        rateBudgetKbps: ps.num('rate-budget-kbps', { min: 1, int: true }),
        ...(role ? { role } : {}),
      };
      ps.done();
    }
    s.done();
    return d;
  });
}

/** A router as a lab's inventory.json lists it (lab/runner.ts LabRouterAccess). */
interface LabInventoryRouter {
  node: string;
  platform: string;
  domain?: string;
  host: string;
  port: number;
  username: string;
  privateKeyFile: string;
  knownHostsFile: string;
}

/**
 * `devices-from: <lab state dir>/inventory.json`: the devices of our domain
 * in a running lab, so a lab needs no hand-written device list. Access
 * (management address, user, key, known_hosts) comes from the inventory; the
 * interfaces and their roles from the lab's topology file: an interface
 * whose link ends on a router of another domain faces that domain (`peer`),
 * one that ends on a host faces that host's site (the host's
 * `qos-broker.site` label, or its name), any other is `core`. A router's
 * border id is its `qos-broker.border` label, or its node name.
 * The entries are returned as config (kebab-case) for parseDevices to check.
 */
export function labDeviceEntries(inventoryFile: string, domain: string, readJson: (f: string) => unknown, loadTopology: (file: string) => { nodes: Array<{ name: string; role: string; domain?: string; labels: Record<string, string> }>; links: Array<{ a: { node: string; iface: string }; b: { node: string; iface: string } }> }): Record<string, unknown>[] {
  const inv = readJson(inventoryFile) as { file?: unknown; routers?: unknown };
  if (!inv || typeof inv.file !== 'string' || !Array.isArray(inv.routers)) throw new ConfigError('devices-from', `${inventoryFile} is not a lab inventory (expected {file, routers: [...]}, as \`qos-broker lab up\` writes it)`);
  const plan = loadTopology(inv.file);
  const nodes = new Map(plan.nodes.map((n) => [n.name, n]));
  const mine = (inv.routers as LabInventoryRouter[]).filter((r) => r.domain === domain);
  if (mine.length === 0) throw new ConfigError('devices-from', `the lab ${inventoryFile} has no router of domain ${domain} (label qos-broker.domain)`);
  return mine.map((r) => {
    const interfaces: Record<string, unknown>[] = [];
    for (const l of plan.links) {
      for (const [me, other] of [[l.a, l.b], [l.b, l.a]] as const) {
        if (me.node !== r.node) continue;
        const o = nodes.get(other.node)!;
        if (o.role === 'host') interfaces.push({ name: me.iface, role: 'customer', site: o.labels['qos-broker.site'] ?? o.name });
        else if (o.domain && o.domain !== domain) interfaces.push({ name: me.iface, role: 'peer', 'peer-domain': o.domain });
        else interfaces.push({ name: me.iface, role: 'core' });
      }
    }
    return {
      name: r.node,
      platform: r.platform,
      host: r.host,
      port: r.port,
      username: r.username,
      'key-file': r.privateKeyFile,
      'known-hosts-file': r.knownHostsFile,
      border: nodes.get(r.node)?.labels['qos-broker.border'] ?? r.node,
      'hello-settle-ms': 20,
      interfaces,
    };
  });
}

/** What labInventory needs of a lab's plan (lab/topology.ts LabPlan). */
export interface LabTopologyView {
  nodes: Array<{ name: string; role: string; domain?: string; labels: Record<string, string> }>;
  links: Array<{ a: { node: string; iface: string; cidr: string }; b: { node: string; iface: string; cidr: string }; subnet: string }>;
}

/**
 * The `inventory:` of a domain of a lab (kebab-case config, as parseConfig
 * reads it), in the terms devices-from uses: its routers are its borders
 * (`qos-broker.border` label or node name), each host on one of them a site
 * (`qos-broker.site` label or host name) whose prefix is the host link's
 * network, a link between two of its routers a transit (both ways), a link
 * to a router of another domain an inter-domain link to that router's
 * border. What the lab file cannot say, the provider says: the metrics of
 * every class on its transits and links, and its prices.
 */
export function labInventory(plan: LabTopologyView, domain: string, offer: { classes: Record<string, Record<string, number>>; prices: Record<string, unknown> }): Record<string, unknown> {
  const nodes = new Map(plan.nodes.map((n) => [n.name, n]));
  const border = (name: string) => nodes.get(name)!.labels['qos-broker.border'] ?? name;
  const routers = plan.nodes.filter((n) => n.role !== 'host' && n.domain === domain);
  if (routers.length === 0) throw new ConfigError('inventory', `the lab has no router of domain ${domain} (label qos-broker.domain)`);
  const mine = new Set(routers.map((r) => r.name));
  const sites: Record<string, unknown>[] = [];
  const transits: Record<string, unknown>[] = [];
  const links: Record<string, unknown>[] = [];
  for (const l of plan.links) {
    for (const [me, other] of [[l.a, l.b], [l.b, l.a]] as const) {
      if (!mine.has(me.node)) continue;
      const o = nodes.get(other.node)!;
      if (o.role === 'host') sites.push({ id: o.labels['qos-broker.site'] ?? o.name, borders: [border(me.node)], prefixes: [l.subnet] });
      else if (o.domain && o.domain !== domain) links.push({ id: `${border(me.node)}-${o.domain}-${border(o.name)}`, border: border(me.node), 'peer-domain': o.domain, 'peer-border': border(o.name), classes: offer.classes });
      else if (me === l.a && mine.has(other.node)) transits.push({ id: `${border(me.node)}-${border(other.node)}`, from: border(me.node), to: border(other.node), bidirectional: true, classes: offer.classes });
    }
  }
  return { borders: routers.map((r) => border(r.name)), sites, transits, links, prices: offer.prices };
}
