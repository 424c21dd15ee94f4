/**
 * Views stored with records (RecordStoreOptions.views) on a real redis-server:
 * a page of views is the stored strings joined; records written without a
 * current view (before views existed, by a daemon without the view, by an
 * older revision) are rendered from the document on read and written back;
 * replicas of a domain on one Redis list what the other wrote.
 */
import { afterAll, beforeAll, expect, test } from 'vitest';
import { Redis } from 'ioredis';
import { RecordStore, type RecordView } from '../../../daemon/state/records.js';
import { startTestRedis, type TestRedis } from './redis-harness.js';

let server: TestRedis;
let redis: Redis;

beforeAll(async () => {
  server = await startTestRedis();
  redis = server.client();
});
afterAll(async () => {
  await server?.stop();
});

interface Doc {
  n: number;
  who: string;
  when: number;
  note?: string;
}
// a view that reshapes, drops and derives (as serviceToTmf does), so a stale one shows
const view = (revision = 1): RecordView => ({ revision, render: (d) => ({ id: `x${(d as Doc).n}`, who: (d as Doc).who, at: new Date((d as Doc).when).toISOString(), ...((d as Doc).note ? { note: (d as Doc).note } : {}), rev: revision }) });
const store = (domain: string, v?: RecordView) => new RecordStore({ redis, domain, ...(v ? { views: { thing: v } } : {}) });
const parse = (b: Buffer) => JSON.parse(b.toString()) as unknown[];
/** What a page must be: the view of each record of the index, rendered now from its document. */
async function expected(s: RecordStore, v: RecordView, customer: string | undefined, offset: number, limit: number) {
  const p = await s.page<Doc>(['thing'], { customer, offset, limit });
  return { views: p.items.map((x) => v.render(x.doc)), total: p.total };
}

test('record views - a page of stored views is the JSON array of each record\'s view, per customer or all, with offset, limit and total', async () => {
  const v = view();
  const s = store('dom-v1', v);
  for (let i = 1; i <= 7; i++) await s.put('thing', `t${i}`, 0, { n: i, who: i % 2 ? 'acme' : 'globex', when: 1_700_000_000_000 + i, ...(i === 3 ? { note: 'ü "quoted" \\ ' } : {}) } satisfies Doc, { score: i, customer: i % 2 ? 'acme' : 'globex' });
  for (const [customer, offset, limit] of [[undefined, 0, 100], ['acme', 0, 100], ['acme', 1, 2], ['globex', 0, 1], ['globex', 5, 10]] as const) {
    const page = await s.pageViews('thing', { customer, offset, limit });
    const want = await expected(s, v, customer, offset, limit);
    expect(parse(page.json)).toEqual(want.views);
    expect(page).toMatchObject({ count: want.views.length, total: want.total, rendered: 0 });
  }
  expect((await s.pageViews('thing', { customer: 'initech', offset: 0, limit: 10 })).json.toString()).toBe('[]');
  // a changed record's page shows the change; a deleted one is gone
  const r = (await s.get<Doc>('thing', 't1'))!;
  await s.put('thing', 't1', r.version, { ...r.doc, note: 'changed' }, { score: 1, customer: 'acme' });
  await s.delete('thing', 't3', [], undefined, { customer: 'acme' });
  const acme = await s.pageViews('thing', { customer: 'acme', offset: 0, limit: 100 });
  expect(parse(acme.json)).toEqual((await expected(s, v, 'acme', 0, 100)).views);
  expect(parse(acme.json).map((x) => (x as { id: string }).id)).toEqual(['x1', 'x5', 'x7']);
  expect((parse(acme.json)[0] as { note?: string }).note).toBe('changed');
});

test('record views - records written without a view (before views existed, or by a daemon without it) are rendered on read, written back once, and equal', async () => {
  const v = view();
  const before = store('dom-v2');
  for (let i = 1; i <= 4; i++) await before.put('thing', `t${i}`, 0, { n: i, who: 'acme', when: 1_700_000_000_000 + i } satisfies Doc, { score: i, customer: 'acme' });
  const s = store('dom-v2', v);
  await s.put('thing', 't5', 0, { n: 5, who: 'acme', when: 1_700_000_000_005 } satisfies Doc, { score: 5, customer: 'acme' });
  const first = await s.pageViews('thing', { customer: 'acme', offset: 0, limit: 100 });
  expect(first.rendered).toBe(4);
  expect(parse(first.json)).toEqual((await expected(s, v, 'acme', 0, 100)).views);
  const again = await s.pageViews('thing', { customer: 'acme', offset: 0, limit: 100 });
  expect(again.rendered).toBe(0);
  expect(again.json.equals(first.json)).toBe(true);
  // a daemon without the view changes a record: its stored view is stale (stamped with the old version) and not used
  const r = (await before.get<Doc>('thing', 't2'))!;
  await before.put('thing', 't2', r.version, { ...r.doc, note: 'by an older daemon' }, { score: 2, customer: 'acme' });
  const after = await s.pageViews('thing', { customer: 'acme', offset: 0, limit: 100 });
  expect(after.rendered).toBe(1);
  expect((parse(after.json)[1] as { note?: string }).note).toBe('by an older daemon');
  expect(parse(after.json)).toEqual((await expected(s, v, 'acme', 0, 100)).views);
});

test('record views - replicas of a domain on one Redis: what one writes the other lists at once, each change included', async () => {
  const a = store('dom-v3', view());
  const b = store('dom-v3', view());
  await a.put('thing', 't1', 0, { n: 1, who: 'acme', when: 1 } satisfies Doc, { score: 1, customer: 'acme' });
  expect(parse((await b.pageViews('thing', { customer: 'acme', offset: 0, limit: 10 })).json)).toEqual([view().render({ n: 1, who: 'acme', when: 1 })]);
  const r = (await b.get<Doc>('thing', 't1'))!;
  await b.put('thing', 't1', r.version, { ...r.doc, note: 'b' }, { score: 1, customer: 'acme' });
  await b.put('thing', 't2', 0, { n: 2, who: 'acme', when: 2 } satisfies Doc, { score: 2, customer: 'acme' });
  const seen = await a.pageViews('thing', { customer: 'acme', offset: 0, limit: 10 });
  expect(seen.rendered).toBe(0);
  expect(parse(seen.json)).toEqual([view().render({ n: 1, who: 'acme', when: 1, note: 'b' }), view().render({ n: 2, who: 'acme', when: 2 })]);
});

test('record views - a new revision renders older views again and writes them back; an older revision reading newer views renders but does not undo them', async () => {
  const v1 = store('dom-v4', view(1));
  for (let i = 1; i <= 3; i++) await v1.put('thing', `t${i}`, 0, { n: i, who: 'acme', when: i } satisfies Doc, { score: i, customer: 'acme' });
  const v2 = store('dom-v4', view(2));
  const up = await v2.pageViews('thing', { offset: 0, limit: 10 });
  expect(up.rendered).toBe(3);
  expect(parse(up.json).map((x) => (x as { rev: number }).rev)).toEqual([2, 2, 2]);
  expect((await v2.pageViews('thing', { offset: 0, limit: 10 })).rendered).toBe(0);
  // the replica still at revision 1 gets its own rendering, every time, and leaves revision 2's views in place
  for (let k = 0; k < 2; k++) {
    const old = await v1.pageViews('thing', { offset: 0, limit: 10 });
    expect(old.rendered).toBe(3);
    expect(parse(old.json).map((x) => (x as { rev: number }).rev)).toEqual([1, 1, 1]);
  }
  expect((await v2.pageViews('thing', { offset: 0, limit: 10 })).rendered).toBe(0);
  expect(await redis.hget('qb:{dom-v4}:thing:t1', 'sv')).toBe('1/2');
});

test('record views - a page of views of a kind without one is QB_STATE_NO_VIEW', async () => {
  await expect(store('dom-v5').pageViews('thing', { offset: 0, limit: 1 })).rejects.toMatchObject({ code: 'QB_STATE_NO_VIEW' });
});

test('record views - a patch replaces a view by its record id, on a page of stored views and on one rendered on read alike', async () => {
  const v = view();
  const s = store('dom-v-patch', v);
  const old = store('dom-v-patch'); // writes without the view: its records are rendered on read
  for (let i = 1; i <= 4; i++) await (i <= 2 ? s : old).put('thing', `t${i}`, 0, { n: i, who: 'acme', when: 1_700_000_000_000 + i } satisfies Doc, { score: i, customer: 'acme' });
  const patch = (id: string, b: Buffer) => (id === 't2' || id === 't4' ? Buffer.from(JSON.stringify({ ...(JSON.parse(b.toString()) as object), patched: id })) : b);
  const first = await s.pageViews('thing', { customer: 'acme', offset: 0, limit: 10 }, patch); // t3, t4 rendered on read
  expect(first.rendered).toBe(2);
  const again = await s.pageViews('thing', { customer: 'acme', offset: 0, limit: 10 }, patch); // every view stored now
  expect(again.rendered).toBe(0);
  for (const page of [first, again]) expect(parse(page.json).map((x) => (x as { patched?: string }).patched ?? null)).toEqual([null, 't2', null, 't4']);
  // what is stored is the view, not the patch
  expect(parse((await s.pageViews('thing', { customer: 'acme', offset: 0, limit: 10 })).json).some((x) => 'patched' in (x as object))).toBe(false);
});
