/**
 * TMF651 v4 Agreement Management: `/agreement` (GET list, GET by id) and the
 * signed contract itself, downloadable (`/agreement/{id}/document`): the
 * document the order holds, byte for byte as stored, which any JOSE library
 * (or `qos-broker contract verify`) checks offline against the providers'
 * keys. An order's agreement is its contract (signed by every provider on
 * the path); a boost's is its amendment (`<agreement>-boost-N`).
 */
import type { FastifyInstance } from 'fastify';
import type { Principal } from '../core.js';
import type { OrderRecord } from '../workflow/orders.js';
import { fieldsQuery, idParams, listQuery, notFound, owned, responses, sendPage, type RouteContext } from './context.js';
import { iso, orderHref, selectFields, serviceHref, tmfError } from './tmf.js';

export const AGREEMENT_BASE = '/tmf-api/agreementManagement/v4';
const str = (extra: Record<string, unknown> = {}) => ({ type: 'string', ...extra });
const AGREEMENT_ID = '^agr-[A-Za-z0-9._@-]{1,96}$';

const out = {
  type: 'object',
  properties: {
    id: str(),
    href: str(),
    name: str(),
    agreementType: { type: 'string', enum: ['contract', 'amendment'] },
    status: { type: 'string', enum: ['validated', 'terminated'], description: 'validated: signed by every provider and in force; terminated: the service ended' },
    agreementPeriod: { type: 'object', properties: { startDateTime: str(), endDateTime: str() } },
    engagedParty: { type: 'array', items: { type: 'object', properties: { id: str(), role: str(), '@referredType': str() } } },
    characteristic: { type: 'array', items: { type: 'object', properties: { name: str(), valueType: str(), value: {} } } },
    '@qbDocument': str({ description: 'where the signed contract itself is downloaded' }),
    '@qbServiceId': str(),
    '@qbServiceHref': str(),
    '@qbOrderHref': str(),
    '@type': str(),
  },
} as const;
const FIELDS = Object.keys(out.properties);

interface Signed {
  id: string;
  order: OrderRecord;
  amendment: boolean;
  document: unknown;
}

/** The agreements an order holds: its contract, and its boost's amendment if signed. */
function agreementsOf(o: OrderRecord): Signed[] {
  const out: Signed[] = [];
  if (o.contract !== undefined) out.push({ id: o.agreementId, order: o, amendment: false, document: o.contract });
  if (o.boost?.contract !== undefined) out.push({ id: o.boost.agreementId, order: o, amendment: true, document: o.boost.contract });
  return out;
}

function toTmf(a: Signed) {
  const o = a.order;
  const r = o.request;
  const start = a.amendment ? Date.parse(o.plan.filter((s) => s.step === 'modify').at(-1)?.started ?? o.updatedAt) : r.start;
  const end = a.amendment ? o.boost!.until : r.end;
  return {
    id: a.id,
    href: `${AGREEMENT_BASE}/agreement/${a.id}`,
    name: a.amendment ? `${o.boost!.rateMbps} Mbit/s boost of ${o.service.id}` : `${r.qosClass} ${r.rateMbps} Mbit/s for ${o.service.id}`,
    agreementType: a.amendment ? 'amendment' : 'contract',
    status: o.service.state === 'terminated' || (a.amendment && ['reverted', 'failed'].includes(o.boost!.state)) ? 'terminated' : 'validated',
    agreementPeriod: { startDateTime: iso(start), endDateTime: iso(end) },
    engagedParty: [{ id: o.customer, role: 'customer', '@referredType': 'Organization' }, ...o.domains.map((d) => ({ id: d, role: 'provider', '@referredType': 'Organization' }))],
    characteristic: [
      { name: 'qosClass', valueType: 'string', value: r.qosClass },
      { name: 'rateMbps', valueType: 'number', value: a.amendment ? o.boost!.rateMbps : r.rateMbps },
      ...(r.maxLatencyMs !== undefined ? [{ name: 'maxLatencyMs', valueType: 'number', value: r.maxLatencyMs }] : []),
    ],
    '@qbDocument': `${AGREEMENT_BASE}/agreement/${a.id}/document`,
    '@qbServiceId': o.service.id,
    '@qbServiceHref': serviceHref(o.service.id),
    '@qbOrderHref': orderHref(o.id),
    '@type': 'Agreement',
  };
}

export async function registerAgreement(app: FastifyInstance, ctx: RouteContext): Promise<void> {
  const find = async (p: Principal, id: string): Promise<Signed> => {
    const o = owned(ctx, p, 'agreement', id, await ctx.core().orderOfAgreement(id));
    const a = agreementsOf(o).find((x) => x.id === id);
    if (!a) throw notFound('agreement', id);
    return a;
  };

  app.get<{ Querystring: { fields?: string; offset: number; limit: number } }>(
    `${AGREEMENT_BASE}/agreement`,
    { schema: { summary: 'List the signed agreements (a customer key: its own): each order\'s contract and its boost\'s amendment, oldest first', tags: ['agreement'], querystring: listQuery({}), response: responses(200, { type: 'array', items: out }, 'the agreements; X-Total-Count has how many') } },
    async (req, reply) => {
      const q = req.query;
      selectFields({}, q.fields, FIELDS);
      // the customer's orders (its index) that hold a contract
      const all = (await ctx.core().pageOrders({ customer: ctx.principal(req).customer, offset: 0, limit: Number.MAX_SAFE_INTEGER, where: (o) => o.contract !== undefined })).items.flatMap(agreementsOf);
      return sendPage(reply, { items: all.slice(q.offset, q.offset + q.limit), total: all.length }, q.fields, FIELDS, toTmf);
    },
  );

  app.get<{ Params: { id: string }; Querystring: { fields?: string } }>(
    `${AGREEMENT_BASE}/agreement/:id`,
    { schema: { summary: 'One agreement: parties, period, terms; the signed document is at @qbDocument', tags: ['agreement'], params: idParams(AGREEMENT_ID), querystring: fieldsQuery, response: responses(200, out, 'the agreement') } },
    async (req) => selectFields(toTmf(await find(ctx.principal(req), req.params.id)), req.query.fields, FIELDS),
  );

  app.get<{ Params: { id: string } }>(
    `${AGREEMENT_BASE}/agreement/:id/document`,
    {
      schema: {
        summary: 'The signed contract itself, as stored (a download: Content-Disposition attachment); verify it offline with qos-broker contract verify or any JOSE library',
        tags: ['agreement'],
        params: idParams(AGREEMENT_ID),
        response: { 200: { description: 'the signed document, as the order holds it (application/jose+json for a JWS in the JSON serialization)' }, 401: { description: 'no valid API key or token', ...tmfError }, 404: { description: 'no such agreement (or another customer\'s)', ...tmfError }, 429: { description: 'rate limit', ...tmfError } },
      },
    },
    async (req, reply) => {
      const a = await find(ctx.principal(req), req.params.id);
      const d = a.document;
      const jws = typeof d === 'string' || (typeof d === 'object' && d !== null && 'payload' in d && ('signatures' in d || 'signature' in d));
      const body = typeof d === 'string' ? d : JSON.stringify(d);
      return reply
        .header('content-type', typeof d === 'string' ? 'application/jose' : jws ? 'application/jose+json' : 'application/json')
        .header('content-disposition', `attachment; filename="${a.id}.json"`)
        .send(body);
    },
  );
}
