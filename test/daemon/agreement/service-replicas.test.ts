/**
 * Agreement state lives in the store: a second AgreementService of the same
 * domain on the same Redis (another replica, or this one restarted: a new
 * instance with nothing in memory) commits or aborts what the first
 * reserved, the owner check holds across them, and an abandoned agreement is
 * logged once among them.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { assembleContract, sealContractBody, signatureDomain, verifyContract, type ContractBody } from '../../../daemon/agreement/contract.js';
import { segmentOrders, type SegmentOrder, type SegmentQuote } from '../../../daemon/agreement/participant.js';
import { AgreementService } from '../../../daemon/agreement/service.js';
import { demoNetwork } from '../../../daemon/cli/demo-network.js';
import { generateAdvertKeyPair } from '../../../daemon/peering/advert.js';
import { startEmbeddedRedis, type EmbeddedRedis } from '../../../daemon/state/embedded-redis.js';
import { RedisResourceStore } from '../../../daemon/state/redis-store.js';
import { buildTopology } from '../../../daemon/topology/graph.js';
import { computePaths } from '../../../daemon/topology/paths/index.js';

const dir = mkdtempSync(join(tmpdir(), 'qb-svc-rep-'));
const HOUR = 3_600_000;
const graph = buildTopology(demoNetwork());
const key = generateAdvertKeyPair();
let redis: EmbeddedRedis;
const stores: RedisResourceStore[] = [];
const clients: Redis[] = [];
const logs: Array<{ replica: string; msg: string } & Record<string, unknown>> = [];

/** One replica of provider-y: its own connection and store object, the domain's key, nothing shared in memory. */
function replica(name: string): AgreementService {
  const client = new Redis({ path: redis.socketPath });
  clients.push(client);
  const store = new RedisResourceStore({ domain: 'provider-y', redis: client });
  stores.push(store);
  return new AgreementService({ store, signingKey: key.privateKey, graph: () => ({ graph, key: 'k' }), log: (_l, msg, f) => logs.push({ replica: name, msg, ...f }) });
}

beforeAll(async () => {
  redis = await startEmbeddedRedis(join(dir, 'redis'), { log: () => {} });
});
afterAll(async () => {
  for (const s of stores) await s.close();
  for (const c of clients) c.disconnect();
  await redis?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const path = computePaths(graph, { from: { domain: 'provider-x', site: 'site-x' }, to: { domain: 'provider-z', site: 'site-z' }, qosClass: 'EF', rateMbps: 4, objective: 'cheapest' }).paths[0]!;
let hour = 2;

function orderFor(agreementId: string): SegmentOrder {
  const start = Date.now() + (hour += 2) * HOUR;
  return segmentOrders(path, { agreementId, alternative: 0, qosClass: 'EF', rateMbps: 4, start, end: start + HOUR }).find((o) => o.domain === 'provider-y')!;
}

function bodyFor(o: SegmentOrder, q: SegmentQuote, publicKey: string): ContractBody {
  return sealContractBody({
    version: 2 as const,
    agreementId: o.agreementId,
    originator: { domain: 'provider-x', customer: 'acme' },
    service: { from: 'provider-x/site-x', to: 'provider-z/site-z', qosClass: 'EF', rateMbps: o.rateMbps },
    window: { start: new Date(o.start).toISOString(), end: new Date(o.end).toISOString() },
    parties: [{ domain: 'provider-y', publicKey, role: 'provider' }],
    segments: [{ domain: 'provider-y', ingress: o.ingress, egress: o.egress, latencyMs: 1, jitterMs: 0, lossPct: 0, priceMinor: q.priceMinor }],
    currency: q.currency,
    totalPriceMinor: q.priceMinor,
    issuedAt: new Date().toISOString(),
  });
}

/** A new agreement's segment held by `svc` for provider-x (prepare: the quote is stored with the hold). */
async function heldBy(svc: AgreementService, agreementId: string, holdTtlMs = 10_000): Promise<{ o: SegmentOrder; q: SegmentQuote }> {
  const o = orderFor(agreementId);
  return { o, q: await svc.prepare(o, holdTtlMs, 'provider-x') };
}

const id0 = (o: SegmentOrder) => `${o.agreementId}:0:${o.index}`;
const used = async (o: SegmentOrder) => Math.max(...(await stores[0]!.usage('provider-y/y1:provider-y/y2', 'EF', o.start, o.end)).map((u) => u.usedBps));

test('agreement replicas - another instance on the same Redis commits what the first reserved, and aborts another', async () => {
  const first = replica('first');
  const second = replica('second');
  const { o, q } = await heldBy(first, 'agr-rep-1');
  // the second instance has seen nothing of it: the store has the owner, the order and the quote
  const body = bodyFor(o, q, second.publicKey);
  const sig = await second.commit(o.agreementId, body, 'provider-x');
  expect(verifyContract(assembleContract(body, [sig])).signedBy).toEqual(['provider-y']);
  expect((await stores[0]!.get(id0(o)))?.state).toBe('committed');
  // a retried Commit on the first (its cache) is the same booking
  expect(signatureDomain(await first.commit(o.agreementId, body, 'provider-x'))).toBe('provider-y');
  // the quote the store kept is what the body is checked against: another price is refused
  const { o: o2, q: q2 } = await heldBy(first, 'agr-rep-2');
  const third = replica('third');
  const cheaper = bodyFor(o2, { ...q2, priceMinor: q2.priceMinor - 1 }, third.publicKey);
  await expect(third.commit(o2.agreementId, cheaper, 'provider-x')).rejects.toMatchObject({ code: 'QB_AGREEMENT_BODY_MISMATCH' });
  expect(await used(o2)).toBe(4e6);
  // a "restarted" instance aborts what the first held: capacity returns, the first's Commit then fails
  const restarted = replica('restarted');
  await restarted.abort(o2.agreementId, 'provider-x');
  expect((await stores[0]!.get(id0(o2)))?.state).toBe('aborted');
  expect(await used(o2)).toBe(0);
  expect(logs.filter((l) => l.replica === 'restarted' && l.event === 'agreement-aborted' && l.agreement_id === o2.agreementId)).toHaveLength(1);
  await expect(first.commit(o2.agreementId, bodyFor(o2, q2, first.publicKey), 'provider-x')).rejects.toMatchObject({ code: 'QB_AGREEMENT_NOTHING_HELD' });
  // the owner's Abort on another instance also releases a committed booking (within the retention window)
  await third.abort(o.agreementId, 'provider-x');
  expect((await stores[0]!.get(id0(o)))?.state).toBe('released');
});

test('agreement replicas - the owner check holds across instances: another caller may not quote into, hold, commit or abort the agreement', async () => {
  const first = replica('owner-first');
  const other = replica('owner-other');
  const { o, q } = await heldBy(first, 'agr-rep-own');
  const body = bodyFor(o, q, other.publicKey);
  await expect(other.commit(o.agreementId, body, 'provider-q')).rejects.toMatchObject({ code: 'QB_AGREEMENT_NOT_OWNER' });
  await expect(other.abort(o.agreementId, 'provider-q')).rejects.toMatchObject({ code: 'QB_AGREEMENT_NOT_OWNER' });
  await expect(other.quote(o, 'provider-q')).rejects.toMatchObject({ code: 'QB_AGREEMENT_NOT_OWNER' });
  await expect(other.prepare({ ...o, alternative: 1 }, 10_000, 'provider-q')).rejects.toMatchObject({ code: 'QB_AGREEMENT_NOT_OWNER' });
  await expect(other.reserve(o, 10_000, 'provider-q')).rejects.toMatchObject({ code: 'QB_AGREEMENT_NOT_OWNER' });
  expect((await stores[0]!.get(id0(o)))?.state).toBe('held');
  expect(await used(o)).toBe(4e6);
  // the owner, on either instance
  expect(signatureDomain(await other.commit(o.agreementId, body, 'provider-x'))).toBe('provider-y');
  await expect(first.abort(o.agreementId, 'provider-q')).rejects.toMatchObject({ code: 'QB_AGREEMENT_NOT_OWNER' });
  expect((await stores[0]!.get(id0(o)))?.state).toBe('committed');
});

test('agreement replicas - an agreement abandoned on one instance is logged once, by whichever sweeps first', async () => {
  const a = replica('sweep-a');
  const b = replica('sweep-b');
  const { o } = await heldBy(a, 'agr-rep-gone', 200);
  await new Promise((r) => setTimeout(r, 350));
  const swept = await Promise.all([a.sweep(), b.sweep(), a.sweep(), b.sweep()]);
  expect(swept.flat()).toEqual([o.agreementId]);
  const lines = logs.filter((l) => l.event === 'agreement-abandoned' && l.agreement_id === o.agreementId);
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatchObject({ caller: 'provider-x', segments: [`0:${o.index}`] });
  expect((await stores[0]!.get(id0(o)))?.state).toBe('expired');
  expect(await used(o)).toBe(0);
  await expect(b.commit(o.agreementId, {} as ContractBody, 'provider-x')).rejects.toMatchObject({ code: 'QB_AGREEMENT_NOTHING_HELD' });
});
