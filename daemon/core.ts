/**
 * The core of one provider daemon: its operations, one method each. The
 * faces adapt to it and hold no logic of their own: the Management gRPC
 * service (daemon/management, the CLI's) and the northbound REST API
 * (daemon/northbound).
 * Every state change of an order goes through the workflow (one path).
 */
import { InvalidArgumentError } from '../drivers/errors.js';
import { NetconfClient } from '../drivers/netconf/client.js';
import { platformById } from '../drivers/platforms/index.js';
import type { ServiceRequest } from './agreement/coordinator.js';
import { parseEndpoint } from './agreement/orders.js';
import type { DeviceConfig } from './config/devices.js';
import { managedDevice, type DomainProvisioner, type SyncReport } from './provisioning/domain.js';
import type { RecordStore } from './state/records.js';
import type { ApiKeyStore, ApiKeyView, Principal } from './state/apikeys.js';
import type { IdempotencyStore } from './state/idempotency.js';
import type { Hub, HubRecord } from './integrations/hub.js';
import type { ModifyOrderRecord, ModifyOrders } from './workflow/modify-orders.js';

export type { ApiKeyView, HubRecord, ModifyOrderRecord, Principal };
import type { OrderRecord, OrderState, Workflow } from './workflow/orders.js';

/** What a customer (or operator) asks for. */
export interface OrderInput {
  from: string;
  to: string;
  qosClass: string;
  rateMbps: number;
  maxLatencyMs?: number;
  /** ms since the epoch; @default now */
  start?: number;
  durationMs: number;
  objective?: string;
  customer: string;
}

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
const OBJECTIVES = ['cheapest', 'lowest-latency', 'balanced'];

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
}

export class BrokerCore {
  constructor(private readonly opts: BrokerCoreOptions) {}

  /** Check an order field by field; every bad field is an InvalidArgumentError naming it. */
  static request(i: OrderInput, now = Date.now()): ServiceRequest {
    const num = (k: keyof OrderInput, v: unknown, ok: (x: number) => boolean, want: string): number => {
      if (typeof v !== 'number' || !Number.isFinite(v) || !ok(v)) throw new InvalidArgumentError(`${k} must be ${want}, got ${JSON.stringify(v)}`);
      return v;
    };
    if (typeof i.customer !== 'string' || !/^[A-Za-z0-9._@-]{1,64}$/.test(i.customer)) throw new InvalidArgumentError(`customer must be 1-64 letters, digits or ._@-, got ${JSON.stringify(i.customer)}`);
    if (typeof i.qosClass !== 'string' || !/^[A-Za-z0-9_-]{1,32}$/.test(i.qosClass)) throw new InvalidArgumentError(`qosClass must be a class name such as EF, got ${JSON.stringify(i.qosClass)}`);
    const start = i.start === undefined || i.start === 0 ? now : num('start', i.start, (x) => Number.isSafeInteger(x) && x > 0, 'ms since the epoch');
    const durationMs = num('durationMs', i.durationMs, (x) => Number.isSafeInteger(x) && x > 0, 'a positive whole number of ms');
    const req: ServiceRequest = {
      customer: i.customer,
      from: parseEndpoint(i.from, 'from'),
      to: parseEndpoint(i.to, 'to'),
      qosClass: i.qosClass,
      rateMbps: num('rateMbps', i.rateMbps, (x) => x > 0 && x <= 10_000_000, 'a rate in Mbit/s > 0'),
      start,
      end: start + durationMs,
    };
    if (i.maxLatencyMs !== undefined && i.maxLatencyMs !== 0) req.maxLatencyMs = num('maxLatencyMs', i.maxLatencyMs, (x) => x > 0, 'a latency in ms > 0');
    if (i.objective !== undefined && i.objective !== '') {
      if (!OBJECTIVES.includes(i.objective)) throw new InvalidArgumentError(`objective must be one of ${OBJECTIVES.join(', ')}, got ${JSON.stringify(i.objective)}`);
      req.objective = i.objective as ServiceRequest['objective'];
    }
    return req;
  }

  async createOrder(input: OrderInput, wait?: { timeoutMs: number }): Promise<OrderRecord> {
    const o = await this.opts.workflow.createOrder(BrokerCore.request(input));
    return wait ? this.opts.workflow.settled(o.id, wait.timeoutMs) : o;
  }

  getOrder(id: string, customer?: string): Promise<OrderRecord> {
    return this.opts.workflow.getOrder(checkId(id), customer);
  }

  listOrders(filter: { customer?: string; state?: string; offset?: number; limit?: number }): Promise<OrderRecord[]> {
    if (filter.state !== undefined && !ORDER_STATES.includes(filter.state as OrderState)) throw new InvalidArgumentError(`state must be one of ${ORDER_STATES.join(', ')}, got ${JSON.stringify(filter.state)}`);
    return this.opts.workflow.listOrders({ ...filter, state: filter.state as OrderState | undefined });
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
    return this.opts.provisioner.checkSync(await this.agreementOf(id, customer));
  }

  /** Put back what drifted on our devices (same ids as checkSync). */
  async redeploy(id: string, customer?: string): Promise<SyncReport> {
    const agreementId = await this.agreementOf(id, customer);
    await this.opts.provisioner.redeploy(agreementId, this.opts.domain);
    return this.opts.provisioner.checkSync(agreementId);
  }

  private async agreementOf(id: string, customer?: string): Promise<string> {
    if (typeof id === 'string' && /^agr-[A-Za-z0-9._@-]{1,96}$/.test(id) && customer === undefined) return id;
    return (await this.getOrder(id, customer)).agreementId;
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
    const carried = new Map<string, string[]>();
    for (const id of await this.opts.records.ids('segment')) {
      const r = await this.opts.records.get<{ state: string; policies: Array<{ device: string }> }>('segment', id);
      if (r?.doc.state !== 'active') continue;
      for (const d of new Set(r.doc.policies.map((p) => p.device))) carried.set(d, [...(carried.get(d) ?? []), id]);
    }
    return Promise.all(
      this.opts.devices().map(async (d): Promise<DeviceView> => {
        const v: DeviceView = { name: d.name, platform: d.platform, address: `${d.host}:${d.port}`, border: d.border, interfaces: d.interfaces.map((i) => `${i.name} (${i.role}${i.peerDomain ? ` to ${i.peerDomain}` : i.site ? ` to ${i.site}` : ''})`), services: carried.get(d.name) ?? [] };
        if (!probe) return v;
        if (platformById(d.platform).transport === 'cli') {
          v.reachable = undefined;
          v.error = 'CLI platform: not probed over NETCONF';
          return v;
        }
        try {
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
}

function checkId(id: unknown): string {
  if (typeof id !== 'string' || !/^ord-[0-9a-f-]{36}$/.test(id)) throw new InvalidArgumentError(`id must be an order id (ord-<uuid>), got ${JSON.stringify(id)}`);
  return id;
}
