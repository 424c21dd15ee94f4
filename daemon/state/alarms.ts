/**
 * Alarms of a domain (TMF642), as records of kind `alarm`: the whole
 * domain's in the kind's index for operators, and an alarm about one
 * customer's service also in that customer's index. Nothing in the daemon
 * raises alarms yet (fault detection is later work); operators and their
 * fault-management systems can report one (POST /alarm), and every alarm
 * written here is listed.
 */
import { randomUUID } from 'node:crypto';
import type { RecordStore } from './records.js';

export const ALARM_TYPES = ['communicationsAlarm', 'processingErrorAlarm', 'environmentalAlarm', 'qualityOfServiceAlarm', 'equipmentAlarm', 'integrityViolation', 'operationalViolation', 'physicalViolation', 'securityService', 'mechanismViolation', 'timeDomainViolation'] as const;
export const SEVERITIES = ['critical', 'major', 'minor', 'warning', 'indeterminate', 'cleared'] as const;

/** An alarm, as stored. */
export interface AlarmRecord {
  id: string;
  /** The customer whose service it is about, if any (that customer sees it). */
  customer?: string;
  alarmType: (typeof ALARM_TYPES)[number];
  perceivedSeverity: (typeof SEVERITIES)[number];
  probableCause: string;
  specificProblem?: string;
  /** raised, updated or cleared. */
  state: 'raised' | 'updated' | 'cleared';
  ackState: 'acknowledged' | 'unacknowledged';
  alarmRaisedTime: string;
  alarmReportingTime: string;
  alarmClearedTime?: string;
  /** What it is about: a service, a device, a peer. */
  alarmedObject: { id: string; referredType?: string };
  /** The domain that reports it. */
  sourceSystemId: string;
  /** The customer's service it is about, if any. */
  serviceId?: string;
}

const KIND = 'alarm';

export class AlarmStore {
  constructor(
    private readonly records: RecordStore,
    private readonly domain: string,
  ) {}

  /** Record an alarm (its event goes to the outbox with it). */
  async raise(a: Omit<AlarmRecord, 'id' | 'state' | 'ackState' | 'alarmReportingTime' | 'sourceSystemId'> & { id?: string }): Promise<AlarmRecord> {
    const rec: AlarmRecord = { ...a, id: a.id ?? `alm-${randomUUID()}`, state: 'raised', ackState: 'unacknowledged', alarmReportingTime: new Date().toISOString(), sourceSystemId: this.domain };
    await this.records.put(KIND, rec.id, 0, rec, { score: Date.parse(rec.alarmRaisedTime), ...(rec.customer !== undefined ? { customer: rec.customer } : {}), event: { type: 'alarm-raised', customer: rec.customer ?? '', severity: rec.perceivedSeverity } });
    return rec;
  }

  async get(id: string): Promise<AlarmRecord | undefined> {
    return (await this.records.get<AlarmRecord>(KIND, id))?.doc;
  }

  /** One page, oldest first: a customer's from its index, or the domain's. */
  async page(q: { customer?: string; offset: number; limit: number; where?: (a: AlarmRecord) => boolean }): Promise<{ items: AlarmRecord[]; total: number }> {
    const w = q.where;
    const r = await this.records.page<AlarmRecord>([KIND], { customer: q.customer, offset: q.offset, limit: q.limit, where: w && ((_k, a) => w(a)) });
    return { items: r.items.map((x) => x.doc), total: r.total };
  }
}
