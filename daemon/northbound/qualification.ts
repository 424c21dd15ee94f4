/**
 * TMF645 v4 Service Qualification: `/checkServiceQualification` (POST, GET
 * list, GET by id). Can this service be had, before ordering it? The
 * broker computes the paths over the advertised graph with the pricing
 * scenarios (as a quote does; nothing is held): qualified with the paths
 * that meet it (@qbPaths), or unqualified with the reason; with
 * provideAlternative, what can be had instead (alternate).
 */
import type { FastifyInstance } from 'fastify';
import { InvalidArgumentError } from '../../drivers/errors.js';
import type { QualificationRecord } from '../core.js';
import type { AskedService, PricedPath } from '../workflow/quotes.js';
import { fieldsQuery, idParams, listQuery, owned, responses, sendPage, type RouteContext } from './context.js';
import { characteristicIn, characteristicOut, isoDuration, iso, orderRequest, party, relatedParty, selectFields } from './tmf.js';

export const QUALIFICATION_BASE = '/tmf-api/serviceQualificationManagement/v4';
const str = (extra: Record<string, unknown> = {}) => ({ type: 'string', ...extra });

const create = {
  type: 'object',
  additionalProperties: false,
  required: ['serviceQualificationItem'],
  properties: {
    description: str({ maxLength: 500 }),
    externalId: str({ maxLength: 64 }),
    provideAlternative: { type: 'boolean', default: false },
    relatedParty: { type: 'array', maxItems: 4, items: relatedParty },
    '@type': { type: 'string', enum: ['CheckServiceQualification'] },
    serviceQualificationItem: {
      type: 'array',
      minItems: 1,
      maxItems: 1,
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['id', 'service'],
        properties: {
          id: str({ pattern: '^[A-Za-z0-9._-]{1,32}$' }),
          '@type': { type: 'string', enum: ['ServiceQualificationItem'] },
          service: { type: 'object', additionalProperties: false, required: ['serviceCharacteristic'], properties: { '@type': { type: 'string', enum: ['Service'] }, serviceCharacteristic: { type: 'array', maxItems: 16, items: characteristicIn } } },
        },
      },
    },
  },
} as const;

/** One priced path, as the API shows it. */
export const pricedPath = {
  type: 'object',
  properties: {
    scenarios: { type: 'array', items: str() },
    domains: { type: 'array', items: str() },
    latencyMs: { type: 'number' },
    jitterMs: { type: 'number' },
    loss: { type: 'number' },
    price: { type: 'object', properties: { unit: str(), value: { type: 'number' } } },
    segments: { type: 'array', items: { type: 'object', properties: { domain: str(), unitPerMbpsHour: { type: 'number' }, charge: { type: 'number' } } } },
  },
} as const;
const serviceOut = { type: 'object', properties: { serviceCharacteristic: { type: 'array', items: characteristicOut }, '@type': str() } };
const out = {
  type: 'object',
  properties: {
    id: str(),
    href: str(),
    state: str(),
    checkServiceQualificationDate: str(),
    effectiveQualificationDate: str(),
    provideAlternative: { type: 'boolean' },
    qualificationResult: { type: 'string', enum: ['qualified', 'unqualified', 'alternate'] },
    relatedParty: { type: 'array', items: { type: 'object', properties: { id: str(), role: str(), '@referredType': str() } } },
    serviceQualificationItem: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          id: str(),
          state: str(),
          qualificationItemResult: str(),
          service: serviceOut,
          eligibilityUnavailabilityReason: { type: 'array', items: { type: 'object', properties: { code: str(), label: str() } } },
          alternateServiceProposal: { type: 'array', items: { type: 'object', properties: { id: str(), '@qbRelaxed': str(), service: serviceOut, '@qbPaths': { type: 'array', items: pricedPath } } } },
          '@qbPaths': { type: 'array', items: pricedPath, description: 'the paths that meet the request, with the scenarios that chose them and their price now' },
          '@type': str(),
        },
      },
    },
    '@type': str(),
  },
} as const;
const FIELDS = Object.keys(out.properties);

/** The asked service as characteristics. */
export function askedChars(a: AskedService) {
  return [
    { name: 'from', valueType: 'string', value: a.from },
    { name: 'to', valueType: 'string', value: a.to },
    { name: 'qosClass', valueType: 'string', value: a.qosClass },
    { name: 'rateMbps', valueType: 'number', value: a.rateMbps },
    ...(a.maxLatencyMs !== undefined ? [{ name: 'maxLatencyMs', valueType: 'number', value: a.maxLatencyMs }] : []),
    { name: 'start', valueType: 'string', value: iso(a.start) },
    { name: 'duration', valueType: 'string', value: isoDuration(a.end - a.start) },
  ];
}

export function pathToTmf(p: PricedPath) {
  return { scenarios: p.scenarios, domains: p.domains, latencyMs: p.latencyMs, jitterMs: p.jitterMs, loss: p.loss, price: { unit: p.currency, value: p.total }, segments: p.segments };
}

function toTmf(c: QualificationRecord) {
  return {
    id: c.id,
    href: `${QUALIFICATION_BASE}/checkServiceQualification/${c.id}`,
    state: 'done',
    checkServiceQualificationDate: c.createdAt,
    effectiveQualificationDate: c.createdAt,
    provideAlternative: c.provideAlternative,
    qualificationResult: c.result,
    relatedParty: party(c.customer),
    serviceQualificationItem: [
      {
        id: '1',
        state: 'done',
        qualificationItemResult: c.result,
        service: { serviceCharacteristic: askedChars(c.request), '@type': 'Service' },
        ...(c.reason ? { eligibilityUnavailabilityReason: [{ code: c.reason.code, label: c.reason.message }] } : {}),
        ...(c.alternatives.length ? { alternateServiceProposal: c.alternatives.map((a, i) => ({ id: String(i + 1), '@qbRelaxed': a.relaxed, service: { serviceCharacteristic: askedChars(a.request), '@type': 'Service' }, '@qbPaths': a.options.map(pathToTmf) })) } : {}),
        '@qbPaths': c.options.map(pathToTmf),
        '@type': 'ServiceQualificationItem',
      },
    ],
    '@type': 'CheckServiceQualification',
  };
}

type CreateBody = { provideAlternative?: boolean; relatedParty?: Array<{ id: string; role: string }>; serviceQualificationItem: Array<{ id: string; service: { serviceCharacteristic: Array<{ name: string; value: unknown }> } }> };

export async function registerQualification(app: FastifyInstance, ctx: RouteContext): Promise<void> {
  app.post<{ Body: CreateBody }>(
    `${QUALIFICATION_BASE}/checkServiceQualification`,
    { schema: { summary: 'Can this service be had? With provideAlternative: what can instead', tags: ['checkServiceQualification'], body: create, response: responses(201, out, 'the answer: qualified (with the paths), unqualified (with the reason) or alternate') } },
    async (req, reply) => {
      const p = ctx.principal(req);
      const item = req.body.serviceQualificationItem[0]!;
      const r = orderRequest({ relatedParty: req.body.relatedParty, serviceOrderItem: [{ id: item.id, action: 'add', service: item.service }] }, 'serviceQualificationItem[0].service');
      if (r.action !== 'add') throw new InvalidArgumentError('serviceQualificationItem[0]: a new service only');
      if (r.customer !== undefined && p.customer !== undefined && r.customer !== p.customer) throw new InvalidArgumentError(`relatedParty: a customer key asks for its own customer (${p.customer}) only, got ${JSON.stringify(r.customer)}`);
      const c = await ctx.core().qualify({ ...r.input, customer: p.customer ?? r.customer ?? 'operator' }, req.body.provideAlternative === true);
      return reply.code(201).header('location', `${QUALIFICATION_BASE}/checkServiceQualification/${c.id}`).send(toTmf(c));
    },
  );

  app.get<{ Querystring: { fields?: string; offset: number; limit: number } }>(
    `${QUALIFICATION_BASE}/checkServiceQualification`,
    { schema: { summary: 'List qualification checks (a customer key: its own), oldest first', tags: ['checkServiceQualification'], querystring: listQuery({}), response: responses(200, { type: 'array', items: out }, 'the checks; X-Total-Count has how many') } },
    async (req, reply) => {
      const q = req.query;
      selectFields({}, q.fields, FIELDS);
      return sendPage(reply, await ctx.core().pageQualifications({ customer: ctx.principal(req).customer, offset: q.offset, limit: q.limit }), q.fields, FIELDS, (c) => toTmf(c));
    },
  );

  app.get<{ Params: { id: string }; Querystring: { fields?: string } }>(
    `${QUALIFICATION_BASE}/checkServiceQualification/:id`,
    { schema: { summary: 'One qualification check', tags: ['checkServiceQualification'], params: idParams('^chq-[0-9a-f-]{36}$'), querystring: fieldsQuery, response: responses(200, out, 'the check') } },
    async (req) => {
      const c = owned(ctx, ctx.principal(req), 'checkServiceQualification', req.params.id, await ctx.core().getQualification(req.params.id));
      return selectFields(toTmf(c), req.query.fields, FIELDS);
    },
  );
}
