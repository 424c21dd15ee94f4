/** Records past their retention go, with their index entries and an outbox event, on a real redis-server; what is still kept stays untouched. */
import { afterAll, beforeAll, expect, test } from 'vitest';
import { Redis } from 'ioredis';
import { RecordStore } from '../../../daemon/state/records.js';
import { daemonRetentionRules, sweepRecords } from '../../../daemon/state/retention.js';
import { startTestRedis, type TestRedis } from './redis-harness.js';

let server: TestRedis;
let redis: Redis;
let records: RecordStore;
const DAY = 24 * 3_600_000;
const NOW = Date.parse('2026-12-02T00:00:00Z');
const rules = daemonRetentionRules({ recordRetentionMs: 30 * DAY, contractRetentionMs: 365 * DAY });
const iso = (t: number) => new Date(t).toISOString();

beforeAll(async () => {
  server = await startTestRedis();
  redis = new Redis({ path: server.server.socketPath });
  records = new RecordStore({ redis, domain: 'dom-r' });
});
afterAll(async () => {
  redis?.disconnect();
  await server?.stop();
});

test('retention - quotes and qualifications go 30 days after they were made, from the kind index and the customer index; younger ones stay', async () => {
  for (const [id, age] of [['quo-old1', 40], ['quo-old2', 31], ['quo-new', 29]] as const)
    await records.put('quote', id, 0, { id, customer: 'acme', createdAt: iso(NOW - age * DAY) }, { score: NOW - age * DAY, customer: 'acme' });
  await records.put('qualification', 'qua-old', 0, { id: 'qua-old', customer: 'beta', createdAt: iso(NOW - 60 * DAY) }, { score: NOW - 60 * DAY, customer: 'beta' });
  const removed = await sweepRecords(records, rules, NOW);
  expect(removed).toMatchObject({ quote: 2, qualification: 1 });
  expect(await records.ids('quote')).toEqual(['quo-new']);
  expect(await records.ids('qualification')).toEqual([]);
  expect((await records.page(['quote'], { customer: 'acme', offset: 0, limit: 10 })).items.map((x) => (x.doc as { id: string }).id)).toEqual(['quo-new']);
  expect(await records.get('quote', 'quo-old1')).toBeUndefined();
  const events = (await records.outbox()).filter((e) => e.type.endsWith('-purged'));
  expect(events.map((e) => [e.type, e.recordId]).sort()).toEqual([['qualification-purged', 'qua-old'], ['quote-purged', 'quo-old1'], ['quote-purged', 'quo-old2']]);
  // a second sweep finds nothing more
  expect(await sweepRecords(records, rules, NOW)).toMatchObject({ quote: 0, qualification: 0 });
});

test('retention - an alarm goes 30 days after it was cleared; a raised one stays however old; an ended agreement goes a year after its window ended', async () => {
  await records.put('alarm', 'alm-raised', 0, { id: 'alm-raised', state: 'raised', alarmRaisedTime: iso(NOW - 400 * DAY), alarmReportingTime: iso(NOW - 400 * DAY) }, { score: NOW - 400 * DAY });
  await records.put('alarm', 'alm-cleared-old', 0, { id: 'alm-cleared-old', customer: 'acme', state: 'cleared', alarmRaisedTime: iso(NOW - 100 * DAY), alarmReportingTime: iso(NOW - 100 * DAY), alarmClearedTime: iso(NOW - 40 * DAY) }, { score: NOW - 100 * DAY, customer: 'acme' });
  await records.put('alarm', 'alm-cleared-new', 0, { id: 'alm-cleared-new', state: 'cleared', alarmRaisedTime: iso(NOW - 100 * DAY), alarmReportingTime: iso(NOW - 100 * DAY), alarmClearedTime: iso(NOW - 10 * DAY) }, { score: NOW - 100 * DAY });
  await records.put('agreement', 'agr-ended', 0, { owner: 'dom-a', reservations: [], end: iso(NOW - 400 * DAY) }, { score: NOW - 401 * DAY });
  await records.put('agreement', 'agr-retained', 0, { owner: 'dom-a', reservations: [], end: iso(NOW - 300 * DAY) }, { score: NOW - 400 * DAY });
  await records.put('agreement', 'agr-running', 0, { owner: 'dom-a', reservations: [], end: iso(NOW + 400 * DAY) }, { score: NOW - 500 * DAY });
  const removed = await sweepRecords(records, rules, NOW);
  expect(removed).toMatchObject({ alarm: 1, agreement: 1 });
  expect((await records.ids('alarm')).sort()).toEqual(['alm-cleared-new', 'alm-raised']);
  expect((await records.page(['alarm'], { customer: 'acme', offset: 0, limit: 10 })).total).toBe(0);
  expect((await records.ids('agreement')).sort()).toEqual(['agr-retained', 'agr-running']);
});

test('retention - a record whose date cannot be read is kept; an index entry without its record is dropped; kept records do not stop the sweep behind them', async () => {
  await records.put('quote', 'quo-bad-date', 0, { id: 'quo-bad-date', createdAt: 'yesterday' }, { score: NOW - 90 * DAY });
  await redis.zadd(`${records.base}quotes`, String(NOW - 80 * DAY), 'quo-lost');
  // batches of 2, with kept records at the front: everything expired behind them still goes
  for (const i of [1, 2, 3]) await records.put('quote', `quo-kept-${i}`, 0, { id: `quo-kept-${i}`, createdAt: 'not a date' }, { score: NOW - 70 * DAY + i });
  for (const i of [1, 2, 3]) await records.put('quote', `quo-late-${i}`, 0, { id: `quo-late-${i}`, createdAt: iso(NOW - 50 * DAY) }, { score: NOW - 50 * DAY + i });
  const removed = await sweepRecords(records, rules, NOW, 2);
  expect(removed.quote).toBe(3); // the index entry without its record is dropped, not counted
  expect((await records.ids('quote')).sort()).toEqual(['quo-bad-date', 'quo-kept-1', 'quo-kept-2', 'quo-kept-3', 'quo-new']);
});
