/**
 * What every resource module of the northbound API shares: the route
 * context (the core, who asks, tenancy) and the schema helpers (answers with
 * the TMF error body, list queries, pages with X-Total-Count).
 *
 * A resource module exports one `register(app, ctx)`; server.ts calls each
 * once.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { BrokerCore, Principal } from '../core.js';
import { NorthboundError } from '../errors.js';
import type { OrderRecord } from '../workflow/orders.js';
import { fieldsParam, selectFields, tmfError } from './tmf.js';

/** What a resource module's handlers reach. */
export interface RouteContext {
  core: () => BrokerCore;
  principal: (req: FastifyRequest) => Principal;
  /** Log and count a customer's attempt at another customer's resource, and throw its 404. */
  crossTenant: (p: Principal, resource: string, id: string) => never;
  /** An order the principal may see (another customer's: crossTenant); `shownId` is the id the caller used. */
  orderFor: (p: Principal, id: string, resource: string, shownId: string) => Promise<OrderRecord>;
}

export const notFound = (what: string, id: string) => new NorthboundError('QB_NORTHBOUND_NOT_FOUND', `no ${what} ${id}`);

/** `rec` if it exists and is the principal's to see; absent: 404; another customer's: 404, logged and counted. */
export function owned<T extends { customer?: string }>(ctx: RouteContext, p: Principal, resource: string, id: string, rec: T | undefined): T {
  if (!rec) throw notFound(resource, id);
  if (p.customer !== undefined && rec.customer !== p.customer) ctx.crossTenant(p, resource, id);
  return rec;
}

/** Operators only: a customer's key or token is refused with 403. */
export function operatorOnly(p: Principal, what: string): void {
  if (p.role !== 'operator') throw new NorthboundError('QB_NORTHBOUND_FORBIDDEN', `${what} is for operator keys or tokens; this one acts for customer ${p.customer ?? '?'}`);
}

export const responses = (code: number, ok: object, description: string) => ({
  [code]: { description, ...ok },
  400: { description: 'invalid request: the message names the field and the rule', ...tmfError },
  401: { description: 'no valid API key or token', ...tmfError },
  404: { description: 'no such resource (or another customer\'s)', ...tmfError },
  429: { description: 'rate limit of the API key; see Retry-After', ...tmfError },
});

/** Query of a list: an optional filter per name (schema), fields, offset, limit. */
export const listQuery = (filters: Record<string, object>) => ({
  type: 'object',
  additionalProperties: false,
  properties: { ...filters, fields: fieldsParam, offset: { type: 'integer', minimum: 0, default: 0 }, limit: { type: 'integer', minimum: 1, maximum: 1000, default: 100 } },
});

export const idParams = (pattern: string) => ({ type: 'object', required: ['id'], properties: { id: { type: 'string', pattern } } });

export const fieldsQuery = { type: 'object', additionalProperties: false, properties: { fields: fieldsParam } };

/** Send one page (already cut) with TMF's X-Total-Count and X-Result-Count; `fields` keeps the attributes asked for. */
export function sendPage<T>(reply: FastifyReply, page: { items: T[]; total: number }, fields: string | undefined, known: readonly string[], view: (x: T) => Record<string, unknown>) {
  const out = page.items.map((x) => selectFields(view(x), fields, known));
  // the views are built field by field from the records (nothing else to strip): JSON.stringify is the serialiser here
  return reply.headers({ 'x-total-count': String(page.total), 'x-result-count': String(out.length), 'content-type': 'application/json; charset=utf-8' }).send(JSON.stringify(out));
}

/** A resource module. */
export type Register = (app: FastifyInstance, ctx: RouteContext) => Promise<void> | void;
