/**
 * The rest of TMF641 v4 Service Ordering: PATCH /serviceOrder/{id} (what the
 * broker lets a customer change on an order once taken: its externalId and
 * description; the service itself changes through a modify order or a
 * cancellation), and /cancelServiceOrder (POST, GET list, GET by id): the
 * order's service is taken off every device and its bookings released
 * (the workflow's terminate), at once.
 */
import type { FastifyInstance } from 'fastify';
import { InvalidArgumentError } from '../../drivers/errors.js';
import type { CancelOrderRecord } from '../core.js';
import { fieldsQuery, idParams, listQuery, owned, responses, sendPage, type RouteContext } from './context.js';
import { ORDER_BASE, modifyToTmf, orderHref, orderToTmf, selectFields, serviceOrder, tmfError } from './tmf.js';

const str = (extra: Record<string, unknown> = {}) => ({ type: 'string', ...extra });
const CANCEL_STATES = ['acknowledged', 'rejected', 'inProgress', 'cancelled', 'done', 'terminatedWithError'];
const PATCHABLE = ['externalId', 'description'];

const cancelCreate = {
  type: 'object',
  additionalProperties: false,
  required: ['serviceOrder'],
  properties: {
    serviceOrder: {
      type: 'object',
      additionalProperties: false,
      required: ['id'],
      properties: { id: str({ pattern: '^ord-[0-9a-f-]{36}$', description: 'the order to cancel (a modify order completes at once: nothing to cancel)' }), href: str({ maxLength: 300 }), '@referredType': str({ maxLength: 64 }) },
    },
    cancellationReason: str({ maxLength: 500 }),
    requestedCancellationDate: str({ format: 'date-time', description: 'now or earlier: a cancellation is carried out at once' }),
    '@type': { type: 'string', enum: ['CancelServiceOrder'] },
  },
} as const;

const cancelOut = {
  type: 'object',
  properties: {
    id: str(),
    href: str(),
    state: { type: 'string', enum: CANCEL_STATES },
    cancellationReason: str(),
    requestedCancellationDate: str(),
    effectiveCancellationDate: str(),
    serviceOrder: { type: 'object', properties: { id: str(), href: str(), '@referredType': str() } },
    errorMessage: { type: 'array', items: { type: 'object', properties: { code: str(), reason: str(), message: str(), status: str() } } },
    '@type': str(),
  },
} as const;
const CANCEL_FIELDS = Object.keys(cancelOut.properties);

function cancelToTmf(c: CancelOrderRecord) {
  return {
    id: c.id,
    href: `${ORDER_BASE}/cancelServiceOrder/${c.id}`,
    state: c.state,
    ...(c.cancellationReason ? { cancellationReason: c.cancellationReason } : {}),
    ...(c.requestedCancellationDate ? { requestedCancellationDate: c.requestedCancellationDate } : {}),
    ...(c.effectiveCancellationDate ? { effectiveCancellationDate: c.effectiveCancellationDate } : {}),
    serviceOrder: { id: c.orderId, href: orderHref(c.orderId), '@referredType': 'ServiceOrder' },
    ...(c.error ? { errorMessage: [{ code: c.error.code, reason: 'cancellation refused', message: c.error.message, status: c.state }] } : {}),
    '@type': 'CancelServiceOrder',
  };
}

export async function registerOrdering(app: FastifyInstance, ctx: RouteContext): Promise<void> {
  // RFC 7386 merge patch, as TMF asks for PATCH; plain JSON is taken too
  app.addContentTypeParser('application/merge-patch+json', { parseAs: 'string' }, (_req, body, done) => {
    try {
      done(null, JSON.parse(body as string));
    } catch (err) {
      (err as Error & { statusCode?: number }).statusCode = 400;
      done(err as Error, undefined);
    }
  });

  app.patch<{ Params: { id: string }; Body: Record<string, unknown> }>(
    `${ORDER_BASE}/serviceOrder/:id`,
    {
      schema: {
        summary: 'Change an order\'s externalId or description (merge patch); its service changes through a modify order or /cancelServiceOrder',
        tags: ['serviceOrder'],
        params: idParams('^(ord|mod)-[0-9a-f-]{36}$'),
        body: { type: 'object', minProperties: 1, properties: { externalId: str({ maxLength: 64 }), description: str({ maxLength: 500 }) } },
        response: responses(200, serviceOrder, 'the order as it is now'),
      },
    },
    async (req) => {
      const p = ctx.principal(req);
      const bad = Object.keys(req.body).find((k) => !PATCHABLE.includes(k));
      if (bad) throw new InvalidArgumentError(`body.${bad}: cannot be changed with PATCH (only ${PATCHABLE.join(', ')}); the service changes with a modify order, ends with /cancelServiceOrder`);
      const change = req.body as { externalId?: string; description?: string };
      const id = req.params.id;
      if (id.startsWith('mod-')) {
        owned(ctx, p, 'serviceOrder', id, await ctx.core().getModifyOrder(id));
        const m = (await ctx.core().annotateModifyOrder(id, change))!;
        return modifyToTmf(m, (await ctx.core().getOrder(m.orderId).catch(() => undefined))?.service);
      }
      await ctx.orderFor(p, id, 'serviceOrder', id);
      return orderToTmf(await ctx.core().annotateOrder(id, change));
    },
  );

  app.post<{ Body: { serviceOrder: { id: string }; cancellationReason?: string; requestedCancellationDate?: string }; Headers: { 'idempotency-key'?: string } }>(
    `${ORDER_BASE}/cancelServiceOrder`,
    {
      schema: {
        summary: 'Cancel an order: its service is taken off every device and its bookings released, at once (done), or the refusal (terminatedWithError)',
        tags: ['cancelServiceOrder'],
        headers: { type: 'object', properties: { 'idempotency-key': str({ minLength: 1, maxLength: 255, pattern: '^[\\x21-\\x7e]+$' }) } },
        body: cancelCreate,
        response: { ...responses(201, cancelOut, 'the cancellation: done, or terminatedWithError with the reason'), 409: { description: 'the first request with this Idempotency-Key is still being answered', ...tmfError } },
      },
    },
    async (req, reply) => {
      const p = ctx.principal(req);
      const answer = async () => {
        const b = req.body;
        if (b.requestedCancellationDate !== undefined && Date.parse(b.requestedCancellationDate) > Date.now() + 1000) {
          throw new InvalidArgumentError(`body.requestedCancellationDate: must not be in the future (a cancellation is carried out at once), got ${b.requestedCancellationDate}`);
        }
        await ctx.orderFor(p, b.serviceOrder.id, 'serviceOrder', b.serviceOrder.id);
        const c = await ctx.core().cancelOrder(b.serviceOrder.id, { cancellationReason: b.cancellationReason, requestedCancellationDate: b.requestedCancellationDate });
        return { status: 201, body: cancelToTmf(c) as unknown };
      };
      const key = req.headers['idempotency-key'];
      const a = key ? await ctx.core().idempotent(`${p.keyId}:cancel`, key, req.body, answer) : { ...(await answer()), replayed: false };
      if (a.replayed) reply.header('idempotent-replayed', 'true');
      return reply.code(a.status).header('location', (a.body as { href: string }).href).send(a.body);
    },
  );

  app.get<{ Querystring: { state?: string; fields?: string; offset: number; limit: number } }>(
    `${ORDER_BASE}/cancelServiceOrder`,
    { schema: { summary: 'List cancellations (a customer key: its own), oldest first', tags: ['cancelServiceOrder'], querystring: listQuery({ state: { type: 'string', enum: CANCEL_STATES } }), response: responses(200, { type: 'array', items: cancelOut }, 'the cancellations; X-Total-Count has how many match') } },
    async (req, reply) => {
      const q = req.query;
      selectFields({}, q.fields, CANCEL_FIELDS);
      return sendPage(reply, await ctx.core().pageCancelOrders({ customer: ctx.principal(req).customer, state: q.state, offset: q.offset, limit: q.limit }), q.fields, CANCEL_FIELDS, (c) => cancelToTmf(c));
    },
  );

  app.get<{ Params: { id: string }; Querystring: { fields?: string } }>(
    `${ORDER_BASE}/cancelServiceOrder/:id`,
    { schema: { summary: 'One cancellation', tags: ['cancelServiceOrder'], params: idParams('^cso-[0-9a-f-]{36}$'), querystring: fieldsQuery, response: responses(200, cancelOut, 'the cancellation') } },
    async (req) => {
      const c = owned(ctx, ctx.principal(req), 'cancelServiceOrder', req.params.id, await ctx.core().getCancelOrder(req.params.id));
      return selectFields(cancelToTmf(c), req.query.fields, CANCEL_FIELDS);
    },
  );
}
