/**
 * TMF641 `/hub`: listeners registered for service order events (records of
 * kind `hub`), and the delivery of order state changes from the outbox to
 * them as TMF `ServiceOrderStateChangeEvent`s (HTTP POST, JSON).
 *
 * Delivery reads only the outbox (DESIGN.md), from a cursor kept in Redis, so
 * a restarted daemon carries on after the last event it handed out; a
 * daemon's first start begins at the end of the outbox. Each event is tried
 * once per listener with a deadline; a failure is logged, not retried (signed
 * deliveries with retries belong to the integrations work). A customer's
 * listener receives only that customer's orders.
 */
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { NorthboundError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { OutboxEvent, RecordStore } from '../state/records.js';
import type { Principal } from '../state/apikeys.js';

/** A registered listener (record kind `hub`). */
export interface HubRecord {
  id: string;
  callback: string;
  query?: string;
  keyId: string;
  /** Set for a customer's listener: only that customer's events. */
  customer?: string;
  createdAt: string;
}

const KIND = 'hub';

/** The kinds of outbox records whose events are order state changes. */
const ORDER_KINDS = ['order', 'modify-order'];

export class Hub {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;

  constructor(
    private readonly opts: {
      records: RecordStore;
      redis: Redis;
      /** Key prefix of the domain (`qb:{dom}:`). */
      prefix: string;
      timeoutMs: number;
      log: Logger;
      /** How often the outbox is read, ms. @default 200 */
      pollMs?: number;
      /** Hosts a callback may go to besides loopback. @default [] */
      allowHosts?: string[];
    },
  ) {}

  async register(p: Principal, callback: string, query?: string): Promise<HubRecord> {
    // the daemon POSTs to the callback: only to loopback or to hosts the operator listed
    let host: string;
    try {
      host = new URL(callback).hostname.toLowerCase();
    } catch {
      throw new NorthboundError('QB_NORTHBOUND_BAD_REQUEST', `callback ${JSON.stringify(callback)} is not a URL`);
    }
    const loopback = /^(127\.\d+\.\d+\.\d+|localhost|\[::1\])$/.test(host);
    if (!loopback && !(this.opts.allowHosts ?? []).includes(host)) {
      throw new NorthboundError('QB_NORTHBOUND_CALLBACK_NOT_ALLOWED', `callback host ${host} is neither loopback nor in northbound.hub-allow-hosts`);
    }
    const rec: HubRecord = { id: `hub-${randomBytes(8).toString('hex')}`, callback, ...(query ? { query } : {}), keyId: p.keyId, ...(p.customer ? { customer: p.customer } : {}), createdAt: new Date().toISOString() };
    await this.opts.records.put(KIND, rec.id, 0, rec, { score: Date.now(), event: { type: 'hub-registered', customer: rec.customer ?? '' } });
    return rec;
  }

  /** The listener if it exists (whoever owns it). */
  async get(id: string): Promise<HubRecord | undefined> {
    return (await this.opts.records.get<HubRecord>(KIND, id))?.doc;
  }

  async remove(id: string): Promise<void> {
    await this.opts.records.delete(KIND, id, [], { type: 'hub-removed' });
  }

  private get cursorKey(): string {
    return `${this.opts.prefix}nb-hub-cursor`;
  }

  /** Start delivering; the cursor starts at the outbox's end on a first start. */
  async start(): Promise<void> {
    if ((await this.opts.redis.get(this.cursorKey)) === null) {
      const last = (await this.opts.redis.xrevrange(this.opts.records.outboxKey, '+', '-', 'COUNT', 1)) as Array<[string, string[]]>;
      await this.opts.redis.set(this.cursorKey, last[0]?.[0] ?? '0', 'NX');
    }
    const tick = () => {
      if (this.stopped) return;
      this.running = this.deliverDue()
        .catch((err: unknown) => this.opts.log('warn', 'hub delivery round failed', { error: (err as Error).message }))
        .finally(() => {
          if (!this.stopped) this.timer = setTimeout(tick, this.opts.pollMs ?? 200);
        });
    };
    tick();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.running;
  }

  private async deliverDue(): Promise<void> {
    const after = (await this.opts.redis.get(this.cursorKey)) ?? '0';
    const events = (await this.opts.records.outbox(after, 200)).filter((e) => e.id !== after);
    if (!events.length) return;
    const changes = events.filter((e) => ORDER_KINDS.includes(e.kind) && typeof e.state === 'string');
    if (changes.length) {
      const hubs: HubRecord[] = [];
      for (const id of await this.opts.records.ids(KIND)) {
        const h = await this.get(id);
        if (h) hubs.push(h);
      }
      for (const e of changes) await Promise.all(hubs.filter((h) => wants(h, e)).map((h) => this.post(h, toEvent(e))));
    }
    await this.opts.redis.set(this.cursorKey, events[events.length - 1]!.id);
  }

  private async post(h: HubRecord, event: ReturnType<typeof toEvent>): Promise<void> {
    try {
      const r = await fetch(h.callback, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(event), signal: AbortSignal.timeout(this.opts.timeoutMs), redirect: 'manual' });
      await r.arrayBuffer().catch(() => {});
      if (r.status >= 300) this.opts.log('warn', 'hub listener refused an event', { hub_id: h.id, status: r.status, event_id: event.eventId });
    } catch (err) {
      this.opts.log('warn', 'hub listener unreachable', { hub_id: h.id, error: (err as Error).message, event_id: event.eventId });
    }
  }
}

function wants(h: HubRecord, e: OutboxEvent): boolean {
  if (h.customer !== undefined && e.customer !== h.customer) return false;
  // the one query understood: eventType=... (TMF hub filter); others match everything
  const m = /(?:^|&)eventType=([^&]*)/.exec(h.query ?? '');
  return !m || m[1]!.split(',').includes('ServiceOrderStateChangeEvent');
}

/** A TMF641 ServiceOrderStateChangeEvent of an outbox event. */
export function toEvent(e: OutboxEvent) {
  const id = e.recordId;
  return {
    eventId: e.id,
    eventTime: new Date(e.at).toISOString(),
    eventType: 'ServiceOrderStateChangeEvent',
    event: { serviceOrder: { id, href: `/tmf-api/serviceOrdering/v4/serviceOrder/${id}`, state: e.state as string, ...(typeof e.serviceState === 'string' ? { '@qbServiceState': e.serviceState } : {}), ...(typeof e.reason === 'string' ? { '@qbReason': e.reason } : {}), '@type': 'ServiceOrder' } },
  };
}
