/**
 * The lab's files: the per-lab state directory and its state.json (what the
 * lab made, written before it is made), the inventory a broker reads
 * (inventory.json: how to reach each router), and the machine-wide claims of
 * management subnets picked with `free`.
 */
import { existsSync, linkSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { pidAlive } from './process.js';
import { FREE_MGMT_SUBNET, loadLabPlan, type LabNode, type LabPlan, type LoadOptions } from './topology.js';

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

/** The state file: what the lab made, written before it is made. */
export interface LabState {
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

export function readState(dir: string): LabState | undefined {
  try {
    return JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8')) as LabState;
  } catch {
    return undefined;
  }
}

export function writeState(dir: string, state: LabState): void {
  writeFileSync(join(dir, 'state.json.tmp'), JSON.stringify(state, null, 2));
  // rename is atomic: a crash leaves the old or the new record, never half of one
  renameSync(join(dir, 'state.json.tmp'), join(dir, 'state.json'));
}

export function routerAccess(plan: LabPlan, dir: string, n: LabNode): LabRouterAccess {
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
export function liveMgmtClaims(dir: string): MgmtClaim[] {
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
export function claimMgmtSubnet(subnet: string, plan: LabPlan, dir: string): boolean {
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

export function releaseMgmtClaim(subnet: string, dir: string): void {
  const file = mgmtClaimFile(subnet);
  if (readMgmtClaim(file)?.stateDir === dir) rmSync(file, { force: true });
}
