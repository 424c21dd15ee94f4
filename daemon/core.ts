/**
 * The core of one provider daemon: its operations, one method each. The
 * faces adapt to it and hold no logic of their own: the Management gRPC
 * service (daemon/management, the CLI's) and the northbound REST API
 * (daemon/northbound).
 * Every state change of an order goes through the workflow (one path).
 */
import { InvalidArgumentError } from '../drivers/errors.js';
import { OrderError } from './errors.js';
import { NetconfClient } from '../drivers/netconf/client.js';
import { platformById } from '../drivers/platforms/index.js';
import type { ServiceRequest } from './agreement/coordinator.js';
import { parseOrderBody } from './agreement/orders.js';
import type { DeviceConfig } from './config/devices.js';
import { managedDevice, type DomainProvisioner, type SyncReport } from './provisioning/domain.js';
import { probeShell } from './provisioning/segment.js';
import type { RecordStore, ViewPage } from './state/records.js';
import type { ApiKeyStore, ApiKeyView, Principal } from './state/apikeys.js';
import type { IdempotencyStore } from './state/idempotency.js';
import type { Hub, HubRecord } from './integrations/hub.js';
import type { ModifyOrderRecord, ModifyOrders } from './workflow/modify-orders.js';
import type { SegmentProvisioner } from './provisioning/remote.js';
import { CancelOrders, type CancelOrderRecord } from './workflow/cancel-orders.js';
import { QuoteDesk, type QualificationRecord, type QuoteRecord } from './workflow/quotes.js';
import { AlarmStore, type AlarmRecord } from './state/alarms.js';
import type { TopologyGraph } from './topology/graph.js';
import type { PeeringCore } from './peering/peering-core.js';
import type { AgreementDesk } from './agreement/orders.js';

export type { ApiKeyView, HubRecord, ModifyOrderRecord, Principal };
export type { AlarmRecord, CancelOrderRecord, QualificationRecord, QuoteRecord };
import type { OrderRecord, OrderState, Workflow } from './workflow/orders.js';
import type { DomainView as PeeringDomainView, PeerView } from './peering/peering-core.js';
import type { SignedAdvert } from './peering/advert.js';
import type { DomainAdvertisement } from './topology/types.js';

/** A device as `qos-broker devices` shows it. */
export interface DeviceView {
  name: string;
  platform: string;
  address: string;
  border: string;
  interfaces: string[];
  reachable?: boolean;
  error?: string;
  capabilities?: string[];
  services: string[];
}

const ORDER_STATES: readonly OrderState[] = ['acknowledged', 'rejected', 'inProgress', 'pending', 'held', 'completed', 'failed', 'partial', 'cancelled', 'assessingCancellation', 'pendingCancellation'];

export interface BrokerCoreOptions {
  domain: string;
  workflow: Workflow;
  provisioner: DomainProvisioner;
  records: RecordStore;
  devices: () => DeviceConfig[];
  /** API keys of the northbound REST API. */
  apiKeys: ApiKeyStore;
  /** Remembered answers of POSTs with an Idempotency-Key. */
  idempotency: IdempotencyStore;
  /** Listeners of order events (TMF641 /hub). */
  hub: Hub;
  /** Service orders of action modify. */
  modifyOrders: ModifyOrders;
  /** A domain's provisioning (ours internal, a peer's over gRPC; undefined without a session now), for an order's check-sync and redeploy on its whole path. @default ours only */
  segments?: (domain: string, order: OrderRecord) => SegmentProvisioner | undefined;
  /** The advertised graph now (quotes and qualification compute paths on it). */
  graph?: () => TopologyGraph;
  /** Sessions, known domains and advertisements (the operator's view of the domain graph). */
  peering?: PeeringCore;
  /** Quote and the agreement alone (nothing provisioned). */
  agreements?: AgreementDesk;
}

/** One page of a list and how many match. */
export interface Page<T> {
  items: T[];
  total: number;
}

/** The operator's view of the domain graph: sessions, known domains and what each advertises. */
export interface TopologyView {
  domain: string;
  peers: PeerView[];
  domains: PeeringDomainView[];
  adverts: Array<{ origin: string; seq: number; expiresAt: string } & DomainAdvertisement>;
}

export class BrokerCore {
  private readonly cancels: CancelOrders;
  private readonly quotes: QuoteDesk;
  private readonly alarms: AlarmStore;

  constructor(private readonly opts: BrokerCoreOptions) {
    this.cancels = new CancelOrders(opts.records, (id, customer) => opts.workflow.terminateOrder(id, customer));
    this.quotes = new QuoteDesk({
      records: opts.records,
      graph: () => {
        if (!opts.graph) throw new InvalidArgumentError('this daemon computes no paths (no advertised graph): quotes and qualification need a provider with its store');
        return opts.graph();
      },
    });
    this.alarms = new AlarmStore(opts.records, opts.domain);
  }

  /**
   * An order's fields as a face delivers them (the Management service ; proto3 has 0 and '' for
   * what is not set), checked field by field like every other order
   * (parseOrderBody: each bad field an InvalidArgumentError naming it).
   */
  static request(i: Record<string, unknown>): ServiceRequest {
    return parseOrderBody(BrokerCore.unset(i));
  }

  /** The fields a face left at proto3's 0 or '' dropped (so the parser's defaults apply). */
  private static unset(i: Record<string, unknown>): Record<string, unknown> {
    const body: Record<string, unknown> = { ...i };
    for (const k of ['maxLatencyMs', 'start', 'objective', 'agreementId', 'k', 'viaExchange'] as const) if (body[k] === 0 || body[k] === '') delete body[k];
    return body;
  }

  async createOrder(input: Record<string, unknown>, wait?: { timeoutMs: number }, meta: { externalId?: string; description?: string } = {}): Promise<OrderRecord> {
    const o = await this.opts.workflow.createOrder(BrokerCore.request(input), meta);
    return wait ? this.opts.workflow.settled(o.id, wait.timeoutMs) : o;
  }

  /** An order, with the rate measured through our routers while its service is active. */
  async getOrder(id: string, customer?: string): Promise<OrderRecord> {
    return this.withMeasured(await this.opts.workflow.getOrder(checkId(id), customer));
  }

  async listOrders(filter: { customer?: string; state?: string; offset?: number; limit?: number }): Promise<OrderRecord[]> {
    if (filter.state !== undefined && !ORDER_STATES.includes(filter.state as OrderState)) throw new InvalidArgumentError(`state must be one of ${ORDER_STATES.join(', ')}, got ${JSON.stringify(filter.state)}`);
    return (await this.opts.workflow.listOrders({ ...filter, state: filter.state as OrderState | undefined })).map((o) => this.withMeasured(o));
  }

  /** One page of orders (a customer's from its index), oldest first, optionally filtered. */
  async pageOrders(q: { customer?: string; offset: number; limit: number; where?: (o: OrderRecord) => boolean }): Promise<Page<OrderRecord>> {
    const page = await this.opts.workflow.pageOrders(q);
    return { ...page, items: page.items.map((o) => this.withMeasured(o)) };
  }

  /** The order with `measured` from our provisioning's samples (a copy; only an active service has one). */
  private withMeasured(o: OrderRecord): OrderRecord {
    const m = o.service.state === 'active' ? this.opts.provisioner.measuredRate(o.agreementId) : undefined;
    if (!m) return o;
    return { ...o, measured: { rateMbps: m.rateMbps, at: m.at, intervalMs: m.intervalMs, device: m.device, drops: m.drops } };
  }

  /**
   * One page of the orders' services as their stored views (one JSON array;
   * the daemon gives orders a view), oldest first. `withMeasured` adds a
   * measured rate to the view of an order that has one (what only this
   * process's samples know, not the stored view).
   */
  async pageServiceViews(q: { customer?: string; offset: number; limit: number }, withMeasured?: (view: Buffer, m: NonNullable<OrderRecord['measured']>) => Buffer): Promise<ViewPage> {
    const rates = new Map<string, NonNullable<OrderRecord['measured']>>();
    if (withMeasured) {
      const now = new Set(this.opts.provisioner.measuredAgreements());
      // services no longer measured (ended, or measured elsewhere) leave the cache
      for (const agreementId of this.orderIdOf.keys()) if (!now.has(agreementId)) this.orderIdOf.delete(agreementId);
      for (const agreementId of now) {
        const m = this.opts.provisioner.measuredRate(agreementId);
        const orderId = this.orderIdOf.get(agreementId) ?? (await this.opts.records.lookup('order', 'agreement', agreementId));
        if (!m || !orderId) continue;
        this.orderIdOf.set(agreementId, orderId);
        rates.set(orderId, { rateMbps: m.rateMbps, at: m.at, intervalMs: m.intervalMs, device: m.device, drops: m.drops });
      }
    }
    return this.opts.records.pageViews('order', q, rates.size ? (id, view) => (rates.has(id) ? withMeasured!(view, rates.get(id)!) : view) : undefined);
  }

  /** Which order a measured service's agreement belongs to (it never changes; kept while the service is measured). */
  private readonly orderIdOf = new Map<string, string>();

  /** One page of service orders of every action (add: the order; modify: the boost), oldest first. */
  async pageServiceOrders(q: { customer?: string; state?: string; offset: number; limit: number }): Promise<Page<{ kind: 'order'; doc: OrderRecord } | { kind: 'modify-order'; doc: ModifyOrderRecord }>> {
    const st = q.state;
    const r = await this.opts.records.page<OrderRecord | ModifyOrderRecord>(['order', 'modify-order'], { ...q, where: st === undefined ? undefined : (_k, x) => x.state === st });
    return r as Page<{ kind: 'order'; doc: OrderRecord } | { kind: 'modify-order'; doc: ModifyOrderRecord }>;
  }

  /** Change what a PATCH may change on an order (externalId, description). */
  annotateOrder(id: string, change: { externalId?: string; description?: string }, customer?: string): Promise<OrderRecord> {
    return this.opts.workflow.annotate(checkId(id), change, customer);
  }

  /** The same on a modify order (whoever's: the caller checks tenancy). */
  annotateModifyOrder(id: string, change: { externalId?: string; description?: string }): Promise<ModifyOrderRecord | undefined> {
    return this.opts.modifyOrders.annotate(id, change);
  }

  /** Cancel an order (TMF641 CancelServiceOrder): its service is terminated everywhere; done or terminatedWithError. */
  async cancelOrder(orderId: string, meta: { cancellationReason?: string; requestedCancellationDate?: string }, customer?: string): Promise<CancelOrderRecord> {
    return this.cancels.create(await this.getOrder(orderId, customer), meta);
  }

  /** A cancellation (whoever's: the caller checks tenancy). */
  getCancelOrder(id: string): Promise<CancelOrderRecord | undefined> {
    return this.cancels.get(id);
  }

  pageCancelOrders(q: { customer?: string; state?: string; offset: number; limit: number }): Promise<Page<CancelOrderRecord>> {
    return this.cancels.page(q);
  }

  /** Price a new service: the scenarios' paths (TMF648), stored as a quote. */
  quote(input: Record<string, unknown>): Promise<QuoteRecord> {
    return this.quotes.quote(BrokerCore.request(input));
  }

  /** Price a rate change of an order's service for a while (the boost, before confirming it). */
  async quoteModify(orderId: string, change: { rateMbps: number; durationMs: number }, customer?: string): Promise<QuoteRecord> {
    return this.quotes.quoteModify(await this.getOrder(orderId, customer), change);
  }

  getQuote(id: string): Promise<QuoteRecord | undefined> {
    return this.quotes.getQuote(id);
  }

  pageQuotes(q: { customer?: string; state?: string; offset: number; limit: number }): Promise<Page<QuoteRecord>> {
    return this.quotes.pageQuotes(q);
  }

  /** Can the service be had (TMF645)? With `alternatives`, what can instead. */
  qualify(input: Record<string, unknown>, alternatives: boolean): Promise<QualificationRecord> {
    return this.quotes.qualify(BrokerCore.request(input), alternatives);
  }

  getQualification(id: string): Promise<QualificationRecord | undefined> {
    return this.quotes.getQualification(id);
  }

  pageQualifications(q: { customer?: string; offset: number; limit: number }): Promise<Page<QualificationRecord>> {
    return this.quotes.pageQualifications(q);
  }

  /** The order whose contract (or boost amendment) is agreement `agreementId` (whoever's: the caller checks tenancy). */
  orderOfAgreement(agreementId: string): Promise<OrderRecord | undefined> {
    return this.opts.workflow.orderOfAgreement(agreementId);
  }

  /** Report an alarm (TMF642). */
  raiseAlarm(a: Parameters<AlarmStore['raise']>[0]): Promise<AlarmRecord> {
    return this.alarms.raise(a);
  }

  /** An alarm (whoever's: the caller checks tenancy). */
  getAlarm(id: string): Promise<AlarmRecord | undefined> {
    return this.alarms.get(id);
  }

  pageAlarms(q: { customer?: string; offset: number; limit: number; where?: (a: AlarmRecord) => boolean }): Promise<Page<AlarmRecord>> {
    return this.alarms.page(q);
  }

  modifyOrder(id: string, change: { rateMbps: number; durationMs: number }, customer?: string): Promise<OrderRecord> {
    return this.opts.workflow.modifyOrder(checkId(id), change, customer);
  }

  terminateOrder(id: string, customer?: string): Promise<OrderRecord> {
    return this.opts.workflow.terminateOrder(checkId(id), customer);
  }

  /**
   * Our devices against what we provisioned for a service: by our order's id,
   * or by agreement id (a service another domain ordered, carried here).
   */
  async checkSync(id: string, customer?: string): Promise<SyncReport> {
    const path = await this.pathOf(id, customer);
    if (!path) return this.opts.provisioner.checkSync(await this.agreementOf(id, customer));
    return this.acrossPath(path, (p) => p.checkSync(path.agreementId));
  }

  /** Put back what drifted (same ids as checkSync: for our order, in every domain of its path where something drifted). */
  async redeploy(id: string, customer?: string): Promise<SyncReport> {
    const path = await this.pathOf(id, customer);
    if (!path) {
      const agreementId = await this.agreementOf(id, customer);
      await this.opts.provisioner.redeploy(agreementId, this.opts.domain);
      return this.opts.provisioner.checkSync(agreementId);
    }
    const before = await this.checkSync(id, customer);
    const drifted = new Set(before.devices.filter((d) => !(Array.isArray(d.diffs) && d.diffs.length === 0) && d.device !== '').map((d) => d.domain!));
    return this.acrossPath(path, (p) => (drifted.has(p.domain) ? p.redeploy(path.agreementId) : p.checkSync(path.agreementId)));
  }

  /** Our order's agreement and the domains of its path; undefined for an agreement id (a service we carry for another domain). */
  private async pathOf(id: string, customer?: string): Promise<{ agreementId: string; domains: string[]; order: OrderRecord } | undefined> {
    if (!this.opts.segments || (typeof id === 'string' && id.startsWith('agr-') && customer === undefined)) return undefined;
    const o = await this.getOrder(id, customer);
    return o.domains.length ? { agreementId: o.agreementId, domains: o.domains, order: o } : undefined;
  }

  /** One report of every domain's answer, each device tagged with its domain; a domain that cannot answer is one unreadable entry with the reason. */
  private async acrossPath(path: { agreementId: string; domains: string[]; order: OrderRecord }, ask: (p: SegmentProvisioner) => Promise<SyncReport>): Promise<SyncReport> {
    const answers = await Promise.allSettled(
      path.domains.map((d) => {
        // the order says how a domain without a session is reached (its exchange, or its path's neighbours)
        const p = this.opts.segments!(d, path.order);
        return p ? ask(p) : Promise.reject(new OrderError('QB_WORKFLOW_DOMAIN_UNREACHABLE', `no session with ${d} now: its devices were not read`));
      }),
    );
    // nothing provisioned anywhere (e.g. the order failed before it was): the same error as one domain's
    if (answers.every((a) => a.status === 'rejected')) throw (answers[0] as PromiseRejectedResult).reason;
    const devices = answers.flatMap((a, i): SyncReport['devices'] => {
      const domain = path.domains[i]!;
      if (a.status === 'fulfilled') return a.value.devices.map((d) => ({ ...d, domain }));
      const e = a.reason as { code?: string; message?: string };
      return [{ domain, device: '', diffs: 'unreadable', error: `${e.code ?? 'QB_INTERNAL'}: ${e.message ?? String(a.reason)}` }];
    });
    const inSync = answers.every((a) => a.status === 'fulfilled' && a.value.inSync);
    return { domain: this.opts.domain, agreementId: path.agreementId, inSync, devices };
  }

  private async agreementOf(id: string, customer?: string): Promise<string> {
    if (typeof id === 'string' && /^agr-[A-Za-z0-9._@-]{1,96}$/.test(id) && customer === undefined) return id;
    return (await this.getOrder(id, customer)).agreementId;
  }

  /** Priced options per objective, nothing held: `{ domain, options: [{ scenarios, domains, nodes, latencyMs, jitterMs, loss, currency, total, segments }] }` (Management's Quote; the northbound's TMF648 quote is `quote`). */
  quoteOptions(input: Record<string, unknown>): Promise<unknown> {
    return this.desk().quote(BrokerCore.unset({ customer: 'cli', ...input }));
  }

  /** The agreement alone (Quote/Reserve, Commit: the signed contract), nothing provisioned: `{ contract, domains, quotes, refused }`. */
  agree(input: Record<string, unknown>): Promise<unknown> {
    return this.desk().agree(BrokerCore.unset({ customer: 'cli', ...input }));
  }

  private desk(): AgreementDesk {
    if (!this.opts.agreements) throw new InvalidArgumentError(`${this.opts.domain} takes no agreements (no resource store)`);
    return this.opts.agreements;
  }

  /** Configured peers and their session state: `{ domain, peers }`. */
  peers(): { domain: string; peers: unknown[] } {
    return { domain: this.opts.domain, peers: this.peering().peerViews() };
  }

  /** Domains known (advertised, registered, configured keys): `{ domain, domains }`. */
  domains(): { domain: string; domains: unknown[] } {
    return { domain: this.opts.domain, domains: this.peering().domainViews() };
  }

  /** The signed advertisements held: `{ domain, adverts }`. */
  adverts(): { domain: string; adverts: unknown[] } {
    return { domain: this.opts.domain, adverts: this.peering().adverts() };
  }

  private peering(): PeeringCore {
    if (!this.opts.peering) throw new InvalidArgumentError(`${this.opts.domain} has no peering core`);
    return this.opts.peering;
  }

  /** A northbound API key; the secret is returned here only. */
  createApiKey(input: { role: string; customer?: string; description?: string }): Promise<{ key: ApiKeyView; secret: string }> {
    return this.opts.apiKeys.create(input);
  }

  revokeApiKey(id: string): Promise<ApiKeyView> {
    return this.opts.apiKeys.revoke(id);
  }

  listApiKeys(customer?: string): Promise<ApiKeyView[]> {
    return this.opts.apiKeys.list(customer);
  }

  /** Who a presented API key acts for; undefined for a malformed, unknown or revoked key. */
  authenticate(token: string): Promise<Principal | undefined> {
    return this.opts.apiKeys.authenticate(token);
  }

  /** Answer once per (scope, Idempotency-Key): a retry with the same body gets the first answer back. */
  idempotent(scope: string, key: string, body: unknown, answer: () => Promise<{ status: number; body: unknown }>): Promise<{ status: number; body: unknown; replayed: boolean }> {
    return this.opts.idempotency.once(scope, key, body, answer);
  }

  /** Change an order's service for a while, as a modify order of its own (completed or failed with the refusal). */
  async modifyService(orderId: string, change: { rateMbps: number; durationMs: number }, meta: { customer?: string; externalId?: string; description?: string } = {}): Promise<ModifyOrderRecord> {
    return this.opts.modifyOrders.create(await this.getOrder(orderId, meta.customer), change, meta);
  }

  /** A modify order (whoever's it is: the caller checks tenancy). */
  getModifyOrder(id: string): Promise<ModifyOrderRecord | undefined> {
    if (typeof id !== 'string' || !/^mod-[0-9a-f-]{36}$/.test(id)) throw new InvalidArgumentError(`id must be a modify order id (mod-<uuid>), got ${JSON.stringify(id)}`);
    return this.opts.modifyOrders.get(id);
  }

  listModifyOrders(filter: { customer?: string; state?: string } = {}): Promise<ModifyOrderRecord[]> {
    return this.opts.modifyOrders.list(filter);
  }

  registerHub(p: Principal, callback: string, query?: string): Promise<HubRecord> {
    return this.opts.hub.register(p, callback, query);
  }

  /** A hub listener (whoever's it is: the caller checks tenancy). */
  getHub(id: string): Promise<HubRecord | undefined> {
    return this.opts.hub.get(id);
  }

  removeHub(id: string): Promise<void> {
    return this.opts.hub.remove(id);
  }

  /** The configured devices, what they carry, and with `probe` whether they answer and what they offer. */
  async devices(probe = false): Promise<DeviceView[]> {
    const carried = await this.opts.provisioner.carriedBy();
    return Promise.all(
      this.opts.devices().map(async (d): Promise<DeviceView> => {
        const v: DeviceView = { name: d.name, platform: d.platform, address: `${d.host}:${d.port}`, border: d.border, interfaces: d.interfaces.map((i) => `${i.name} (${i.role}${i.peerDomain ? ` to ${i.peerDomain}` : i.site ? ` to ${i.site}` : ''})`), services: carried.get(d.name) ?? [] };
        if (!probe) return v;
        try {
          if (platformById(d.platform).transport === 'cli') {
            // a shell CLI device answers over SSH (what it runs as capabilities); a CLI that needs an interactive channel is refused by the probe
            v.capabilities = await probeShell(managedDevice(d));
            v.reachable = true;
            return v;
          }
          const c = await NetconfClient.connect({ ...managedDevice(d).connection, connectTimeoutMs: 5000 });
          v.reachable = true;
          v.capabilities = c.capabilities.list.filter((x) => !x.module).map((x) => x.base.replace(/^urn:ietf:params:netconf:(capability)?/, "")).sort();
          await c.close();
        } catch (err) {
          v.reachable = false;
          v.error = (err as Error).message;
        }
        return v;
      }),
    );
  }

  /** Sessions, known domains and advertisements (read only; the northbound lets operators only see it). */
  topology(): TopologyView {
    const p = this.opts.peering;
    if (!p) throw new InvalidArgumentError('this daemon has no peering view');
    return {
      domain: this.opts.domain,
      peers: p.peerViews(),
      domains: p.domainViews(),
      adverts: p.adverts().map((a) => ({ ...a.envelope.body, origin: a.envelope.origin, seq: a.envelope.seq, expiresAt: new Date(a.envelope.expiresAt).toISOString() })),
    };
  }
}

function checkId(id: unknown): string {
  if (typeof id !== 'string' || !/^ord-[0-9a-f-]{36}$/.test(id)) throw new InvalidArgumentError(`id must be an order id (ord-<uuid>), got ${JSON.stringify(id)}`);
  return id;
}
