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
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LabError } from './errors.js';
import { checkNetconfDeviceBinaries, startNetconfDevice } from './netconf-device.js';
import { checkMgmtSubnetFree, createNamespaces, downPlan, listNetns, listRootLinks, pickFreeMgmtSubnet, type LabLeftovers } from './netns.js';
import { cmdline, pidAlive, requireRoot, run, tcpOpen } from './process.js';
import { labStateDir, readState, resolveLabPlan, routerAccess, writeState, type LabOptions, type LabRouterAccess, type LabState } from './state.js';
import { FREE_MGMT_SUBNET, loadLabPlan, type LabPlan } from './topology.js';

export { labExec, labLeftovers, listNetns, listRootLinks, type LabLeftovers } from './netns.js';
export { pidAlive, run } from './process.js';
export { defaultStateRoot, labStateDir, resolveLabPlan, type LabOptions, type LabRouterAccess } from './state.js';
export { labTraffic, type TrafficOptions, type TrafficResult } from './traffic.js';

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

const BINARIES = ['/usr/sbin/ip', '/usr/bin/iperf3'];

/** Remove every namespace, interface, process and file of the lab. Safe to run when nothing is up. */
export async function labDown(file: string, options: LabOptions = {}): Promise<LabLeftovers> {
  requireRoot('down');
  const plan = resolveLabPlan(file, options);
  return downPlan(plan, options);
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
    await createNamespaces(plan, mgmtVeth);

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
