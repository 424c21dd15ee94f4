/**
 * Service orders of action `modify` (TMF641): a rate change for a while, the
 * boost, asked for as an order of its own. Each is a record of kind
 * `modify-order` with its state, written before and after the change (with
 * its outbox event, as every order state change), around the workflow's
 * modifyOrder, which agrees and provisions the change on the order's path.
 */
import { randomUUID } from 'node:crypto';
import { QosBrokerError } from '../../drivers/errors.js';
import { httpStatusOf } from '../errors.js';
import type { RecordStore } from '../state/records.js';
import type { OrderRecord, OrderState } from './orders.js';

/** A modify order, as stored. */
export interface ModifyOrderRecord {
  id: string;
  customer: string;
  /** The order whose service it changes. */
  orderId: string;
  serviceId: string;
  rateMbps: number;
  durationMs: number;
  externalId?: string;
  description?: string;
  state: OrderState;
  orderDate: string;
  completionDate?: string;
  error?: { code: string; message: string };
}

const KIND = 'modify-order';

export class ModifyOrders {
  constructor(
    private readonly records: RecordStore,
    /** The workflow's modifyOrder. */
    private readonly modify: (orderId: string, change: { rateMbps: number; durationMs: number }, customer?: string) => Promise<OrderRecord>,
  ) {}

  /**
   * Change `o`'s service; the modify order ends completed, or failed with the
   * refusal (a change no domain can carry, a service not active). Other errors are thrown.
   */
  async create(o: OrderRecord, change: { rateMbps: number; durationMs: number }, meta: { customer?: string; externalId?: string; description?: string } = {}): Promise<ModifyOrderRecord> {
    const m: ModifyOrderRecord = {
      id: `mod-${randomUUID()}`,
      customer: o.customer,
      orderId: o.id,
      serviceId: o.service.id,
      ...change,
      ...(meta.externalId ? { externalId: meta.externalId } : {}),
      ...(meta.description ? { description: meta.description } : {}),
      state: 'inProgress',
      orderDate: new Date().toISOString(),
    };
    const event = () => ({ type: 'order-state-change', orderId: m.id, customer: m.customer, state: m.state, reason: m.error?.message ?? `modify ${o.id}: ${m.rateMbps} Mbit/s for ${m.durationMs} ms` });
    const v = await this.records.put(KIND, m.id, 0, m, { score: Date.parse(m.orderDate), customer: m.customer, event: event() });
    try {
      await this.modify(o.id, change, meta.customer);
      m.state = 'completed';
    } catch (err) {
      if (!(err instanceof QosBrokerError) || httpStatusOf(err) >= 500) throw err;
      m.state = 'failed';
      m.error = { code: err.code, message: err.message };
    }
    m.completionDate = new Date().toISOString();
    await this.records.put(KIND, m.id, v, m, { score: Date.parse(m.orderDate), customer: m.customer, event: event() });
    return m;
  }

  async get(id: string): Promise<ModifyOrderRecord | undefined> {
    return (await this.records.get<ModifyOrderRecord>(KIND, id))?.doc;
  }

  /** Oldest first (a customer's: from that customer's index). */
  async list(filter: { customer?: string; state?: string } = {}): Promise<ModifyOrderRecord[]> {
    const st = filter.state;
    return (await this.records.page<ModifyOrderRecord>([KIND], { customer: filter.customer, offset: 0, limit: Number.MAX_SAFE_INTEGER, where: st === undefined ? undefined : (_k, m) => m.state === st })).items.map((x) => x.doc);
  }

  /** Set what a PATCH may change (externalId, description); undefined when there is no such order. */
  async annotate(id: string, change: { externalId?: string; description?: string }): Promise<ModifyOrderRecord | undefined> {
    const r = await this.records.get<ModifyOrderRecord>(KIND, id);
    if (!r) return undefined;
    const m = { ...r.doc, ...change };
    await this.records.put(KIND, id, r.version, m, { score: Date.parse(m.orderDate), customer: m.customer, event: { type: 'order-attribute-change', orderId: id, customer: m.customer, reason: `changed ${Object.keys(change).join(', ')}` } });
    return m;
  }
}
