/**
 * The lab runner: brings a containerlab topology up on this machine without
 * Docker, as network namespaces (one per node), veth pairs (one per link,
 * with the file's interface names), addresses and static routes, a management
 * bridge in the root namespace with one veth to every router, and per router
 * an sshd + netconfd (lab/netconf-device.ts) on its management address.
 *
 * Everything it makes is recorded in a per-lab state directory before it is
 * made, so `down` removes it also after the runner crashed; `down` also sweeps
 * whatever carries the lab's prefixes (namespaces `qbl-<lab>-<hash>-*`, root
 * interfaces `qb<hash>-*`) and any process left inside those namespaces.
 */
import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, linkSync, mkdirSync, readFileSync, readdirSync, renameSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { InvalidArgumentError } from '../drivers/errors.js';
import { LabError } from './errors.js';
import { checkNetconfDeviceBinaries, startNetconfDevice } from './netconf-device.js';
import { FREE_MGMT_SUBNET, loadLabPlan, overlaps, type LabNode, type LabPlan, type LoadOptions } from './topology.js';

/** Options of every lab operation. */
export interface LabOptions extends LoadOptions {
  /**
   * Directory holding one state directory per lab.
   * @default '/run/qos-broker-lab' as root, `<tmpdir>/qos-broker-lab` otherwise
   */
  stateRoot?: string;
  /** Progress lines (the CLI prints them). @default none */
  log?: (line: string) => void;
}

/** How a broker reaches one lab router. */
export interface LabRouterAccess {
  node: string;
  /** Platform id of the node's `qos-broker.platform` label. */
  platform: string;
  /** What the lab really runs: always `linux_tc` (netconfd with the lab device model, Linux tc data plane). */
  runsAs: 'linux_tc';
  domain?: string;
  role: string;
  netns: string;
  host: string;
  port: number;
  username: string;
  privateKeyFile: string;
  knownHostsFile: string;
}

/** What `up` made. */
export interface LabUpResult {
  plan: LabPlan;
  stateDir: string;
  /** Wall-clock time of the bring-up in ms (0 when it was already up). */
  startupMs: number;
  alreadyUp: boolean;
  routers: LabRouterAccess[];
  /** known_hosts of every router, for the broker. */
  knownHostsFile: string;
}

/** The state file: what the lab made, written before it is made. */
interface LabState {
  name: string;
  file: string;
  status: 'creating' | 'up';
  netnsPrefix: string;
  ifPrefix: string;
  netns: string[];
  rootLinks: string[];
  pids: { node: string; name: string; pid: number }[];
  startedAt: string;
  startupMs?: number;
  /** The management subnet the lab runs on (what `mgmtSubnet: 'free'` picked). */
  mgmtSubnet?: string;
}

const BINARIES = ['/usr/sbin/ip', '/usr/bin/iperf3'];

export function defaultStateRoot(): string {
  return process.getuid?.() === 0 ? '/run/qos-broker-lab' : join(tmpdir(), 'qos-broker-lab');
}

export function labStateDir(plan: LabPlan, options: LabOptions = {}): string {
  return join(options.stateRoot ?? defaultStateRoot(), plan.name);
}

/**
 * The plan of a lab as it runs: with `mgmtSubnet: 'free'`, on the subnet its `up` picked
 * (recorded in its state directory); before that, on the name's own /24.
 */
export function resolveLabPlan(file: string, options: LabOptions = {}): LabPlan {
  const plan = loadLabPlan(file, options);
  if (options.mgmtSubnet !== FREE_MGMT_SUBNET) return plan;
  const picked = readState(labStateDir(plan, options))?.mgmtSubnet;
  return picked ? loadLabPlan(file, { ...options, mgmtSubnet: picked }) : plan;
}

function requireRoot(what: string): void {
  if (process.getuid?.() !== 0) {
    throw new LabError('QB_LAB_NEEDS_ROOT', `lab ${what} creates network namespaces and needs root; run it as root (sudo qos-broker lab ${what} FILE)`);
  }
}

/** Run a command; resolves with its output, rejects with a typed error on a non-zero exit. */
export function run(cmd: string, args: string[], input?: string, what?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const c = spawn(cmd, args, { stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    c.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    c.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    c.once('error', (e) => reject(new LabError('QB_LAB_COMMAND_FAILED', `${what ?? cmd}: cannot run ${cmd}: ${e.message}`, { cause: e })));
    c.once('close', (code) => {
      if (code === 0) resolve(out);
      else reject(new LabError('QB_LAB_COMMAND_FAILED', `${what ?? `${cmd} ${args.join(' ')}`} failed (exit ${code}): ${err.trim() || out.trim()}`));
    });
    if (input !== undefined) {
      c.stdin!.on('error', () => undefined); // an early exit is reported by its exit code
      c.stdin!.end(input);
    }
  });
}

function readState(dir: string): LabState | undefined {
  try {
    return JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8')) as LabState;
  } catch {
    return undefined;
  }
}

function writeState(dir: string, state: LabState): void {
  writeFileSync(join(dir, 'state.json.tmp'), JSON.stringify(state, null, 2));
  // rename is atomic: a crash leaves the old or the new record, never half of one
  renameSync(join(dir, 'state.json.tmp'), join(dir, 'state.json'));
}

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

/** Is the process running? A zombie (exited, not yet reaped by an init that never reaps) counts as gone. */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^\d+ \(.*\) [ZX]/s.test(stat);
  } catch {
    return false;
  }
}

function cmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
  } catch {
    return '';
  }
}

/** Processes whose command line names the lab's state directory (sshd, netconfd, iperf3 of this lab). */
function processesOfStateDir(dir: string): number[] {
  const pids: number[] = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e) || Number(e) === process.pid) continue;
    if (cmdline(Number(e)).includes(`${dir}/`)) pids.push(Number(e));
  }
  return pids;
}

async function netnsPids(ns: string): Promise<number[]> {
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

async function killAll(pids: number[]): Promise<void> {
  const alive = [...new Set(pids)].filter(pidAlive);
  for (const p of alive) {
    try {
      process.kill(p, 'SIGTERM');
    } catch {
      /* gone already */
    }
  }
  const end = Date.now() + 2000;
  while (alive.some(pidAlive) && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
  for (const p of alive.filter(pidAlive)) {
    try {
      process.kill(p, 'SIGKILL');
    } catch {
      /* gone already */
    }
  }
  while (alive.some(pidAlive) && Date.now() < end + 1000) await new Promise((r) => setTimeout(r, 20));
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

/** Remove every namespace, interface, process and file of the lab. Safe to run when nothing is up. */
export async function labDown(file: string, options: LabOptions = {}): Promise<LabLeftovers> {
  requireRoot('down');
  const plan = resolveLabPlan(file, options);
  return downPlan(plan, options);
}

async function downPlan(plan: LabPlan, options: LabOptions): Promise<LabLeftovers> {
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

function routerAccess(plan: LabPlan, dir: string, n: LabNode): LabRouterAccess {
  return {
    node: n.name,
    platform: n.platform!,
    runsAs: 'linux_tc',
    domain: n.domain,
    role: n.role,
    netns: n.netns,
    host: n.mgmtAddress!,
    port: plan.port,
    username: userInfo().username,
    privateKeyFile: join(dir, 'id_ed25519'),
    knownHostsFile: join(dir, 'known_hosts'),
  };
}

function tcpOpen(host: string, port: number): Promise<boolean> {
  return new Promise((res) => {
    const s = connect({ host, port });
    const t = setTimeout(() => {
      s.destroy();
      res(false);
    }, 1000);
    s.once('connect', () => {
      clearTimeout(t);
      s.destroy();
      res(true);
    });
    s.once('error', () => {
      clearTimeout(t);
      res(false);
    });
  });
}

/** One node's state as `status` reports it. */
export interface NodeStatus {
  node: string;
  role: string;
  netns: string;
  netnsUp: boolean;
  /** Routers: management address and whether SSH/NETCONF accepts connections there. */
  mgmtAddress?: string;
  mgmtReachable?: boolean;
  /** Routers: live server processes. */
  processes?: { name: string; pid: number; alive: boolean }[];
}

export interface LabStatus {
  name: string;
  /** `up`: everything runs; `down`: nothing of the lab exists; `degraded`: some of it. */
  state: 'up' | 'down' | 'degraded';
  stateDir: string;
  nodes: NodeStatus[];
  routers: LabRouterAccess[];
  startupMs?: number;
}

export async function labStatus(file: string, options: LabOptions = {}): Promise<LabStatus> {
  const plan = resolveLabPlan(file, options);
  return statusOf(plan, options);
}

async function statusOf(plan: LabPlan, options: LabOptions): Promise<LabStatus> {
  const dir = labStateDir(plan, options);
  const state = readState(dir);
  const ns = new Set(await listNetns());
  const nodes: NodeStatus[] = await Promise.all(
    plan.nodes.map(async (n) => {
      const s: NodeStatus = { node: n.name, role: n.role, netns: n.netns, netnsUp: ns.has(n.netns) };
      if (n.role !== 'host') {
        s.mgmtAddress = n.mgmtAddress;
        s.processes = (state?.pids ?? []).filter((p) => p.node === n.name).map((p) => ({ name: p.name, pid: p.pid, alive: pidAlive(p.pid) && cmdline(p.pid).includes(`${dir}/`) }));
        s.mgmtReachable = s.netnsUp && state?.status === 'up' ? await tcpOpen(n.mgmtAddress!, plan.port) : false;
      }
      return s;
    }),
  );
  const healthy = state?.status === 'up' && nodes.every((n) => n.netnsUp && (n.role === 'host' || (n.mgmtReachable && n.processes!.length === 2 && n.processes!.every((p) => p.alive))));
  const anything = state !== undefined || nodes.some((n) => n.netnsUp) || (await listRootLinks()).some((l) => l.startsWith(plan.ifPrefix));
  return {
    name: plan.name,
    state: healthy ? 'up' : anything ? 'degraded' : 'down',
    stateDir: dir,
    nodes,
    routers: plan.nodes.filter((n) => n.role !== 'host').map((n) => routerAccess(plan, dir, n)),
    startupMs: state?.startupMs,
  };
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
 * Machine-wide claims of management subnets picked with `free`, one file per subnet naming
 * the lab's state directory and the claiming runner: two `up`s at once never pick the same
 * subnet, also before either has added its route.
 */
function mgmtClaimDir(): string {
  return process.getuid?.() === 0 ? '/run/qos-broker-lab-mgmt' : join(tmpdir(), 'qos-broker-lab-mgmt');
}

interface MgmtClaim {
  subnet: string;
  lab: string;
  stateDir: string;
  pid: number;
}

function mgmtClaimFile(subnet: string): string {
  return join(mgmtClaimDir(), subnet.replace('/', '_'));
}

function readMgmtClaim(file: string): MgmtClaim | undefined {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as MgmtClaim;
  } catch {
    return undefined;
  }
}

/** Claims of other labs that still count: their runner lives, or their lab has state (it is up or left behind; its `down` releases the claim). */
function liveMgmtClaims(dir: string): MgmtClaim[] {
  let names: string[];
  try {
    names = readdirSync(mgmtClaimDir()).filter((n) => !n.endsWith('.tmp'));
  } catch {
    return [];
  }
  return names
    .map((n) => readMgmtClaim(join(mgmtClaimDir(), n)))
    .filter((c): c is MgmtClaim => !!c && c.stateDir !== dir && (pidAlive(c.pid) || existsSync(join(c.stateDir, 'state.json'))));
}

/** Claim `subnet` for the lab in `dir`; false when another lab holds it. Atomic: the claim file is hard-linked into place. */
function claimMgmtSubnet(subnet: string, plan: LabPlan, dir: string): boolean {
  mkdirSync(mgmtClaimDir(), { recursive: true });
  const file = mgmtClaimFile(subnet);
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify({ subnet, lab: plan.name, stateDir: dir, pid: process.pid } satisfies MgmtClaim));
  try {
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        linkSync(tmp, file);
        return true;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        const c = readMgmtClaim(file);
        if (c && liveMgmtClaims(dir).some((x) => x.subnet === c.subnet)) return false;
        rmSync(file, { force: true }); // this lab's own earlier claim, or one a crashed runner left before it recorded its lab
      }
    }
    return false;
  } finally {
    rmSync(tmp, { force: true });
  }
}

function releaseMgmtClaim(subnet: string, dir: string): void {
  const file = mgmtClaimFile(subnet);
  if (readMgmtClaim(file)?.stateDir === dir) rmSync(file, { force: true });
}

/**
 * Pick and claim a /24 of 198.19.16.0 - 198.19.127.255 that no route of this machine and no other
 * lab's claim uses. Below it are the fixed subnets of the files in containerlab/; above it, the
 * subnets that runs of older test code draw from their pid without claiming.
 */
/** Third octets of the /24s `free` picks from. */
const FREE_MGMT_FIRST = 16;
const FREE_MGMT_COUNT = 112;

async function pickFreeMgmtSubnet(plan: LabPlan, dir: string): Promise<string> {
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
async function checkMgmtSubnetFree(plan: LabPlan, dir: string): Promise<void> {
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

function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/**
 * Bring the lab up. Idempotent: a lab that is fully up is left as it is; a
 * partial one (crashed runner, killed process) is removed and built again.
 */
export async function labUp(file: string, options: LabOptions = {}): Promise<LabUpResult> {
  requireRoot('up');
  for (const b of BINARIES) {
    if (!existsSync(b)) throw new LabError('QB_LAB_MISSING_BINARY', `${b} is not installed: apt-get install -y iproute2 iperf3`);
  }
  checkNetconfDeviceBinaries();
  const log = options.log ?? (() => {});
  let plan = resolveLabPlan(file, options);
  const dir = labStateDir(plan, options);
  const t0 = performance.now();
  const current = await statusOf(plan, options);
  if (current.state === 'up') {
    log(`lab ${plan.name}: already up`);
    return { plan, stateDir: dir, startupMs: 0, alreadyUp: true, routers: current.routers, knownHostsFile: join(dir, 'known_hosts') };
  }
  if (current.state === 'degraded') {
    log(`lab ${plan.name}: removing what is left of an earlier run`);
    await downPlan(plan, options);
  }
  if (options.mgmtSubnet === FREE_MGMT_SUBNET) {
    plan = loadLabPlan(file, { ...options, mgmtSubnet: await pickFreeMgmtSubnet(plan, dir) });
    log(`lab ${plan.name}: management subnet ${plan.mgmt.subnet} (free)`);
  } else {
    await checkMgmtSubnetFree(plan, dir);
  }

  const routers = plan.nodes.filter((n) => n.role !== 'host');
  const mgmtVeth = new Map(routers.map((n, i) => [n.name, `${plan.ifPrefix}-${i}`]));
  const state: LabState = {
    name: plan.name,
    file: plan.file,
    status: 'creating',
    netnsPrefix: plan.netnsPrefix,
    ifPrefix: plan.ifPrefix,
    netns: plan.nodes.map((n) => n.netns),
    rootLinks: [...mgmtVeth.values(), plan.mgmt.bridge],
    pids: [],
    startedAt: new Date().toISOString(),
    mgmtSubnet: plan.mgmt.subnet,
  };
  mkdirSync(join(dir, 'nodes'), { recursive: true });
  writeState(dir, state);
  try {
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

    // 3. per router: sshd + netconfd on the management address, in parallel
    const key = join(dir, 'id_ed25519');
    await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', `qos-broker-lab ${plan.name}`, '-f', key]);
    const knownHosts: string[] = [];
    await Promise.all(
      routers.map(async (n) => {
        const nd = join(dir, 'nodes', n.name);
        mkdirSync(nd, { recursive: true });
        copyFileSync(key, join(nd, 'client_key'));
        copyFileSync(`${key}.pub`, join(nd, 'client_key.pub'));
        const dev = await startNetconfDevice({ netns: n.netns, address: n.mgmtAddress, port: plan.port, stateDir: nd, detached: true, startTimeoutS: 30 });
        state.pids.push({ node: n.name, name: 'netconfd', pid: dev.pids.netconfd }, { node: n.name, name: 'sshd', pid: dev.pids.sshd });
        writeState(dir, state);
        knownHosts.push(readFileSync(dev.knownHostsFile, 'utf8'));
      }),
    );
    writeFileSync(join(dir, 'known_hosts'), knownHosts.sort().join(''));
    const access = routers.map((n) => routerAccess(plan, dir, n));
    writeFileSync(join(dir, 'inventory.json'), JSON.stringify({ name: plan.name, file: plan.file, routers: access }, null, 2));
    state.status = 'up';
    state.startupMs = Math.round(performance.now() - t0);
    writeState(dir, state);
    log(`lab ${plan.name}: up in ${(state.startupMs / 1000).toFixed(2)} s (${plan.nodes.length} nodes, ${plan.links.length} links, ${routers.length} routers with SSH + NETCONF)`);
    return { plan, stateDir: dir, startupMs: state.startupMs, alreadyUp: false, routers: access, knownHostsFile: join(dir, 'known_hosts') };
  } catch (err) {
    log(`lab ${plan.name}: bring-up failed, removing what was made`);
    await downPlan(plan, options).catch(() => undefined);
    throw err;
  }
}

function nodeOf(plan: LabPlan, name: string): LabNode {
  const n = plan.nodes.find((x) => x.name === name);
  if (!n) throw new InvalidArgumentError(`node "${name}" is not in lab ${plan.name}; nodes: ${plan.nodes.map((x) => x.name).join(', ')}`);
  return n;
}

async function requireNetns(plan: LabPlan, n: LabNode): Promise<void> {
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

/** Options of one traffic measurement. */
export interface TrafficOptions {
  /** Sending node (usually a host). */
  from: string;
  /** Receiving node; its first data address is the target. */
  to: string;
  /** DSCP of the packets (0..63). @default 0 */
  dscp?: number;
  /** Duration in seconds. @default 3 */
  seconds?: number;
  /** iperf3 server port inside the receiving namespace. @default 5201 */
  port?: number;
}

export interface TrafficResult {
  from: string;
  to: string;
  toAddress: string;
  dscp: number;
  seconds: number;
  /** Rate the receiver measured, in bit/s. */
  receivedBitsPerSecond: number;
  /** Rate the sender measured, in bit/s. */
  sentBitsPerSecond: number;
  retransmits?: number;
}

/** Measure TCP throughput from one node to another with iperf3 (server in `to`, client in `from`). */
export async function labTraffic(file: string, t: TrafficOptions, options: LabOptions = {}): Promise<TrafficResult> {
  requireRoot('traffic');
  const plan = resolveLabPlan(file, options);
  const dscp = t.dscp ?? 0;
  const seconds = t.seconds ?? 3;
  const port = t.port ?? 5201;
  if (!Number.isInteger(dscp) || dscp < 0 || dscp > 63) throw new InvalidArgumentError(`--dscp must be an integer 0..63, got ${t.dscp}`);
  if (!(seconds > 0 && seconds <= 600)) throw new InvalidArgumentError(`--seconds must be between 0 and 600, got ${t.seconds}`);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new InvalidArgumentError(`port must be 1..65535, got ${t.port}`);
  const from = nodeOf(plan, t.from);
  const to = nodeOf(plan, t.to);
  if (from.name === to.name) throw new InvalidArgumentError('--from and --to must be different nodes');
  if (!to.interfaces.length) throw new InvalidArgumentError(`node ${to.name} has no data interface to receive traffic on`);
  await requireNetns(plan, from);
  await requireNetns(plan, to);
  const toAddress = to.interfaces[0]!.cidr.split('/')[0]!;
  const dir = labStateDir(plan, options);
  const runDir = join(dir, 'traffic');
  mkdirSync(runDir, { recursive: true });
  // the state dir in the server's arguments marks it as the lab's, so down finds it after a crash
  const pidFile = join(runDir, `iperf3-${to.name}-${port}.pid`);
  const server = spawn('ip', ['netns', 'exec', to.netns, 'iperf3', '-s', '-1', '-B', toAddress, '-p', String(port), '-I', pidFile], { stdio: ['ignore', 'pipe', 'pipe'] });
  let serverOut = '';
  server.stdout.on('data', (d: Buffer) => (serverOut += d.toString()));
  server.stderr.on('data', (d: Buffer) => (serverOut += d.toString()));
  try {
    const end = Date.now() + 5000;
    for (;;) {
      const listening = await run('ip', ['netns', 'exec', to.netns, 'ss', '-Hltn', `sport = :${port}`]).catch(() => '');
      if (listening.trim()) break;
      if (server.exitCode !== null || Date.now() > end) {
        throw new LabError('QB_LAB_TRAFFIC_FAILED', `iperf3 server in ${to.name} did not start on ${toAddress}:${port}: ${serverOut.trim()}`);
      }
      await new Promise((r) => setTimeout(r, 20));
    }
    const args = ['netns', 'exec', from.netns, 'iperf3', '-c', toAddress, '-p', String(port), '-t', String(seconds), '-J', '--connect-timeout', '3000'];
    if (dscp) args.push('-S', String(dscp << 2));
    let out: string;
    try {
      out = await run('ip', args, undefined, `iperf3 from ${from.name} to ${to.name}`);
    } catch (err) {
      const msg = (err as Error).message;
      throw new LabError('QB_LAB_TRAFFIC_FAILED', `no traffic from ${from.name} to ${to.name} (${toAddress}): ${msg}`, { cause: err });
    }
    const j = JSON.parse(out) as { error?: string; end?: { sum_received?: { bits_per_second: number }; sum_sent?: { bits_per_second: number; retransmits?: number } } };
    if (j.error || !j.end?.sum_received) throw new LabError('QB_LAB_TRAFFIC_FAILED', `iperf3 from ${from.name} to ${to.name} failed: ${j.error ?? 'no result'}`);
    return {
      from: from.name,
      to: to.name,
      toAddress,
      dscp,
      seconds,
      receivedBitsPerSecond: j.end.sum_received.bits_per_second,
      sentBitsPerSecond: j.end.sum_sent?.bits_per_second ?? 0,
      retransmits: j.end.sum_sent?.retransmits,
    };
  } finally {
    if (server.exitCode === null && server.signalCode === null) {
      await new Promise<void>((r) => {
        const k = setTimeout(() => server.kill('SIGKILL'), 2000);
        server.once('exit', () => {
          clearTimeout(k);
          r();
        });
        server.kill('SIGTERM');
      });
    }
    rmSync(pidFile, { force: true });
  }
}
