/**
 * The few API resources the portal needs beyond TMF641/TMF638, each the
 * smallest that serves it (the portal uses them like any other client, with
 * the same key):
 * - TMF648 `POST /quote`: the price of a boost of an existing service (one
 *   quote item, action modify, rateMbps and duration), not kept;
 * - TMF651 `GET /agreement/{id}/document`: the signed contract of a service
 *   (or of its latest boost) as the document itself;
 * - `GET /qos-broker/v1/topology`, operators only: sessions, known domains and
 *   what each domain advertises (transits and links with capacity and what is
 *   still available per class), read through the core.
 * Tenancy as everywhere: another customer's service or agreement is as absent
 * as one that does not exist, and the attempt is logged and counted.
 */
import { randomUUID } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { InvalidArgumentError } from '../../drivers/errors.js';
import type { BrokerCore, Principal } from '../core.js';
import { NorthboundError } from '../errors.js';
import { OrderNotFoundError } from '../workflow/orders.js';
import { DURATION_RE, durationMs, tmfError } from './tmf.js';

export const QUOTE_BASE = '/tmf-api/quoteManagement/v4';
export const AGREEMENT_BASE = '/tmf-api/agreementManagement/v4';
export const TOPOLOGY_PATH = '/qos-broker/v1/topology';

/** What the routes need from the API they are part of. */
export interface PortalApiContext {
  core: () => BrokerCore;
  /** Log and count a cross-tenant attempt, then throw the not-found answer. */
  crossTenant: (p: Principal, resource: string, id: string) => never;
}

const str = (extra: Record<string, unknown> = {}) => ({ type: 'string', ...extra });
const num = { type: 'number' };
const errors = {
  400: { description: 'invalid request: the message names the field and the rule', ...tmfError },
  401: { description: 'no valid API key', ...tmfError },
  404: { description: 'no such resource (or another customer\'s)', ...tmfError },
  429: { description: 'rate limit of the API key; see Retry-After', ...tmfError },
};

const money = { type: 'object', properties: { unit: str(), value: num } };
const quotePrice = { type: 'object', properties: { priceType: str(), description: str(), price: { type: 'object', properties: { dutyFreeAmount: money } } } };
const characteristic = {
  type: 'object',
  additionalProperties: false,
  required: ['name', 'value'],
  properties: { name: { type: 'string', enum: ['rateMbps', 'duration'] }, value: {}, valueType: str({ maxLength: 32 }) },
  allOf: [
    { if: { properties: { name: { const: 'rateMbps' } } }, then: { properties: { value: { type: 'number', exclusiveMinimum: 0, maximum: 10_000_000 } } } },
    { if: { properties: { name: { const: 'duration' } } }, then: { properties: { value: { type: 'string', pattern: DURATION_RE.source } } } },
  ],
};

/** POST /quote: one item, action modify, the service and its new rate for a duration. */
const quoteCreate = {
  type: 'object',
  additionalProperties: false,
  required: ['quoteItem'],
  properties: {
    description: str({ maxLength: 500 }),
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
          action: { type: 'string', enum: ['modify'] },
          '@type': { type: 'string', enum: ['QuoteItem'] },
          product: {
            type: 'object',
            additionalProperties: false,
            required: ['id', 'productCharacteristic'],
            properties: {
              id: str({ pattern: '^svc-[0-9a-f-]{36}$', description: 'the service to boost' }),
              '@referredType': { type: 'string', enum: ['Service'] },
              productCharacteristic: { type: 'array', minItems: 2, maxItems: 2, items: characteristic },
            },
          },
        },
      },
    },
  },
} as const;

const quote = {
  type: 'object',
  properties: {
    id: str(),
    href: str(),
    state: str(),
    quoteDate: str(),
    quoteItem: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          id: str(),
          action: str(),
          state: str(),
          product: { type: 'object', properties: { id: str(), '@referredType': str(), productCharacteristic: { type: 'array', items: { type: 'object', properties: { name: str(), valueType: str(), value: {} } } } } },
          quoteItemPrice: { type: 'array', items: quotePrice },
        },
      },
    },
    quoteTotalPrice: { type: 'array', items: quotePrice },
    '@qbSegments': { type: 'array', items: { type: 'object', properties: { domain: str(), unitPerMbpsHour: num, charge: num } } },
    '@qbExtraMbps': num,
    '@type': str(),
  },
} as const;

const peer = { type: 'object', properties: { domain: str(), address: { type: ['string', 'null'] }, state: str(), direction: { type: ['string', 'null'] }, since: str(), lastError: { type: ['string', 'null'] } } };
const domainView = { type: 'object', properties: { domain: str(), self: { type: 'boolean' }, seq: { type: ['number', 'null'] }, expiresAt: { type: ['string', 'null'] }, withdrawn: { type: 'boolean' }, classes: { type: 'array', items: str() } } };
const classes = { type: 'object', additionalProperties: { type: 'object', properties: { availableMbps: num, capacityMbps: num, latencyMs: num, jitterMs: num, loss: num } } };
const advert = {
  type: 'object',
  properties: {
    origin: str(),
    seq: num,
    expiresAt: str(),
    borders: { type: 'array', items: str() },
    sites: { type: 'array', items: { type: 'object', properties: { id: str(), borders: { type: 'array', items: str() } } } },
    transits: { type: 'array', items: { type: 'object', properties: { from: str(), to: str(), bidirectional: { type: 'boolean' }, classes } } },
    links: { type: 'array', items: { type: 'object', properties: { border: str(), peerDomain: str(), peerBorder: str(), classes } } },
    prices: { type: 'object', properties: { currency: str(), perMbpsHour: { type: 'object', additionalProperties: num } } },
  },
};
const topology = { type: 'object', properties: { domain: str(), peers: { type: 'array', items: peer }, domains: { type: 'array', items: domainView }, adverts: { type: 'array', items: advert } } } as const;

type QuoteBody = { description?: string; quoteItem: Array<{ id: string; action: 'modify'; product: { id: string; productCharacteristic: Array<{ name: 'rateMbps' | 'duration'; value: unknown }> } }> };

/** Register the routes on the API app. */
export function portalApiRoutes(app: FastifyInstance, ctx: PortalApiContext): void {
  const principal = (req: FastifyRequest) => req.principal!;
  const notFound = (what: string, id: string) => new NorthboundError('QB_NORTHBOUND_NOT_FOUND', `no ${what} ${id}`);

  app.post<{ Body: QuoteBody }>(
    `${QUOTE_BASE}/quote`,
    { schema: { summary: 'The price of a boost of a service (one quote item, action modify: rateMbps for a duration), before ordering it', tags: ['quote'], body: quoteCreate, response: { 201: { description: 'the quote, priced now', ...quote }, ...errors } } },
    async (req, reply) => {
      const p = principal(req);
      const item = req.body.quoteItem[0]!;
      const chars = new Map(item.product.productCharacteristic.map((c) => [c.name, c.value]));
      if (chars.size !== 2) throw new InvalidArgumentError('quoteItem[0].product.productCharacteristic: rateMbps and duration, each once');
      const ms = durationMs(chars.get('duration') as string);
      if (!ms) throw new InvalidArgumentError(`quoteItem[0].product.productCharacteristic[name=duration].value must be a positive ISO 8601 duration such as PT2H, got ${JSON.stringify(chars.get('duration'))}`);
      const serviceId = item.product.id;
      let q;
      try {
        const o = await ctx.core().getOrder(`ord-${serviceId.slice(4)}`);
        if (p.customer !== undefined && o.customer !== p.customer) ctx.crossTenant(p, 'service', serviceId);
        q = await ctx.core().quoteBoost(o.id, { rateMbps: chars.get('rateMbps') as number, durationMs: ms });
      } catch (err) {
        if (err instanceof OrderNotFoundError) throw notFound('service', serviceId);
        throw err;
      }
      const id = `quote-${randomUUID()}`;
      const price = [{ priceType: 'oneTime', description: `${q.extraMbps} Mbit/s more for ${ms / 1000} s`, price: { dutyFreeAmount: { unit: q.currency, value: q.total } } }];
      return reply.code(201).send({
        id,
        href: `${QUOTE_BASE}/quote/${id}`,
        state: 'approved',
        quoteDate: new Date().toISOString(),
        quoteItem: [{ id: item.id, action: 'modify', state: 'approved', product: { id: serviceId, '@referredType': 'Service', productCharacteristic: [{ name: 'rateMbps', valueType: 'number', value: q.rateMbps }, { name: 'duration', valueType: 'string', value: chars.get('duration') }] }, quoteItemPrice: price }],
        quoteTotalPrice: price,
        '@qbSegments': q.segments,
        '@qbExtraMbps': q.extraMbps,
        '@type': 'Quote',
      });
    },
  );

  app.get<{ Params: { id: string } }>(
    `${AGREEMENT_BASE}/agreement/:id/document`,
    {
      schema: {
        summary: 'The signed contract of a service (its @qbAgreementId) or of its latest boost, as the document itself',
        tags: ['agreement'],
        params: { type: 'object', required: ['id'], properties: { id: str({ pattern: '^agr-[A-Za-z0-9._@-]{1,96}$' }) } },
        response: { 200: { description: 'the signed contract: a JWS in the JSON General Serialization (payload and every provider\'s signature)', content: { 'application/jose+json': { schema: { type: 'object', additionalProperties: true } } } }, ...errors },
      },
    },
    async (req, reply) => {
      const p = principal(req);
      const id = req.params.id;
      const found = await ctx.core().contract(id);
      if (!found) throw notFound('agreement', id);
      if (p.customer !== undefined && found.order.customer !== p.customer) ctx.crossTenant(p, 'agreement', id);
      // a JWS in the JSON serialization: application/jose+json (RFC 7515 section 9.2.2)
      return reply.type('application/jose+json').header('content-disposition', `attachment; filename="${id}.json"`).send(JSON.stringify(found.contract));
    },
  );

  app.get(
    TOPOLOGY_PATH,
    { schema: { summary: 'Operators: the domain graph (sessions with peers, known domains, what each advertises with capacity and availability per class)', tags: ['operator'], response: { 200: { description: 'the domain graph', ...topology }, 403: { description: 'a customer key', ...tmfError }, 401: errors[401], 429: errors[429] } } },
    async (req) => {
      if (principal(req).role !== 'operator') throw new NorthboundError('QB_NORTHBOUND_FORBIDDEN', `${TOPOLOGY_PATH} is for operators; this key is a customer's`);
      return ctx.core().topology();
    },
  );
}
