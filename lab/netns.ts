/**
 * Namespace plumbing of the lab: the namespaces and root interfaces that
 * exist, building a plan's namespaces, veths, addresses and routes, picking
 * a free management subnet, removing everything of a lab (also what a
 * crashed runner left), and running a command inside a node.
 */
import { spawn } from 'node:child_process';
import { existsSync, rmdirSync, rmSync } from 'node:fs';
import { InvalidArgumentError } from '../drivers/errors.js';
import { LabError } from './errors.js';
import { cmdline, killAll, processesOfStateDir, requireRoot, run } from './process.js';
import { claimMgmtSubnet, defaultStateRoot, labStateDir, liveMgmtClaims, readState, releaseMgmtClaim, resolveLabPlan, type LabOptions } from './state.js';
import { overlaps, type LabNode, type LabPlan } from './topology.js';

/** Network namespaces that exist now. */
export async function listNetns(): Promise<string[]> {
  const out = await run('ip', ['netns', 'list']);
  return out
    .split('\n')
    .map((l) => l.trim().split(/\s+/)[0] ?? '')
    .filter(Boolean);
}

/** Interfaces of the root namespace. */
export async function listRootLinks(): Promise<string[]> {
  const out = await run('ip', ['-o', 'link', 'show']);
  return out
    .split('\n')
    .map((l) => /^\d+:\s+([^:@\s]+)/.exec(l)?.[1])
    .filter((x): x is string => !!x);
}

export async function netnsPids(ns: string): Promise<number[]> {
  try {
    return (await run('ip', ['netns', 'pids', ns]))
      .split('\n')
      .filter(Boolean)
      .map(Number)
      .filter((p) => p !== process.pid);
  } catch {
    return [];
  }
}

/** What of a lab exists now: its namespaces, root interfaces, processes and state directory. */
export interface LabLeftovers {
  netns: string[];
  rootLinks: string[];
  pids: number[];
  stateDir: boolean;
}

export async function labLeftovers(plan: LabPlan, options: LabOptions = {}): Promise<LabLeftovers> {
  const dir = labStateDir(plan, options);
  const netns = (await listNetns()).filter((n) => n.startsWith(plan.netnsPrefix));
  const rootLinks = (await listRootLinks()).filter((l) => l.startsWith(plan.ifPrefix));
  const pids = new Set(processesOfStateDir(dir));
  for (const ns of netns) for (const p of await netnsPids(ns)) pids.add(p);
  return { netns, rootLinks, pids: [...pids], stateDir: existsSync(dir) };
}

export async function downPlan(plan: LabPlan, options: LabOptions): Promise<LabLeftovers> {
  const log = options.log ?? (() => {});
  const dir = labStateDir(plan, options);
  const state = readState(dir);
  const found = await labLeftovers(plan, options);
  const recordedPids = (state?.pids ?? []).filter((p) => cmdline(p.pid).includes(`${dir}/`)).map((p) => p.pid);
  await killAll([...found.pids, ...recordedPids]);
  const netns = [...new Set([...found.netns, ...(state?.netns ?? [])])];
  const existing = new Set(await listNetns());
  for (const ns of netns.filter((n) => existing.has(n))) {
    // processes started inside between the scan and now
    await killAll(await netnsPids(ns));
  }
  const batch = netns.filter((n) => existing.has(n)).map((n) => `netns del ${n}`);
  const rootExisting = new Set(await listRootLinks());
  const links = [...new Set([...found.rootLinks, ...(state?.rootLinks ?? [])])].filter((l) => rootExisting.has(l));
  // the bridge last: the veths of deleted namespaces vanish with them
  batch.push(...links.map((l) => `link del ${l}`));
  if (batch.length) await run('ip', ['-force', '-batch', '-'], batch.join('\n') + '\n', `removing lab ${plan.name}`).catch(() => undefined);
  rmSync(dir, { recursive: true, force: true });
  for (const subnet of new Set([plan.mgmt.subnet, state?.mgmtSubnet])) if (subnet) releaseMgmtClaim(subnet, dir);
  try {
    rmdirSync(options.stateRoot ?? defaultStateRoot()); // only when no other lab lives there
  } catch {
    /* not empty or not there */
  }
  const left = await labLeftovers(plan, options);
  if (left.netns.length || left.rootLinks.length || left.pids.length) {
    throw new LabError(
      'QB_LAB_DOWN_INCOMPLETE',
      `lab ${plan.name} could not be removed completely: namespaces [${left.netns.join(' ')}], interfaces [${left.rootLinks.join(' ')}], pids [${left.pids.join(' ')}]; run lab down again`,
    );
  }
  log(`lab ${plan.name}: down (${netns.length} namespaces, ${links.length} root interfaces, ${new Set([...found.pids, ...recordedPids]).size} processes removed)`);
  return { netns, rootLinks: links, pids: [...new Set([...found.pids, ...recordedPids])], stateDir: state !== undefined };
}

async function machineRoutes(): Promise<{ dst: string; dev?: string }[]> {
  return JSON.parse((await run('ip', ['-4', '-j', 'route', 'show', 'table', 'all'])) || '[]') as { dst: string; dev?: string }[];
}

/** The route of this machine (not of the lab itself) that overlaps `subnet`, if any. */
function overlappingRoute(routes: { dst: string; dev?: string }[], subnet: string, plan: LabPlan): { dst: string; dev?: string } | undefined {
  return routes.find((r) => {
    if (!r.dst || r.dst === 'default' || r.dev?.startsWith(plan.ifPrefix)) return false;
    const dst = r.dst.includes('/') ? r.dst : `${r.dst}/32`;
    return overlaps(dst, subnet) && !dst.startsWith('127.');
  });
}

/**
 * Pick and claim a /24 of 198.19.16.0 - 198.19.127.255 that no route of this machine and no other
 * lab's claim uses. Below it are the fixed subnets of the files in containerlab/; above it, the
 * subnets that runs of older test code draw from their pid without claiming.
 */
/** Third octets of the /24s `free` picks from. */
const FREE_MGMT_FIRST = 16;
const FREE_MGMT_COUNT = 112;

export async function pickFreeMgmtSubnet(plan: LabPlan, dir: string): Promise<string> {
  const [low, count] = [FREE_MGMT_FIRST, FREE_MGMT_COUNT];
  const first = parseInt(plan.ifPrefix.slice(2, 4), 16) % count;
  let routes = await machineRoutes();
  for (let i = 0; i < count; i++) {
    const subnet = `198.19.${low + ((first + i) % count)}.0/24`;
    if (overlappingRoute(routes, subnet, plan)) continue;
    if (!claimMgmtSubnet(subnet, plan, dir)) continue;
    // a lab with an explicit subnet does not claim: it may have added its route meanwhile
    routes = await machineRoutes();
    if (overlappingRoute(routes, subnet, plan)) {
      releaseMgmtClaim(subnet, dir);
      continue;
    }
    return subnet;
  }
  throw new LabError('QB_LAB_ADDRESS_IN_USE', `lab ${plan.name}: no /24 of 198.19.${low}.0 - 198.19.${low + count - 1}.255 is free for its management network; take another lab down or set --mgmt-subnet`);
}

/** Refuse a management subnet that overlaps a route the machine already has, or another lab's claimed one. */
export async function checkMgmtSubnetFree(plan: LabPlan, dir: string): Promise<void> {
  const r = overlappingRoute(await machineRoutes(), plan.mgmt.subnet, plan);
  if (r) {
    throw new LabError(
      'QB_LAB_ADDRESS_IN_USE',
      `management subnet ${plan.mgmt.subnet} of lab ${plan.name} overlaps the route ${r.dst}${r.dev ? ` dev ${r.dev}` : ''} of this machine; set another mgmt.ipv4-subnet in the file (or --mgmt-subnet), or take the other lab down`,
    );
  }
  const c = liveMgmtClaims(dir).find((x) => overlaps(x.subnet, plan.mgmt.subnet));
  if (c) {
    throw new LabError(
      'QB_LAB_ADDRESS_IN_USE',
      `management subnet ${plan.mgmt.subnet} of lab ${plan.name} overlaps ${c.subnet}, picked by lab ${c.lab}; set another mgmt.ipv4-subnet in the file (or --mgmt-subnet free), or take the other lab down`,
    );
  }
}

/**
 * Steps 1 and 2 of a bring-up: every namespace, the management bridge with one veth to each
 * router (`mgmtVeth`: router name -> root-side name), each link's veth pair created straight in its
 * namespaces; then per node its addresses, routes, forwarding and the file's exec lines.
 */
export async function createNamespaces(plan: LabPlan, mgmtVeth: Map<string, string>): Promise<void> {
  const routers = plan.nodes.filter((n) => n.role !== 'host');
  // 1. namespaces, management bridge, every veth pair (created straight in its namespaces)
  const root: string[] = plan.nodes.map((n) => `netns add ${n.netns}`);
  root.push(`link add ${plan.mgmt.bridge} type bridge`, `addr add ${plan.mgmt.gateway}/${plan.mgmt.prefixLen} dev ${plan.mgmt.bridge}`, `link set ${plan.mgmt.bridge} up`);
  for (const n of routers) {
    const v = mgmtVeth.get(n.name)!;
    root.push(`link add ${v} type veth peer mgmt0 netns ${n.netns}`, `link set ${v} master ${plan.mgmt.bridge} up`);
  }
  for (const l of plan.links) {
    const a = plan.nodes.find((n) => n.name === l.a.node)!;
    const b = plan.nodes.find((n) => n.name === l.b.node)!;
    root.push(`link add ${l.a.iface} netns ${a.netns} type veth peer ${l.b.iface} netns ${b.netns}`);
  }
  await run('ip', ['-batch', '-'], root.join('\n') + '\n', `creating namespaces and links of lab ${plan.name}`);

  // 2. per node: addresses, routes, forwarding, exec lines
  await Promise.all(
    plan.nodes.map(async (n) => {
      const cmds = ['link set lo up'];
      for (const i of n.interfaces) cmds.push(`addr add ${i.cidr} dev ${i.name}`, `link set ${i.name} up`);
      if (n.role !== 'host') cmds.push(`addr add ${n.mgmtAddress}/${plan.mgmt.prefixLen} dev mgmt0`, `link set mgmt0 up`);
      for (const r of n.routes) cmds.push(`route add ${r.prefix} via ${r.via} dev ${r.dev} onlink`);
      await run('ip', ['-n', n.netns, '-batch', '-'], cmds.join('\n') + '\n', `configuring node ${n.name}`);
      const sh = [`sysctl -qw net.ipv4.ip_forward=${n.role === 'host' ? 0 : 1}`, ...n.exec].join(' && ');
      await run('ip', ['netns', 'exec', n.netns, 'sh', '-c', sh], undefined, `exec lines of node ${n.name}`);
    }),
  );
}
export function nodeOf(plan: LabPlan, name: string): LabNode {
  const n = plan.nodes.find((x) => x.name === name);
  if (!n) throw new InvalidArgumentError(`node "${name}" is not in lab ${plan.name}; nodes: ${plan.nodes.map((x) => x.name).join(', ')}`);
  return n;
}

export async function requireNetns(plan: LabPlan, n: LabNode): Promise<void> {
  if (!(await listNetns()).includes(n.netns)) {
    throw new LabError('QB_LAB_NOT_UP', `node ${n.name} of lab ${plan.name} is not running (no namespace ${n.netns}); run lab up ${plan.file} first`);
  }
}

/** Run a command inside a node's namespace; resolves with its exit code and output. */
export async function labExec(
  file: string,
  node: string,
  command: string[],
  options: LabOptions & { stdio?: 'inherit' | 'pipe' } = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  requireRoot('exec');
  if (!command.length) throw new InvalidArgumentError('lab exec needs a command after "--", e.g. lab exec FILE a-edge -- ip route');
  const plan = resolveLabPlan(file, options);
  const n = nodeOf(plan, node);
  await requireNetns(plan, n);
  return new Promise((resolve, reject) => {
    const inherit = options.stdio === 'inherit';
    const c = spawn('ip', ['netns', 'exec', n.netns, ...command], { stdio: inherit ? 'inherit' : ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    c.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
    c.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    c.once('error', (e) => reject(new LabError('QB_LAB_COMMAND_FAILED', `cannot run ${command[0]} in ${n.name}: ${e.message}`, { cause: e })));
    c.once('close', (code) => resolve({ code: code ?? 1, stdout, stderr }));
  });
}
