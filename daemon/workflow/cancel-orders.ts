/**
 * Cancellation requests of service orders (TMF641 CancelServiceOrder): each a
 * record of kind `cancel-order` (in its customer's index), written before and
 * after the workflow's terminateOrder, which takes the service off every
 * device and releases every booking. An order agreed but not started yet ends
 * `cancelled`; a completed order's service ends `terminated` (the order stays
 * completed: it did what it was for). A request the order's state refuses
 * (still being agreed, already ended) ends `terminatedWithError` with the reason.
 */
import { randomUUID } from 'node:crypto';
import { QosBrokerError } from '../../drivers/errors.js';
import { httpStatusOf } from '../errors.js';
import type { RecordStore } from '../state/records.js';
import type { OrderRecord } from './orders.js';

/** TMF641 v4 TaskStateType, the states of a cancellation. */
export type CancelState = 'acknowledged' | 'rejected' | 'inProgress' | 'cancelled' | 'done' | 'terminatedWithError';

/** A cancellation request, as stored. */
export interface CancelOrderRecord {
  id: string;
  customer: string;
  orderId: string;
  state: CancelState;
  cancellationReason?: string;
  requestedCancellationDate?: string;
  /** When it was asked for. */
  createdAt: string;
  /** When the service was off every device (state done). */
  effectiveCancellationDate?: string;
  error?: { code: string; message: string };
}

const KIND = 'cancel-order';

export class CancelOrders {
  constructor(
    private readonly records: RecordStore,
    /** The workflow's terminateOrder. */
    private readonly terminate: (orderId: string, customer?: string) => Promise<OrderRecord>,
  ) {}

  /** Cancel `o` now; done, or terminatedWithError with the refusal. Other errors are thrown. */
  async create(o: OrderRecord, meta: { cancellationReason?: string; requestedCancellationDate?: string } = {}): Promise<CancelOrderRecord> {
    const c: CancelOrderRecord = {
      id: `cso-${randomUUID()}`,
      customer: o.customer,
      orderId: o.id,
      state: 'inProgress',
      ...(meta.cancellationReason ? { cancellationReason: meta.cancellationReason } : {}),
      ...(meta.requestedCancellationDate ? { requestedCancellationDate: meta.requestedCancellationDate } : {}),
      createdAt: new Date().toISOString(),
    };
    const score = Date.parse(c.createdAt);
    const event = () => ({ type: 'cancel-order-state-change', orderId: o.id, customer: c.customer, cancelState: c.state, ...(c.error ? { error: c.error } : {}) });
    const v = await this.records.put(KIND, c.id, 0, c, { score, customer: c.customer, event: event() });
    try {
      await this.terminate(o.id, o.customer);
      c.state = 'done';
      c.effectiveCancellationDate = new Date().toISOString();
    } catch (err) {
      if (!(err instanceof QosBrokerError) || httpStatusOf(err) >= 500) throw err;
      c.state = 'terminatedWithError';
      c.error = { code: err.code, message: err.message };
    }
    await this.records.put(KIND, c.id, v, c, { score, customer: c.customer, event: event() });
    return c;
  }

  async get(id: string): Promise<CancelOrderRecord | undefined> {
    return (await this.records.get<CancelOrderRecord>(KIND, id))?.doc;
  }

  /** One page, oldest first (a customer's: from its index). */
  async page(q: { customer?: string; state?: string; offset: number; limit: number }): Promise<{ items: CancelOrderRecord[]; total: number }> {
    const st = q.state;
    const r = await this.records.page<CancelOrderRecord>([KIND], { ...q, where: st === undefined ? undefined : (_k, c) => c.state === st });
    return { items: r.items.map((x) => x.doc), total: r.total };
  }
}
