/**
 * TMF648 v4 Quote Management: `/quote` (POST, GET list, GET by id). A quote
 * is the priced scenarios of a service before ordering it: one quote item
 * per path (cheapest, fastest, balanced, and the other candidates), each
 * with its price now from the advertised prices and utilisation; or, for
 * action modify, the price of a rate change of an existing service for a
 * while (the boost, priced before confirming it). Nothing is held: the
 * order's agreement asks every provider again.
 */
import type { FastifyInstance } from 'fastify';
import type { QuoteRecord } from '../core.js';
import { fieldsQuery, idParams, listQuery, owned, responses, sendPage, type RouteContext } from './context.js';
import { askedChars, pathToTmf, pricedPath } from './qualification.js';
import { characteristicIn, characteristicOut, errorMessage, isoDuration, orderRequest, party, relatedParty, selectFields, serviceHref } from './tmf.js';
import { InvalidArgumentError } from '../../drivers/errors.js';

export const QUOTE_BASE = '/tmf-api/quoteManagement/v4';
const str = (extra: Record<string, unknown> = {}) => ({ type: 'string', ...extra });
const QUOTE_STATES = ['approved', 'rejected'];

const create = {
  type: 'object',
  additionalProperties: false,
  required: ['quoteItem'],
  properties: {
    description: str({ maxLength: 500 }),
    externalId: str({ maxLength: 64 }),
    relatedParty: { type: 'array', maxItems: 4, items: relatedParty },
    '@type': { type: 'string', enum: ['Quote'] },
    quoteItem: {
      type: 'array',
      minItems: 1,
      maxItems: 1,
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['id', 'action', 'product'],
        properties: {
          id: str({ pattern: '^[A-Za-z0-9._-]{1,32}$' }),
          action: { type: 'string', enum: ['add', 'modify'] },
          '@type': { type: 'string', enum: ['QuoteItem'] },
          product: {
            type: 'object',
            additionalProperties: false,
            properties: {
              id: str({ pattern: '^svc-[0-9a-f-]{36}$', description: 'the service to change (action modify)' }),
              '@type': str({ maxLength: 64 }),
              productCharacteristic: { type: 'array', maxItems: 16, items: characteristicIn, description: 'as a service order\'s serviceCharacteristic: add needs from, to, qosClass, rateMbps, duration; modify rateMbps and duration' },
            },
          },
        },
      },
    },
  },
} as const;

const price = { type: 'object', properties: { priceType: str(), name: str(), price: { type: 'object', properties: { dutyFreeAmount: { type: 'object', properties: { unit: str(), value: { type: 'number' } } } } } } };
const out = {
  type: 'object',
  properties: {
    id: str(),
    href: str(),
    state: { type: 'string', enum: QUOTE_STATES },
    quoteDate: str(),
    description: str(),
    relatedParty: { type: 'array', items: { type: 'object', properties: { id: str(), role: str(), '@referredType': str() } } },
    quoteItem: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          id: str(),
          action: str(),
          state: str(),
          product: { type: 'object', properties: { id: str(), href: str(), productCharacteristic: { type: 'array', items: characteristicOut }, '@type': str() } },
          quoteItemPrice: { type: 'array', items: price },
          '@qbPath': pricedPath,
          '@type': str(),
        },
      },
    },
    errorMessage: { type: 'array', items: errorMessage },
    '@qbModifiedOrderId': str(),
    '@type': str(),
  },
} as const;
const FIELDS = Object.keys(out.properties);

function toTmf(q: QuoteRecord) {
  const action = q.modify ? 'modify' : 'add';
  const chars = q.modify
    ? [
        { name: 'rateMbps', valueType: 'number', value: q.modify.rateMbps },
        { name: 'extraRateMbps', valueType: 'number', value: q.modify.extraMbps },
        { name: 'duration', valueType: 'string', value: isoDuration(q.modify.durationMs) },
      ]
    : askedChars(q.request);
  const product = { ...(q.modify ? { id: q.modify.serviceId, href: serviceHref(q.modify.serviceId) } : {}), productCharacteristic: chars, '@type': 'Service' };
  return {
    id: q.id,
    href: `${QUOTE_BASE}/quote/${q.id}`,
    state: q.state,
    quoteDate: q.createdAt,
    description: q.modify ? `price of ${q.modify.rateMbps} Mbit/s (${q.modify.extraMbps} more) for ${q.modify.durationMs / 1000} s over the service's path, now` : 'the pricing scenarios of the paths that meet the request, priced now; nothing is held',
    relatedParty: party(q.customer),
    quoteItem: (q.options.length ? q.options : [undefined]).map((o, i) => ({
      id: String(i + 1),
      action,
      state: q.state,
      product,
      ...(o
        ? {
            quoteItemPrice: [{ priceType: 'oneTime', name: o.scenarios.length ? o.scenarios.join(',') : 'alternative', price: { dutyFreeAmount: { unit: o.currency, value: o.total } } }],
            '@qbPath': pathToTmf(o),
          }
        : {}),
      '@type': 'QuoteItem',
    })),
    ...(q.error ? { errorMessage: [{ code: q.error.code, reason: 'cannot be had', message: q.error.message, status: q.state, timestamp: q.createdAt }] } : {}),
    ...(q.modify ? { '@qbModifiedOrderId': q.modify.orderId } : {}),
    '@type': 'Quote',
  };
}

type CreateBody = { relatedParty?: Array<{ id: string; role: string }>; quoteItem: Array<{ id: string; action: 'add' | 'modify'; product: { id?: string; productCharacteristic?: Array<{ name: string; value: unknown }> } }> };

export async function registerQuote(app: FastifyInstance, ctx: RouteContext): Promise<void> {
  app.post<{ Body: CreateBody }>(
    `${QUOTE_BASE}/quote`,
    { schema: { summary: 'Price a service (action add: the scenarios\' paths) or a rate change of one (action modify: the boost) before ordering', tags: ['quote'], body: create, response: responses(201, out, 'the quote: approved with a price per path, or rejected with the reason') } },
    async (req, reply) => {
      const p = ctx.principal(req);
      const item = req.body.quoteItem[0]!;
      const r = orderRequest({ relatedParty: req.body.relatedParty, serviceOrderItem: [{ id: item.id, action: item.action, service: { id: item.product.id, serviceCharacteristic: item.product.productCharacteristic } }] }, 'quoteItem[0].product');
      if (r.customer !== undefined && p.customer !== undefined && r.customer !== p.customer) throw new InvalidArgumentError(`relatedParty: a customer key asks for its own customer (${p.customer}) only, got ${JSON.stringify(r.customer)}`);
      let q: QuoteRecord;
      if (r.action === 'modify') {
        const o = await ctx.orderFor(p, `ord-${r.serviceId.slice(4)}`, 'service', r.serviceId);
        q = await ctx.core().quoteModify(o.id, { rateMbps: r.rateMbps, durationMs: r.durationMs });
      } else q = await ctx.core().quote({ ...r.input, customer: p.customer ?? r.customer ?? 'operator' });
      return reply.code(201).header('location', `${QUOTE_BASE}/quote/${q.id}`).send(toTmf(q));
    },
  );

  app.get<{ Querystring: { state?: string; fields?: string; offset: number; limit: number } }>(
    `${QUOTE_BASE}/quote`,
    { schema: { summary: 'List quotes (a customer key: its own), oldest first', tags: ['quote'], querystring: listQuery({ state: { type: 'string', enum: QUOTE_STATES } }), response: responses(200, { type: 'array', items: out }, 'the quotes; X-Total-Count has how many match') } },
    async (req, reply) => {
      const q = req.query;
      selectFields({}, q.fields, FIELDS);
      return sendPage(reply, await ctx.core().pageQuotes({ customer: ctx.principal(req).customer, state: q.state, offset: q.offset, limit: q.limit }), q.fields, FIELDS, toTmf);
    },
  );

  app.get<{ Params: { id: string }; Querystring: { fields?: string } }>(
    `${QUOTE_BASE}/quote/:id`,
    { schema: { summary: 'One quote', tags: ['quote'], params: idParams('^quo-[0-9a-f-]{36}$'), querystring: fieldsQuery, response: responses(200, out, 'the quote') } },
    async (req) => selectFields(toTmf(owned(ctx, ctx.principal(req), 'quote', req.params.id, await ctx.core().getQuote(req.params.id))), req.query.fields, FIELDS),
  );
}
