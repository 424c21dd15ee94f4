/**
 * The policy server and network management of one domain's segment (seed
 * 000), below domain.ts (which designs the policies from `devices` and keeps
 * the records):
 *   policy   - admitted against the device inventory and its partitions,
 *              rendered per platform (drivers/platforms);
 *   network  - applied transactionally and verified on the device: NETCONF
 *              with a confirmed commit, or a shell CLI (linux_tc) with the
 *              undo lines recorded before the first line is sent.
 * A failure on any device removes what was applied on the others.
 */
import { NetconfClient, type NetconfClientOptions } from '../../drivers/netconf/client.js';
import { ProvisioningError, QosBrokerError } from '../../drivers/errors.js';
import { admitPolicy, type DeviceInventory, type QosPolicy, type ResolvedPolicy } from '../../drivers/policy/index.js';
import { platformById, type CliPayload, type NetconfPayload, type Platform, type PolicyCounters } from '../../drivers/platforms/index.js';
import { applyCli, removeCli, runUndo, type CliExec } from '../../drivers/platforms/cli-apply.js';
import { execLine } from '../../drivers/cli/ssh-exec.js';
import { SshTransport } from '../../drivers/ssh/transport.js';
import { cancelPendingCommit, prepareApply, removePolicies, removePolicy, verifyPolicies, verifyPolicy, type PreparedTransaction } from '../../drivers/platforms/netconf-apply.js';
import { failpoint } from '../failpoints.js';

/** A device of the domain: its inventory entry and how to reach it. */
export interface ManagedDevice {
  inventory: DeviceInventory;
  /** Border router id the device is (matches the advertisement). */
  border: string;
  /** NETCONF over SSH for NETCONF platforms; the same SSH settings for shell CLI platforms (linux_tc). */
  connection: NetconfClientOptions;
  /** Confirmed-commit timeout while applying, s. @default 30 */
  confirmTimeoutS?: number;
}

/** Persist ids of a policy's confirmed commits: known, so a restarted daemon can cancel one it left pending. */
const persistIds = (policy: ResolvedPolicy) => ({ apply: `qb-${policy.serviceId}`, remove: `qb-rm-${policy.serviceId}` });

/** A segment could not be provisioned; `device` is the one that failed (what was applied elsewhere was removed). */
export class SegmentFailedError extends ProvisioningError {
  constructor(
    code: ProvisioningError['code'],
    message: string,
    readonly device: string,
    options?: { cause?: unknown },
  ) {
    super(code, message, options);
  }
}

/** What was provisioned, to verify or remove later. */
export interface ProvisionedPolicy {
  device: ManagedDevice;
  policy: ResolvedPolicy;
}

/** Platforms whose CLI is a POSIX shell: one SSH exec channel per line. The others need an interactive channel (prompts, paging), which does not exist yet: they render only. */
const SHELL_CLI: ReadonlySet<string> = new Set(['linux_tc']);

/** A NETCONF session lent to one transaction or read; give it back with release(). */
export interface LentSession {
  client: NetconfClient;
  release(): Promise<void>;
}

/** Where transactions and reads get their NETCONF sessions. */
export interface NetconfSessions {
  acquire(d: ManagedDevice): Promise<LentSession>;
}

/** A new SSH connection and NETCONF session for every use, closed after it (the library's default). */
export const freshSessions: NetconfSessions = {
  async acquire(d) {
    const client = await NetconfClient.connect({ device: d.inventory.name, ...d.connection });
    return { client, release: () => client.close().catch(() => undefined) };
  },
};

/** Options of a SessionPool. */
export interface SessionPoolOptions {
  /** Close a device's session after it was unused this long, ms. @default 60000 */
  idleMs?: number;
}

export const SESSION_POOL_DEFAULTS = { idleMs: 60_000 } as const;

/**
 * One NETCONF session per device, kept open and reused by every transaction
 * and read on it (an SSH handshake and a hello cost several times a whole
 * transaction). Transactions on one device must not overlap (the caller
 * queues them, DomainProvisioner.withDevices); reads may share the session
 * with one. A session that closed, or whose device's connection settings
 * changed, is replaced by a new one; one unused for idleMs is closed.
 */
export class SessionPool implements NetconfSessions {
  private readonly open = new Map<string, { key: string; client: Promise<NetconfClient>; users: number; idle?: NodeJS.Timeout }>();
  private closed = false;

  constructor(private readonly opts: SessionPoolOptions = {}) {}

  async acquire(d: ManagedDevice): Promise<LentSession> {
    if (this.closed) throw new ProvisioningError('QB_PROVISION_TRANSPORT', `the session pool is closed: ${d.inventory.name} not reached`);
    const name = d.inventory.name;
    const key = JSON.stringify(d.connection);
    let e = this.open.get(name);
    if (e) {
      const usable = e.key === key && (await e.client.then((c) => c.session.status === 'ready', () => false));
      if (!usable) {
        this.drop(name, e);
        e = undefined;
      }
    }
    if (!e) {
      const client = NetconfClient.connect({ device: name, ...d.connection });
      const entry = { key, client, users: 0 } as NonNullable<typeof e>;
      this.open.set(name, entry);
      client.then(
        (c) => c.session.once('close', () => this.open.get(name) === entry && this.open.delete(name)),
        () => this.open.get(name) === entry && this.open.delete(name),
      );
      e = entry;
    }
    const entry = e;
    entry.users++;
    if (entry.idle) clearTimeout(entry.idle);
    let c: NetconfClient;
    try {
      c = await entry.client;
    } catch (err) {
      entry.users--;
      throw err;
    }
    let given = false;
    return {
      client: c,
      release: async () => {
        if (given) return;
        given = true;
        entry.users--;
        if (c.session.status !== 'ready') return this.drop(name, entry);
        if (entry.users === 0 && this.open.get(name) === entry) {
          entry.idle = setTimeout(() => entry.users === 0 && this.drop(name, entry), this.opts.idleMs ?? SESSION_POOL_DEFAULTS.idleMs);
          entry.idle.unref();
        }
      },
    };
  }

  private drop(name: string, e: { client: Promise<NetconfClient>; idle?: NodeJS.Timeout }): void {
    if (e.idle) clearTimeout(e.idle);
    if (this.open.get(name) === e) this.open.delete(name);
    e.client.then((c) => c.close().catch(() => c.destroy()), () => undefined);
  }

  /** Devices with a session open now. */
  get devices(): string[] {
    return [...this.open.keys()];
  }

  /** Close every session; later acquires fail. */
  async close(): Promise<void> {
    this.closed = true;
    const all = [...this.open.values()];
    this.open.clear();
    await Promise.all(all.map(async (e) => {
      if (e.idle) clearTimeout(e.idle);
      const c = await e.client.catch(() => undefined);
      await c?.close().catch(() => c.destroy());
    }));
  }
}

async function withNetconf<T>(d: ManagedDevice, platform: Platform<NetconfPayload>, fn: (c: NetconfClient, p: Platform<NetconfPayload>) => Promise<T>, sessions: NetconfSessions = freshSessions): Promise<T> {
  const lent = await sessions.acquire(d);
  try {
    return await fn(lent.client, platform);
  } finally {
    await lent.release();
  }
}

async function withShell<T>(d: ManagedDevice, fn: (exec: CliExec) => Promise<T>): Promise<T> {
  const ssh = await SshTransport.connect({ ...d.connection, port: d.connection.port ?? 22 });
  try {
    return await fn((line) => execLine(ssh, line));
  } finally {
    await ssh.close();
  }
}

function platformOf(d: ManagedDevice): Platform {
  const platform = platformById(d.inventory.platform);
  if (platform.transport === 'cli' && !SHELL_CLI.has(platform.id)) {
    throw new ProvisioningError('QB_PROVISION_TRANSPORT', `${d.inventory.name} is a ${platform.id} device: its CLI needs an interactive channel (prompts, paging) that qos-broker does not have yet; ${platform.id} renders only`);
  }
  return platform;
}

/** Run a CLI platform's read-back lines for a policy and compare: [] when in place (see Platform.readBack). */
async function readBackCli(exec: CliExec, platform: Platform, policy: ResolvedPolicy): Promise<string[]> {
  const out: string[] = [];
  for (const line of platform.readBack!.lines(policy)) out.push((await exec(line)).output);
  return platform.readBack!.diffs(policy, out.join('\n'));
}

/** Read-back diffs that say the policy is not on the device at all. */
const absent = (diffs: string[]): boolean => diffs.length > 0 && diffs.every((d) => d.includes('/name='));

async function removeOne(step: ProvisionedPolicy, sessions: NetconfSessions): Promise<void> {
  const platform = platformOf(step.device);
  if (platform.transport === 'cli') {
    const payload = (platform as Platform<CliPayload>).render(step.policy);
    const name = step.device.inventory.name;
    if (!platform.readBack) {
      await withShell(step.device, (exec) => removeCli(exec, payload, name));
      return;
    }
    // what an interrupted apply left may be part of the policy only: every undo line is tried, then the device is read back
    await withShell(step.device, async (exec) => {
      const failed = await runUndo(exec, payload);
      const left = await readBackCli(exec, platform, step.policy);
      if (!absent(left)) throw new ProvisioningError('QB_PROVISION_CLI_UNDO_FAILED', `${name} still holds part of ${step.policy.serviceId} after its undo lines (${failed.length} refused, first: "${failed[0] ?? ''}"): ${left.join('; ')}; check the device by hand`);
    });
    return;
  }
  await withNetconf(step.device, platform as Platform<NetconfPayload>, (c, p) => removePolicy(c, p, step.policy, { confirmTimeoutS: step.device.confirmTimeoutS ?? 30, persistId: persistIds(step.policy).remove }), sessions);
}

/**
 * Admit, render, apply and verify every policy of the segment, on all its
 * devices as one transaction: every NETCONF device is taken to a verified
 * confirmed commit (in parallel), shell CLI devices are then applied line by
 * line with their undo recorded, and only then is every confirmed commit
 * confirmed. All or nothing: a failure before the confirmations cancels every
 * confirmed commit (the devices roll back at once) and undoes the CLI lines;
 * a confirmation that fails after others went through removes what they
 * applied. `segments`: how many segments' policies these are (a batch, see
 * provisionSegments).
 */
export async function provisionSegment(policies: QosPolicy[], devices: ManagedDevice[], installed: (device: string) => ResolvedPolicy[] = () => [], sessions: NetconfSessions = freshSessions, segments = 1): Promise<ProvisionedPolicy[]> {
  const plan = policies.map((p) => {
    const device = devices.find((d) => d.inventory.name === p.device);
    if (!device) throw new ProvisioningError('QB_PROVISION_NO_DEVICE', `policy ${p.serviceId} names device ${p.device}, which is not managed`);
    platformOf(device);
    return { device, policy: admitPolicy(p, device.inventory, installed(p.device)) };
  });
  // one transaction per device, with every policy of the segment on it
  const byDevice = new Map<string, ProvisionedPolicy[]>();
  for (const step of plan) byDevice.set(step.device.inventory.name, [...(byDevice.get(step.device.inventory.name) ?? []), step]);
  const netconf = [...byDevice.values()].filter((steps) => platformOf(steps[0]!.device).transport === 'netconf');
  const cli = [...byDevice.values()].filter((steps) => platformOf(steps[0]!.device).transport === 'cli');
  const open: Array<{ steps: ProvisionedPolicy[]; lent?: LentSession; tx?: PreparedTransaction; confirmed?: boolean }> = netconf.map((steps) => ({ steps }));
  const cliDone: ProvisionedPolicy[] = [];
  let failedOn = '';
  const firstFailure = (rs: PromiseSettledResult<unknown>[]): PromiseRejectedResult | undefined => {
    const i = rs.findIndex((r) => r.status === 'rejected');
    if (i < 0) return undefined;
    failedOn = open[i]!.steps[0]!.device.inventory.name;
    return rs[i] as PromiseRejectedResult;
  };
  try {
    const prepared = await Promise.allSettled(
      open.map(async (o) => {
        const d = o.steps[0]!.device;
        o.lent = await sessions.acquire(d);
        o.tx = await prepareApply(o.lent.client, platformOf(d) as Platform<NetconfPayload>, o.steps.map((s) => s.policy), { confirmTimeoutS: d.confirmTimeoutS ?? 30, persistId: persistIds(o.steps[0]!.policy).apply });
      }),
    );
    const bad = firstFailure(prepared);
    if (bad) throw bad.reason;
    failpoint('provisioning:prepared');
    if (segments > 1) failpoint('provisioning:prepared-batch');
    for (const steps of cli) {
      failedOn = steps[0]!.device.inventory.name;
      for (const step of steps) {
        await withShell(step.device, async (exec) => {
          const platform = platformOf(step.device) as Platform<CliPayload>;
          const payload = platform.render(step.policy);
          await applyCli(exec, payload, step.device.inventory.name);
          if (!platform.readBack) return;
          // verify: read the device back; what differs is undone and fails the segment
          const diffs = await readBackCli(exec, platform, step.policy);
          if (diffs.length) {
            await runUndo(exec, payload);
            throw new ProvisioningError('QB_PROVISION_VERIFY_FAILED', `${step.device.inventory.name} reads back otherwise than applied: ${diffs.join('; ')}`);
          }
        });
        cliDone.push(step);
      }
    }
    const confirmed = await Promise.allSettled(open.map(async (o) => {
      await o.tx!.confirm();
      o.confirmed = true;
    }));
    const late = firstFailure(confirmed);
    if (late) throw late.reason;
    return plan;
  } catch (err) {
    const what = err instanceof QosBrokerError ? `${err.code}: ${err.message}` : (err as Error).message;
    const touched = [...open.filter((o) => o.tx).map((o) => o.steps[0]!.device.inventory.name), ...new Set(cliDone.map((s) => s.device.inventory.name))].filter((n) => n !== failedOn);
    let rollback = touched.length ? `rolled back on ${touched.join(', ')}` : 'nothing had been applied';
    try {
      const cancels = await Promise.allSettled(open.filter((o) => o.tx && !o.confirmed).map((o) => o.tx!.cancel()));
      await unprovisionSegment([...open.filter((o) => o.confirmed).flatMap((o) => o.steps), ...cliDone], sessions);
      if (cancels.some((c) => c.status === 'rejected')) rollback = `${rollback}; a cancel failed: the device rolls back at its confirm timeout`;
    } catch (undo) {
      rollback = `ROLLBACK FAILED: ${(undo as Error).message}`;
    }
    throw new SegmentFailedError(err instanceof ProvisioningError ? err.code : 'QB_PROVISION_FAILED', `${what}; ${rollback}`, failedOn, { cause: err });
  } finally {
    await Promise.all(open.map((o) => o.lent?.release()));
  }
}

/** One segment waiting for its devices: the policies it puts on them. */
export interface SegmentJob {
  policies: QosPolicy[];
  devices: ManagedDevice[];
}

/** How one segment of a batch ended: what was provisioned (and how many segments shared its transaction), or why it failed. */
export type SegmentOutcome = { ok: true; done: ProvisionedPolicy[]; batch: number } | { ok: false; error: unknown };

/**
 * Provision several segments that wait for the same devices as one
 * transaction (provisionSegment over all their policies): per device one
 * edit-config run, one confirmed commit, one read-back checking every
 * policy, one confirmation. When the batch fails (a device refuses one
 * segment's policy, say), every device is rolled back and the batch is split
 * in halves and tried again, down to a segment alone, which fails exactly as
 * provisionSegment does (its device and rpc-error), so the others still go
 * through. The outcomes are in the order of `jobs`.
 */
export async function provisionSegments(jobs: SegmentJob[], installed: (device: string) => ResolvedPolicy[] = () => [], sessions: NetconfSessions = freshSessions): Promise<SegmentOutcome[]> {
  if (jobs.length === 0) return [];
  const devices = [...new Map(jobs.flatMap((j) => j.devices).map((d) => [d.inventory.name, d])).values()];
  try {
    const done = await provisionSegment(jobs.flatMap((j) => j.policies), devices, installed, sessions, jobs.length);
    return jobs.map((j) => {
      const ids = new Set(j.policies.map((p) => p.serviceId));
      return { ok: true, done: done.filter((d) => ids.has(d.policy.serviceId)), batch: jobs.length };
    });
  } catch (error) {
    if (jobs.length === 1) return [{ ok: false, error }];
    const half = Math.ceil(jobs.length / 2);
    return [...(await provisionSegments(jobs.slice(0, half), installed, sessions)), ...(await provisionSegments(jobs.slice(half), installed, sessions))];
  }
}

/** A policy read back as `diffs` is (at least partly) still on its device: its key leaf is not missing; undefined (cannot be read back) counts as there. */
export function stillThere(diffs: string[] | undefined): boolean {
  return diffs === undefined || !diffs.some((d) => d.includes('/name='));
}

/**
 * Remove what is left of many policies (several segments' removals batched,
 * or what an interrupted apply left): per NETCONF device its running config
 * is read once, and the policies still there are removed in one transaction
 * (one confirmed commit, one read-back, one confirmation); a device whose
 * batch fails is retried one policy at a time, so one policy it refuses to
 * remove does not keep the others. Devices are handled in parallel; shell CLI
 * policies one at a time. Returns the failure of each step that could not be
 * removed (none: every step is off its device).
 */
export async function unprovisionPresent(steps: ProvisionedPolicy[], sessions: NetconfSessions = freshSessions): Promise<Map<ProvisionedPolicy, string>> {
  const failures = new Map<ProvisionedPolicy, string>();
  const byDevice = new Map<string, ProvisionedPolicy[]>();
  for (const s of steps) byDevice.set(s.device.inventory.name, [...(byDevice.get(s.device.inventory.name) ?? []), s]);
  const one = (s: ProvisionedPolicy) => removeOne(s, sessions).catch((err: unknown) => void failures.set(s, `${s.device.inventory.name}: ${(err as Error).message}`));
  await Promise.all(
    [...byDevice.values()].map(async (list) => {
      const device = list[0]!.device;
      const platform = platformOf(device);
      if (platform.transport === 'cli') {
        for (const s of list) if (stillThere(await policyDiffs(s, sessions).catch(() => undefined))) await one(s);
        return;
      }
      // read once: only what is there (an interrupted apply may have reached some devices only)
      const diffs = await devicePolicyDiffs(device, list.map((s) => s.policy), sessions).catch(() => undefined);
      const present = list.filter((_, i) => stillThere(diffs?.[i]));
      if (present.length <= 1) {
        for (const s of present) await one(s);
        return;
      }
      const batched = await withNetconf(device, platform as Platform<NetconfPayload>, (c, p) => removePolicies(c, p, present.map((s) => s.policy), { confirmTimeoutS: device.confirmTimeoutS ?? 30, persistId: persistIds(present[0]!.policy).remove }), sessions).then(() => true, () => false);
      if (!batched) for (const s of present) await one(s);
    }),
  );
  return failures;
}

/**
 * Probe a shell CLI device (linux_tc): an SSH session with its host key
 * checked, and what its shell offers for the platform (`tc -V`: the
 * iproute2 release). Throws when it cannot be reached or has no tc.
 */
export async function probeShell(d: ManagedDevice, connectTimeoutMs = 5000): Promise<string[]> {
  platformOf(d);
  const ssh = await SshTransport.connect({ ...d.connection, port: d.connection.port ?? 22, connectTimeoutMs });
  try {
    const r = await execLine(ssh, 'tc -V');
    if (!r.ok) throw new ProvisioningError('QB_PROVISION_FAILED', `${d.inventory.name} answers over SSH but has no working tc: ${r.output.trim().slice(0, 200)}`);
    return ['ssh', r.output.trim().split('\n')[0]!];
  } finally {
    await ssh.close();
  }
}

/**
 * Read a provisioned policy back from its device: the differences from what
 * it should be ([] when in place). A CLI device cannot be read back this way:
 * undefined.
 */
export async function policyDiffs(step: ProvisionedPolicy, sessions: NetconfSessions = freshSessions): Promise<string[] | undefined> {
  const platform = platformOf(step.device);
  if (platform.transport === 'cli') return platform.readBack ? withShell(step.device, (exec) => readBackCli(exec, platform, step.policy)) : undefined;
  return withNetconf(step.device, platform as Platform<NetconfPayload>, (c, p) => verifyPolicy(c, p, step.policy), sessions);
}

/**
 * Read one device back once for many policies on it: the differences per
 * policy ([] where in place); undefined for a CLI device.
 */
export async function devicePolicyDiffs(device: ManagedDevice, policies: ResolvedPolicy[], sessions: NetconfSessions = freshSessions): Promise<string[][] | undefined> {
  const platform = platformOf(device);
  if (platform.transport === 'cli') {
    if (!platform.readBack) return undefined;
    return withShell(device, async (exec) => {
      const out: string[][] = [];
      for (const p of policies) out.push(await readBackCli(exec, platform, p));
      return out;
    });
  }
  return withNetconf(device, platform as Platform<NetconfPayload>, (c, p) => verifyPolicies(c, p, policies), sessions);
}

/** Whether a platform (by id) can read its policies' traffic counters from a device (Platform.counters). */
export function hasCounters(platformId: string): boolean {
  const platform = platformById(platformId);
  return platform.transport === 'cli' && SHELL_CLI.has(platform.id) && platform.counters !== undefined;
}

/**
 * Read the traffic counters of many policies on one device over one SSH
 * session: per policy, its counters (undefined where its object is not on
 * the device) and when they were read (`now()` halfway through the line that
 * read them, so the SSH round trip does not skew a rate). Throws for a
 * device without the capability (see hasCounters): no number is ever made up.
 */
export async function devicePolicyCounters(device: ManagedDevice, policies: ResolvedPolicy[], now: () => number = Date.now): Promise<Array<{ counters: PolicyCounters | undefined; atMs: number }>> {
  const platform = platformOf(device);
  const counters = platform.counters;
  if (!counters || platform.transport !== 'cli') throw new ProvisioningError('QB_PROVISION_TRANSPORT', `${device.inventory.name} is a ${platform.id} device: it has no traffic counters qos-broker can read`);
  return withShell(device, async (exec) => {
    const out: Array<{ counters: PolicyCounters | undefined; atMs: number }> = [];
    for (const p of policies) {
      const text: string[] = [];
      let atMs = 0;
      for (const line of counters.lines(p)) {
        const t0 = now();
        const r = await exec(line);
        atMs = (t0 + now()) / 2;
        if (!r.ok) throw new ProvisioningError('QB_PROVISION_COUNTERS_UNREADABLE', `${device.inventory.name} refused "${line}": ${r.output.trim().slice(0, 200)}`);
        text.push(r.output);
      }
      out.push({ counters: counters.parse(p, text.join('\n')), atMs });
    }
    return out;
  });
}

/**
 * After a crash: roll back any confirmed commit of this policy's apply or
 * removal that the dead process left pending. Returns whether one was.
 */
export async function cancelPending(step: ProvisionedPolicy, sessions: NetconfSessions = freshSessions): Promise<boolean> {
  const platform = platformOf(step.device);
  if (platform.transport === 'cli') return false;
  const ids = persistIds(step.policy);
  return withNetconf(step.device, platform as Platform<NetconfPayload>, async (c) => (await cancelPendingCommit(c, ids.apply)) || (await cancelPendingCommit(c, ids.remove)), sessions);
}

/** Remove what provisionSegment applied, leaving each device as it was; tries every device, then reports those that failed. */
export async function unprovisionSegment(done: ProvisionedPolicy[], sessions: NetconfSessions = freshSessions): Promise<void> {
  const failed: string[] = [];
  for (const step of [...done].reverse()) {
    try {
      await removeOne(step, sessions);
    } catch (err) {
      failed.push(`${step.device.inventory.name}: ${(err as Error).message}`);
    }
  }
  if (failed.length) throw new ProvisioningError('QB_PROVISION_REMOVE_FAILED', `removal failed on ${failed.length} device(s): ${failed.join('; ')}`);
}
