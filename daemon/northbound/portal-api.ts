/**
 * The one API resource the portal needs beyond the TMF resources:
 * `GET /qos-broker/v1/topology`, operators only: sessions, known domains and
 * what each domain advertises (transits and links with capacity and what is
 * still available per class), read through the core. The portal prices a
 * boost with TMF648 `/quote` (action modify) and downloads the contract from
 * TMF651 `/agreement/{id}/document`, like any other client.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { BrokerCore, Principal } from '../core.js';
import { NorthboundError } from '../errors.js';
import { tmfError } from './tmf.js';

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

/** Register the routes on the API app. */
export function portalApiRoutes(app: FastifyInstance, ctx: PortalApiContext): void {
  const principal = (req: FastifyRequest) => req.principal!;
  const notFound = (what: string, id: string) => new NorthboundError('QB_NORTHBOUND_NOT_FOUND', `no ${what} ${id}`);

  app.get(
    TOPOLOGY_PATH,
    { schema: { summary: 'Operators: the domain graph (sessions with peers, known domains, what each advertises with capacity and availability per class)', tags: ['operator'], response: { 200: { description: 'the domain graph', ...topology }, 403: { description: 'a customer key', ...tmfError }, 401: errors[401], 429: errors[429] } } },
    async (req) => {
      if (principal(req).role !== 'operator') throw new NorthboundError('QB_NORTHBOUND_FORBIDDEN', `${TOPOLOGY_PATH} is for operators; this key is a customer's`);
      return ctx.core().topology();
    },
  );
}
