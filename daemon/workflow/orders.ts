/**
 * The workflow server (seed 000): a durable order state machine in Redis.
 * An order is acknowledged, then in progress while the service is agreed
 * (path, Quote/Reserve, Commit: the signed contract) and provisioned in every
 * domain on the path, completed when every segment is active. The order
 * follows TM Forum TMF641 states, the service it creates TMF638 states.
 *
 * Every transition is written to Redis (with its reason, its deadlines and
 * its outbox event, atomically: state/records.ts) before the work it starts.
 * Per step the workflow decides where it runs: internal (our own domain's
 * provisioning) or external (another domain's broker, over gRPC), and keeps
 * a per-step plan (step, domain, where, state, started, finished, error).
 *
 * Saga: a segment that fails anywhere makes every domain remove what it
 * applied and release its bookings; the order ends `failed` with the domain,
 * device and error that caused it. Deadlines (start, end, boost revert, a
 * retry while a peer is unreachable) live in Redis: a daemon that was down
 * when one passed acts on it when it starts (recover()).
 */
import { randomUUID } from 'node:crypto';
import { InvalidArgumentError, QosBrokerError } from '../../drivers/errors.js';
import { OrderError } from '../errors.js';
import type { AgreementCoordinator, ServiceRequest } from '../agreement/coordinator.js';
import { contractReference, storedContractBody, type SignedContract } from '../agreement/contract.js';
import type { AgreementParticipant } from '../agreement/participant.js';
import type { Logger } from '../logger.js';
import type { SegmentProvisioner } from '../provisioning/remote.js';
import type { SegmentStatus } from '../provisioning/domain.js';
import type { RecordStore } from '../state/records.js';
import { failpoint } from '../failpoints.js';

/** TMF641 v4 service order states. */
export type OrderState = 'acknowledged' | 'rejected' | 'inProgress' | 'pending' | 'held' | 'completed' | 'failed' | 'partial' | 'cancelled' | 'assessingCancellation' | 'pendingCancellation';
/** TMF638 service states. */
export type ServiceState = 'feasibilityChecked' | 'designed' | 'reserved' | 'inactive' | 'active' | 'terminated';
/** Where the agreement of an order stands (persisted before each phase acts). */
export type AgreementPhase = 'computing' | 'reserving' | 'committing' | 'committed' | 'aborted';

export interface StepError {
  code: string;
  message: string;
  domain?: string;
  device?: string;
}

/** One step of an order's plan. */
export interface PlanStep {
  step: 'agree' | 'provision' | 'modify' | 'revert' | 'remove';
  domain: string;
  /** internal: our own domain's servers; external: another domain's broker. */
  where: 'internal' | 'external';
  state: 'pending' | 'inProgress' | 'completed' | 'failed' | 'skipped';
  started?: string;
  finished?: string;
  error?: StepError;
}

/** A temporary rate change (seed 001: "up the bandwidth for two hours"). */
export interface Boost {
  /** The amendment's own agreement id (its bookings are released at the revert). */
  agreementId: string;
  rateMbps: number;
  /** ms since the epoch when the service goes back to its rate. */
  until: number;
  /** The amendment's signed contract. */
  contract?: SignedContract;
  state: 'agreeing' | 'provisioning' | 'active' | 'reverting' | 'reverted' | 'failed';
}

/** A service's rate as the originating domain's device counted it between two samples (daemon/provisioning/measure.ts). */
export interface OrderMeasuredRate {
  /** Mbit/s: bytes the policy's shaper sent (whole frames) times 8 over the time between the samples. */
  rateMbps: number;
  /** When the later sample was read (ISO 8601). */
  at: string;
  intervalMs: number;
  /** The device the counters are of. */
  device: string;
  /** Packets dropped between the samples. */
  drops: number;
}

/** An order and the service it creates, as stored (record kind `order`). */
export interface OrderRecord {
  id: string;
  customer: string;
  state: OrderState;
  request: Omit<ServiceRequest, 'agreementId' | 'customer'>;
  agreementId: string;
  phase: AgreementPhase;
  /** Domains of the agreement once known (holds may exist there). */
  domains: string[];
  contract?: SignedContract;
  service: { id: string; state: ServiceState; rateMbps: number };
  boost?: Boost;
  plan: PlanStep[];
  history: Array<{ at: string; state: OrderState; service: ServiceState; reason: string }>;
  error?: StepError;
  /** Set when a step failed and every domain is being rolled back: a restart carries on rolling back. */
  compensating?: StepError;
  /** The customer's own reference and words for the order (TMF641 externalId, description). */
  externalId?: string;
  description?: string;
  /** What the service cost in the end (terminated early: the share of its window used), minor units. */
  finalAmountMinor?: number;
  /** The rate measured through our routers (this domain originated it): added by the core when read, never stored. */
  measured?: OrderMeasuredRate;
  createdAt: string;
  updatedAt: string;
}

const FINAL: readonly OrderState[] = ['rejected', 'failed', 'cancelled'];
/** Every deadline kind an order may have. */
const DEADLINES = ['start', 'end', 'revert', 'retry', 'purge'];
const KIND = 'order';

export interface WorkflowOptions {
  domain: string;
  records: RecordStore;
  coordinator: AgreementCoordinator;
  /** The agreement participant of a domain (for aborts after a restart). */
  participant: (domain: string, path?: string[]) => AgreementParticipant | undefined;
  /** A domain's provisioning for an order: ours internal, a peer's external (directly, chained through the neighbours on the order's path, or through the exchange that brokered it); undefined when unreachable now. */
  provisioner: (domain: string, order?: OrderRecord) => SegmentProvisioner | undefined;
  log?: Logger;
  /** How often due deadlines are looked for, ms. @default 250 */
  tickMs?: number;
  /** Delay before a step whose domain is unreachable is tried again, ms. @default 1000 */
  retryMs?: number;
  /** Give up on an unreachable domain after this long and roll back, ms. @default 60000 */
  giveUpMs?: number;
  /** How long an order (and its signed contract) is kept after its service ended, ms. @default a year */
  retentionMs?: number;
  now?: () => number;
}

/** An order that cannot be found (or belongs to another customer): QB_ORDER_NOT_FOUND. */
export class OrderNotFoundError extends OrderError {
  constructor(id: string) {
    super('QB_ORDER_NOT_FOUND', `no order ${id}`);
  }
}

/** A domain needed for a step has no session now: the step is retried. */
class Unreachable extends OrderError {
  constructor(readonly domain: string) {
    super('QB_WORKFLOW_DOMAIN_UNREACHABLE', `no session with ${domain} now`);
  }
}

export class Workflow {
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly busy = new Map<string, Promise<unknown>>();
  /** Transitions made in memory since the order's last write (see note()), written with the next one. */
  private readonly notes = new WeakMap<OrderRecord, Array<Record<string, unknown>>>();
  private timer: NodeJS.Timeout | undefined;
  private ticking = false;
  private stopped = false;

  constructor(private readonly opts: WorkflowOptions) {
    this.log = opts.log ?? (() => {});
    this.now = opts.now ?? Date.now;
  }

  // ---------------------------------------------------------------- lifecycle

  /** Resume every order a stop interrupted, then act on deadlines as they come due. */
  async start(): Promise<void> {
    await this.recover();
    this.timer = setInterval(() => void this.tick(), this.opts.tickMs ?? 250);
    this.timer.unref();
  }

  /** Stop taking deadlines; wait for steps in flight. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    await Promise.allSettled([...this.busy.values()]);
  }

  /** Orders whose work a stop may have interrupted, resumed in order of creation. Returns how many. */
  async recover(): Promise<number> {
    let n = 0;
    const ids = await this.opts.records.ids(KIND);
    // read in chunks (one round trip each), oldest first
    for (let i = 0; i < ids.length; i += 200) {
      const chunk = await this.opts.records.getMany<OrderRecord>(KIND, ids.slice(i, i + 200));
      // orders written before the customer index and the agreement lookup existed get them
      await this.opts.records.reindex(KIND, chunk.map((r) => ({ id: r.id, score: Date.parse(r.doc.createdAt), customer: r.doc.customer, lookup: { agreement: r.doc.agreementId } })));
      for (const r of chunk) {
        if (!this.unfinished(r.doc)) continue;
        n++;
        this.log('info', 'resuming an order interrupted by a stop', { event: 'order-resumed', order_id: r.id, state: r.doc.state, phase: r.doc.phase });
        void this.serial(r.id, () => this.advance(r.id));
      }
    }
    await Promise.allSettled([...this.busy.values()]);
    this.log('info', 'orders reconciled', { event: 'orders-reconciled', orders: ids.length, resumed: n });
    return n;
  }

  private unfinished(o: OrderRecord): boolean {
    if (FINAL.includes(o.state)) return false;
    // agreed and waiting for its start: its start deadline (in Redis) carries it on
    if (o.state === 'inProgress' && o.phase === 'committed' && o.service.state === 'reserved' && o.request.start > this.now()) return false;
    if (o.state === 'acknowledged' || o.state === 'inProgress') return true;
    if (o.boost && ['agreeing', 'provisioning', 'reverting'].includes(o.boost.state)) return true;
    return o.plan.some((s) => s.state === 'inProgress');
  }

  private async tick(): Promise<void> {
    if (this.ticking || this.stopped) return;
    this.ticking = true;
    try {
      for (const d of await this.opts.records.due(this.now())) {
        if (this.busy.has(d.id)) continue;
        void this.serial(d.id, () => this.onDeadline(d.kind, d.id)).catch((err: unknown) => this.log('warn', 'deadline failed', { kind: d.kind, order_id: d.id, error: (err as Error).message }));
      }
    } catch (err) {
      this.log('warn', 'deadline poll failed', { error: (err as Error).message });
    } finally {
      this.ticking = false;
    }
  }

  private async onDeadline(kind: string, id: string): Promise<void> {
    const r = await this.load(id);
    const o = r.doc;
    if (kind === 'purge') {
      if (o.service.state !== 'terminated') return void (await this.save(o, r.version, { purge: null }, o.history[o.history.length - 1]!.reason));
      await this.opts.records.delete(KIND, id, DEADLINES, { type: 'order-purged', orderId: id, customer: o.customer }, { customer: o.customer, lookup: { agreement: o.agreementId } });
      this.log('info', 'order purged after its retention', { event: 'order-purged', order_id: id });
      return;
    }
    if (kind === 'end') return this.removeService(id, 'the service window ended');
    if (kind === 'revert') return this.revertBoost(id);
    // start, retry: carry on from where the order is
    await this.save(o, r.version, { [kind]: null }, `${kind} deadline`);
    await this.advance(id);
  }

  private purgeAt(): number {
    return this.now() + (this.opts.retentionMs ?? 365 * 24 * 3_600_000);
  }

  /** One operation at a time per order: every change goes through here. */
  private serial<T>(id: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.busy.get(id) ?? Promise.resolve();
    const run = prev.catch(() => {}).then(fn);
    this.busy.set(id, run);
    void run
      .finally(() => {
        if (this.busy.get(id) === run) this.busy.delete(id);
      })
      .catch(() => {});
    return run;
  }

  // ---------------------------------------------------------------- records

  private async load(id: string): Promise<{ version: number; doc: OrderRecord }> {
    const r = await this.opts.records.get<OrderRecord>(KIND, id);
    if (!r) throw new OrderNotFoundError(id);
    return r;
  }

  /** Persist the order (with its history line, deadlines and outbox event, after those of its notes); returns the new version. */
  private async save(o: OrderRecord, version: number, deadlines: Record<string, number | null>, reason: string): Promise<number> {
    const event = this.transition(o, reason);
    const v = await this.opts.records.put(KIND, o.id, version, o, {
      score: Date.parse(o.createdAt),
      customer: o.customer,
      lookup: { agreement: o.agreementId },
      deadlines,
      events: this.notes.get(o) ?? [],
      event,
    });
    this.notes.delete(o);
    return v;
  }

  /**
   * A transition whose work acts on nothing outside this process before the
   * next save (computing a path; recording the contract before the provision
   * steps' own record): its history line and outbox event are made now and
   * written atomically with that save, in order, so no state change skips the
   * outbox and one Redis round trip less stands in the order's way. A crash
   * before that save finds the order as its last write left it, which the
   * restart carries on from as before.
   */
  private note(o: OrderRecord, reason: string): void {
    this.notes.set(o, [...(this.notes.get(o) ?? []), { ...this.transition(o, reason), at: this.now() }]);
  }

  /** The history line (a new one only if something changed) and the outbox event of a transition. */
  private transition(o: OrderRecord, reason: string): Record<string, unknown> {
    const at = new Date(this.now()).toISOString();
    o.updatedAt = at;
    const last = o.history[o.history.length - 1];
    if (!last || last.state !== o.state || last.service !== o.service.state || reason !== last.reason) o.history.push({ at, state: o.state, service: o.service.state, reason });
    return { type: 'order-state-change', orderId: o.id, customer: o.customer, state: o.state, serviceState: o.service.state, reason, ...(o.error ? { error: o.error } : {}) };
  }

  private step(o: OrderRecord, step: PlanStep['step'], domain: string): PlanStep {
    let s = [...o.plan].reverse().find((x) => x.step === step && x.domain === domain);
    if (!s) {
      s = { step, domain, where: domain === this.opts.domain ? 'internal' : 'external', state: 'pending' };
      o.plan.push(s);
    }
    return s;
  }

  private mark(s: PlanStep, state: PlanStep['state'], error?: StepError): void {
    const at = new Date(this.now()).toISOString();
    if (state === 'inProgress') {
      s.started = at;
      delete s.finished;
      delete s.error;
    } else if (state !== 'pending') s.finished = at;
    s.state = state;
    if (error) s.error = error;
  }

  // ---------------------------------------------------------------- operations

  /** Take an order: stored as acknowledged, then carried on in the background. */
  async createOrder(req: ServiceRequest, meta: { externalId?: string; description?: string } = {}): Promise<OrderRecord> {
    if (!(req.end > req.start)) throw new InvalidArgumentError(`the service window must end after it starts (start ${req.start}, end ${req.end})`);
    if (req.end <= this.now()) throw new InvalidArgumentError(`the service window is over already (end ${new Date(req.end).toISOString()})`);
    const at = new Date(this.now()).toISOString();
    const id = `ord-${randomUUID()}`;
    const { agreementId, customer, ...request } = req;
    const o: OrderRecord = {
      id,
      customer,
      state: 'acknowledged',
      request,
      agreementId: agreementId ?? `agr-${randomUUID()}`,
      phase: 'computing',
      domains: [],
      service: { id: `svc-${id.slice(4)}`, state: 'feasibilityChecked', rateMbps: req.rateMbps },
      plan: [{ step: 'agree', domain: this.opts.domain, where: 'internal', state: 'pending' }],
      history: [],
      ...(meta.externalId ? { externalId: meta.externalId } : {}),
      ...(meta.description ? { description: meta.description } : {}),
      createdAt: at,
      updatedAt: at,
    };
    const version = await this.save(o, 0, {}, 'order received');
    this.log('info', 'order acknowledged', { event: 'order-acknowledged', order_id: id, customer, agreement_id: o.agreementId });
    // the work goes on with the record just written (nobody else knows the id yet: not read back); the caller keeps its own copy
    const work = structuredClone(o);
    void this.serial(id, () => this.advance(id, { version, doc: work })).catch((err: unknown) => this.log('error', 'order step failed', { order_id: id, error: (err as Error).message }));
    return o;
  }

  async getOrder(id: string, customer?: string): Promise<OrderRecord> {
    const o = (await this.load(id)).doc;
    // another customer's order is as absent as one that does not exist
    if (customer !== undefined && o.customer !== customer) throw new OrderNotFoundError(id);
    return o;
  }

  async listOrders(filter: { customer?: string; state?: OrderState; offset?: number; limit?: number } = {}): Promise<OrderRecord[]> {
    return (await this.pageOrders({ ...filter, where: filter.state === undefined ? undefined : (o) => o.state === filter.state })).items;
  }

  /**
   * One page of orders, oldest first, and how many match: a customer's from
   * that customer's index (only its records are read; without `where` only
   * the page's), or every order.
   */
  async pageOrders(q: { customer?: string; offset?: number; limit?: number; where?: (o: OrderRecord) => boolean }): Promise<{ items: OrderRecord[]; total: number }> {
    const where = q.where;
    const r = await this.opts.records.page<OrderRecord>([KIND], { customer: q.customer, offset: q.offset ?? 0, limit: q.limit ?? Number.MAX_SAFE_INTEGER, where: where && ((_k, o) => where(o)) });
    return { items: r.items.map((x) => x.doc), total: r.total };
  }

  /** The order that signed agreement `agreementId` (or whose boost it is, `<agreement>-boost-N`). */
  async orderOfAgreement(agreementId: string): Promise<OrderRecord | undefined> {
    const id = (await this.opts.records.lookup(KIND, 'agreement', agreementId)) ?? (await this.opts.records.lookup(KIND, 'agreement', agreementId.replace(/-boost-\d+$/, '')));
    return id ? (await this.opts.records.get<OrderRecord>(KIND, id))?.doc : undefined;
  }

  /**
   * Wait until the order settles (completed with its service active or
   * terminated, or final), for callers that want the outcome. An operation
   * that ends with the order settled hands back the record it wrote last
   * (advance), so the answer needs no read of it.
   */
  async settled(id: string, timeoutMs: number): Promise<OrderRecord> {
    const until = this.now() + timeoutMs;
    for (;;) {
      const done = await this.busy.get(id)?.catch(() => undefined);
      const o = isOrder(done, id) && !this.busy.has(id) ? done : (await this.load(id)).doc;
      if (!this.unfinished(o) || this.now() > until) return o;
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** Change what a PATCH may change (externalId, description): no state change, no history line. */
  annotate(id: string, change: { externalId?: string; description?: string }, customer?: string): Promise<OrderRecord> {
    return this.serial(id, async () => {
      const { version, doc: o } = await this.load(id);
      if (customer !== undefined && o.customer !== customer) throw new OrderNotFoundError(id);
      Object.assign(o, change);
      o.updatedAt = new Date(this.now()).toISOString();
      await this.opts.records.put(KIND, o.id, version, o, { score: Date.parse(o.createdAt), customer: o.customer, lookup: { agreement: o.agreementId }, event: { type: 'order-attribute-change', orderId: o.id, customer: o.customer, reason: `changed ${Object.keys(change).join(', ')}` } });
      return o;
    });
  }

  /**
   * End a service early: removed from every device, bookings released, the
   * final amount recorded. An order agreed but not started yet (waiting for
   * its start) ends `cancelled`: its start deadline is cleared with it.
   */
  terminateOrder(id: string, customer?: string): Promise<OrderRecord> {
    return this.serial(id, async () => {
      const o = await this.getOrder(id, customer);
      if (o.service.state === 'terminated' || FINAL.includes(o.state)) throw new OrderError('QB_ORDER_NOT_ACTIVE', `order ${id} is ${o.state} and its service ${o.service.state}: nothing to terminate`);
      if (o.state === 'acknowledged' || (o.state === 'inProgress' && o.phase !== 'committed')) throw new OrderError('QB_ORDER_BUSY', `order ${id} is still being agreed (${o.phase}); terminate it once it is in place`);
      await this.removeService(id, 'terminated on request');
      return (await this.load(id)).doc;
    });
  }

  /**
   * Raise the rate for a while (seed 001: "up the bandwidth for two hours"):
   * the extra rate is agreed with every provider on the same path (an
   * amendment of its own, quoted, held, committed, signed), provisioned on
   * every device, and reverted on its own at the end. A change any domain
   * cannot carry is refused with the domain and reason; the service keeps
   * its rate.
   */
  modifyOrder(id: string, change: { rateMbps: number; durationMs: number }, customer?: string): Promise<OrderRecord> {
    return this.serial(id, async () => {
      let { version, doc: o } = await this.load(id);
      if (customer !== undefined && o.customer !== customer) throw new OrderNotFoundError(id);
      if (o.state !== 'completed' || o.service.state !== 'active') throw new OrderError('QB_ORDER_NOT_ACTIVE', `order ${id} is ${o.state} and its service ${o.service.state}: only an active service can be modified`);
      if (o.boost && !['reverted', 'failed'].includes(o.boost.state)) throw new OrderError('QB_ORDER_BUSY', `order ${id} has a rate change ${o.boost.state} until ${new Date(o.boost.until).toISOString()}; modify it again after that`);
      if (!(Number.isFinite(change.rateMbps) && change.rateMbps > o.request.rateMbps)) throw new InvalidArgumentError(`rateMbps must be above the ordered ${o.request.rateMbps} Mbit/s (a boost), got ${change.rateMbps}`);
      if (!(Number.isSafeInteger(change.durationMs) && change.durationMs > 0)) throw new InvalidArgumentError(`durationMs must be a positive whole number of ms, got ${change.durationMs}`);
      const now = this.now();
      const until = Math.min(now + change.durationMs, o.request.end);
      const n = o.plan.filter((p) => p.step === 'modify' && p.domain === this.opts.domain).length + 1;
      o.boost = { agreementId: `${o.agreementId}-boost-${n}`, rateMbps: change.rateMbps, until, state: 'agreeing' };
      this.mark(this.step(o, 'modify', this.opts.domain), 'inProgress');
      version = await this.save(o, version, {}, `agreeing ${change.rateMbps} Mbit/s until ${new Date(until).toISOString()}`);
      try {
        const a = await this.opts.coordinator.agree({ ...o.request, customer: o.customer, rateMbps: change.rateMbps - o.request.rateMbps, start: now, end: until, agreementId: o.boost.agreementId, includeDomains: o.domains, k: 1, amends: contractReference(o.contract!) });
        const same = a.path.domains.filter((d, i, all) => all.indexOf(d) === i);
        if (same.join(',') !== o.domains.join(',')) {
          await Promise.allSettled(same.map((d) => this.opts.participant(d, o.domains)?.abort(o.boost!.agreementId)));
          throw new OrderError('QB_ORDER_MODIFY_REFUSED', `the extra rate can only be had over ${same.join(' > ')}, not the service's path ${o.domains.join(' > ')}`);
        }
        o.boost.contract = a.contract;
      } catch (err) {
        const e = stepError(err);
        o.boost.state = 'failed';
        this.mark(this.step(o, 'modify', this.opts.domain), 'failed', e);
        await this.save(o, version, {}, `rate change refused: ${e.message}`);
        throw new OrderError('QB_ORDER_MODIFY_REFUSED', `the change to ${change.rateMbps} Mbit/s was refused; the service keeps ${o.service.rateMbps} Mbit/s: ${e.message}`, { cause: err });
      }
      o.boost.state = 'provisioning';
      version = await this.save(o, version, {}, `amendment ${o.boost.agreementId} signed: provisioning ${change.rateMbps} Mbit/s`);
      await this.applyRate(o, version, change.rateMbps);
      return (await this.load(id)).doc;
    });
  }

  // ---------------------------------------------------------------- the state machine

  /**
   * Carry an order on from wherever it stands; each transition is saved
   * before its work. Starts from `have` (the record as just written) or reads
   * it. Returns the order as last written when it completed here.
   */
  private async advance(id: string, have?: { version: number; doc: OrderRecord }): Promise<OrderRecord | undefined> {
    let { version, doc: o } = have ?? (await this.load(id));
    try {
      if (o.state === 'acknowledged') {
        o.state = 'inProgress';
        this.mark(this.step(o, 'agree', this.opts.domain), 'inProgress');
        // computing the path touches nothing outside: written with the first phase record (the coordinator
        // records 'reserving' before it asks anyone for a hold, or the order fails first); an exchange agrees
        // without phase records, so that order is written now
        if (o.request.viaExchange === undefined) this.note(o, 'agreeing with the providers on the path');
        else version = await this.save(o, version, {}, 'agreeing with the providers on the path');
      }
      if (o.state === 'inProgress' && o.compensating) {
        // a rollback that a stop (or an unreachable domain) interrupted: finish it
        await this.releaseEverywhere(o);
        return void (await this.fail(o, version, o.compensating));
      }
      if (o.state === 'inProgress' && (o.phase === 'reserving' || o.phase === 'committing')) {
        // a stop interrupted the agreement: its holds (or a late booking) are given back everywhere
        await this.releaseEverywhere(o);
        return void (await this.fail(o, version, { code: 'QB_WORKFLOW_INTERRUPTED', message: `the agreement was interrupted while ${o.phase} by a restart of ${this.opts.domain}; every hold was released` }));
      }
      if (o.state === 'inProgress' && o.phase === 'computing') {
        let current = version;
        try {
          const a = await this.opts.coordinator.agree({ ...o.request, customer: o.customer, agreementId: o.agreementId }, async (phase, domains) => {
            o.phase = phase;
            o.domains = domains;
            current = await this.save(o, current, {}, phase === 'reserving' ? `asking ${domains.join(', ')} to quote and hold` : 'committing: every provider signs the contract');
            if (phase === 'committing') failpoint('workflow:reserved');
          });
          version = current;
          o.contract = a.contract;
          o.domains = a.path.domains.filter((d, i, all) => all.indexOf(d) === i);
          o.phase = 'committed';
          o.service.state = 'reserved';
          this.mark(this.step(o, 'agree', this.opts.domain), 'completed');
          for (const d of o.domains) this.step(o, 'provision', d);
          // written with what follows at once (the start to wait for, or the provision steps), before any router is touched
          this.note(o, `contract signed by ${o.domains.join(', ')}`);
        } catch (err) {
          version = current;
          const e = stepError(err);
          this.mark(this.step(o, 'agree', this.opts.domain), 'failed', e);
          const asked = (['reserving', 'committing'] as AgreementPhase[]).includes(o.phase);
          o.phase = 'aborted';
          if (!asked) return void (await this.fail(o, version, e));
          // holds or bookings may be left where an abort did not get through (a provider that
          // died after its Reserve or Commit): given back everywhere, retried until it answers
          o.compensating = e;
          version = await this.save(o, version, {}, `the agreement failed: releasing what ${o.domains.join(', ')} may hold`);
          await this.releaseEverywhere(o);
          return void (await this.fail(o, version, e));
        }
      }
      if (o.state === 'inProgress' && o.phase === 'committed') {
        if (o.request.start > this.now()) {
          o.service.state = 'reserved';
          version = await this.save(o, version, { start: o.request.start }, `waiting for the start at ${new Date(o.request.start).toISOString()}`);
          failpoint('workflow:committed');
          return;
        }
        return await this.provisionAll(o, version);
      }
      if (o.boost && (o.boost.state === 'provisioning' || o.boost.state === 'reverting')) {
        // a stop interrupted a rate change: finish it (activate is idempotent per rate)
        await this.applyRate(o, version, o.boost.state === 'provisioning' ? o.boost.rateMbps : o.request.rateMbps);
      }
    } catch (err) {
      if (err instanceof Unreachable) {
        const since = Date.parse(o.updatedAt);
        if (this.now() - since < (this.opts.giveUpMs ?? 60_000)) {
          // transitions noted but not yet written (a contract just signed) go with the retry deadline
          const again = this.notes.has(o) ? { version, doc: o } : await this.load(id);
          await this.save(again.doc, again.version, { retry: this.now() + (this.opts.retryMs ?? 1000) }, again.doc.history[again.doc.history.length - 1]?.reason ?? 'waiting');
          this.log('info', 'a domain of the order is unreachable: retrying', { order_id: id, domain: err.domain });
          return;
        }
      }
      throw err;
    }
  }

  private provisioner(domain: string, o?: OrderRecord): SegmentProvisioner {
    const p = this.opts.provisioner(domain, o);
    if (!p) throw new Unreachable(domain);
    return p;
  }

  /** Activate every domain's segment in parallel; all active: completed (returned as written); any failed: roll every domain back. */
  private async provisionAll(o: OrderRecord, version: number): Promise<OrderRecord | undefined> {
    const provs = o.domains.map((d) => this.provisioner(d, o));
    for (const d of o.domains) {
      const s = this.step(o, 'provision', d);
      if (s.state !== 'completed') this.mark(s, 'inProgress');
    }
    o.service.state = 'inactive';
    version = await this.save(o, version, {}, `provisioning in ${o.domains.join(', ')}`);
    // the contract is written (with this save, if it was just signed): a crash from here on provisions on restart
    failpoint('workflow:committed');
    // each step is finished when its own domain answers (they run in parallel)
    let failure: StepError | undefined;
    await Promise.all(
      provs.map((p, i) =>
        p.activate(o.contract!).then(
          (st) => ({ e: statusError(st) }),
          (err: unknown) => ({ e: { ...stepError(err), domain: o.domains[i]! } as StepError | undefined }),
        ).then(({ e }) => {
          this.mark(this.step(o, 'provision', o.domains[i]!), e ? 'failed' : 'completed', e);
          failure ??= e;
        }),
      ),
    );
    if (failure) {
      o.compensating = failure;
      version = await this.save(o, version, {}, `provisioning failed in ${failure.domain}: rolling back every domain`);
      await this.releaseEverywhere(o);
      return void (await this.fail(o, version, failure));
    }
    o.state = 'completed';
    o.service.state = 'active';
    delete o.error;
    await this.save(o, version, { end: o.request.end, retry: null, start: null }, `active in ${o.domains.join(', ')}`);
    this.log('info', 'order completed: the service is active in every domain', { event: 'order-completed', order_id: o.id, agreement_id: o.agreementId, domains: o.domains });
    return o;
  }

  /** Deactivate (remove and release) in every domain of the order, and abort what may still be held. */
  private async releaseEverywhere(o: OrderRecord): Promise<void> {
    const steps = o.domains.map((d) => this.step(o, 'remove', d));
    for (const s of steps) if (s.state !== 'inProgress') this.mark(s, 'inProgress');
    const results = await Promise.allSettled(
      o.domains.map(async (d) => {
        await this.opts.participant(d, o.domains)?.abort(o.agreementId).catch(() => {});
        await this.provisioner(d, o).deactivate(o.agreementId);
      }),
    );
    results.forEach((r, i) => this.mark(steps[i]!, r.status === 'fulfilled' ? 'completed' : 'failed', r.status === 'rejected' ? { ...stepError(r.reason), domain: o.domains[i]! } : undefined));
    const bad = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (bad) throw bad.reason;
  }

  private async fail(o: OrderRecord, version: number, e: StepError): Promise<number> {
    o.state = 'failed';
    o.error = e;
    delete o.compensating;
    o.service.state = 'terminated';
    const v = await this.save(o, version, { start: null, end: null, retry: null, revert: null, purge: this.purgeAt() }, `failed: ${e.domain ? `${e.domain}: ` : ''}${e.code}: ${e.message}`);
    this.log('warn', 'order failed', { event: 'order-failed', order_id: o.id, code: e.code, domain: e.domain, device: e.device, error: e.message });
    return v;
  }

  /** Remove the service everywhere (end of window or terminate) and record the final amount. */
  private async removeService(id: string, reason: string): Promise<void> {
    let { version, doc: o } = await this.load(id);
    if (o.service.state === 'terminated') return void (await this.save(o, version, { end: null }, o.history[o.history.length - 1]!.reason));
    for (const d of o.domains) this.mark(this.step(o, 'remove', d), 'inProgress');
    version = await this.save(o, version, {}, `removing: ${reason}`);
    await this.releaseEverywhere(o);
    if (o.boost && ['active', 'provisioning', 'reverting'].includes(o.boost.state)) {
      await Promise.all(o.domains.map((d) => this.provisioner(d, o).deactivate(o.boost!.agreementId)));
    }
    o.service.state = 'terminated';
    // an order stored before the JWS format still has its total
    const total = storedContractBody(o.contract)?.totalPriceMinor ?? 0;
    const used = Math.min(1, Math.max(0, (this.now() - o.request.start) / (o.request.end - o.request.start)));
    o.finalAmountMinor = Math.round(total * used);
    if (o.boost && o.boost.state === 'active') o.boost.state = 'reverted';
    // not provisioned yet (waiting for its start): the order itself is cancelled
    if (o.state === 'inProgress') o.state = 'cancelled';
    await this.save(o, version, { start: null, retry: null, end: null, revert: null, purge: this.purgeAt() }, reason);
    this.log('info', 'service terminated', { event: 'service-terminated', order_id: id, reason, final_amount_minor: o.finalAmountMinor });
  }

  private async revertBoost(id: string): Promise<void> {
    let { version, doc: o } = await this.load(id);
    if (!o.boost || o.boost.state !== 'active') return void (await this.save(o, version, { revert: null }, o.history[o.history.length - 1]!.reason));
    o.boost.state = 'reverting';
    version = await this.save(o, version, { revert: null }, `the boost to ${o.boost.rateMbps} Mbit/s ended: back to ${o.request.rateMbps} Mbit/s`);
    await this.applyRate(o, version, o.request.rateMbps);
  }

  /** Provision the service at a rate in every domain (a boost or its revert). */
  private async applyRate(o: OrderRecord, version: number, rateMbps: number): Promise<void> {
    const step: PlanStep['step'] = o.boost!.state === 'reverting' ? 'revert' : 'modify';
    for (const d of o.domains) this.mark(this.step(o, step, d), 'inProgress');
    // the service's own contract at the new rate; a boost shows its signed amendment for the extra rate
    const amendment = o.boost!.state === 'reverting' ? undefined : o.boost!.contract;
    const results = await Promise.allSettled(o.domains.map((d) => this.provisioner(d, o).activate(o.contract!, rateMbps, amendment)));
    let failure: StepError | undefined;
    results.forEach((r, i) => {
      const e = r.status === 'rejected' ? { ...stepError(r.reason), domain: o.domains[i]! } : statusError(r.value);
      this.mark(this.step(o, step, o.domains[i]!), e ? 'failed' : 'completed', e);
      failure ??= e;
    });
    if (failure) {
      const wasBoost = o.boost!.state === 'provisioning';
      o.boost!.state = 'failed';
      o.error = failure;
      version = await this.save(o, version, {}, `rate change to ${rateMbps} Mbit/s failed in ${failure.domain}`);
      if (wasBoost) {
        // back to the ordered rate everywhere and the amendment's bookings released
        await Promise.allSettled(o.domains.map((d) => this.provisioner(d, o).activate(o.contract!, o.request.rateMbps)));
        await Promise.allSettled(o.domains.map((d) => this.provisioner(d, o).deactivate(o.boost!.agreementId)));
        await this.save(o, version, {}, `back at ${o.request.rateMbps} Mbit/s`);
        throw new OrderError('QB_ORDER_MODIFY_REFUSED', `${failure.domain} could not provision ${rateMbps} Mbit/s: ${failure.message}; the service keeps ${o.request.rateMbps} Mbit/s`);
      }
      return;
    }
    const reverting = o.boost!.state === 'reverting';
    if (reverting || o.boost!.state === 'failed') {
      // the amendment's bookings go back in every domain
      await Promise.all(o.domains.map((d) => this.provisioner(d, o).deactivate(o.boost!.agreementId)));
    }
    o.boost!.state = reverting ? 'reverted' : 'active';
    o.service.rateMbps = rateMbps;
    await this.save(o, version, reverting ? { revert: null } : { revert: o.boost!.until }, `${rateMbps} Mbit/s in every domain`);
  }
}

/** `x` is order `id` as an operation handed it back. */
function isOrder(x: unknown, id: string): x is OrderRecord {
  return typeof x === 'object' && x !== null && (x as OrderRecord).id === id && Array.isArray((x as OrderRecord).plan);
}

function stepError(err: unknown): StepError {
  if (err instanceof QosBrokerError) {
    const e: StepError = { code: err.code, message: err.message };
    const domain = (err as { domain?: unknown }).domain;
    if (typeof domain === 'string') e.domain = domain;
    return e;
  }
  return { code: 'QB_INTERNAL', message: err instanceof Error ? err.message : String(err) };
}

function statusError(s: SegmentStatus): StepError | undefined {
  if (s.state === 'active') return undefined;
  return { code: s.error?.code ?? 'QB_PROVISION_FAILED', message: s.error?.message ?? `segment is ${s.state}`, domain: s.domain, ...(s.error?.device ? { device: s.error.device } : {}) };
}
