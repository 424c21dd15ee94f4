/**
 * The Agreement service over real gRPC with mutual TLS, in process: the
 * coordinator of provider-x reaches provider-y/-w/-z through
 * RemoteParticipants, each served by an AgreementService on its own store
 * (one real redis-server). Covers the error mapping both ways, idempotent
 * retries over the wire, ownership of an agreement, deadlines, and the CLI
 * unit parsers.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { InvalidArgumentError, TimeoutError, TransportError } from '../../../drivers/errors.js';
import { AgreementCoordinator } from '../../../daemon/agreement/coordinator.js';
import { assembleContract, contractBody, parseContractPayload, sealContractBody, signatureDomain, signContractBody, verifyContract, type ContractTerms } from '../../../daemon/agreement/contract.js';
import { edgeId, segmentOrders, type AgreementParticipant } from '../../../daemon/agreement/participant.js';
import { addAgreementService, loadAgreementProto, orderFromMsg, orderToMsg, RemoteParticipant, type AgreementCallMsg, type AgreementReplyMsg } from '../../../daemon/agreement/remote.js';
import { AgreementService } from '../../../daemon/agreement/service.js';
import { parseDuration, parseLatency, parseRate } from '../../../daemon/cli/agree.js';
import { demoNetwork } from '../../../daemon/cli/demo-network.js';
import { rawPublicKey } from '../../../daemon/peering/advert.js';
import { clientCredentials, serverCredentials } from '../../../daemon/peering/tls.js';
import { startEmbeddedRedis, type EmbeddedRedis } from '../../../daemon/state/embedded-redis.js';
import { RedisResourceStore } from '../../../daemon/state/redis-store.js';
import { buildTopology } from '../../../daemon/topology/graph.js';
import { makePki, type DomainFiles, type TestPki } from '../../../lab/pki.js';

const HOUR = 3_600_000;
const dir = mkdtempSync(join(tmpdir(), 'qb-agree-grpc-'));
const graph = buildTopology(demoNetwork());
const graphKeyed = () => ({ graph, key: 'demo' });
let pki: TestPki;
let redis: EmbeddedRedis;
const files = new Map<string, DomainFiles>();
const services = new Map<string, AgreementService>();
const stores = new Map<string, RedisResourceStore>();
const servers: grpc.Server[] = [];
const clients: grpc.Client[] = [];
const addresses = new Map<string, string>();
const logs: Array<{ domain: string; msg: string } & Record<string, unknown>> = [];

async function serve(add: (s: grpc.Server) => void, own: DomainFiles, pinned: DomainFiles[]): Promise<string> {
  const server = new grpc.Server();
  add(server);
  const port = await new Promise<number>((res, rej) =>
    server.bindAsync('127.0.0.1:0', serverCredentials({ certPem: own.certPem, keyPem: own.keyPem }, pinned.map((p) => ({ domain: p.domain, caPem: pki.caPem }))), (e, p) => (e ? rej(e) : res(p))),
  );
  servers.push(server);
  return `127.0.0.1:${port}`;
}

/** A RemoteParticipant for `domain`, dialed as `as`. */
function remote(domain: string, as: string, opts: { callTimeoutMs?: number; address?: string } = {}): RemoteParticipant {
  const me = files.get(as)!;
  const Agreement = loadAgreementProto();
  const client = new Agreement(opts.address ?? addresses.get(domain)!, clientCredentials({ certPem: me.certPem, keyPem: me.keyPem }, { domain, caPem: pki.caPem }), {
    'grpc.ssl_target_name_override': domain,
    'grpc.default_authority': domain,
  });
  clients.push(client);
  return new RemoteParticipant(domain, rawPublicKey(files.get(domain)!.advertKeyPem), client, { callTimeoutMs: opts.callTimeoutMs ?? 5000 });
}

beforeAll(async () => {
  pki = makePki();
  redis = await startEmbeddedRedis(join(dir, 'redis'), { log: () => {} });
  for (const d of [...graph.domains, 'provider-q']) files.set(d, pki.domain(d));
  for (const domain of graph.domains) {
    const store = new RedisResourceStore({ domain, redis: new Redis({ path: redis.socketPath }) });
    stores.set(domain, store);
    const svc = new AgreementService({ store, signingKey: files.get(domain)!.advertKeyPem, graph: graphKeyed, sweepIntervalMs: 200, log: (_l, msg, f) => logs.push({ domain, msg, ...f }) });
    services.set(domain, svc);
    svc.start();
    if (domain === 'provider-x') continue;
    // x (the coordinator) and q (another peer) are pinned callers
    const pins = [files.get('provider-x')!, files.get('provider-q')!];
    addresses.set(domain, await serve((s) => addAgreementService(s, svc, () => pins.map((p) => ({ domain: p.domain, caPem: pki.caPem }))), files.get(domain)!, pins));
  }
}, 60_000);

afterAll(async () => {
  for (const c of clients) c.close();
  for (const s of servers) s.forceShutdown();
  for (const s of services.values()) s.stop();
  for (const s of stores.values()) await s.close();
  await redis?.stop();
  pki?.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

const participants = (as = 'provider-x') => (d: string): AgreementParticipant | undefined => (d === 'provider-x' ? services.get(d) : remote(d, as));
const request = (over: Record<string, unknown> = {}) => {
  const start = Date.now() + HOUR;
  return { customer: 'acme', from: { domain: 'provider-x', site: 'site-x' }, to: { domain: 'provider-z', site: 'site-z' }, qosClass: 'EF', rateMbps: 10, start, end: start + 2 * HOUR, ...over };
};
const used = async (domain: string, link: string, start: number, end: number) => Math.max(...(await stores.get(domain)!.usage(link, 'EF', start, end)).map((u) => u.usedBps));

/** A one-party contract body for provider-w (the tests' stand-in servers). */
const bodyForW = (agreementId: string, price: number): ContractTerms => ({
  version: 2,
  agreementId,
  originator: { domain: 'provider-x', customer: 'acme' },
  service: { from: 'provider-x/site-x', to: 'provider-w/site-w', qosClass: 'EF', rateMbps: 1 },
  window: { start: '2026-12-01T10:00:00.000Z', end: '2026-12-01T11:00:00.000Z' },
  parties: [{ domain: 'provider-w', publicKey: rawPublicKey(files.get('provider-w')!.advertKeyPem), role: 'provider' }],
  segments: [{ domain: 'provider-w', ingress: 'w1', egress: 'w2', latencyMs: 1, jitterMs: 0, lossPct: 0, priceMinor: price }],
  currency: 'EUR',
  totalPriceMinor: price,
  issuedAt: '2026-11-24T10:00:00.000Z',
});

describe('agreement over gRPC', () => {
  test('grpc - the coordinator agrees through remote participants; retried Reserve and Commit do not double-book', async () => {
    const req = request({ objective: 'cheapest' });
    const a = await new AgreementCoordinator('provider-x', () => graph, participants()).agree(req);
    expect(a.path.domains).toEqual(['provider-x', 'provider-y', 'provider-z']);
    expect(verifyContract(JSON.parse(JSON.stringify(a.contract))).signedBy).toEqual(['provider-x', 'provider-y', 'provider-z']);
    const id = contractBody(a.contract).agreementId;
    const yLink = edgeId({ from: 'provider-y/y1', to: 'provider-y/y2' });
    expect(await used('provider-y', yLink, req.start, req.end)).toBe(10e6);
    // a coordinator that lost the answers retries both phases
    const y = remote('provider-y', 'provider-x');
    const order = segmentOrders(a.path, { agreementId: id, alternative: 0, qosClass: 'EF', rateMbps: 10, start: req.start, end: req.end })[1]!;
    expect(await y.prepare(order, 300)).toMatchObject({ domain: 'provider-y', index: 1, priceMinor: a.quotes[1]!.priceMinor });
    const again = await y.commit(id, contractBody(a.contract));
    expect(signatureDomain(again)).toBe('provider-y');
    expect(verifyContract(assembleContract(contractBody(a.contract), a.contract.signatures.map((s) => (signatureDomain(s) === 'provider-y' ? again : s)))).signedBy).toContain('provider-y');
    expect(await used('provider-y', yLink, req.start, req.end)).toBe(10e6);
    // a retried Reserve after Commit is no hold that could be abandoned: the sweep leaves the booking alone
    await y.reserve(order, 300);
    // a sweep past that hold's expiry (the sweep takes its clock) finds the booking, not an abandoned hold
    await services.get('provider-y')!.sweep(Date.now() + 400);
    expect(logs.filter((l) => l.agreement_id === id).map((l) => `${l.domain} ${String(l.event)}`)).not.toContain('provider-y agreement-abandoned');
    expect(logs.filter((l) => l.agreement_id === id).map((l) => `${l.domain} ${String(l.event)}`)).toContain('provider-y agreement-committed');
    expect((await stores.get('provider-y')!.get(`${id}:0:1`))?.state).toBe('committed');
    expect(await used('provider-y', yLink, req.start, req.end)).toBe(10e6);
  });

  test('grpc - a body that differs from the quote comes back as the typed QB_AGREEMENT_BODY_MISMATCH; another peer may not commit or abort the agreement', async () => {
    const req = request({ objective: 'cheapest', start: Date.now() + 5 * HOUR, end: Date.now() + 6 * HOUR });
    const a = await new AgreementCoordinator('provider-x', () => graph, participants()).agree(req);
    const id = contractBody(a.contract).agreementId;
    const y = remote('provider-y', 'provider-x');
    const signed = contractBody(a.contract);
    const cheaper = sealContractBody({ ...signed, segments: signed.segments.map((s) => (s.domain === 'provider-y' ? { ...s, priceMinor: s.priceMinor - 1 } : s)), totalPriceMinor: signed.totalPriceMinor - 1 });
    const e = await y.commit(id, cheaper).catch((x: unknown) => x);
    expect((e as { code: string }).code).toBe('QB_AGREEMENT_BODY_MISMATCH');
    expect((e as Error).message).toMatch(/price of segment 1/);
    const q = remote('provider-y', 'provider-q');
    const denied = await q.abort(id).catch((x: unknown) => x);
    expect((denied as { code: string }).code).toBe('QB_AGREEMENT_NOT_OWNER');
    // nor may it quote into the agreement (the quote the owner's Commit is checked against stays)
    const ownOrder = segmentOrders(a.path, { agreementId: id, alternative: 0, qosClass: 'EF', rateMbps: 10, start: req.start, end: req.end })[1]!;
    expect(await q.quote(ownOrder).catch((x: unknown) => x)).toMatchObject({ code: 'QB_AGREEMENT_NOT_OWNER' });
    expect((await stores.get('provider-y')!.get(`${id}:0:1`))?.state).toBe('committed');
    // the owner may abort: the booking is released
    await y.abort(id);
    expect((await stores.get('provider-y')!.get(`${id}:0:1`))?.state).toBe('released');
  });

  test('grpc - malformed orders are INVALID_ARGUMENT naming the field; wire conversion round-trips', async () => {
    const start = Date.now() + HOUR;
    const o = { agreementId: 'agr-bad', alternative: 0, index: 1, domain: 'provider-y', ingress: 'y1', egress: 'y2', qosClass: 'EF', rateMbps: 10, start, end: start + HOUR, hops: [{ from: 'provider-y/y1', to: 'provider-y/y2', kind: 'transit' as const, metrics: { availableMbps: 400, latencyMs: 14, jitterMs: 2, loss: 0.0005 } }] };
    expect(orderFromMsg(orderToMsg(o))).toEqual(o);
    const y = remote('provider-y', 'provider-x');
    const bad = await y.quote({ ...o, hops: [{ ...o.hops[0]!, kind: 'tunnel' as never }] }).catch((x: unknown) => x);
    expect(bad).toBeInstanceOf(InvalidArgumentError);
    expect((bad as Error).message).toMatch(/SegmentOrder\.hops\[0\]\.kind must be "transit" or "link"/);
    const wrong = await y.quote({ ...o, domain: 'provider-w' }).catch((x: unknown) => x);
    expect((wrong as { code: string }).code).toBe('QB_AGREEMENT_WRONG_DOMAIN');
  });

  test('grpc - a broker that does not answer within the deadline is QB_AGREEMENT_TIMEOUT; one that is down is QB_AGREEMENT_UNREACHABLE', async () => {
    const Agreement = loadAgreementProto();
    const hang = () => {}; // never calls back
    const silent = await serve((s) => s.addService(Agreement.service, { Exchange: hang }), files.get('provider-w')!, [files.get('provider-x')!]);
    const w = remote('provider-w', 'provider-x', { callTimeoutMs: 300, address: silent });
    const t = await w.abort('agr-x').catch((x: unknown) => x);
    expect(t).toBeInstanceOf(TimeoutError);
    expect((t as { code: string }).code).toBe('QB_AGREEMENT_TIMEOUT');
    // a port nothing listens on (bound, then closed)
    const gone = await serve(() => {}, files.get('provider-w')!, [files.get('provider-x')!]);
    servers.pop()!.forceShutdown();
    const down = await remote('provider-w', 'provider-x', { callTimeoutMs: 2000, address: gone }).abort('agr-x').catch((x: unknown) => x);
    expect(down).toBeInstanceOf(TransportError);
    expect((down as { code: string }).code).toBe('QB_AGREEMENT_UNREACHABLE');
  });

  test('grpc - every call to a provider shares one Exchange stream: 200 quotes in flight each get their own answer', async () => {
    const start = Date.now() + 9 * HOUR;
    const y = remote('provider-y', 'provider-x');
    const order = (index: number) => ({ agreementId: `agr-many-${index}`, alternative: 0, index, domain: 'provider-y', ingress: 'y1', egress: 'y2', qosClass: 'EF', rateMbps: 1 + (index % 7), start, end: start + HOUR, hops: [{ from: 'provider-y/y1', to: 'provider-y/y2', kind: 'transit' as const, metrics: { availableMbps: 400, latencyMs: 14, jitterMs: 2, loss: 0.0005 } }] });
    const local = services.get('provider-y')!;
    const quotes = await Promise.all(Array.from({ length: 200 }, (_, i) => y.quote(order(i))));
    for (const [i, q] of quotes.entries()) {
      expect(q.index).toBe(i);
      expect(q.priceMinor).toBe((await local.quote(order(i), 'provider-x')).priceMinor);
    }
    expect(new Set(quotes.map((q) => q.priceMinor)).size).toBe(7);
  });

  test('grpc - a call without an operation or with id 0 is a typed INVALID_ARGUMENT reply; the stream stays usable', async () => {
    const me = files.get('provider-x')!;
    const Agreement = loadAgreementProto();
    const client = new Agreement(addresses.get('provider-y')!, clientCredentials({ certPem: me.certPem, keyPem: me.keyPem }, { domain: 'provider-y', caPem: pki.caPem }), { 'grpc.ssl_target_name_override': 'provider-y', 'grpc.default_authority': 'provider-y' });
    clients.push(client);
    const stream = (client as unknown as { Exchange(): grpc.ClientDuplexStream<AgreementCallMsg, AgreementReplyMsg> }).Exchange();
    const replies: AgreementReplyMsg[] = [];
    const three = new Promise<void>((res) => stream.on('data', (r: AgreementReplyMsg) => replies.push(r) === 3 && res()));
    stream.write({ id: 7 });
    stream.write({ id: 0, abort: { agreement_id: 'agr-none' } });
    stream.write({ id: 8, abort: { agreement_id: 'agr-none' } });
    await three;
    stream.end();
    const byId = new Map(replies.map((r) => [r.id, r]));
    expect(byId.get(7)).toMatchObject({ result: 'error', error: { code: 'QB_INVALID_ARGUMENT', domain: 'provider-y' } });
    expect(byId.get(7)!.error!.message).toMatch(/names no operation/);
    expect(byId.get(0)).toMatchObject({ result: 'error', error: { code: 'QB_INVALID_ARGUMENT' } });
    expect(byId.get(8)).toMatchObject({ result: 'abort' });
    // a caller that cancels with calls in flight: their answers are dropped, the server goes on serving
    const rude = (client as unknown as { Exchange(): grpc.ClientDuplexStream<AgreementCallMsg, AgreementReplyMsg> }).Exchange();
    rude.on('error', () => {});
    for (let id = 1; id <= 20; id++) rude.write({ id, abort: { agreement_id: `agr-rude-${id}` } });
    rude.cancel();
    await new Promise((r) => setTimeout(r, 100));
    await remote('provider-y', 'provider-x').abort('agr-after-rude');
  });

  test('grpc - a chain message: each call answered in order as if alone; a bad one refused with its code, the others go through; an empty chain or a chain inside one is INVALID_ARGUMENT', async () => {
    const me = files.get('provider-x')!;
    const Agreement = loadAgreementProto();
    const client = new Agreement(addresses.get('provider-y')!, clientCredentials({ certPem: me.certPem, keyPem: me.keyPem }, { domain: 'provider-y', caPem: pki.caPem }), { 'grpc.ssl_target_name_override': 'provider-y', 'grpc.default_authority': 'provider-y' });
    clients.push(client);
    const stream = (client as unknown as { Exchange(): grpc.ClientDuplexStream<AgreementCallMsg, AgreementReplyMsg> }).Exchange();
    const replies = new Map<number, AgreementReplyMsg>();
    const two = new Promise<void>((res) => stream.on('data', (r: AgreementReplyMsg) => replies.set(r.id, r).size === 2 && res()));
    const [order] = segmentOrders(
      (await import('../../../daemon/topology/paths/index.js')).computePaths(graph, { from: { domain: 'provider-x', site: 'site-x' }, to: { domain: 'provider-z', site: 'site-z' }, qosClass: 'EF', rateMbps: 1, k: 1 }).paths[0]!,
      { agreementId: 'agr-chain-msg', alternative: 0, qosClass: 'EF', rateMbps: 1, start: Date.now() + HOUR, end: Date.now() + 2 * HOUR },
    ).filter((o) => o.domain === 'provider-y');
    stream.write({ id: 5, chain: { calls: [{ id: 0, reserve: { order: orderToMsg(order!), hold_ttl_ms: 60_000, quote: true } }, { id: 0, quote: { ...orderToMsg(order!), rate_mbps: 0 } }, { id: 0, chain: { calls: [] } }, { id: 0, abort: { agreement_id: 'agr-chain-none' } }] } });
    stream.write({ id: 6, chain: { calls: [] } });
    await two;
    stream.end();
    const r = replies.get(5)!;
    expect(r.result, JSON.stringify(r)).toBe('chain');
    const [held, bad, nested, aborted] = r.chain!.replies;
    expect(held).toMatchObject({ result: 'reserve', reserve: { quote: { domain: 'provider-y' } } });
    expect(bad).toMatchObject({ result: 'error', error: { code: 'QB_INVALID_ARGUMENT', domain: 'provider-y', message: expect.stringContaining('SegmentOrder.rate_mbps must be > 0') } });
    expect(nested).toMatchObject({ result: 'error', error: { code: 'QB_INVALID_ARGUMENT', message: expect.stringContaining('ChainRequest.calls[2] is a chain') } });
    expect(aborted).toMatchObject({ result: 'abort' });
    expect(replies.get(6)).toMatchObject({ result: 'error', error: { code: 'QB_INVALID_ARGUMENT', message: expect.stringContaining('ChainRequest.calls must hold 1 to 64 calls') } });
    // the first call's hold is there, the caller's; released by an abort
    expect((await stores.get('provider-y')!.agreement('agr-chain-msg')).map((h) => [h.state, h.meta?.owner])).toEqual([['held', 'provider-x']]);
    await remote('provider-y', 'provider-x').abort('agr-chain-msg');
    expect((await stores.get('provider-y')!.agreement('agr-chain-msg')).filter((h) => h.state === 'held')).toEqual([]);
  });

  test('grpc - a stream that breaks fails its calls as QB_AGREEMENT_UNREACHABLE; an idempotent call is retried once on a new stream; a wedged stream is replaced after a timeout', async () => {
    const Agreement = loadAgreementProto();
    let streams = 0;
    // first stream of every client: dies on the first call; later streams: answer Reserve, ignore the rest (wedged)
    const flaky = (call: grpc.ServerDuplexStream<AgreementCallMsg, AgreementReplyMsg>) => {
      const n = ++streams;
      call.on('error', () => {});
      call.on('data', (m: AgreementCallMsg) => {
        if (n === 1) call.emit('error', { code: grpc.status.UNAVAILABLE, details: 'going away' });
        else if (m.op === 'reserve') call.write({ id: m.id, reserve: {} });
        else if (m.op === 'commit') call.write({ id: m.id, abort: {} }); // the wrong answer
      });
    };
    const address = await serve((s) => s.addService(Agreement.service, { Exchange: flaky }), files.get('provider-w')!, [files.get('provider-x')!]);
    const start = Date.now() + HOUR;
    const o = { agreementId: 'agr-flaky', alternative: 0, index: 0, domain: 'provider-w', ingress: 'w1', egress: 'w2', qosClass: 'EF', rateMbps: 1, start, end: start + HOUR, hops: [] };
    // Quote is not retried: the broken stream is the caller's answer
    const q = await remote('provider-w', 'provider-x', { address, callTimeoutMs: 2000 }).quote(o).catch((x: unknown) => x);
    expect(q).toBeInstanceOf(TransportError);
    expect((q as { code: string }).code).toBe('QB_AGREEMENT_UNREACHABLE');
    expect(streams).toBe(1);
    // Reserve is: the first stream breaks, the retry on a second one is answered
    streams = 0;
    const w = remote('provider-w', 'provider-x', { address, callTimeoutMs: 300 });
    await w.reserve(o, 1000);
    expect(streams).toBe(2);
    // an answer of the wrong kind is a typed error, not a crash
    const wrong = await w.commit('agr-flaky', sealContractBody(bodyForW('agr-flaky', 1))).catch((x: unknown) => x);
    expect((wrong as { code: string }).code).toBe('QB_AGREEMENT_REMOTE_ERROR');
    // the stream answers nothing to Abort: a timeout, and the silent stream is dropped; the next call opens a new one
    const t = await w.abort('agr-flaky').catch((x: unknown) => x);
    expect((t as { code: string }).code).toBe('QB_AGREEMENT_TIMEOUT');
    await w.reserve(o, 1000);
    expect(streams).toBe(3);
    // a broker that holds but ignores ReserveRequest.quote (an older one): no price, a typed error the coordinator aborts on
    const unpriced = await w.prepare(o, 1000).catch((x: unknown) => x);
    expect(unpriced).toMatchObject({ code: 'QB_AGREEMENT_REMOTE_ERROR', message: expect.stringMatching(/sent no quote/) });
  });

  test('grpc - at shutdown the served side ends its streams after the calls in flight have answered; later calls are unreachable', async () => {
    const y = services.get('provider-y')!;
    let release: () => void = () => {};
    const gate = new Promise<void>((r) => (release = r));
    let arrived: () => void = () => {};
    const quoteArrived = new Promise<void>((r) => (arrived = r));
    const slow = {
      domain: y.domain,
      quote: async (o: Parameters<typeof y.quote>[0], caller: string) => (arrived(), await gate, y.quote(o, caller)),
      reserve: y.reserve.bind(y),
      prepare: y.prepare.bind(y),
      commit: y.commit.bind(y),
      abort: y.abort.bind(y),
    };
    const pins = [files.get('provider-x')!];
    let handle: ReturnType<typeof addAgreementService> | undefined;
    const address = await serve((s) => (handle = addAgreementService(s, slow, () => pins.map((p) => ({ domain: p.domain, caPem: pki.caPem })))), files.get('provider-y')!, pins);
    const start = Date.now() + 11 * HOUR;
    const o = { agreementId: 'agr-shutdown', alternative: 0, index: 1, domain: 'provider-y', ingress: 'y1', egress: 'y2', qosClass: 'EF', rateMbps: 1, start, end: start + HOUR, hops: [{ from: 'provider-y/y1', to: 'provider-y/y2', kind: 'transit' as const, metrics: { availableMbps: 400, latencyMs: 14, jitterMs: 2, loss: 0.0005 } }] };
    const p = remote('provider-y', 'provider-x', { address });
    const inFlight = p.quote(o);
    await quoteArrived; // the call is in flight at the served side
    handle!.close();
    release();
    expect((await inFlight).domain).toBe('provider-y');
    const after = await p.abort('agr-shutdown').catch((x: unknown) => x);
    expect((after as { code: string }).code).toBe('QB_AGREEMENT_UNREACHABLE');
  });

  test('grpc - Commit answers with the JWS signature and its protected header: it verifies only over the payload the caller sent', async () => {
    const Agreement = loadAgreementProto();
    const wKey = files.get('provider-w')!.advertKeyPem;
    const body = (price: number) => bodyForW('agr-sig-only', price);
    // the provider signs the payload it was sent, or (a broken one) a body with another price, or names another domain
    let mode: 'honest' | 'other-body' | 'other-domain' = 'honest';
    const signer = (call: grpc.ServerDuplexStream<AgreementCallMsg, AgreementReplyMsg>) => {
      call.on('data', (m: AgreementCallMsg) => {
        const sent = parseContractPayload(m.commit!.body_json);
        const sig = signContractBody(mode === 'other-body' ? { ...sent, segments: [{ ...sent.segments[0]!, priceMinor: 1 }], totalPriceMinor: 1 } : sent, 'provider-w', wKey);
        call.write({ id: m.id, commit: { domain: mode === 'other-domain' ? 'provider-v' : 'provider-w', signature: sig.signature, protected_header: sig.protected } });
      });
    };
    const address = await serve((s) => s.addService(Agreement.service, { Exchange: signer }), files.get('provider-w')!, [files.get('provider-x')!]);
    const w = remote('provider-w', 'provider-x', { address });
    const b = sealContractBody(body(500));
    const good = await w.commit('agr-sig-only', b);
    expect(verifyContract(assembleContract(b, [good])).signedBy).toEqual(['provider-w']);
    mode = 'other-body';
    const bad = await w.commit('agr-sig-only', b);
    expect(() => verifyContract(assembleContract(b, [bad]))).toThrow(expect.objectContaining({ code: 'QB_CONTRACT_BAD_SIGNATURE', domain: 'provider-w' }));
    mode = 'other-domain';
    await expect(w.commit('agr-sig-only', b)).rejects.toMatchObject({ code: 'QB_AGREEMENT_REMOTE_ERROR' });
  });

  test('grpc - CLI units: rate M/G, latency ms, duration m/h; anything else is a typed error', () => {
    expect(parseRate('10M')).toBe(10);
    expect(parseRate('1.5G')).toBe(1500);
    expect(parseRate('100Mbps')).toBe(100);
    expect(parseLatency('30ms')).toBe(30);
    expect(parseDuration('2h')).toBe(2 * HOUR);
    expect(parseDuration('90m')).toBe(90 * 60_000);
    for (const [f, bad] of [[parseRate, '10'], [parseRate, '-1M'], [parseRate, '0G'], [parseLatency, '30'], [parseLatency, '1s'], [parseDuration, '2d'], [parseDuration, '0h']] as const) {
      expect(() => f(bad)).toThrow(InvalidArgumentError);
    }
  });
});
