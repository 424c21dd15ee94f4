/**
 * Provisioning of one domain's part of an agreed service, inside the daemon
 * (seed 000's internal system: design server, policy server, network
 * management). The originating broker asks for it once the contract is
 * signed: Activate (design every segment of ours from `devices`, admit and
 * render per platform, apply and verify on every device as one transaction),
 * Deactivate (remove, leaving every device as before, and release the
 * bookings), Status, CheckSync (read back and compare) and Redeploy.
 *
 * Every step is recorded in Redis before it acts (a segment record per
 * agreement: `applying` with the policies it is about to push, then `active`
 * or `failed`; `removing`, then `removed`), so a daemon that dies mid-apply
 * knows on restart what may be on its devices: recover() removes what an
 * interrupted apply left and finishes an interrupted removal. Calls are
 * idempotent by agreement id; only the contract's originator may make them.
 */
import { readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { ProvisioningError, QosBrokerError } from '../../drivers/errors.js';
import { ServiceProvisioningError } from '../errors.js';
import { admitPolicy, type DeviceInventory, type QosPolicy, type ResolvedPolicy, type TrafficClass } from '../../drivers/policy/index.js';
import type { DeviceConfig } from '../config/devices.js';
import type { Logger } from '../logger.js';
import type { RecordStore } from '../state/records.js';
import type { ResourceStore } from '../state/store.js';
import { failpoint } from '../failpoints.js';
import { checkAmendment, contractBody, verifyContract, type ContractBody, type SignedContract } from '../agreement/contract.js';
import { SegmentFailedError, cancelPending, devicePolicyCounters, devicePolicyDiffs, freshSessions, hasCounters, policyDiffs, provisionSegment, provisionSegments, stillThere, unprovisionPresent, unprovisionSegment, type ManagedDevice, type NetconfSessions, type ProvisionedPolicy, type SegmentJob, type SegmentOutcome } from './segment.js';
import { RateMeter, type MeasuredRate } from './measure.js';

/** State of a domain's segment of a service. */
export type SegmentState = 'applying' | 'active' | 'failed' | 'removing' | 'removed';

/** What a domain keeps of its part of a service (record kind `segment`). */
export interface SegmentRecord {
  agreementId: string;
  /** The domain that ordered it: the only caller allowed (with `broker`). */
  originator: string;
  /** The exchange that brokered the contract (its party of role broker): it may pass the originator's calls on. */
  broker?: string;
  state: SegmentState;
  /** Rate provisioned now, Mbit/s. */
  rateMbps: number;
  policies: Array<{ device: string; policy: ResolvedPolicy }>;
  /** Booking ids of the agreement in our store, released on Deactivate. */
  reservations: string[];
  error?: { code: string; message: string; device?: string };
  updatedAt: string;
}

/** A domain's answer to a provisioning call. */
export interface SegmentStatus {
  domain: string;
  agreementId: string;
  state: SegmentState | 'unknown';
  devices: string[];
  error?: { code: string; message: string; device?: string };
}

/** Differences between a device's running config and what was provisioned there. */
export interface SyncReport {
  domain: string;
  agreementId: string;
  inSync: boolean;
  /** Per device; `domain` is set where a report gathers several domains' devices (an order's check-sync). */
  devices: Array<{ device: string; diffs: string[] | 'unreadable'; error?: string; domain?: string }>;
}

export interface DomainProvisionerOptions {
  domain: string;
  records: RecordStore;
  store: ResourceStore;
  /** The configured devices now (a reload may change them). */
  devices: () => DeviceConfig[];
  /** Who booked an agreement here and its booking ids (recorded at Commit). */
  bookingOf: (agreementId: string) => Promise<{ owner: string; reservations: string[] } | undefined>;
  log?: Logger;
  /** Where NETCONF sessions come from: the daemon keeps one open per device (SessionPool). @default a new session per use */
  sessions?: NetconfSessions;
  /** The clock of the rate samples, ms since the epoch. @default Date.now */
  now?: () => number;
  /** Most segments one device transaction carries (segments waiting for the same devices are applied, or removed, together). @default 32 */
  batchLimit?: number;
}

export const DOMAIN_PROVISIONER_DEFAULTS = { batchLimit: 32 } as const;

const KIND = 'segment';

/** Service ids are at most 64 characters of letters, digits and `._-`. */
function serviceId(agreementId: string, domain: string, index: number): string {
  const id = `${agreementId}-${domain}-${index}`.replace(/[^A-Za-z0-9._-]/g, '-');
  return id.length <= 64 ? id : `${id.slice(0, 47)}-${createHash('sha256').update(id).digest('hex').slice(0, 16)}`;
}

/** How the drivers reach a configured device. */
export function managedDevice(d: DeviceConfig): ManagedDevice {
  const inventory: DeviceInventory = { name: d.name, platform: d.platform, interfaces: d.interfaces.map((i) => ({ name: i.name, ...(i.speedMbps ? { speedMbps: i.speedMbps } : {}) })) };
  if (d.partition) inventory.partitions = [{ device: d.name, provider: '', ...d.partition }];
  return {
    inventory,
    border: d.border,
    confirmTimeoutS: d.confirmTimeoutS,
    connection: {
      device: d.name,
      host: d.host,
      port: d.port,
      username: d.username,
      ...(d.keyFile ? { privateKeyFile: d.keyFile } : {}),
      ...(d.passwordFile ? { password: readFileSync(d.passwordFile, 'utf8').trim() } : {}),
      ...(d.knownHostsFile ? { knownHostsFile: d.knownHostsFile } : {}),
      ...(d.hostKeySha256 ? { fingerprints: d.hostKeySha256 } : {}),
      helloSettleMs: d.helloSettleMs,
      rpcTimeoutMs: d.rpcTimeoutMs,
    },
  };
}

/**
 * Design (seed 000's design server): the policies that carry our segments of
 * a service, one per device where a segment leaves the domain (on the
 * interface towards the next domain, or towards the customer's site at the
 * end) and one where it enters from another domain (on its core interface),
 * when that is another device. Refuses, naming what is missing, a segment
 * whose border has no device or interface.
 */
export function designService(body: ContractBody, domain: string, devices: DeviceConfig[], rateMbps = body.service.rateMbps): Array<{ device: DeviceConfig; policy: QosPolicy }> {
  const out: Array<{ device: DeviceConfig; policy: QosPolicy }> = [];
  const destSite = body.service.to.split('/')[1];
  body.segments.forEach((seg, i) => {
    if (seg.domain !== domain) return;
    const next = body.segments[i + 1];
    const at = (border: string) => {
      const d = devices.find((x) => x.border === border);
      if (!d) throw new ProvisioningError('QB_PROVISION_NO_DEVICE', `${domain} has no device at border ${border} for segment ${i} of ${body.agreementId}: add one to devices (border: ${border})`);
      return d;
    };
    const egress = at(seg.egress);
    const exit = next
      ? egress.interfaces.find((x) => x.role === 'peer' && x.peerDomain === next.domain)
      : egress.interfaces.find((x) => x.role === 'customer' && x.site === destSite);
    if (!exit) {
      throw new ServiceProvisioningError('QB_PROVISION_NO_INTERFACE', `device ${egress.name} has no interface ${next ? `towards ${next.domain} (role peer, peer-domain ${next.domain})` : `towards site ${destSite} (role customer, site ${destSite})`}`);
    }
    const policy = (dev: DeviceConfig, iface: string, k: number): QosPolicy => ({
      serviceId: serviceId(body.agreementId, domain, i * 2 + k),
      owner: { provider: domain, customer: body.originator.customer },
      device: dev.name,
      ...(dev.partition ? { partition: dev.partition.name } : {}),
      classifier: {
        egressInterface: iface,
        ...(body.service.fromPrefixes?.length ? { sourcePrefixes: [...body.service.fromPrefixes] } : {}),
        ...(body.service.toPrefixes?.length ? { destinationPrefixes: [...body.service.toPrefixes] } : {}),
      },
      trafficClass: body.service.qosClass as TrafficClass,
      rates: { committedKbps: Math.round(rateMbps * 1000) },
      action: 'shape',
      queuePriority: body.service.qosClass === 'EF' ? 0 : 3,
      validity: { start: body.window.start, end: body.window.end },
    });
    out.push({ device: egress, policy: policy(egress, exit.name, 0) });
    const ingress = at(seg.ingress);
    const core = ingress.interfaces.find((x) => x.role === 'core');
    if (ingress !== egress && core) out.push({ device: ingress, policy: policy(ingress, core.name, 1) });
  });
  if (out.length === 0) throw new ServiceProvisioningError('QB_PROVISION_NOT_A_PARTY', `${domain} carries no segment of ${body.agreementId}`);
  return out;
}

/** A device's read-back found the policy exactly as provisioned. */
function inPlace(d: SyncReport['devices'][number]): boolean {
  return Array.isArray(d.diffs) && d.diffs.length === 0;
}

export class DomainProvisioner {
  private readonly log: Logger;
  /** One operation at a time per agreement (one path for state changes). */
  private readonly busy = new Map<string, Promise<unknown>>();
  /** The tail of each device's queue of transactions. */
  private readonly deviceQueue = new Map<string, Promise<void>>();
  /** Segments waiting for a transaction, by kind and device set (see batched). */
  private readonly waiting = new Map<string, BatchQueue>();
  /** Active segments' policies by agreement id (see installedBy). */
  private readonly active = new Map<string, Array<{ device: string; policy: ResolvedPolicy }>>();
  private indexLoaded: Promise<void> | undefined;
  /** Services we originated that are active here, with the epoch of their policies on the devices (measure()). */
  private readonly measurable = new Map<string, { epoch: string; policies: Array<{ device: string; policy: ResolvedPolicy }> }>();
  private readonly meter = new RateMeter();
  private measureTimer: NodeJS.Timeout | undefined;
  private measuring: Promise<void> | undefined;
  /** Devices whose counters the last round could not read (logged once). */
  private readonly unreadable = new Set<string>();

  private readonly sessions: NetconfSessions;

  constructor(private readonly opts: DomainProvisionerOptions) {
    this.log = opts.log ?? (() => {});
    this.sessions = opts.sessions ?? freshSessions;
  }

  get domain(): string {
    return this.opts.domain;
  }

  private serial<T>(agreementId: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.busy.get(agreementId) ?? Promise.resolve();
    const run = prev.catch(() => {}).then(fn);
    this.busy.set(agreementId, run);
    void run.finally(() => {
      if (this.busy.get(agreementId) === run) this.busy.delete(agreementId);
    }).catch(() => {});
    return run;
  }

  private steps(rec: SegmentRecord): ProvisionedPolicy[] {
    const devs = this.opts.devices();
    return rec.policies.map((p) => {
      const d = devs.find((x) => x.name === p.device);
      if (!d) throw new ProvisioningError('QB_PROVISION_NO_DEVICE', `device ${p.device} of ${rec.agreementId} is no longer configured`);
      return { device: managedDevice(d), policy: p.policy };
    });
  }

  private async save(rec: SegmentRecord, version: number, event: string): Promise<number> {
    rec.updatedAt = new Date().toISOString();
    this.index(rec);
    return this.opts.records.put(KIND, rec.agreementId, version, rec, { score: Date.now(), event: { type: event, state: rec.state, domain: this.domain, ...(rec.error ? { error: rec.error } : {}) } });
  }

  private status(rec: SegmentRecord | undefined, agreementId: string): SegmentStatus {
    if (!rec) return { domain: this.domain, agreementId, state: 'unknown', devices: [] };
    return { domain: this.domain, agreementId, state: rec.state, devices: [...new Set(rec.policies.map((p) => p.device))], ...(rec.error ? { error: rec.error } : {}) };
  }

  private checkCaller(originator: string, caller: string, agreementId: string, broker?: string): void {
    if (caller !== originator && caller !== this.domain && caller !== broker) {
      throw new ServiceProvisioningError('QB_PROVISION_NOT_ORIGINATOR', `${agreementId} was ordered by ${originator}; ${caller} may not provision it at ${this.domain}`);
    }
  }

  /**
   * Provision our segments of a signed contract at `rateMbps` (default: the
   * contract's). The contract must verify, name us as a party, and come from
   * its originator. Idempotent: an active segment at the same rate is
   * verified on its devices and reported active. A failure leaves nothing on
   * any device and is reported as state `failed` with the device and error.
   */
  activate(contract: SignedContract, caller: string, rateMbps?: number, amendment?: SignedContract): Promise<SegmentStatus> {
    const body = contractBody(contract);
    const t0 = performance.now();
    return this.serial(body.agreementId, async () => {
      const at: Record<string, number> = { queued: performance.now() - t0 };
      const lap = (name: string) => (at[name] = Math.round((performance.now() - t0) * 10) / 10);
      verifyContract(contract);
      lap('verified');
      if (!body.parties.some((p) => p.domain === this.domain)) throw new ServiceProvisioningError('QB_PROVISION_NOT_A_PARTY', `${this.domain} is not a party of ${body.agreementId}`);
      // an exchange that brokered the contract (we signed it naming it) passes on its originator's calls
      const broker = body.parties.find((p) => p.role === 'broker')?.domain;
      this.checkCaller(body.originator.domain, caller, body.agreementId, broker);
      const rate = rateMbps ?? body.service.rateMbps;
      if (rate !== body.service.rateMbps) {
        // a provider provisions only what it signed: the contract's rate, or that plus a signed amendment
        if (!amendment) throw new ServiceProvisioningError('QB_PROVISION_RATE_NOT_AGREED', `${rate} Mbit/s is not what ${body.agreementId} agreed (${body.service.rateMbps} Mbit/s) and no amendment says so`);
        // verified, and it names this contract (agreement id and payload digest), same originator and customer
        const a = checkAmendment(contract, amendment);
        if (!a.parties.some((p) => p.domain === this.domain)) throw new ServiceProvisioningError('QB_PROVISION_RATE_NOT_AGREED', `amendment ${a.agreementId} is not one of ${body.agreementId} signed by ${this.domain}`);
        if (Math.abs(body.service.rateMbps + a.service.rateMbps - rate) > 1e-9) throw new ServiceProvisioningError('QB_PROVISION_RATE_NOT_AGREED', `${rate} Mbit/s is not ${body.service.rateMbps} + ${a.service.rateMbps} Mbit/s (the contract and its amendment)`);
      }
      // the three reads at once (the index of active policies is in memory after the first)
      const [have, booking] = await Promise.all([this.opts.records.get<SegmentRecord>(KIND, body.agreementId), this.opts.bookingOf(body.agreementId), this.installedBy()]);
      lap('read');
      if (have?.doc.state === 'active' && have.doc.rateMbps === rate) {
        const sync = await this.syncOf(have.doc);
        if (sync.inSync) return this.status(have.doc, body.agreementId);
        this.log('warn', 'segment out of sync on activate: applying again', { agreement_id: body.agreementId, devices: sync.devices });
      }
      let version = have?.version ?? 0;
      if (have && (have.doc.state === 'active' || have.doc.state === 'applying')) {
        // a rate change (boost, revert) or a retry after a lost answer: take the old policies off first
        version = await this.removeAll(have.doc, version);
      }
      const design = designService(body, this.domain, this.opts.devices(), rate);
      const installed = await this.installedBy();
      const policies = design.map(({ device, policy }) => {
        const inv = managedDevice(device).inventory;
        if (inv.partitions) inv.partitions = inv.partitions.map((p) => ({ ...p, provider: this.domain }));
        return { device: device.name, policy: admitPolicy(policy, inv, installed.get(device.name) ?? []) };
      });
      const rec: SegmentRecord = { agreementId: body.agreementId, originator: body.originator.domain, ...(broker ? { broker } : {}), state: 'applying', rateMbps: rate, policies, reservations: have?.doc.reservations ?? [], updatedAt: '' };
      rec.reservations = booking?.reservations ?? rec.reservations;
      lap('designed');
      // the intent first: a crash from here on is found by recover()
      version = await this.save(rec, version, 'segment-applying');
      lap('saved');
      let batch = 0;
      try {
        const job: SegmentJob = { policies: design.map((d) => d.policy), devices: this.steps(rec).map((s) => s.device) };
        const outcome = await this.batched<SegmentJob, SegmentOutcome>('apply', policies.map((p) => p.device), job, (jobs) => provisionSegments(jobs, (dev) => this.installedOn(dev), this.sessions));
        if (!outcome.ok) throw outcome.error;
        batch = outcome.batch;
        lap('applied');
        rec.state = 'active';
        delete rec.error;
        await this.save(rec, version, 'segment-active');
        lap('active');
        failpoint('provisioning:active');
        this.log('info', 'segment active', { event: 'segment-active', agreement_id: body.agreementId, devices: this.status(rec, body.agreementId).devices, rate_mbps: rate, batch, ms: at });
      } catch (err) {
        const e = err instanceof QosBrokerError ? err : new ProvisioningError('QB_PROVISION_FAILED', String(err));
        rec.state = 'failed';
        rec.error = { code: e.code, message: e.message, ...(err instanceof SegmentFailedError && err.device ? { device: err.device } : {}) };
        await this.save(rec, version, 'segment-failed');
        this.log('warn', 'segment failed', { event: 'segment-failed', agreement_id: body.agreementId, code: e.code, error: e.message });
      }
      return this.status(rec, body.agreementId);
    });
  }

  /** Remove our segments (devices as before) and release the bookings. Idempotent; unknown ids answer `unknown`. */
  deactivate(agreementId: string, caller: string): Promise<SegmentStatus> {
    return this.serial(agreementId, async () => {
      const have = await this.opts.records.get<SegmentRecord>(KIND, agreementId);
      if (!have) {
        // never provisioned here (the order failed before, or a boost's own agreement): still give its bookings back
        const booking = await this.opts.bookingOf(agreementId);
        if (booking) {
          this.checkCaller(booking.owner, caller, agreementId);
          for (const id of booking.reservations) await this.opts.store.release(id);
          this.log('info', 'bookings released', { event: 'bookings-released', agreement_id: agreementId, reservations: booking.reservations });
        }
        return this.status(undefined, agreementId);
      }
      this.checkCaller(have.doc.originator, caller, agreementId, have.doc.broker);
      if (have.doc.state === 'removed') {
        // removed already (by a restart's recovery, or a rate change): the bookings still go back (release is idempotent)
        for (const id of have.doc.reservations) await this.opts.store.release(id);
        return this.status(have.doc, agreementId);
      }
      const rec = have.doc;
      await this.removeAll(rec, have.version, true);
      return this.status(rec, agreementId);
    });
  }

  /** Take every policy of the record off its devices (those present), then mark it removed. */
  private async removeAll(rec: SegmentRecord, version: number, release = false): Promise<number> {
    const wasFailed = rec.state === 'failed';
    rec.state = 'removing';
    version = await this.save(rec, version, 'segment-removing');
    if (!wasFailed) {
      // only what is there (an interrupted apply may have reached some devices only), together with the other removals waiting for the same devices
      const steps = this.steps(rec);
      const failed = await this.batched<ProvisionedPolicy[], string[]>('remove', steps.map((s) => s.device.inventory.name), steps, async (jobs) => {
        const failures = await unprovisionPresent(jobs.flat(), this.sessions);
        return jobs.map((j) => j.flatMap((s) => failures.get(s) ?? []));
      });
      if (failed.length) throw new ProvisioningError('QB_PROVISION_REMOVE_FAILED', `removal failed on ${failed.length} device(s): ${failed.join('; ')}`);
    }
    if (release) for (const id of rec.reservations) await this.opts.store.release(id);
    rec.state = 'removed';
    const v = await this.save(rec, version, 'segment-removed');
    this.log('info', 'segment removed', { event: 'segment-removed', agreement_id: rec.agreementId, bookings_released: release ? rec.reservations.length : 0 });
    return v;
  }

  async getStatus(agreementId: string): Promise<SegmentStatus> {
    return this.status((await this.opts.records.get<SegmentRecord>(KIND, agreementId))?.doc, agreementId);
  }

  /** Compare each device's running config with what was provisioned there (NSO's check-sync). */
  async checkSync(agreementId: string, caller?: string): Promise<SyncReport> {
    const have = await this.opts.records.get<SegmentRecord>(KIND, agreementId);
    if (!have) throw new ServiceProvisioningError('QB_PROVISION_UNKNOWN', `${this.domain} has provisioned nothing for ${agreementId}`);
    if (caller !== undefined) this.checkCaller(have.doc.originator, caller, agreementId, have.doc.broker);
    return this.syncOf(have.doc);
  }

  private async syncOf(rec: SegmentRecord): Promise<SyncReport> {
    const devices: SyncReport['devices'] = [];
    if (rec.state === 'active') {
      devices.push(
        ...(await Promise.all(
          this.steps(rec).map(async (s): Promise<SyncReport['devices'][number]> => {
            try {
              const diffs = await policyDiffs(s, this.sessions);
              return { device: s.device.inventory.name, diffs: diffs ?? 'unreadable' };
            } catch (err) {
              return { device: s.device.inventory.name, diffs: 'unreadable', error: (err as Error).message };
            }
          }),
        )),
      );
    }
    return { domain: this.domain, agreementId: rec.agreementId, inSync: devices.every(inPlace), devices };
  }

  /** Put an active segment back on its devices as provisioned. */
  redeploy(agreementId: string, caller: string): Promise<SegmentStatus> {
    return this.serial(agreementId, async () => {
      const have = await this.opts.records.get<SegmentRecord>(KIND, agreementId);
      // who may ask comes first: another domain learns nothing of the segment's state
      if (have) this.checkCaller(have.doc.originator, caller, agreementId, have.doc.broker);
      if (!have || have.doc.state !== 'active') throw new ServiceProvisioningError('QB_PROVISION_NOT_ACTIVE', `${agreementId} is not active at ${this.domain} (${have?.doc.state ?? 'unknown'}): nothing to redeploy`);
      const rec = have.doc;
      // syncOf reads each step's device once, in step order: what drifted, and whether any of it is left there
      const sync = await this.syncOf(rec);
      const all = this.steps(rec);
      const steps = all.filter((_, i) => !inPlace(sync.devices[i]!));
      for (const [i, s] of all.entries()) {
        const d = sync.devices[i]!;
        if (inPlace(d) || d.error !== undefined || !stillThere(Array.isArray(d.diffs) ? d.diffs : undefined)) continue;
        await this.withDevices([s.device.inventory.name], () => unprovisionSegment([s], this.sessions)).catch(() => {});
      }
      await this.withDevices(steps.map((s) => s.device.inventory.name), () => provisionSegment(steps.map((s) => s.policy as unknown as QosPolicy), steps.map((s) => s.device), () => [], this.sessions));
      // the redeployed objects count from 0 again
      const m = this.measurable.get(agreementId);
      if (m && steps.length) this.measurable.set(agreementId, { ...m, epoch: `${rec.updatedAt} redeployed ${Date.now()}` });
      this.log('info', 'segment redeployed', { agreement_id: agreementId, devices: steps.map((s) => s.device.inventory.name) });
      return this.status(rec, agreementId);
    });
  }

  /**
   * Policies of active segments per device (partition budgets count them):
   * read from the records once, then kept up to date by every save.
   */
  private async installedBy(): Promise<Map<string, ResolvedPolicy[]>> {
    this.indexLoaded ??= (async () => {
      for (const id of await this.opts.records.ids(KIND)) {
        const r = await this.opts.records.get<SegmentRecord>(KIND, id);
        if (r) this.index(r.doc);
      }
    })();
    await this.indexLoaded;
    const out = new Map<string, ResolvedPolicy[]>();
    for (const policies of this.active.values()) for (const p of policies) append(out, p.device, p.policy);
    return out;
  }

  /** Policies of active segments on one device now, from the index (loaded: every activate reads it first); a batch admits against it when it runs, not when its first segment came. */
  private installedOn(device: string): ResolvedPolicy[] {
    const out: ResolvedPolicy[] = [];
    for (const policies of this.active.values()) for (const p of policies) if (p.device === device) out.push(p.policy);
    return out;
  }

  /** Agreement ids of the active segments on each device, from the same index. */
  async carriedBy(): Promise<Map<string, string[]>> {
    await this.installedBy();
    const out = new Map<string, string[]>();
    for (const [id, policies] of this.active) for (const d of new Set(policies.map((p) => p.device))) append(out, d, id);
    return out;
  }

  /** Keep the index of active segments in step with a record just read or written. */
  private index(rec: SegmentRecord): void {
    if (rec.state === 'active') this.active.set(rec.agreementId, rec.policies);
    else this.active.delete(rec.agreementId);
    if (rec.state === 'active' && rec.originator === this.domain) this.measurable.set(rec.agreementId, { epoch: rec.updatedAt, policies: rec.policies });
    else {
      this.measurable.delete(rec.agreementId);
      this.meter.forget(rec.agreementId);
    }
  }

  /**
   * Sample the traffic counters of every active service we originated
   * (our own segment, where the customer's traffic enters) every
   * `intervalMs`; 0 stops sampling. Each service is measured on the first
   * of its policies whose device can read counters (Platform.counters),
   * every device read once per round over one session. What is kept is in
   * memory only: each replica samples for itself, the services it activated,
   * found active when it started, or was asked about (measuredRate).
   */
  measureEvery(intervalMs: number): void {
    if (this.measureTimer) clearInterval(this.measureTimer);
    this.measureTimer = undefined;
    if (intervalMs <= 0) {
      // not measuring: no rate is served, not even the last one
      for (const id of this.meter.ids()) this.meter.forget(id);
      return;
    }
    this.measureTimer = setInterval(() => void this.measure(), intervalMs);
    this.measureTimer.unref();
    void this.measure();
  }

  /** Stop sampling, wait for a round under way, and serve no rate any more. */
  async stopMeasuring(): Promise<void> {
    this.measureEvery(0);
    await this.measuring;
    this.measureEvery(0);
  }

  /** One round of samples (a round still under way is not doubled: its promise is returned). */
  measure(): Promise<void> {
    this.measuring ??= this.measureRound().finally(() => (this.measuring = undefined));
    return this.measuring;
  }

  private async measureRound(): Promise<void> {
    await this.installedBy();
    const devs = this.opts.devices();
    const now = this.opts.now ?? Date.now;
    const byDevice = new Map<string, { device: ManagedDevice; items: Array<{ id: string; epoch: string; policy: ResolvedPolicy }> }>();
    for (const [id, m] of this.measurable) {
      const pick = m.policies.map((p) => ({ p, cfg: devs.find((d) => d.name === p.device) })).find((x) => x.cfg && hasCounters(x.cfg.platform));
      if (!pick) continue;
      const e = byDevice.get(pick.p.device) ?? { device: managedDevice(pick.cfg!), items: [] };
      e.items.push({ id, epoch: m.epoch, policy: pick.p.policy });
      byDevice.set(pick.p.device, e);
    }
    for (const id of this.meter.ids()) if (!this.measurable.has(id)) this.meter.forget(id);
    await Promise.all(
      [...byDevice].map(async ([name, { device, items }]) => {
        try {
          const read = await devicePolicyCounters(device, items.map((x) => x.policy), now);
          if (this.unreadable.delete(name)) this.log('info', 'traffic counters readable again', { event: 'counters-readable', device: name });
          items.forEach((x, i) => {
            // a service that went away while its device was read is not brought back
            if (this.measurable.get(x.id)?.epoch !== x.epoch) return;
            this.meter.sample(x.id, { device: name, policy: x.policy.serviceId, epoch: x.epoch, atMs: read[i]!.atMs, counters: read[i]!.counters });
            // gone from the device (another replica removed or re-provisioned it): looked up again when next asked for
            if (!read[i]!.counters) this.measurable.delete(x.id);
          });
        } catch (err) {
          // no number rather than an old one: the next round that reads the device starts over
          for (const x of items) this.meter.forget(x.id);
          // said once until it is readable again, not every round
          if (!this.unreadable.has(name)) this.log('warn', 'traffic counters unreadable', { event: 'counters-unreadable', device: name, services: items.length, error: (err as Error).message });
          this.unreadable.add(name);
        }
      }),
    );
  }

  /**
   * The measured rate of a service we originated, once two samples gave one.
   * A service this daemon has not seen go active (another replica activated
   * it) is looked up in the records and sampled from the next round on.
   */
  /** The agreements of the services that have a measured rate now. */
  measuredAgreements(): string[] {
    return this.meter.ids().filter((id) => this.meter.rate(id) !== undefined);
  }

  measuredRate(agreementId: string): MeasuredRate | undefined {
    if (this.measureTimer && !this.measurable.has(agreementId)) void this.adopt(agreementId);
    return this.meter.rate(agreementId);
  }

  private readonly adopting = new Set<string>();

  /** Sample a segment another replica activated, if it is active and ours. */
  private async adopt(agreementId: string): Promise<void> {
    if (this.adopting.has(agreementId)) return;
    this.adopting.add(agreementId);
    try {
      const r = await this.opts.records.get<SegmentRecord>(KIND, agreementId);
      if (r?.doc.state === 'active' && r.doc.originator === this.domain && !this.measurable.has(agreementId)) this.measurable.set(agreementId, { epoch: r.doc.updatedAt, policies: r.doc.policies });
    } catch (err) {
      this.log('warn', 'segment record unreadable for measuring', { agreement_id: agreementId, error: (err as Error).message });
    } finally {
      this.adopting.delete(agreementId);
    }
  }

  /** Every service with a measured rate now, by agreement id (the metrics gauge). */
  measuredRates(): Array<[string, MeasuredRate]> {
    return this.meter.all();
  }

  /**
   * Run `fn` holding every named device: one segment's transaction at a time
   * per device (NETCONF's candidate lock would refuse a second session).
   * Devices are taken in name order, so two segments that share devices never
   * wait for each other in a circle.
   */
  private async withDevices<T>(names: string[], fn: () => Promise<T>): Promise<T> {
    const sorted = [...new Set(names)].sort();
    const releases: Array<() => void> = [];
    for (const n of sorted) {
      const prev = this.deviceQueue.get(n) ?? Promise.resolve();
      let release!: () => void;
      const mine = new Promise<void>((r) => (release = r));
      const tail = prev.then(() => mine);
      this.deviceQueue.set(n, tail);
      await prev;
      releases.push(() => {
        release();
        if (this.deviceQueue.get(n) === tail) this.deviceQueue.delete(n);
      });
    }
    try {
      return await fn();
    } finally {
      for (const r of releases.reverse()) r();
    }
  }

  /**
   * Run one segment's transaction together with the others of the same kind
   * waiting for the same devices: the first to come finds the devices free
   * and runs alone; those that come while a transaction holds them wait, and
   * the next transaction takes all of them (up to batchLimit) through `run`,
   * which answers each in order. Segments whose device sets differ are
   * queued per device as before (withDevices), not batched together.
   */
  private batched<J, R>(kind: 'apply' | 'remove', devices: string[], job: J, run: (jobs: J[]) => Promise<R[]>): Promise<R> {
    const names = [...new Set(devices)].sort();
    const key = `${kind} ${names.join(',')}`;
    return new Promise<R>((resolve, reject) => {
      let q = this.waiting.get(key);
      if (!q) this.waiting.set(key, (q = { jobs: [], draining: false }));
      q.jobs.push({ job, resolve: resolve as (r: unknown) => void, reject });
      if (!q.draining) void this.drain(key, q, names, run as (jobs: unknown[]) => Promise<unknown[]>);
    });
  }

  private async drain(key: string, q: BatchQueue, names: string[], run: (jobs: unknown[]) => Promise<unknown[]>): Promise<void> {
    q.draining = true;
    const limit = this.opts.batchLimit ?? DOMAIN_PROVISIONER_DEFAULTS.batchLimit;
    while (q.jobs.length) {
      await this.withDevices(names, async () => {
        // taken once the devices are ours: every segment that came while they were busy
        const batch = q.jobs.splice(0, limit);
        try {
          const out = await run(batch.map((b) => b.job));
          batch.forEach((b, i) => b.resolve(out[i]));
        } catch (err) {
          for (const b of batch) b.reject(err);
        }
      });
    }
    q.draining = false;
    if (this.waiting.get(key) === q) this.waiting.delete(key);
  }

  /**
   * On start, after recover(): read every device that carries active
   * segments back (one get-config per device) and put back what drifted
   * while we were down. Returns how many segments were checked and redeployed.
   */
  async reconcileActive(): Promise<{ segments: number; devices: number; redeployed: number; unreadable: string[] }> {
    const active: SegmentRecord[] = [];
    for (const id of await this.opts.records.ids(KIND)) {
      const r = await this.opts.records.get<SegmentRecord>(KIND, id);
      if (r?.doc.state === 'active') active.push(r.doc);
    }
    const byDevice = new Map<string, Array<{ rec: SegmentRecord; policy: ResolvedPolicy }>>();
    for (const rec of active) for (const p of rec.policies) append(byDevice, p.device, { rec, policy: p.policy });
    const drifted = new Set<string>();
    const unreadable: string[] = [];
    const devs = this.opts.devices();
    for (const [name, list] of byDevice) {
      const cfg = devs.find((d) => d.name === name);
      if (!cfg) {
        unreadable.push(`${name}: no longer configured`);
        continue;
      }
      try {
        const diffs = await devicePolicyDiffs(managedDevice(cfg), list.map((x) => x.policy), this.sessions);
        diffs?.forEach((d, i) => d.length && drifted.add(list[i]!.rec.agreementId));
      } catch (err) {
        unreadable.push(`${name}: ${(err as Error).message}`);
      }
    }
    for (const id of drifted) {
      const rec = active.find((r) => r.agreementId === id)!;
      await this.redeploy(id, rec.originator).catch((err: unknown) => this.log('error', 'redeploy after a restart failed', { agreement_id: id, error: (err as Error).message }));
    }
    const out = { segments: active.length, devices: byDevice.size, redeployed: drifted.size, unreadable };
    this.log(drifted.size || unreadable.length ? 'warn' : 'info', 'active segments reconciled with the devices', { event: 'segments-reconciled', ...out });
    return out;
  }

  /**
   * On start: finish what a crash interrupted (an apply is undone, a removal
   * completed). A transaction that carried several segments left one pending
   * confirmed commit per device, named after one of them (its first policy
   * there): every interrupted segment's commits are cancelled first, so none
   * is removed while the batch's commit is still pending.
   */
  async recover(): Promise<number> {
    let n = 0;
    const interrupted: string[] = [];
    for (const id of await this.opts.records.ids(KIND)) {
      const r = await this.opts.records.get<SegmentRecord>(KIND, id);
      if (!r || (r.doc.state !== 'applying' && r.doc.state !== 'removing')) continue;
      interrupted.push(id);
      // a confirmed commit the dead process left pending is rolled back now, not at its timeout
      try {
        for (const s of this.steps(r.doc)) await cancelPending(s, this.sessions).catch(() => false);
      } catch (err) {
        this.log('error', 'segment recovery failed', { agreement_id: id, error: (err as Error).message });
      }
    }
    for (const id of interrupted) {
      await this.serial(id, async () => {
        const again = await this.opts.records.get<SegmentRecord>(KIND, id);
        if (!again || (again.doc.state !== 'applying' && again.doc.state !== 'removing')) return;
        const interrupted = again.doc.state;
        try {
          await this.removeAll(again.doc, again.version);
          n++;
          this.log('warn', 'segment interrupted by a restart: devices put back as before', { event: 'segment-recovered', agreement_id: id, was: interrupted });
        } catch (err) {
          this.log('error', 'segment recovery failed', { agreement_id: id, error: (err as Error).message });
        }
      });
    }
    return n;
  }
}

/** Segments of one kind waiting for one set of devices. */
interface BatchQueue {
  jobs: Array<{ job: unknown; resolve: (r: unknown) => void; reject: (err: unknown) => void }>;
  /** A drain loop is running for it. */
  draining: boolean;
}

/** Add to a map of lists in place (a device carries thousands: no copy per entry). */
function append<K, V>(m: Map<K, V[]>, k: K, v: V): void {
  const list = m.get(k);
  if (list) list.push(v);
  else m.set(k, [v]);
}
