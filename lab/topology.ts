/**
 * Reads a containerlab topology file and turns it into the plan the lab
 * runner executes: which network namespaces, veth pairs, addresses, routes
 * and management addresses. Pure: no side effects, so every rule here is unit
 * tested without root.
 *
 * Conventions on top of containerlab (all carried as node labels, so the file
 * stays a valid containerlab topology):
 * - `qos-broker.role`: `host` for a customer host; `edge`, `border` or `core`
 *   for a router. Without it a node of kind `linux` is a host, any other kind a
 *   router.
 * - `qos-broker.platform`: the platform id a broker drives the router with
 *   (`linux_tc` for lab routers). The lab runs every router as a linux_tc-style
 *   router whatever its kind.
 * - `qos-broker.domain`: the provider domain of a router.
 * - `qos-broker.routes`: `auto` (default) adds static routes to every link
 *   subnet along shortest paths; `manual` leaves routing to the node's `exec`
 *   lines.
 * Link addresses come from a link's `ipv4` list; links without one get a /30
 * from 198.18.0.0/15. The management subnet is `mgmt.ipv4-subnet`, else a /24
 * of 198.19.0.0/16 derived from the lab name.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { LabError, LabTopologyError } from './errors.js';

export { LabTopologyError };

export type NodeRole = 'host' | 'edge' | 'border' | 'core';

/** One end of a link as the lab sets it up. */
export interface LabEndpoint {
  node: string;
  iface: string;
  /** Address with prefix length, e.g. `198.18.1.1/30`. */
  cidr: string;
}

export interface LabLink {
  a: LabEndpoint;
  b: LabEndpoint;
  /** Network of the link, e.g. `198.18.1.0/30`. */
  subnet: string;
}

export interface LabRoute {
  /** Destination network, e.g. `198.18.4.0/30`. */
  prefix: string;
  via: string;
  dev: string;
}

export interface LabNode {
  /** Name in the topology file. */
  name: string;
  kind: string;
  role: NodeRole;
  /** Platform id from `qos-broker.platform`; `linux_tc` for routers without one, absent for hosts. */
  platform?: string;
  domain?: string;
  /** Network namespace the node runs in: lab prefix + node name, e.g. `qbl-qb-two-domain-1a2b-a-edge`. */
  netns: string;
  /** Management address (routers only). */
  mgmtAddress?: string;
  /** Username for SSH/NETCONF (routers only). @default 'root' */
  username?: string;
  labels: Record<string, string>;
  /** Data interfaces of the node. */
  interfaces: { name: string; cidr: string }[];
  routes: LabRoute[];
  /** The node's `exec` lines, run inside its namespace after links and routes. */
  exec: string[];
}

export interface LabPlan {
  /** Lab name (the file's `name`, or the override). */
  name: string;
  file: string;
  /** Prefix of every network namespace of the lab, `qbl-<name>-<hash4>-`. */
  netnsPrefix: string;
  /** Prefix (8 characters) of every interface the lab makes in the root namespace. */
  ifPrefix: string;
  mgmt: {
    subnet: string;
    prefixLen: number;
    /** Address of the root namespace on the management bridge. */
    gateway: string;
    /** Name of the bridge in the root namespace. */
    bridge: string;
  };
  /** SSH/NETCONF port of every lab router. */
  port: number;
  nodes: LabNode[];
  links: LabLink[];
}

/** Options to load a plan. */
export interface LoadOptions {
  /** Use this lab name instead of the file's `name` (tests run a file twice). */
  name?: string;
  /**
   * Use this management subnet instead of the file's. `free`: `lab up` picks a /24 of
   * 198.19.16.0 - 198.19.127.255 that no route of this machine and no other lab uses, and every later
   * operation with `free` reads the pick from the lab's state directory (lab/runner.ts).
   */
  mgmtSubnet?: string;
}

/** `mgmtSubnet` value that lets `lab up` pick a free management subnet. */
export const FREE_MGMT_SUBNET = 'free';

const LAB_NAME = /^[a-zA-Z0-9][a-zA-Z0-9-._]*$/;
const IFNAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,14}$/;
const NETNS_PREFIX = 'qbl-';
/** Port of sshd (CLI and NETCONF subsystem) on every lab router. */
export const LAB_ROUTER_PORT = 830;

// ---- IPv4 helpers ----

export function ipToInt(ip: string): number {
  const parts = ip.split('.');
  if (parts.length !== 4 || !parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) <= 255)) return NaN;
  return parts.reduce((acc, p) => acc * 256 + Number(p), 0);
}

export function intToIp(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

/** `{ip, len, network, size}` of `a.b.c.d/len`, or undefined when malformed. */
export function parseCidr(cidr: string): { ip: number; len: number; network: number; size: number } | undefined {
  const m = /^(\d+\.\d+\.\d+\.\d+)\/(\d{1,2})$/.exec(cidr);
  if (!m) return undefined;
  const ip = ipToInt(m[1]!);
  const len = Number(m[2]);
  if (Number.isNaN(ip) || len > 32) return undefined;
  const size = 2 ** (32 - len);
  return { ip, len, network: Math.floor(ip / size) * size, size };
}

/** Do two networks overlap? */
export function overlaps(a: string, b: string): boolean {
  const x = parseCidr(a);
  const y = parseCidr(b);
  if (!x || !y) return false;
  return x.network < y.network + y.size && y.network < x.network + x.size;
}

function subnetOf(cidr: string): string {
  const c = parseCidr(cidr)!;
  return `${intToIp(c.network)}/${c.len}`;
}

// ---- loading ----

interface RawNode {
  kind?: string;
  labels?: Record<string, string | number>;
  exec?: string[];
  'mgmt-ipv4'?: string;
  credentials?: { username?: string };
}

type RawLink = { endpoints?: unknown[]; ipv4?: string[]; type?: string };

/** Parse a topology file (YAML) into a plain object; a YAML error is a typed error. */
export function readTopologyFile(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new LabError('QB_LAB_FILE_UNREADABLE', `cannot read topology file ${file}: ${(err as Error).message}`, { cause: err });
  }
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw new LabTopologyError(file, `is not valid YAML: ${(err as Error).message}`);
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw new LabTopologyError(file, 'must be a YAML mapping with name and topology');
  return doc as Record<string, unknown>;
}

/** Load a topology file and compute the lab plan. */
export function loadLabPlan(fileArg: string, options: LoadOptions = {}): LabPlan {
  const file = resolve(fileArg);
  return planFromDocument(readTopologyFile(file), file, options);
}

/** Compute the lab plan of an already parsed topology document. */
export function planFromDocument(doc: Record<string, unknown>, file: string, options: LoadOptions = {}): LabPlan {
  const where = basename(file);
  const fail = (msg: string): never => {
    throw new LabTopologyError(where, msg);
  };
  const name = options.name ?? doc.name;
  if (typeof name !== 'string' || !LAB_NAME.test(name)) fail(`"name" must match ${LAB_NAME.source}, got ${JSON.stringify(name)}`);
  const labName = name as string;
  if (labName.length > 40) fail(`lab name "${labName}" is longer than 40 characters; use a shorter name`);
  const topo = doc.topology as { nodes?: Record<string, RawNode | null>; links?: RawLink[]; kinds?: Record<string, RawNode>; defaults?: RawNode } | undefined;
  if (!topo || typeof topo !== 'object' || !topo.nodes || typeof topo.nodes !== 'object') fail('"topology.nodes" is missing');
  const hash = createHash('sha256').update(labName).digest('hex');
  // the hash ends the prefix, so lab "x" never sweeps the namespaces of lab "x-y"
  const netnsPrefix = `${NETNS_PREFIX}${labName}-${hash.slice(0, 4)}-`;
  const ifPrefix = 'qb' + hash.slice(0, 6);

  // management network
  const mgmtDoc = (doc.mgmt ?? {}) as { 'ipv4-subnet'?: string };
  let mgmtSubnet = options.mgmtSubnet ?? mgmtDoc['ipv4-subnet'];
  // `free` is resolved by the runner; until a lab is up it stands for the name's own /24
  if (mgmtSubnet === undefined || mgmtSubnet === 'auto' || mgmtSubnet === FREE_MGMT_SUBNET) {
    const third = createHash('sha256').update(`mgmt:${labName}`).digest()[0]!;
    mgmtSubnet = `198.19.${third}.0/24`;
  }
  const mg = parseCidr(mgmtSubnet);
  if (!mg || mg.len > 29 || mg.len < 16) fail(`mgmt.ipv4-subnet must be an IPv4 network between /16 and /29, got ${JSON.stringify(mgmtSubnet)}`);
  const mgmt = { subnet: `${intToIp(mg!.network)}/${mg!.len}`, prefixLen: mg!.len, gateway: intToIp(mg!.network + 1), bridge: `${ifPrefix}-mg` };
  const usedMgmt = new Set<number>([mg!.network, mg!.network + 1, mg!.network + mg!.size - 1]);

  // nodes
  const nodes: LabNode[] = [];
  const byName = new Map<string, LabNode>();
  for (const [nodeName, rawOrNull] of Object.entries(topo!.nodes!)) {
    const raw: RawNode = rawOrNull ?? {};
    if (!/^[a-zA-Z0-9][a-zA-Z0-9-._]*$/.test(nodeName)) fail(`node name "${nodeName}" may only use letters, digits, "-", "." and "_"`);
    const kind = raw.kind ?? topo!.defaults?.kind;
    if (typeof kind !== 'string') fail(`node ${nodeName} has no kind; set "kind" on the node or in topology.defaults`);
    const inherited = { ...(topo!.defaults?.labels ?? {}), ...(topo!.kinds?.[kind as string]?.labels ?? {}), ...(raw.labels ?? {}) };
    const labels = Object.fromEntries(Object.entries(inherited).map(([k, v]) => [k, String(v)]));
    const roleLabel = labels['qos-broker.role'];
    if (roleLabel !== undefined && !['host', 'edge', 'border', 'core'].includes(roleLabel)) {
      fail(`node ${nodeName}: label qos-broker.role must be host, edge, border or core, got "${roleLabel}"`);
    }
    const role = (roleLabel ?? (kind === 'linux' && !labels['qos-broker.platform'] ? 'host' : 'core')) as NodeRole;
    const exec = [...(topo!.kinds?.[kind as string]?.exec ?? []), ...(raw.exec ?? [])];
    const node: LabNode = { name: nodeName, kind: kind as string, role, netns: netnsPrefix + nodeName, labels, interfaces: [], routes: [], exec };
    if (role !== 'host') {
      node.platform = labels['qos-broker.platform'] ?? 'linux_tc';
      node.domain = labels['qos-broker.domain'];
      node.username = raw.credentials?.username ?? topo!.kinds?.[kind as string]?.credentials?.username ?? 'root';
      const addr = raw['mgmt-ipv4'];
      const labelAddr = labels['qos-broker.mgmt-address'];
      if (addr && labelAddr && addr !== labelAddr) fail(`node ${nodeName}: mgmt-ipv4 ${addr} and label qos-broker.mgmt-address ${labelAddr} differ; make them equal`);
      const want = addr ?? labelAddr;
      if (want !== undefined && !options.mgmtSubnet) {
        const n = ipToInt(want);
        if (Number.isNaN(n) || n < mg!.network || n >= mg!.network + mg!.size) fail(`node ${nodeName}: management address ${want} is not inside mgmt.ipv4-subnet ${mgmt.subnet}`);
        if (usedMgmt.has(n)) fail(`node ${nodeName}: management address ${want} is reserved or used twice (the network, broadcast and .1 gateway addresses are taken)`);
        usedMgmt.add(n);
        node.mgmtAddress = want;
      }
    }
    nodes.push(node);
    byName.set(nodeName, node);
  }
  // routers without an address (or all, when the subnet is overridden) get the next free one
  let next = mg!.network + 2;
  for (const node of nodes) {
    if (node.role === 'host' || node.mgmtAddress) continue;
    while (usedMgmt.has(next)) next++;
    if (next >= mg!.network + mg!.size - 1) fail(`mgmt.ipv4-subnet ${mgmt.subnet} has no room for every router; use a larger subnet`);
    usedMgmt.add(next);
    node.mgmtAddress = intToIp(next);
  }
  if (nodes.length === 0) fail('topology.nodes is empty');

  // links
  const links: LabLink[] = [];
  const rawLinks = topo!.links ?? [];
  if (!Array.isArray(rawLinks)) fail('topology.links must be a list');
  const ifaceUsed = new Set<string>();
  let auto = 0;
  const explicitSubnets: string[] = [];
  rawLinks.forEach((l) => {
    for (const c of l.ipv4 ?? []) if (parseCidr(c)) explicitSubnets.push(subnetOf(c));
  });
  rawLinks.forEach((l, i) => {
    if (l.type !== undefined && l.type !== 'veth') fail(`link ${i + 1}: only veth links run in the lab, got type "${l.type}"`);
    const eps = l.endpoints ?? [];
    if (eps.length !== 2) fail(`link ${i + 1}: needs exactly two endpoints "node:interface"`);
    const ends = eps.map((ep) => {
      let node: string | undefined;
      let iface: string | undefined;
      let cidr: string | undefined;
      if (typeof ep === 'string') {
        const idx = ep.indexOf(':');
        node = idx > 0 ? ep.slice(0, idx) : undefined;
        iface = idx > 0 ? ep.slice(idx + 1) : undefined;
      } else if (ep && typeof ep === 'object') {
        const o = ep as { node?: string; interface?: string; ipv4?: string };
        node = o.node;
        iface = o.interface;
        cidr = o.ipv4;
      }
      if (!node || !iface) fail(`link ${i + 1}: endpoint ${JSON.stringify(ep)} must be "node:interface"`);
      if (!byName.has(node!)) fail(`link ${i + 1}: node "${node}" is not defined in topology.nodes`);
      if (!IFNAME.test(iface!) || iface === 'lo' || iface === 'mgmt0') {
        fail(`link ${i + 1}: interface "${iface}" of ${node} must be 1-15 letters, digits, "_", "." or "-" and not lo or mgmt0 (Linux interface name)`);
      }
      const key = `${node}:${iface}`;
      if (ifaceUsed.has(key)) fail(`link ${i + 1}: interface ${key} is used by two links`);
      ifaceUsed.add(key);
      return { node: node!, iface: iface!, cidr };
    });
    const given = l.ipv4 ?? [];
    for (let k = 0; k < 2; k++) if (!ends[k]!.cidr && given[k]) ends[k]!.cidr = given[k];
    if (!ends[0]!.cidr && !ends[1]!.cidr) {
      // next free /30 of 198.18.0.0/15 that no explicit link uses
      let net: string;
      do {
        net = `${intToIp(ipToInt('198.18.0.0') + 4 * auto++)}/30`;
        if (auto > 2 ** 15) fail('no free /30 left in 198.18.0.0/15');
      } while (explicitSubnets.some((s) => overlaps(s, net)));
      const base = parseCidr(net)!.network;
      ends[0]!.cidr = `${intToIp(base + 1)}/30`;
      ends[1]!.cidr = `${intToIp(base + 2)}/30`;
    }
    for (const e of ends) {
      const c = e.cidr ? parseCidr(e.cidr) : undefined;
      if (!c) fail(`link ${i + 1}: ${e.node}:${e.iface} needs an IPv4 address with prefix length (a.b.c.d/len), got ${JSON.stringify(e.cidr)}`);
      if (c!.len > 30 && c!.len !== 31) fail(`link ${i + 1}: ${e.cidr} leaves no room for two hosts; use /30 or /31 or shorter`);
      if (c!.len < 31 && (c!.ip === c!.network || c!.ip === c!.network + c!.size - 1)) fail(`link ${i + 1}: ${e.cidr} is the network or broadcast address of its subnet`);
    }
    const [a, b] = ends as [LabEndpoint, LabEndpoint];
    if (subnetOf(a.cidr) !== subnetOf(b.cidr)) fail(`link ${i + 1}: ${a.cidr} and ${b.cidr} are not in the same subnet`);
    if (a.cidr.split('/')[0] === b.cidr.split('/')[0]) fail(`link ${i + 1}: both ends have address ${a.cidr}`);
    if (overlaps(subnetOf(a.cidr), mgmt.subnet)) fail(`link ${i + 1}: ${subnetOf(a.cidr)} overlaps the management subnet ${mgmt.subnet}`);
    const clash = links.find((o) => overlaps(o.subnet, subnetOf(a.cidr)));
    if (clash) fail(`link ${i + 1}: subnet ${subnetOf(a.cidr)} overlaps the link ${clash.a.node}:${clash.a.iface} - ${clash.b.node}:${clash.b.iface} (${clash.subnet})`);
    links.push({ a, b, subnet: subnetOf(a.cidr) });
    byName.get(a.node)!.interfaces.push({ name: a.iface, cidr: a.cidr });
    byName.get(b.node)!.interfaces.push({ name: b.iface, cidr: b.cidr });
  });

  for (const node of nodes) {
    if ((node.labels['qos-broker.routes'] ?? 'auto') === 'auto') node.routes = computeRoutes(node, nodes, links);
    else if (node.labels['qos-broker.routes'] !== 'manual') fail(`node ${node.name}: label qos-broker.routes must be auto or manual`);
  }
  return { name: labName, file, netnsPrefix, ifPrefix, mgmt, port: LAB_ROUTER_PORT, nodes, links };
}

/**
 * Static routes of `node` to every link subnet it is not attached to, along
 * shortest paths (fewest hops, ties broken by file order). Transit only
 * through routers, never through hosts.
 */
export function computeRoutes(node: LabNode, nodes: LabNode[], links: LabLink[]): LabRoute[] {
  const adj = new Map<string, { peer: string; viaAddr: string; dev: string }[]>();
  for (const n of nodes) adj.set(n.name, []);
  for (const l of links) {
    adj.get(l.a.node)!.push({ peer: l.b.node, viaAddr: l.b.cidr.split('/')[0]!, dev: l.a.iface });
    adj.get(l.b.node)!.push({ peer: l.a.node, viaAddr: l.a.cidr.split('/')[0]!, dev: l.b.iface });
  }
  const role = new Map(nodes.map((n) => [n.name, n.role]));
  // BFS from node: first hop of each reachable node
  const first = new Map<string, { via: string; dev: string }>();
  const dist = new Map<string, number>();
  const seen = new Set([node.name]);
  let frontier: string[] = [];
  for (const e of adj.get(node.name)!) {
    if (seen.has(e.peer)) continue;
    seen.add(e.peer);
    first.set(e.peer, { via: e.viaAddr, dev: e.dev });
    dist.set(e.peer, 1);
    frontier.push(e.peer);
  }
  while (frontier.length) {
    const nextFrontier: string[] = [];
    for (const n of frontier) {
      if (role.get(n) === 'host') continue;
      for (const e of adj.get(n)!) {
        if (seen.has(e.peer)) continue;
        seen.add(e.peer);
        first.set(e.peer, first.get(n)!);
        dist.set(e.peer, dist.get(n)! + 1);
        nextFrontier.push(e.peer);
      }
    }
    frontier = nextFrontier;
  }
  const attached = new Set(node.interfaces.map((i) => subnetOf(i.cidr)));
  const routes: LabRoute[] = [];
  for (const l of links) {
    if (attached.has(l.subnet)) continue;
    // the link is reached through whichever of its ends is closer (a router end: hosts do not forward)
    const candidates = [l.a.node, l.b.node].filter((n) => first.has(n)).sort((x, y) => dist.get(x)! - dist.get(y)!);
    if (!candidates.length) continue;
    const hop = first.get(candidates[0]!)!;
    routes.push({ prefix: l.subnet, via: hop.via, dev: hop.dev });
  }
  return routes;
}
