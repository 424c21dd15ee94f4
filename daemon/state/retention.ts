/**
 * Records that are only kept for a while: what a customer asked before
 * ordering (TMF645 qualifications, TMF648 quotes), cleared alarms (TMF642),
 * and the agreements a transit domain committed (kept for its Redeploy and
 * release checks while the service may still be asked about). A sweep
 * removes each such record, with its index entries and its outbox event,
 * once its retention has passed; an order and its contract go by the
 * workflow's own purge deadline instead.
 */
import type { RecordStore } from './records.js';

/** One kind that is swept. */
export interface RetentionRule<T = Record<string, unknown>> {
  kind: string;
  /**
   * When the record may go, ms since the epoch (undefined: keep it for now,
   * e.g. an alarm still raised). Records are visited oldest first by their
   * index score, so `scoreBound` says up to which score to look.
   */
  expiresAt: (doc: T) => number | undefined;
  /** Records with an index score above this are not visited (their expiry is later than now). */
  scoreBound: (now: number) => number;
  /** The customer whose index holds it, if any. */
  customerOf?: (doc: T) => string | undefined;
}

/** Remove every record of the rules' kinds whose retention has passed; how many went, per kind. */
export async function sweepRecords(records: RecordStore, rules: readonly RetentionRule[], now: number, batch = 500): Promise<Record<string, number>> {
  const removed: Record<string, number> = {};
  for (const rule of rules) {
    removed[rule.kind] = 0;
    // what is kept stays at the front of the index (oldest first): the next batch starts after it
    for (let kept = 0; ; ) {
      const ids = await records.idsUpTo(rule.kind, rule.scoreBound(now), kept, batch);
      if (!ids.length) break;
      const docs = new Map((await records.getMany<Record<string, unknown>>(rule.kind, ids)).map((r) => [r.id, r.doc]));
      for (const id of ids) {
        const doc = docs.get(id);
        if (doc === undefined) {
          await records.delete(rule.kind, id, []); // an index entry whose record is gone
          continue;
        }
        const at = rule.expiresAt(doc);
        if (at === undefined || !Number.isFinite(at) || at > now) {
          kept++;
          continue;
        }
        const customer = rule.customerOf?.(doc);
        await records.delete(rule.kind, id, [], { type: `${rule.kind}-purged`, ...(customer !== undefined ? { customer } : {}) }, customer !== undefined ? { customer } : {});
        removed[rule.kind]!++;
      }
      if (ids.length < batch) break;
    }
  }
  return removed;
}

const ms = (t: unknown): number => (typeof t === 'number' ? t : typeof t === 'string' ? Date.parse(t) : NaN);

/**
 * The daemon's rules: quotes and qualifications `recordRetentionMs` after they
 * were made; an alarm `recordRetentionMs` after it was cleared (a raised one
 * stays); a committed agreement of this domain `contractRetentionMs` after its
 * service's window ended, as long as the originator keeps the contract.
 */
export function daemonRetentionRules(o: { recordRetentionMs: number; contractRetentionMs: number }): RetentionRule[] {
  const customerOf = (d: Record<string, unknown>) => (typeof d.customer === 'string' ? d.customer : undefined);
  const made = (kind: string): RetentionRule => ({ kind, customerOf, scoreBound: (now) => now - o.recordRetentionMs, expiresAt: (d) => ms(d.createdAt) + o.recordRetentionMs });
  return [
    made('quote'),
    made('qualification'),
    // indexed by when it was raised, which is before it was cleared
    { kind: 'alarm', customerOf, scoreBound: (now) => now - o.recordRetentionMs, expiresAt: (d) => (d.state === 'cleared' ? ms(d.alarmClearedTime ?? d.alarmReportingTime) + o.recordRetentionMs : undefined) },
    // indexed by when it was committed, which is before its window ended
    { kind: 'agreement', scoreBound: (now) => now - o.contractRetentionMs, expiresAt: (d) => ms(d.end) + o.contractRetentionMs },
  ];
}
