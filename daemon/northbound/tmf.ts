/**
 * The TM Forum shapes of the northbound API (a pragmatic subset of TMF641 v4
 * Service Ordering and TMF638 v4 Service Inventory): the JSON Schemas of
 * requests and answers (Fastify validates and serialises with them, and the
 * OpenAPI document is generated from them) and the mapping from the core's
 * OrderRecord to those shapes. Pure: no I/O.
 *
 * Extensions (TMF allows `@`-prefixed members): `@qbPlan` is the order's
 * per-step plan (step, domain, where, state, started, finished, error),
 * `@qbAgreementId` the agreement the order's contract signs, and
 * `@qbModifiedOrderId` the order a `modify` order changed.
 */
import { InvalidArgumentError } from '../../drivers/errors.js';
import type { ModifyOrderRecord } from '../core.js';
import type { OrderRecord, OrderState, PlanStep, ServiceState } from '../workflow/orders.js';

export const ORDER_BASE = '/tmf-api/serviceOrdering/v4';
export const INVENTORY_BASE = '/tmf-api/serviceInventory/v4';
export const ORDER_STATES: readonly OrderState[] = ['acknowledged', 'rejected', 'inProgress', 'pending', 'held', 'completed', 'failed', 'partial', 'cancelled', 'assessingCancellation', 'pendingCancellation'];
export const SERVICE_STATES: readonly ServiceState[] = ['feasibilityChecked', 'designed', 'reserved', 'inactive', 'active', 'terminated'];

// ------------------------------------------------------------------ schemas

const str = (extra: Record<string, unknown> = {}) => ({ type: 'string', ...extra });
const dateTime = { type: 'string', format: 'date-time' };
/** ISO 8601 duration of days, hours, minutes and seconds, e.g. PT2H, P1DT30M. */
export const DURATION_RE = /^P(?:(\d{1,5})D)?(?:T(?:(\d{1,6})H)?(?:(\d{1,8})M)?(?:(\d{1,9}(?:\.\d{1,3})?)S)?)?$/;

/** Characteristics of an ordered service: name -> schema of its value. */
const CHARACTERISTIC_VALUES: Record<string, Record<string, unknown>> = {
  from: str({ pattern: '^[^/\\s]+/[^/\\s]+$', description: 'DOMAIN/SITE' }),
  to: str({ pattern: '^[^/\\s]+/[^/\\s]+$', description: 'DOMAIN/SITE' }),
  qosClass: str({ pattern: '^[A-Za-z0-9_-]{1,32}$', description: 'a QoS class, e.g. EF' }),
  rateMbps: { type: 'number', exclusiveMinimum: 0, maximum: 10_000_000, description: 'Mbit/s' },
  maxLatencyMs: { type: 'number', exclusiveMinimum: 0, maximum: 100_000, description: 'end-to-end latency bound, ms' },
  start: { ...dateTime, description: 'start of the service window (default: now)' },
  duration: str({ pattern: DURATION_RE.source, description: 'ISO 8601 duration of the window (add) or of the change (modify), e.g. PT2H' }),
  objective: { type: 'string', enum: ['cheapest', 'lowest-latency', 'balanced'] },
};

export const characteristicIn = {
  type: 'object',
  additionalProperties: false,
  required: ['name', 'value'],
  properties: { name: { type: 'string', enum: Object.keys(CHARACTERISTIC_VALUES) }, value: {}, valueType: str({ maxLength: 32 }), '@type': str({ maxLength: 64 }) },
  allOf: Object.entries(CHARACTERISTIC_VALUES).map(([name, value]) => ({ if: { properties: { name: { const: name } } }, then: { properties: { value } } })),
};

export const relatedParty = {
  type: 'object',
  additionalProperties: false,
  required: ['id', 'role'],
  properties: { id: str({ pattern: '^[A-Za-z0-9._@-]{1,64}$' }), role: str({ maxLength: 32 }), name: str({ maxLength: 200 }), '@referredType': str({ maxLength: 64 }) },
};

/** POST /serviceOrder: ServiceOrder_Create with one item. */
export const serviceOrderCreate = {
  type: 'object',
  additionalProperties: false,
  required: ['serviceOrderItem'],
  properties: {
    externalId: str({ maxLength: 64 }),
    description: str({ maxLength: 500 }),
    relatedParty: { type: 'array', maxItems: 4, items: relatedParty },
    '@type': { type: 'string', enum: ['ServiceOrder'] },
    serviceOrderItem: {
      type: 'array',
      minItems: 1,
      maxItems: 1,
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['id', 'action', 'service'],
        properties: {
          id: str({ pattern: '^[A-Za-z0-9._-]{1,32}$' }),
          action: { type: 'string', enum: ['add', 'modify'] },
          '@type': { type: 'string', enum: ['ServiceOrderItem'] },
          service: {
            type: 'object',
            additionalProperties: false,
            properties: {
              id: str({ pattern: '^svc-[0-9a-f-]{36}$', description: 'the service to modify (action modify)' }),
              '@type': { type: 'string', enum: ['Service'] },
              serviceCharacteristic: { type: 'array', maxItems: 16, items: characteristicIn },
            },
          },
        },
      },
    },
  },
} as const;

export const characteristicOut = { type: 'object', properties: { name: str(), valueType: str(), value: {} } };
const stepError = { type: 'object', properties: { code: str(), message: str(), domain: str(), device: str() } };
const planStep = { type: 'object', properties: { step: str(), domain: str(), where: str(), state: str(), started: str(), finished: str(), error: stepError } };
export const errorMessage = { type: 'object', properties: { code: str(), reason: str(), message: str(), status: str(), timestamp: str() } };

export const serviceOrder = {
  type: 'object',
  properties: {
    id: str(),
    href: str(),
    externalId: str(),
    description: str(),
    state: { type: 'string', enum: ORDER_STATES },
    orderDate: str(),
    requestedStartDate: str(),
    requestedCompletionDate: str(),
    completionDate: str(),
    relatedParty: { type: 'array', items: { type: 'object', properties: { id: str(), role: str(), '@referredType': str() } } },
    serviceOrderItem: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          id: str(),
          action: str(),
          state: str(),
          service: { type: 'object', properties: { id: str(), href: str(), state: str(), '@type': str(), serviceCharacteristic: { type: 'array', items: characteristicOut } } },
          '@type': str(),
        },
      },
    },
    errorMessage: { type: 'array', items: errorMessage },
    '@qbPlan': { type: 'array', items: planStep },
    '@qbAgreementId': str(),
    '@qbModifiedOrderId': str(),
    '@type': str(),
  },
} as const;

export const service = {
  type: 'object',
  properties: {
    id: str(),
    href: str(),
    name: str(),
    state: { type: 'string', enum: SERVICE_STATES },
    startDate: str(),
    endDate: str(),
    serviceCharacteristic: { type: 'array', items: characteristicOut, description: 'from, to, qosClass, rateMbps (the rate now, boosted or not), orderedRateMbps, maxLatencyMs (the bound ordered), start and duration (the window), boostUntil while a boost runs; measuredRateMbps and measuredAt while the service is active and its originating domain measures it: the bytes its shaper on that domain\'s router sent (whole frames, layer 2) times 8 over the time between the last two samples of the counters, measuredAt the time of the later sample.' },
    relatedParty: serviceOrder.properties.relatedParty,
    serviceOrderItem: { type: 'array', items: { type: 'object', properties: { serviceOrderId: str(), serviceOrderHref: str(), itemId: str(), itemAction: str(), role: str() } } },
    '@type': str(),
  },
} as const;

/** The TMF error body. */
export const tmfError = {
  type: 'object',
  properties: { code: str(), reason: str(), message: str(), status: str(), '@type': str() },
} as const;

export const hubCreate = {
  type: 'object',
  additionalProperties: false,
  required: ['callback'],
  properties: { callback: str({ format: 'uri', pattern: '^https?://', maxLength: 2048 }), query: str({ maxLength: 500 }) },
} as const;
export const hub = { type: 'object', properties: { id: str(), callback: str(), query: str() } } as const;

/** `fields` query parameter: comma-separated top-level attributes. */
export const fieldsParam = str({ pattern: '^[A-Za-z@][A-Za-z0-9@]*(,[A-Za-z@][A-Za-z0-9@]*)*$', maxLength: 500, description: 'comma-separated attributes to return (id and href always are)' });

// ------------------------------------------------------------------ requests

/** What a valid POST /serviceOrder asks for. */
export type OrderRequest =
  | { action: 'add'; customer?: string; input: { from: string; to: string; qosClass: string; rateMbps: number; maxLatencyMs?: number; start?: number; durationMs: number; objective?: string } }
  | { action: 'modify'; customer?: string; serviceId: string; rateMbps: number; durationMs: number };

/** ms of an ISO 8601 duration (DURATION_RE), or undefined if it is not one. */
export function durationMs(s: string): number | undefined {
  const m = DURATION_RE.exec(s);
  if (!m || s === 'P' || s.endsWith('T')) return undefined;
  const [, d, h, min, sec] = m;
  return Math.round(((Number(d ?? 0) * 24 + Number(h ?? 0)) * 60 + Number(min ?? 0)) * 60_000 + Number(sec ?? 0) * 1000);
}

export type Body = { externalId?: string; description?: string; relatedParty?: Array<{ id: string; role: string }>; serviceOrderItem: Array<{ id: string; action: 'add' | 'modify'; service: { id?: string; serviceCharacteristic?: Array<{ name: string; value: unknown }> } }> };

/** The checks JSON Schema cannot say well (which characteristics an action needs); each error names the field. */
export function orderRequest(b: Body, at = 'serviceOrderItem[0].service'): OrderRequest {
  const item = b.serviceOrderItem[0]!;
  const chars = new Map<string, unknown>();
  for (const c of item.service.serviceCharacteristic ?? []) {
    if (chars.has(c.name)) throw new InvalidArgumentError(`${at}.serviceCharacteristic: ${c.name} is given twice`);
    chars.set(c.name, c.value);
  }
  const need = (names: string[]) => {
    for (const n of names) if (!chars.has(n)) throw new InvalidArgumentError(`${at}.serviceCharacteristic: ${n} is required for action ${item.action}`);
  };
  const dur = () => {
    const ms = durationMs(chars.get('duration') as string);
    if (!ms || ms <= 0) throw new InvalidArgumentError(`${at}.serviceCharacteristic[duration].value must be a positive ISO 8601 duration such as PT2H, got ${JSON.stringify(chars.get('duration'))}`);
    return ms;
  };
  const party = b.relatedParty?.filter((p) => p.role === 'customer');
  if (party && party.length > 1) throw new InvalidArgumentError('relatedParty: at most one party with role customer');
  const customer = party?.[0]?.id;
  if (item.action === 'modify') {
    if (!item.service.id) throw new InvalidArgumentError(`${at}.id is required for action modify: the service to change`);
    need(['rateMbps', 'duration']);
    const extra = [...chars.keys()].find((k) => k !== 'rateMbps' && k !== 'duration');
    if (extra) throw new InvalidArgumentError(`${at}.serviceCharacteristic: ${extra} cannot be modified (action modify changes rateMbps for a duration)`);
    return { action: 'modify', customer, serviceId: item.service.id, rateMbps: chars.get('rateMbps') as number, durationMs: dur() };
  }
  if (item.service.id) throw new InvalidArgumentError(`${at}.id must be absent for action add (the broker names the new service)`);
  need(['from', 'to', 'qosClass', 'rateMbps', 'duration']);
  const input: Extract<OrderRequest, { action: 'add' }>['input'] = { from: chars.get('from') as string, to: chars.get('to') as string, qosClass: chars.get('qosClass') as string, rateMbps: chars.get('rateMbps') as number, durationMs: dur() };
  if (chars.has('maxLatencyMs')) input.maxLatencyMs = chars.get('maxLatencyMs') as number;
  if (chars.has('objective')) input.objective = chars.get('objective') as string;
  if (chars.has('start')) {
    const t = Date.parse(chars.get('start') as string);
    if (!Number.isFinite(t)) throw new InvalidArgumentError(`${at}.serviceCharacteristic[start].value must be an ISO 8601 date-time, got ${JSON.stringify(chars.get('start'))}`);
    input.start = t;
  }
  return { action: 'add', customer, input };
}

// ------------------------------------------------------------------ answers

export const iso = (ms: number) => new Date(ms).toISOString();
export const isoDuration = (ms: number) => `PT${ms % 1000 ? (ms / 1000).toFixed(3) : ms / 1000}S`;
export const orderHref = (id: string) => `${ORDER_BASE}/serviceOrder/${id}`;
export const serviceHref = (id: string) => `${INVENTORY_BASE}/service/${id}`;
export const party = (customer: string) => [{ id: customer, role: 'customer', '@referredType': 'Organization' }];
const FINISHED: readonly OrderState[] = ['completed', 'failed', 'rejected', 'cancelled', 'partial'];
export const endpoint = (e: { domain: string; site?: string; border?: string }) => `${e.domain}/${e.site ?? e.border}`;

function step(s: PlanStep) {
  return { step: s.step, domain: s.domain, where: s.where, state: s.state, ...(s.started ? { started: s.started } : {}), ...(s.finished ? { finished: s.finished } : {}), ...(s.error ? { error: s.error } : {}) };
}

/** The order as a TMF641 ServiceOrder. */
export function orderToTmf(o: OrderRecord) {
  const r = o.request;
  const chars = [
    { name: 'from', valueType: 'string', value: endpoint(r.from) },
    { name: 'to', valueType: 'string', value: endpoint(r.to) },
    { name: 'qosClass', valueType: 'string', value: r.qosClass },
    { name: 'rateMbps', valueType: 'number', value: r.rateMbps },
    ...(r.maxLatencyMs !== undefined ? [{ name: 'maxLatencyMs', valueType: 'number', value: r.maxLatencyMs }] : []),
    { name: 'start', valueType: 'string', value: iso(r.start) },
    { name: 'duration', valueType: 'string', value: isoDuration(r.end - r.start) },
    ...(r.objective ? [{ name: 'objective', valueType: 'string', value: r.objective }] : []),
  ];
  const done = FINISHED.includes(o.state) ? o.history.find((h) => h.state === o.state)?.at : undefined;
  return {
    id: o.id,
    href: orderHref(o.id),
    state: o.state,
    orderDate: o.createdAt,
    requestedStartDate: iso(r.start),
    requestedCompletionDate: iso(r.end),
    ...(done ? { completionDate: done } : {}),
    ...(o.externalId ? { externalId: o.externalId } : {}),
    ...(o.description ? { description: o.description } : {}),
    relatedParty: party(o.customer),
    serviceOrderItem: [{ id: '1', action: 'add', state: o.state, service: { id: o.service.id, href: serviceHref(o.service.id), state: o.service.state, '@type': 'Service', serviceCharacteristic: chars }, '@type': 'ServiceOrderItem' }],
    ...(o.error ? { errorMessage: [{ code: o.error.code, reason: o.error.domain ? `failed in ${o.error.domain}` : 'failed', message: o.error.message, status: o.state, timestamp: o.updatedAt }] } : {}),
    '@qbPlan': o.plan.map(step),
    '@qbAgreementId': o.agreementId,
    '@type': 'ServiceOrder',
  };
}

/** A modify order as a TMF641 ServiceOrder. */
export function modifyToTmf(m: ModifyOrderRecord, service?: { state: ServiceState }) {
  return {
    id: m.id,
    href: orderHref(m.id),
    ...(m.externalId ? { externalId: m.externalId } : {}),
    ...(m.description ? { description: m.description } : {}),
    state: m.state,
    orderDate: m.orderDate,
    ...(m.completionDate ? { completionDate: m.completionDate } : {}),
    relatedParty: party(m.customer),
    serviceOrderItem: [
      {
        id: '1',
        action: 'modify',
        state: m.state,
        service: { id: m.serviceId, href: serviceHref(m.serviceId), ...(service ? { state: service.state } : {}), '@type': 'Service', serviceCharacteristic: [{ name: 'rateMbps', valueType: 'number', value: m.rateMbps }, { name: 'duration', valueType: 'string', value: isoDuration(m.durationMs) }] },
        '@type': 'ServiceOrderItem',
      },
    ],
    ...(m.error ? { errorMessage: [{ code: m.error.code, reason: 'modification refused', message: m.error.message, status: m.state, timestamp: m.completionDate ?? m.orderDate }] } : {}),
    '@qbModifiedOrderId': m.orderId,
    '@type': 'ServiceOrder',
  };
}

/** The service an order created, as a TMF638 Service: state, class, rate now, latency bound, window. */
/** The characteristics a measured rate adds to a service (last in its list). */
function measuredCharacteristics(m: NonNullable<OrderRecord['measured']>) {
  return [
    { name: 'measuredRateMbps', valueType: 'number', value: Math.round(m.rateMbps * 1000) / 1000 },
    { name: 'measuredAt', valueType: 'string', value: m.at },
  ];
}

/** A stored service view (SERVICE_VIEW) with the measured rate this process knows added, as serviceToTmf would have rendered it; a service no longer active is left as stored. */
export function withMeasuredView(view: Buffer, m: NonNullable<OrderRecord['measured']>): Buffer {
  const v = JSON.parse(view.toString()) as { state?: string; serviceCharacteristic: unknown[] };
  if (v.state !== 'active') return view;
  v.serviceCharacteristic.push(...measuredCharacteristics(m));
  return Buffer.from(JSON.stringify(v));
}

export function serviceToTmf(o: OrderRecord) {
  const r = o.request;
  const boosted = o.boost?.state === 'active';
  return {
    id: o.service.id,
    href: serviceHref(o.service.id),
    name: `${r.qosClass} ${endpoint(r.from)} -> ${endpoint(r.to)}`,
    state: o.service.state,
    startDate: iso(r.start),
    endDate: iso(r.end),
    serviceCharacteristic: [
      { name: 'from', valueType: 'string', value: endpoint(r.from) },
      { name: 'to', valueType: 'string', value: endpoint(r.to) },
      { name: 'qosClass', valueType: 'string', value: r.qosClass },
      { name: 'rateMbps', valueType: 'number', value: o.service.rateMbps },
      { name: 'orderedRateMbps', valueType: 'number', value: r.rateMbps },
      ...(r.maxLatencyMs !== undefined ? [{ name: 'maxLatencyMs', valueType: 'number', value: r.maxLatencyMs }] : []),
      { name: 'start', valueType: 'string', value: iso(r.start) },
      { name: 'duration', valueType: 'string', value: isoDuration(r.end - r.start) },
      ...(boosted ? [{ name: 'boostUntil', valueType: 'string', value: iso(o.boost!.until) }] : []),
      ...(o.measured ? measuredCharacteristics(o.measured) : []),
    ],
    relatedParty: party(o.customer),
    serviceOrderItem: [{ serviceOrderId: o.id, serviceOrderHref: orderHref(o.id), itemId: '1', itemAction: 'add', role: 'creator' }],
    '@type': 'Service',
  };
}

/**
 * The TMF638 view of an order's service as stored with the order (RecordStore
 * views): a list page without `fields` or a filter is these strings joined.
 * Bump `revision` whenever serviceToTmf answers differently for the same
 * record (test/daemon/northbound/views.test.ts pins it): stored views of an
 * older revision are then rendered again on read and written back.
 */
export const SERVICE_VIEW = { revision: 1, render: (doc: unknown) => serviceToTmf(doc as OrderRecord) } as const;

/** Keep the attributes `fields` names (id, href and @type always); undefined `fields`: everything. */
export function selectFields<T extends Record<string, unknown>>(x: T, fields: string | undefined, known: readonly string[]): Partial<T> {
  if (fields === undefined) return x;
  const want = fields.split(',');
  const bad = want.find((f) => !known.includes(f));
  if (bad) throw new InvalidArgumentError(`fields: unknown attribute ${JSON.stringify(bad)}; expected some of ${known.join(', ')}`);
  const out: Record<string, unknown> = {};
  for (const k of ['id', 'href', '@type', ...want]) if (x[k] !== undefined) out[k] = x[k];
  return out as Partial<T>;
}
