/**
 * The measured rate on every face, from one order as the core returns it
 * (BrokerCore adds `measured` to an active service's order): TMF638's
 * measuredRateMbps and measuredAt characteristics, the Management message's
 * `measured`, the CLI's `order get` line; and nothing on any face for an
 * order without one.
 */
import { describe, expect, test } from 'vitest';
import { describeOrder } from '../../../daemon/cli/order.js';
import { orderToMsg } from '../../../daemon/management/proto.js';
import { serviceToTmf, withMeasuredView } from '../../../daemon/northbound/tmf.js';
import type { OrderRecord } from '../../../daemon/workflow/orders.js';

const start = Date.parse('2026-12-02T10:00:00Z');
const order = (measured?: OrderRecord['measured']): OrderRecord => ({
  id: 'ord-1',
  customer: 'acme',
  state: 'completed',
  request: { from: { domain: 'domain-a', site: 'host-a' }, to: { domain: 'domain-c', site: 'host-c' }, qosClass: 'EF', rateMbps: 10, start, end: start + 3_600_000 },
  agreementId: 'agr-1',
  phase: 'done',
  domains: ['domain-a', 'domain-b', 'domain-c'],
  service: { id: 'svc-1', state: 'active', rateMbps: 10 },
  plan: [],
  history: [],
  ...(measured ? { measured } : {}),
  createdAt: '2026-12-02T09:59:00Z',
  updatedAt: '2026-12-02T10:00:01Z',
}) as OrderRecord;
const M = { rateMbps: 9.87654, at: '2026-12-02T10:05:00.500Z', intervalMs: 1000, device: 'a-border', drops: 12 };

describe('measured rate on the faces', () => {
  test('measured rate - TMF638 /service gives measuredRateMbps (to the kbit/s) and measuredAt', () => {
    const chars = serviceToTmf(order(M)).serviceCharacteristic;
    expect(chars).toContainEqual({ name: 'measuredRateMbps', valueType: 'number', value: 9.877 });
    expect(chars).toContainEqual({ name: 'measuredAt', valueType: 'string', value: M.at });
    expect(chars).toContainEqual({ name: 'rateMbps', valueType: 'number', value: 10 });
  });

  test('measured rate - Management gives measured; order get prints it with the router, the time and the drops', () => {
    const msg = orderToMsg(order(M));
    expect(msg.measured).toEqual({ rate_mbps: M.rateMbps, at: M.at, interval_ms: 1000, device: 'a-border', drops: 12 });
    expect(describeOrder(msg)).toContain('  measured 9.88 Mbit/s on a-border at 2026-12-02T10:05:00.500Z (over 1.0 s, 12 dropped)\n');
  });

  test('measured rate - an order without one has none on any face (nothing is made up)', () => {
    const o = order();
    expect(serviceToTmf(o).serviceCharacteristic.map((c) => c.name)).not.toContain('measuredRateMbps');
    expect(serviceToTmf(o).serviceCharacteristic.map((c) => c.name)).not.toContain('measuredAt');
    expect(orderToMsg(o).measured).toBeNull();
    expect(describeOrder(orderToMsg(o))).not.toContain('measured');
  });
  test('measured rate - a stored service view (the list\'s fast path) with the rate added is what serviceToTmf renders with it; a service no longer active keeps its stored view', () => {
    const stored = Buffer.from(JSON.stringify(serviceToTmf(order())));
    expect(JSON.parse(withMeasuredView(stored, M).toString())).toEqual(serviceToTmf(order(M)));
    const ended = { ...order(), service: { id: 'svc-1', state: 'terminated', rateMbps: 10 } } as OrderRecord;
    const endedView = Buffer.from(JSON.stringify(serviceToTmf(ended)));
    expect(withMeasuredView(endedView, M)).toBe(endedView);
  });
});
