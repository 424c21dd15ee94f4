/**
 * TMF642 v4 Alarm Management: `/alarm` (GET list, GET by id; POST for
 * operators and their fault-management systems to report one). The list is
 * what the domain's alarm store holds: nothing in the daemon raises alarms
 * yet. An alarm about a customer's service (affectedService) is that
 * customer's too: a customer key sees those, an operator every alarm.
 */
import type { FastifyInstance } from 'fastify';
import { InvalidArgumentError } from '../../drivers/errors.js';
import type { AlarmRecord } from '../core.js';
import { fieldsQuery, idParams, listQuery, operatorOnly, owned, responses, sendPage, type RouteContext } from './context.js';
import { selectFields, serviceHref, tmfError } from './tmf.js';

export const ALARM_BASE = '/tmf-api/alarmManagement/v4';
const str = (extra: Record<string, unknown> = {}) => ({ type: 'string', ...extra });
const ALARM_TYPES = ['communicationsAlarm', 'processingErrorAlarm', 'environmentalAlarm', 'qualityOfServiceAlarm', 'equipmentAlarm', 'integrityViolation', 'operationalViolation', 'physicalViolation', 'securityService', 'mechanismViolation', 'timeDomainViolation'];
const SEVERITIES = ['critical', 'major', 'minor', 'warning', 'indeterminate', 'cleared'];
const STATES = ['raised', 'updated', 'cleared'];

const create = {
  type: 'object',
  additionalProperties: false,
  required: ['alarmType', 'perceivedSeverity', 'probableCause', 'alarmRaisedTime', 'alarmedObject'],
  properties: {
    alarmType: { type: 'string', enum: ALARM_TYPES },
    perceivedSeverity: { type: 'string', enum: SEVERITIES },
    probableCause: str({ minLength: 1, maxLength: 200 }),
    specificProblem: str({ maxLength: 500 }),
    alarmRaisedTime: str({ format: 'date-time' }),
    alarmedObject: { type: 'object', additionalProperties: false, required: ['id'], properties: { id: str({ minLength: 1, maxLength: 200 }), '@referredType': str({ maxLength: 64 }) } },
    affectedService: { type: 'array', maxItems: 1, items: { type: 'object', additionalProperties: false, required: ['id'], properties: { id: str({ pattern: '^svc-[0-9a-f-]{36}$' }), href: str({ maxLength: 300 }) } }, description: 'the customer\'s service it is about: that customer sees the alarm' },
    '@type': { type: 'string', enum: ['Alarm'] },
  },
} as const;

const out = {
  type: 'object',
  properties: {
    id: str(),
    href: str(),
    alarmType: str(),
    perceivedSeverity: str(),
    probableCause: str(),
    specificProblem: str(),
    state: str(),
    ackState: str(),
    alarmRaisedTime: str(),
    alarmReportingTime: str(),
    alarmClearedTime: str(),
    sourceSystemId: str(),
    alarmedObject: { type: 'object', properties: { id: str(), '@referredType': str() } },
    affectedService: { type: 'array', items: { type: 'object', properties: { id: str(), href: str() } } },
    '@type': str(),
  },
} as const;
const FIELDS = Object.keys(out.properties);

function toTmf(a: AlarmRecord & { serviceId?: string }) {
  return {
    id: a.id,
    href: `${ALARM_BASE}/alarm/${a.id}`,
    alarmType: a.alarmType,
    perceivedSeverity: a.perceivedSeverity,
    probableCause: a.probableCause,
    ...(a.specificProblem ? { specificProblem: a.specificProblem } : {}),
    state: a.state,
    ackState: a.ackState,
    alarmRaisedTime: a.alarmRaisedTime,
    alarmReportingTime: a.alarmReportingTime,
    ...(a.alarmClearedTime ? { alarmClearedTime: a.alarmClearedTime } : {}),
    sourceSystemId: a.sourceSystemId,
    alarmedObject: { id: a.alarmedObject.id, ...(a.alarmedObject.referredType ? { '@referredType': a.alarmedObject.referredType } : {}) },
    ...(a.serviceId ? { affectedService: [{ id: a.serviceId, href: serviceHref(a.serviceId) }] } : {}),
    '@type': 'Alarm',
  };
}

type CreateBody = { alarmType: AlarmRecord['alarmType']; perceivedSeverity: AlarmRecord['perceivedSeverity']; probableCause: string; specificProblem?: string; alarmRaisedTime: string; alarmedObject: { id: string; '@referredType'?: string }; affectedService?: Array<{ id: string }> };

export async function registerAlarm(app: FastifyInstance, ctx: RouteContext): Promise<void> {
  app.post<{ Body: CreateBody }>(
    `${ALARM_BASE}/alarm`,
    { schema: { summary: 'Report an alarm (operator keys and tokens only)', tags: ['alarm'], body: create, response: { ...responses(201, out, 'the alarm, raised'), 403: { description: 'a customer key or token', ...tmfError } } } },
    async (req, reply) => {
      const p = ctx.principal(req);
      operatorOnly(p, 'POST /alarm');
      const b = req.body;
      if (Date.parse(b.alarmRaisedTime) > Date.now() + 60_000) throw new InvalidArgumentError(`body.alarmRaisedTime: must not be in the future, got ${b.alarmRaisedTime}`);
      const svc = b.affectedService?.[0]?.id;
      const customer = svc ? (await ctx.orderFor(p, `ord-${svc.slice(4)}`, 'service', svc)).customer : undefined;
      const a = await ctx.core().raiseAlarm({
        ...(customer !== undefined ? { customer } : {}),
        alarmType: b.alarmType,
        perceivedSeverity: b.perceivedSeverity,
        probableCause: b.probableCause,
        ...(b.specificProblem ? { specificProblem: b.specificProblem } : {}),
        alarmRaisedTime: new Date(b.alarmRaisedTime).toISOString(),
        alarmedObject: { id: b.alarmedObject.id, ...(b.alarmedObject['@referredType'] ? { referredType: b.alarmedObject['@referredType'] } : {}) },
        ...(svc ? { serviceId: svc } : {}),
      });
      return reply.code(201).header('location', `${ALARM_BASE}/alarm/${a.id}`).send(toTmf(a));
    },
  );

  app.get<{ Querystring: { state?: string; perceivedSeverity?: string; alarmType?: string; fields?: string; offset: number; limit: number } }>(
    `${ALARM_BASE}/alarm`,
    {
      schema: {
        summary: 'List alarms, oldest first: an operator every alarm of the domain, a customer key those about its services (nothing in the daemon raises alarms yet)',
        tags: ['alarm'],
        querystring: listQuery({ state: { type: 'string', enum: STATES }, perceivedSeverity: { type: 'string', enum: SEVERITIES }, alarmType: { type: 'string', enum: ALARM_TYPES } }),
        response: responses(200, { type: 'array', items: out }, 'the alarms; X-Total-Count has how many match'),
      },
    },
    async (req, reply) => {
      const q = req.query;
      selectFields({}, q.fields, FIELDS);
      const filtered = q.state !== undefined || q.perceivedSeverity !== undefined || q.alarmType !== undefined;
      const where = filtered ? (a: AlarmRecord) => (q.state === undefined || a.state === q.state) && (q.perceivedSeverity === undefined || a.perceivedSeverity === q.perceivedSeverity) && (q.alarmType === undefined || a.alarmType === q.alarmType) : undefined;
      return sendPage(reply, await ctx.core().pageAlarms({ customer: ctx.principal(req).customer, offset: q.offset, limit: q.limit, where }), q.fields, FIELDS, toTmf);
    },
  );

  app.get<{ Params: { id: string }; Querystring: { fields?: string } }>(
    `${ALARM_BASE}/alarm/:id`,
    { schema: { summary: 'One alarm', tags: ['alarm'], params: idParams('^alm-[0-9a-f-]{36}$'), querystring: fieldsQuery, response: responses(200, out, 'the alarm') } },
    async (req) => selectFields(toTmf(owned(ctx, ctx.principal(req), 'alarm', req.params.id, await ctx.core().getAlarm(req.params.id))), req.query.fields, FIELDS),
  );
}
