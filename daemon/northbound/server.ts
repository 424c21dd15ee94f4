/**
 * The northbound REST API of a provider daemon (the "customer care" face):
 * TMF641 service ordering (`/serviceOrder`, `/hub`) and TMF638 service
 * inventory (`/service`) over Fastify, every route with JSON Schema for its
 * input (validated) and output (serialised), the OpenAPI 3 document generated
 * from those schemas and served at `/openapi.json`.
 *
 * The handlers adapt to the BrokerCore (state is reached only through it:
 * API keys, idempotent answers, modify orders, hub listeners); what is theirs
 * is the face's own business: checking the key, tenancy (a customer key sees
 * one customer; another customer's order, service or listener is as absent
 * as one that does not exist, and the attempt is logged and counted), the
 * rate limit per key, and the TMF shapes (daemon/northbound/tmf.ts).
 *
 * The other resources are modules of their own, registered below, one call
 * each: ordering.ts (TMF641 PATCH, /cancelServiceOrder), qualification.ts
 * (TMF645), quote.ts (TMF648), agreement.ts (TMF651), alarm.ts (TMF642);
 * auth.ts checks bearer JWTs.
 */
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import Fastify, { type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest, type FastifyServerOptions } from 'fastify';
import swagger from '@fastify/swagger';
import { Ajv, type Options as AjvOptions } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { InvalidArgumentError, QosBrokerError } from '../../drivers/errors.js';
import type { BrokerCore, ModifyOrderRecord, Principal } from '../core.js';
import type { NorthboundConfig } from '../config/schema.js';
import { NorthboundError, httpStatusOf } from '../errors.js';
import type { Logger } from '../logger.js';
import { OrderNotFoundError, type OrderRecord } from '../workflow/orders.js';
import { NORTHBOUND_DEFAULTS } from './defaults.js';
import { RateLimiter } from './limits.js';
import { JWT_SHAPE, JwtVerifier } from './auth.js';
import { portalRoutes } from './portal.js';
import { INVENTORY_BASE, ORDER_BASE, ORDER_STATES, SERVICE_STATES, fieldsParam, hub, hubCreate, modifyToTmf, orderRequest, orderToTmf, selectFields, service, serviceOrder, serviceOrderCreate, serviceToTmf, tmfError, withMeasuredView } from './tmf.js';
import { idParams, listQuery, notFound, responses, sendPage, type RouteContext } from './context.js';
import { registerAgreement } from './agreement.js';
import { registerAlarm } from './alarm.js';
import { registerOrdering } from './ordering.js';
import { registerQualification } from './qualification.js';
import { registerQuote } from './quote.js';

/** What the API serves from. */
export interface NorthboundDeps {
  core: BrokerCore;
  config: NorthboundConfig;
  log: Logger;
  /** A customer asked for another customer's `resource`. */
  onCrossTenant: (resource: string) => void;
  /** A request was answered. */
  observe: (route: string, method: string, status: number, seconds: number) => void;
}

const REASON: Record<number, string> = { 400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 409: 'Conflict', 413: 'Payload Too Large', 415: 'Unsupported Media Type', 422: 'Unprocessable Entity', 429: 'Too Many Requests', 500: 'Internal Server Error', 503: 'Service Unavailable' };


const ORDER_FIELDS = Object.keys(serviceOrder.properties);
const SERVICE_FIELDS = Object.keys(service.properties);
const ORDER_ID = '^(ord|mod)-[0-9a-f-]{36}$';
const SERVICE_ID = '^svc-[0-9a-f-]{36}$';

declare module 'fastify' {
  interface FastifyRequest {
    principal: Principal | null;
  }
}

const addFormats = addFormatsModule as unknown as (a: Ajv) => Ajv;

/** Strict for bodies (no coercion, nothing removed); query strings and headers arrive as text, so they are coerced. */
function validators(): { body: Ajv; text: Ajv } {
  const base: AjvOptions = { allErrors: false, strict: true, strictTypes: false, removeAdditional: false, useDefaults: true };
  return { body: addFormats(new Ajv({ ...base, coerceTypes: false })), text: addFormats(new Ajv({ ...base, coerceTypes: true })) };
}

const errorBody = (status: number, code: string, message: string) => ({ code, reason: REASON[status] ?? 'Error', message, status: String(status), '@type': 'Error' });

/** `/serviceOrderItem/0/service` -> `.serviceOrderItem[0].service`; a characteristic named by its name. */
function fieldPath(part: string, instancePath: string, body: unknown): string {
  let out = part;
  let node: unknown = body;
  const segs = instancePath.split('/').slice(1);
  for (const [i, raw] of segs.entries()) {
    const s = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    const named = /^(service|product)Characteristic$/.test(segs[i - 1] ?? '') && /^\d+$/.test(s) ? ((node as Array<{ name?: unknown }> | undefined)?.[Number(s)]?.name as string | undefined) : undefined;
    out += /^\d+$/.test(s) ? `[${named !== undefined ? `name=${named}` : s}]` : `.${s}`;
    node = node && typeof node === 'object' ? (node as Record<string, unknown>)[s] : undefined;
  }
  return out;
}

/** The message of a schema validation error: the field and the rule. */
function validationMessage(err: FastifyError, body: unknown): string {
  const v = err.validation![0]!;
  const part = err.validationContext ?? 'body';
  const path = fieldPath(part, v.instancePath, part === 'body' ? body : undefined);
  const p = v.params as Record<string, unknown>;
  switch (v.keyword) {
    case 'additionalProperties':
      return `${path}.${String(p.additionalProperty)}: unknown field (additionalProperties: false)`;
    case 'required':
      return `${path}.${String(p.missingProperty)}: is required (required)`;
    case 'enum':
      return `${path}: must be one of ${(p.allowedValues as unknown[]).join(', ')} (enum)`;
    case 'type':
      return `${path}: must be ${String(p.type)} (type)`;
    default:
      return `${path}: ${v.message ?? 'is invalid'} (${v.keyword}${p.limit !== undefined ? ` ${String(p.limit)}` : p.format !== undefined ? ` ${String(p.format)}` : ''})`;
  }
}

const stateQuery = (states: readonly string[]) => listQuery({ state: { type: 'string', enum: states } });

/** Build the app (not listening). Without deps only the schema is of use (the OpenAPI document). */
export async function buildNorthbound(deps: NorthboundDeps | undefined, opts: FastifyServerOptions = {}): Promise<FastifyInstance> {
  const cfg = deps?.config;
  const app = Fastify({ logger: false, bodyLimit: cfg?.bodyLimitBytes ?? NORTHBOUND_DEFAULTS.bodyLimitBytes, forceCloseConnections: true, ...opts }) as unknown as FastifyInstance;
  const ajv = validators();
  app.setValidatorCompiler(({ schema, httpPart }) => (httpPart === 'body' ? ajv.body : ajv.text).compile(schema));
  // answers are built field by field by the views in tmf.ts and the resource modules (nothing to strip), and
  // their schemas are for the OpenAPI document: JSON.stringify serialises (compiling ~90 serialisers took seconds at start)
  app.setSerializerCompiler(() => (data) => JSON.stringify(data));
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: { title: 'qos-broker northbound API', version: '1', description: 'TM Forum Open APIs v4, a pragmatic subset, of one qos-brokerd provider: TMF641 Service Ordering, TMF638 Service Inventory, TMF645 Service Qualification, TMF648 Quote Management, TMF651 Agreement Management, TMF642 Alarm Management. Extensions start with @qb: @qbPlan (the per-step plan), @qbAgreementId, @qbModifiedOrderId, @qbPaths, @qbPath, @qbDocument.' },
      components: { securitySchemes: { apiKey: { type: 'http', scheme: 'bearer', description: 'an API key made with `qos-broker apikey create` (qbk_...), or a JWT of the provider\'s identity provider (northbound.jwt)' } } },
      security: [{ apiKey: [] }],
    },
  });
  app.decorateRequest('principal', null);
  app.removeContentTypeParser('text/plain'); // JSON only: anything else is 415
  const limiter = new RateLimiter(cfg?.rateLimitPerS ?? NORTHBOUND_DEFAULTS.rateLimitPerS, cfg?.rateLimitBurst ?? NORTHBOUND_DEFAULTS.rateLimitBurst);
  const d = () => deps!;
  const jwt = cfg?.jwt ? new JwtVerifier(cfg.jwt) : undefined;

  app.addHook('onRequest', async (req) => {
    (req as FastifyRequest & { t0: number }).t0 = performance.now();
    if (req.url === '/openapi.json' || (req.routeOptions.config as { public?: boolean }).public || !deps) return;
    const m = /^Bearer (\S+)$/.exec(req.headers.authorization ?? '');
    // an API key (qbk_...), or a JWT of the identity provider when northbound.jwt is set
    const p = !m ? undefined : jwt && JWT_SHAPE.test(m[1]!) ? await jwt.verify(m[1]!) : await deps.core.authenticate(m[1]!);
    if (!p) throw new NorthboundError('QB_NORTHBOUND_UNAUTHENTICATED', `an API key is required: Authorization: Bearer qbk_... (qos-broker apikey create)${jwt ? ' or a JWT of the identity provider' : ''}; this one is missing, malformed, unknown or revoked`, { 'www-authenticate': 'Bearer' });
    const wait = limiter.take(p.keyId);
    if (wait) throw new NorthboundError('QB_NORTHBOUND_RATE_LIMITED', `the rate limit of API key ${p.keyId} is reached (${cfg!.rateLimitPerS}/s, burst ${cfg!.rateLimitBurst}); retry after ${wait} s`, { 'retry-after': String(wait) });
    req.principal = p;
  });
  app.addHook('onResponse', async (req, reply) => {
    const t0 = (req as FastifyRequest & { t0?: number }).t0;
    deps?.observe(req.routeOptions.url ?? 'unmatched', req.method, reply.statusCode, t0 === undefined ? 0 : (performance.now() - t0) / 1000);
  });
  app.setErrorHandler((err: FastifyError, req, reply) => {
    if (err.validation) return reply.code(400).send(errorBody(400, 'QB_INVALID_ARGUMENT', validationMessage(err, req.body)));
    let e: unknown = err;
    if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') e = new NorthboundError('QB_NORTHBOUND_BODY_TOO_LARGE', `the request body is larger than northbound.body-limit-bytes (${cfg?.bodyLimitBytes ?? NORTHBOUND_DEFAULTS.bodyLimitBytes} bytes)`);
    else if (err.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') e = new NorthboundError('QB_NORTHBOUND_MEDIA_TYPE', `the body must be application/json, got ${JSON.stringify(req.headers['content-type'] ?? '')}`);
    else if (!(err instanceof QosBrokerError) && typeof err.statusCode === 'number' && err.statusCode >= 400 && err.statusCode < 500) e = new NorthboundError('QB_NORTHBOUND_BAD_REQUEST', err.message);
    const status = httpStatusOf(e);
    if (status >= 500) deps?.log('error', 'northbound request failed', { ...(e instanceof QosBrokerError ? { code: e.code } : {}), error: (e as Error).message, url: req.url });
    if (e instanceof NorthboundError) reply.headers(e.headers);
    if (!(e instanceof QosBrokerError) || status === 500) return reply.code(500).send(errorBody(500, 'QB_INTERNAL', 'internal error; the daemon logged it'));
    return reply.code(status).send(errorBody(status, e.code, e.message));
  });
  app.setNotFoundHandler((req, reply) => reply.code(404).send(errorBody(404, 'QB_NORTHBOUND_NOT_FOUND', `no resource ${req.method} ${req.url.split('?')[0]}; the API is described at /openapi.json`)));

  const principal = (req: FastifyRequest) => req.principal!;
  /** An order the principal may see; another customer's is logged, counted and as absent as a missing one. */
  const orderFor = async (p: Principal, id: string, resource: string, shownId: string): Promise<OrderRecord> => {
    let o: OrderRecord;
    try {
      o = await d().core.getOrder(id);
    } catch (err) {
      if (err instanceof OrderNotFoundError) throw notFound(resource, shownId);
      throw err;
    }
    if (p.customer !== undefined && o.customer !== p.customer) crossTenant(p, resource, shownId);
    return o;
  };
  const crossTenant = (p: Principal, resource: string, id: string): never => {
    d().log('warn', 'a customer asked for another customer\'s resource', { event: 'cross-tenant', key_id: p.keyId, customer: p.customer, resource, id });
    d().onCrossTenant(resource);
    throw notFound(resource, id);
  };
  const modifyRecord = async (p: Principal, id: string): Promise<ModifyOrderRecord> => {
    const m = await d().core.getModifyOrder(id);
    if (!m) throw notFound('serviceOrder', id);
    if (p.customer !== undefined && m.customer !== p.customer) crossTenant(p, 'serviceOrder', id);
    return m;
  };
  const modifyView = async (m: ModifyOrderRecord) => modifyToTmf(m, (await d().core.getOrder(m.orderId).catch(() => undefined))?.service);

  const modify = async (p: Principal, r: Extract<ReturnType<typeof orderRequest>, { action: 'modify' }>, body: { externalId?: string; description?: string }) => {
    const o = await orderFor(p, `ord-${r.serviceId.slice(4)}`, 'service', r.serviceId);
    return modifyView(await d().core.modifyService(o.id, { rateMbps: r.rateMbps, durationMs: r.durationMs }, { customer: p.customer, externalId: body.externalId, description: body.description }));
  };

  type CreateBody = Parameters<typeof orderRequest>[0] & { externalId?: string; description?: string };
  app.post<{ Body: CreateBody; Headers: { 'idempotency-key'?: string } }>(
    `${ORDER_BASE}/serviceOrder`,
    {
      schema: {
        summary: 'Order a service (action add) or change a service\'s rate for a while (action modify, the boost)',
        tags: ['serviceOrder'],
        headers: { type: 'object', properties: { 'idempotency-key': { type: 'string', minLength: 1, maxLength: 255, pattern: '^[\\x21-\\x7e]+$', description: 'a retried POST with the same key gets the first answer and creates nothing' } } },
        body: serviceOrderCreate,
        response: { ...responses(201, serviceOrder, 'the order: acknowledged (add), or completed / failed (modify)'), 409: { description: 'the first request with this Idempotency-Key is still being answered, or the service cannot be modified now', ...tmfError }, 413: { description: 'body too large', ...tmfError }, 422: { description: 'the Idempotency-Key was used for another body; or the modification was refused', ...tmfError } },
      },
    },
    async (req, reply) => {
      const p = principal(req);
      const answer = async () => {
        const r = orderRequest(req.body);
        if (r.customer !== undefined && p.customer !== undefined && r.customer !== p.customer) throw new InvalidArgumentError(`relatedParty: a customer key orders for its own customer (${p.customer}) only, got ${JSON.stringify(r.customer)}`);
        const customer = p.customer ?? r.customer ?? 'operator';
        if (r.action === 'modify') return { status: 201, body: await modify(p, r, req.body) };
        return { status: 201, body: orderToTmf(await d().core.createOrder({ ...r.input, customer }, undefined, { externalId: req.body.externalId, description: req.body.description })) };
      };
      const key = req.headers['idempotency-key'];
      const a = key ? await d().core.idempotent(p.keyId, key, req.body, answer) : { ...(await answer()), replayed: false };
      if (a.replayed) reply.header('idempotent-replayed', 'true');
      const id = (a.body as { id?: string }).id;
      if (id) reply.header('location', `${ORDER_BASE}/serviceOrder/${id}`);
      return reply.code(a.status).send(a.body);
    },
  );

  app.get<{ Querystring: { state?: string; fields?: string; offset: number; limit: number } }>(
    `${ORDER_BASE}/serviceOrder`,
    { schema: { summary: 'List service orders of every action (a customer key: its own), oldest first', tags: ['serviceOrder'], querystring: stateQuery(ORDER_STATES), response: responses(200, { type: 'array', items: serviceOrder }, 'the orders; X-Total-Count has how many match') } },
    async (req, reply) => {
      const p = principal(req);
      const q = req.query;
      selectFields({}, q.fields, ORDER_FIELDS);
      const page = await d().core.pageServiceOrders({ customer: p.customer, state: q.state, offset: q.offset, limit: q.limit });
      const items = await Promise.all(page.items.map(async (x) => (x.kind === 'order' ? (orderToTmf(x.doc) as Record<string, unknown>) : await modifyView(x.doc))));
      return sendPage(reply, { items, total: page.total }, q.fields, ORDER_FIELDS, (x) => x);
    },
  );

  app.get<{ Params: { id: string }; Querystring: { fields?: string } }>(
    `${ORDER_BASE}/serviceOrder/:id`,
    { schema: { summary: 'One service order with its per-step plan (@qbPlan)', tags: ['serviceOrder'], params: idParams(ORDER_ID), querystring: { type: 'object', additionalProperties: false, properties: { fields: fieldsParam } }, response: responses(200, serviceOrder, 'the order') } },
    async (req) => {
      const p = principal(req);
      const id = req.params.id;
      const tmf = id.startsWith('mod-') ? await modifyView(await modifyRecord(p, id)) : orderToTmf(await orderFor(p, id, 'serviceOrder', id));
      return selectFields(tmf as Record<string, unknown>, req.query.fields, ORDER_FIELDS);
    },
  );

  app.post<{ Body: { callback: string; query?: string } }>(
    `${ORDER_BASE}/hub`,
    { schema: { summary: 'Register a listener for ServiceOrderStateChangeEvent (a customer key: its own orders only)', tags: ['hub'], body: hubCreate, response: responses(201, hub, 'the listener') } },
    async (req, reply) => {
      const h = await d().core.registerHub(principal(req), req.body.callback, req.body.query);
      return reply.code(201).header('location', `${ORDER_BASE}/hub/${h.id}`).send({ id: h.id, callback: h.callback, ...(h.query ? { query: h.query } : {}) });
    },
  );

  app.delete<{ Params: { id: string } }>(
    `${ORDER_BASE}/hub/:id`,
    { schema: { summary: 'Remove a listener', tags: ['hub'], params: idParams('^hub-[0-9a-f]{16}$'), response: { ...responses(204, {}, 'removed'), 204: { description: 'removed', type: 'null' } } } },
    async (req, reply) => {
      const p = principal(req);
      const h = await d().core.getHub(req.params.id);
      if (!h) throw notFound('hub', req.params.id);
      if (p.customer !== undefined && h.customer !== p.customer) crossTenant(p, 'hub', req.params.id);
      await d().core.removeHub(h.id);
      return reply.code(204).send();
    },
  );

  app.get<{ Querystring: { state?: string; fields?: string; offset: number; limit: number } }>(
    `${INVENTORY_BASE}/service`,
    { schema: { summary: 'List services (a customer key: its own) with state and characteristics: class, rate now, latency bound, window', tags: ['service'], querystring: stateQuery(SERVICE_STATES), response: responses(200, { type: 'array', items: service }, 'the services; X-Total-Count has how many match') } },
    async (req, reply) => {
      const q = req.query;
      selectFields({}, q.fields, SERVICE_FIELDS);
      const st = q.state;
      if (q.fields === undefined && st === undefined) {
        // every service whole: the views stored with the orders, joined (nothing parsed or serialised here)
        const v = await d().core.pageServiceViews({ customer: principal(req).customer, offset: q.offset, limit: q.limit }, withMeasuredView);
        return reply.headers({ 'x-total-count': String(v.total), 'x-result-count': String(v.count), 'content-type': 'application/json; charset=utf-8' }).send(v.json);
      }
      const page = await d().core.pageOrders({ customer: principal(req).customer, offset: q.offset, limit: q.limit, where: st === undefined ? undefined : (o) => o.service.state === st });
      return sendPage(reply, page, q.fields, SERVICE_FIELDS, (o) => serviceToTmf(o) as Record<string, unknown>);
    },
  );

  app.get<{ Params: { id: string }; Querystring: { fields?: string } }>(
    `${INVENTORY_BASE}/service/:id`,
    { schema: { summary: 'One service', tags: ['service'], params: idParams(SERVICE_ID), querystring: { type: 'object', additionalProperties: false, properties: { fields: fieldsParam } }, response: responses(200, service, 'the service') } },
    async (req) => {
      const id = req.params.id;
      return selectFields(serviceToTmf(await orderFor(principal(req), `ord-${id.slice(4)}`, 'service', id)) as Record<string, unknown>, req.query.fields, SERVICE_FIELDS);
    },
  );

  // the other resources, one module each (TMF641 PATCH and cancel, TMF645, TMF648, TMF651, TMF642)
  const ctx: RouteContext = { core: () => d().core, principal, crossTenant, orderFor };
  await registerOrdering(app, ctx);
  await registerQualification(app, ctx);
  await registerQuote(app, ctx);
  await registerAgreement(app, ctx);
  await registerAlarm(app, ctx);

  portalRoutes(app, { core: () => d().core, crossTenant });
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  return app;
}

/** The OpenAPI document (the same the daemon serves). */
export async function openapiDocument(): Promise<unknown> {
  const app = await buildNorthbound(undefined);
  await app.ready();
  const doc = app.swagger();
  await app.close();
  return doc;
}

/** Serve the API on `deps.config.listen` (HTTPS with tls-cert/tls-key); resolves once listening. */
export async function serveNorthbound(deps: NorthboundDeps): Promise<{ address: string; stop(): Promise<void> }> {
  const c = deps.config;
  const app = await buildNorthbound(deps, c.tlsCert ? ({ https: { cert: readFileSync(c.tlsCert), key: readFileSync(c.tlsKey!) } } as FastifyServerOptions) : {});
  const i = c.listen.lastIndexOf(':');
  await app.listen({ host: c.listen.slice(0, i).replace(/^\[|\]$/g, ''), port: Number(c.listen.slice(i + 1)) });
  const a = app.server.address() as AddressInfo;
  const address = `${c.tlsCert ? 'https' : 'http'}://${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}`;
  return { address, stop: () => app.close() };
}
