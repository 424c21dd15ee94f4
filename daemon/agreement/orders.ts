/**
 * Orders and quotes taken by a provider daemon (admin POST /v1/order and
 * /v1/quote, used by `qos-broker order|quote`): the request is checked field
 * by field, then quoted (path computation + pricing scenarios over the
 * advertised graph) or agreed (AgreementCoordinator with our own participant
 * and a RemoteParticipant per peer we have an established session with).
 * Errors become HTTP statuses here and only here, with the stable code.
 */
import { InvalidArgumentError, QosBrokerError } from '../../drivers/errors.js';
import { AgreementFailedError, httpStatusOf } from '../errors.js';
import type { TopologyGraph } from '../topology/graph.js';
import type { Endpoint, PathObjective } from '../topology/types.js';
import { AgreementCoordinator, type ServiceRequest } from './coordinator.js';
import { AGREEMENT_DEFAULTS } from './defaults.js';
import type { AgreementParticipant } from './participant.js';
import { priceScenarios, type PricingTerms } from './pricing.js';

const OBJECTIVES: readonly PathObjective[] = ['cheapest', 'lowest-latency', 'balanced'];

/** The JSON body of an order or quote (what the CLI sends). */
export interface OrderBody {
  agreementId?: string;
  customer?: string;
  /** `DOMAIN/SITE` */
  from: string;
  to: string;
  qosClass: string;
  rateMbps: number;
  maxLatencyMs?: number;
  /** ms since the epoch; @default now */
  start?: number;
  durationMs: number;
  objective?: PathObjective;
  k?: number;
  /** The exchange that brokers the order (a peer with `exchange: true`). */
  viaExchange?: string;
}

/** `DOMAIN/SITE` as an endpoint (site ids and domain ids contain no `/`). */
export function parseEndpoint(s: unknown, field: string): Endpoint {
  const m = typeof s === 'string' ? /^([^/\s]+)\/([^/\s]+)$/.exec(s) : null;
  if (!m) throw new InvalidArgumentError(`${field} must be DOMAIN/SITE, e.g. dom-a/dom-a-site, got ${JSON.stringify(s)}`);
  return { domain: m[1]!, site: m[2]! };
}

/** Check an order body; every bad field is an InvalidArgumentError naming it. */
export function parseOrderBody(b: unknown, now = Date.now()): ServiceRequest & { durationMs: number } {
  if (!b || typeof b !== 'object' || Array.isArray(b)) throw new InvalidArgumentError('an order is a JSON object');
  const o = b as Record<string, unknown>;
  const num = (k: string, ok: (x: number) => boolean, want: string): number => {
    const v = o[k];
    if (typeof v !== 'number' || !Number.isFinite(v) || !ok(v)) throw new InvalidArgumentError(`${k} must be ${want}, got ${JSON.stringify(v)}`);
    return v;
  };
  const str = (k: string): string => {
    const v = o[k];
    if (typeof v !== 'string' || v === '') throw new InvalidArgumentError(`${k} must be a non-empty string, got ${JSON.stringify(v)}`);
    return v;
  };
  const start = o.start === undefined ? now : num('start', (x) => Number.isSafeInteger(x) && x > 0, 'ms since the epoch');
  const durationMs = num('durationMs', (x) => Number.isSafeInteger(x) && x > 0, 'a positive whole number of ms');
  const customer = o.customer === undefined ? 'admin' : str('customer');
  if (!/^[A-Za-z0-9._@-]{1,64}$/.test(customer)) throw new InvalidArgumentError(`customer must be 1-64 letters, digits or ._@-, got ${JSON.stringify(customer)}`);
  const qosClass = str('qosClass');
  if (!/^[A-Za-z0-9_-]{1,32}$/.test(qosClass)) throw new InvalidArgumentError(`qosClass must be a class name such as EF, got ${JSON.stringify(qosClass)}`);
  const req: ServiceRequest & { durationMs: number } = {
    customer,
    from: parseEndpoint(o.from, 'from'),
    to: parseEndpoint(o.to, 'to'),
    qosClass,
    rateMbps: num('rateMbps', (x) => x > 0 && x <= 10_000_000, 'a rate in Mbit/s > 0'),
    start,
    end: start + durationMs,
    durationMs,
  };
  if (o.agreementId !== undefined) {
    req.agreementId = str('agreementId');
    if (!/^[A-Za-z0-9._@-]{1,96}$/.test(req.agreementId)) throw new InvalidArgumentError(`agreementId must be 1-96 letters, digits or ._@-, got ${JSON.stringify(req.agreementId)}`);
  }
  if (o.maxLatencyMs !== undefined) req.maxLatencyMs = num('maxLatencyMs', (x) => x > 0, 'a latency in ms > 0');
  if (o.objective !== undefined) {
    if (!OBJECTIVES.includes(o.objective as PathObjective)) throw new InvalidArgumentError(`objective must be one of ${OBJECTIVES.join(', ')}, got ${JSON.stringify(o.objective)}`);
    req.objective = o.objective as PathObjective;
  }
  if (o.k !== undefined) req.k = num('k', (x) => Number.isInteger(x) && x >= 1 && x <= 16, 'a whole number 1..16');
  if (o.viaExchange !== undefined) {
    req.viaExchange = str('viaExchange');
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(req.viaExchange)) throw new InvalidArgumentError(`viaExchange must be the domain id of an exchange, got ${JSON.stringify(req.viaExchange)}`);
  }
  return req;
}

/** HTTP status and JSON body for an error of an order or quote. */
export function errorAnswer(err: unknown): { status: number; body: Record<string, unknown> } {
  const status = httpStatusOf(err);
  if (err instanceof AgreementFailedError) return { status, body: { code: err.code, error: err.message, refused: err.refused } };
  if (err instanceof QosBrokerError) return { status, body: { code: err.code, error: err.message } };
  return { status, body: { code: 'QB_INTERNAL', error: err instanceof Error ? err.message : String(err) } };
}

export interface OrderDeskOptions {
  domain: string;
  graph: () => TopologyGraph;
  participant: (domain: string, path?: string[]) => AgreementParticipant | undefined;
  terms?: PricingTerms;
  /** Hold TTL of our agreements, ms. @default 30000 */
  holdTtlMs?: number;
}

/** Quote (priced options, nothing held) and agree (the agreement alone, nothing provisioned): each throws a typed error. */
export interface AgreementDesk {
  quote(body: unknown): Promise<unknown>;
  agree(body: unknown): Promise<unknown>;
}

/** The admin operations `POST /v1/quote` and `POST /v1/order`, over the same desk as the Management service's Quote and Agree. */
export function orderDesk(opts: OrderDeskOptions): Record<'/v1/quote' | '/v1/order', (body: unknown) => Promise<{ status: number; body: unknown }>> & { desk: AgreementDesk } {
  const desk = agreementDesk(opts);
  const guard =
    (f: (body: unknown) => Promise<unknown>) =>
    async (body: unknown): Promise<{ status: number; body: unknown }> => {
      try {
        return { status: 200, body: await f(body) };
      } catch (err) {
        return errorAnswer(err);
      }
    };
  return { '/v1/quote': guard((b) => desk.quote(b)), '/v1/order': guard((b) => desk.agree(b)), desk };
}

export function agreementDesk(opts: OrderDeskOptions): AgreementDesk {
  const coordinator = new AgreementCoordinator(opts.domain, opts.graph, opts.participant, { holdTtlMs: opts.holdTtlMs ?? AGREEMENT_DEFAULTS.holdTtlMs });
  return {
    async quote(body) {
      const r = parseOrderBody(body);
      const options = priceScenarios(
        opts.graph(),
        { from: r.from, to: r.to, qosClass: r.qosClass, rateMbps: r.rateMbps, maxLatencyMs: r.maxLatencyMs, k: r.k ?? 3, durationHours: r.durationMs / 3_600_000 },
        opts.terms,
      );
      return {
        domain: opts.domain,
        options: options.map((o) => ({
          scenarios: o.scenarios,
          domains: o.path.domains,
          nodes: o.path.nodes,
          latencyMs: o.path.metrics.latencyMs,
          jitterMs: o.path.metrics.jitterMs,
          loss: o.path.metrics.loss,
          currency: o.price.currency,
          total: o.price.total,
          segments: o.price.segments.map((s) => ({ domain: s.domain, unitPerMbpsHour: s.unitPerMbpsHour, charge: s.charge })),
        })),
      };
    },
    async agree(body) {
      const a = await coordinator.agree(parseOrderBody(body));
      return { contract: a.contract, domains: a.path.domains, quotes: a.quotes, refused: a.refused };
    },
  };
}
