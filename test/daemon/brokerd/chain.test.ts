/**
 * Chained agreements across five qos-brokerd processes in a line (dom-a -
 * dom-b - dom-c - dom-d - dom-e, mutual TLS, one redis-server), each peering
 * only with its neighbours: dom-a's calls for dom-c, dom-d and dom-e travel
 * hop by hop (agreement.proto, Chaining). Agreements go in through dom-a's
 * admin endpoint (POST /v1/order: the agreement alone; the chained
 * provisioning calls are tested on real routers in lifecycle-chain.test.ts).
 * Relays that tamper or die are real daemons armed with failpoints
 * (QOS_BROKER_FAILPOINTS); the bad-input cases are raw gRPC calls made with
 * dom-a's own certificate and advertisement key.
 */
import { createPublicKey } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { Cluster, metricValue, waitFor, type Daemon } from './harness.js';
import { twoBorderInventory } from '../../../lab/inventory.js';
import { contractBody, verifyContract, type SignedContract } from '../../../daemon/agreement/contract.js';
import { signChainHeader } from '../../../daemon/agreement/chain.js';
import { segmentOrders } from '../../../daemon/agreement/participant.js';
import { loadAgreementProto, orderToMsg, type AgreementCallMsg, type AgreementReplyMsg } from '../../../daemon/agreement/remote.js';
import { rawPublicKey, type SignedAdvert } from '../../../daemon/peering/advert.js';
import { clientCredentials } from '../../../daemon/peering/tls.js';
import { RedisResourceStore } from '../../../daemon/state/redis-store.js';
import { buildTopology } from '../../../daemon/topology/graph.js';
import { computePaths } from '../../../daemon/topology/paths/index.js';
import type { DomainAdvertisement } from '../../../daemon/topology/types.js';
import type { DomainFiles } from '../../../lab/pki.js';

const LINE = ['dom-a', 'dom-b', 'dom-c', 'dom-d', 'dom-e'] as const;
type Dom = (typeof LINE)[number];
const HOUR = 3_600_000;
const peering = { 'hold-time-s': 3, 'advert-lifetime-s': 30, 'poll-interval-ms': 500, 'backoff-initial-ms': 100, 'backoff-max-ms': 1000 };
const cluster = new Cluster();
const daemons = new Map<Dom, Daemon>();
const files = new Map<Dom, DomainFiles>();
const configs = new Map<Dom, Record<string, unknown>>();
const addrs = new Map<Dom, Awaited<ReturnType<Cluster['allocate']>>>();
const stores = new Map<Dom, RedisResourceStore>();
const clients: grpc.Client[] = [];
const neighbours = (d: Dom): Dom[] => LINE.filter((_, i) => Math.abs(i - LINE.indexOf(d)) === 1);
/** dom-e's site is at its far border b2, so dom-e holds its core (b1 -> b2), 50 Mbit/s of EF; the others carry 1000. */
const inventoryOf = (d: Dom) => {
  const inv = twoBorderInventory(d, neighbours(d), d === 'dom-e' ? 50 : 1000);
  if (d === 'dom-e') inv.sites = [{ id: 'dom-e-site', borders: ['b2'] }];
  return inv;
};

async function startDomain(d: Dom, env: Record<string, string> = {}): Promise<Daemon> {
  // a restart binds the same port again: another test's port probe may hold it for a moment
  for (let attempt = 1; ; attempt++) {
    try {
      const daemon = await cluster.start(files.get(d)!, addrs.get(d)!, configs.get(d)!, undefined, env);
      daemons.set(d, daemon);
      return daemon;
    } catch (err) {
      if (attempt >= 5 || !/EADDRINUSE/.test((err as Error).message)) throw err;
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}

async function converged(): Promise<void> {
  for (const d of LINE) {
    const daemon = daemons.get(d)!;
    await waitFor(`${d} established with its neighbours`, async () => ((await daemon.get('/v1/peers')).peers as { state: string }[]).every((p) => p.state === 'established'), 30_000);
    await waitFor(`${d} holds all five adverts`, async () => ((await daemon.get('/v1/adverts')).adverts as unknown[]).length === 5, 30_000);
  }
}

beforeAll(async () => {
  await cluster.init();
  const ca = cluster.pki.caCert;
  for (const d of LINE) {
    files.set(d, cluster.pki.domain(d));
    addrs.set(d, await cluster.allocate());
    stores.set(d, new RedisResourceStore({ domain: d, redis: cluster.redis.client() }));
  }
  // every domain's advertisement key, for the domains that are not its neighbours (origin-keys)
  const pub = new Map<Dom, string>();
  for (const d of LINE) {
    const file = join(cluster.dir, `${d}-advert.pub`);
    writeFileSync(file, createPublicKey(files.get(d)!.advertKeyPem).export({ type: 'spki', format: 'pem' }));
    pub.set(d, file);
  }
  for (const d of LINE) {
    configs.set(d, {
      role: 'provider',
      peering,
      peers: neighbours(d).map((n) => ({ 'domain-id': n, 'ca-file': ca, address: addrs.get(n)!.grpc })),
      'origin-keys': LINE.filter((o) => o !== d && !neighbours(d).includes(o)).map((o) => ({ 'domain-id': o, 'public-key-file': pub.get(o) })),
      inventory: inventoryOf(d),
      agreement: d === 'dom-a' ? { 'hold-ttl-ms': 6000, 'call-timeout-ms': 5000 } : { 'sweep-interval-ms': 250 },
    });
  }
  for (const d of [...LINE].reverse()) await startDomain(d);
  await converged();
}, 120_000);

afterAll(async () => {
  for (const c of clients) c.close();
  for (const s of stores.values()) await s.close().catch(() => {});
  await cluster.stopAll();
});

let n = 0;
/** An agreement dom-a -> dom-e through dom-a's admin endpoint, `inHours` from now for an hour. */
async function agree(rateMbps: number, inHours: number): Promise<{ status: number; body: { contract?: SignedContract; code?: string; error?: string; domains?: string[] }; agreementId: string; start: number; end: number }> {
  const agreementId = `agr-chain-${process.pid}-${++n}`;
  const start = Math.ceil((Date.now() + inHours * HOUR) / 60_000) * 60_000;
  const r = await fetch(`http://${daemons.get('dom-a')!.admin}/v1/order`, {
    method: 'POST',
    body: JSON.stringify({ agreementId, from: 'dom-a/dom-a-site', to: 'dom-e/dom-e-site', qosClass: 'EF', rateMbps, start, durationMs: HOUR, customer: 'acme' }),
  });
  return { status: r.status, body: (await r.json()) as never, agreementId, start, end: start + HOUR };
}

/** Reservations of an agreement in one domain's store that still hold or book capacity. */
const live = async (d: Dom, agreementId: string) => (await stores.get(d)!.agreement(agreementId)).filter((r) => r.state === 'held' || r.state === 'committed');

describe.sequential('qos-brokerd: chained agreements along five domains', () => {
  test('chain - dom-a peers only with dom-b, yet agrees with all five: each quotes, holds and signs its own part; the contract verifies with every key; dom-b, dom-c and dom-d relayed', async () => {
    expect(((await daemons.get('dom-a')!.get('/v1/peers')).peers as { domain: string }[]).map((p) => p.domain)).toEqual(['dom-b']);
    const r = await agree(10, 2);
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body.domains).toEqual([...LINE]);
    const contract = r.body.contract!;
    const keys = Object.fromEntries(LINE.map((d) => [d, rawPublicKey(files.get(d)!.advertKeyPem)]));
    expect(verifyContract(contract, keys).signedBy.sort()).toEqual([...LINE]);
    expect(contractBody(contract).totalPriceMinor).toBe(2500); // 5 domains x 0.50 EUR/Mbit/s-h x 10 Mbit/s x 1 h
    // every provider booked its own segment in its own store, owned by the originator
    for (const d of LINE) {
      const booked = await live(d, r.agreementId);
      expect(booked.length, d).toBeGreaterThan(0);
      expect(booked.every((b) => b.state === 'committed' && b.meta?.owner === 'dom-a'), d).toBe(true);
    }
    for (const d of ['dom-c', 'dom-d', 'dom-e'] as const) {
      await waitFor(`${d} logs the commit for dom-a`, () => daemons.get(d)!.logs.some((l) => l.event === 'agreement-committed' && l.agreement_id === r.agreementId && l.caller === 'dom-a'));
    }
    // the relays: dom-b handed on calls for three domains, dom-d only for dom-e; dom-e relayed nothing
    const relayed = async (d: Dom) => metricValue(await daemons.get(d)!.metricsText(), 'qos_broker_rpc_duration_seconds_count', { rpc: 'Agreement.Relay', code: 'OK' }) ?? 0;
    expect(await relayed('dom-b')).toBeGreaterThanOrEqual(6); // Reserve and Commit for dom-c, dom-d, dom-e
    expect(await relayed('dom-d')).toBeGreaterThanOrEqual(4); // for dom-e (relayed), and answered as target
    expect(await relayed('dom-e')).toBeGreaterThanOrEqual(2); // answered as the target only
    expect(await relayed('dom-a')).toBe(0);
    // aggregated: each phase (Reserve, Commit) reached every hop as one chain message, its own call and those beyond;
    // dom-e, the last, got its lone call as a plain relay
    const chains = async (d: Dom) => metricValue(await daemons.get(d)!.metricsText(), 'qos_broker_rpc_duration_seconds_count', { rpc: 'Agreement.Chain', code: 'OK' }) ?? 0;
    expect([await chains('dom-a'), await chains('dom-b'), await chains('dom-c'), await chains('dom-d'), await chains('dom-e')]).toEqual([0, 2, 2, 2, 0]);
  });

  /** A raw Agreement client to dom-b with dom-a's certificate: the test plays dom-a, with its own keys. */
  const asDomA = () => {
    const Agreement = loadAgreementProto();
    const a = files.get('dom-a')!;
    const client = new Agreement(daemons.get('dom-b')!.grpc, clientCredentials({ certPem: a.certPem, keyPem: a.keyPem }, { domain: 'dom-b', caPem: cluster.pki.caPem }), {
      'grpc.ssl_target_name_override': 'dom-b',
      'grpc.default_authority': 'dom-b',
    });
    clients.push(client);
    const stream = (client as unknown as { Exchange(): grpc.ClientDuplexStream<AgreementCallMsg, AgreementReplyMsg> }).Exchange();
    const waiting = new Map<number, (r: AgreementReplyMsg) => void>();
    stream.on('data', (r: AgreementReplyMsg) => waiting.get(r.id)?.(r));
    let id = 0;
    return {
      call: (m: Omit<AgreementCallMsg, 'id'>) =>
        new Promise<AgreementReplyMsg>((res) => {
          const i = ++id;
          waiting.set(i, res);
          stream.write({ ...m, id: i });
        }),
      end: () => stream.end(),
    };
  };

  test('chain - bad relayed calls are refused with their code and hold nothing: a target off the path, a forwarding neighbour off the path, a deadline already past, a call altered after signing', async () => {
    const agreementId = `agr-chain-bad-${process.pid}`;
    const ads = ((await daemons.get('dom-a')!.get('/v1/adverts')).adverts as SignedAdvert<DomainAdvertisement>[]).map((x) => x.envelope.body);
    const path = computePaths(buildTopology(ads), { from: { domain: 'dom-a', site: 'dom-a-site' }, to: { domain: 'dom-e', site: 'dom-e-site' }, qosClass: 'EF', rateMbps: 5 }).paths[0]!;
    const start = Date.now() + 30 * HOUR;
    const oc = segmentOrders(path, { agreementId, alternative: 0, qosClass: 'EF', rateMbps: 5, start, end: start + HOUR }).find((o) => o.domain === 'dom-c')!;
    const key = files.get('dom-a')!.advertKeyPem;
    const callJson = JSON.stringify({ reserve: { order: orderToMsg(oc), hold_ttl_ms: 60_000, quote: true } });
    const relay = (h: { origin?: string; target?: string; path?: string[]; deadline_ms?: number }, json = callJson, signedJson = json) => {
      const header = signChainHeader('agreement', { origin: 'dom-a', target: 'dom-c', path: [...LINE], deadline_ms: Date.now() + 5000, ...h }, signedJson, key);
      return { relay: { header, call_json: json } };
    };
    const c = asDomA();
    try {
      const refusals: Array<[string, AgreementReplyMsg]> = [
        // dom-c is not on the path the call names (dom-a > dom-b > dom-d)
        ['target off the path', await c.call(relay({ path: ['dom-a', 'dom-b', 'dom-d'] }))],
        // the path does not contain dom-a, which handed dom-b the call (origin dom-e's path is dom-e .. dom-b ..)
        ['forwarder off the path', await c.call(relay({ origin: 'dom-e', path: ['dom-e', 'dom-d', 'dom-c', 'dom-b'] }))],
        ['deadline past', await c.call(relay({ deadline_ms: Date.now() - 1 }))],
        ['altered', await c.call(relay({}, callJson.replace('"hold_ttl_ms":60000', '"hold_ttl_ms":60001'), callJson))],
      ];
      const codes = Object.fromEntries(refusals.map(([what, r]) => [what, r.error?.code ?? r.relay?.reply?.error?.code ?? `answered ${r.result}`]));
      expect(codes).toEqual({
        'target off the path': 'QB_AGREEMENT_NOT_ON_PATH',
        'forwarder off the path': 'QB_AGREEMENT_NOT_ON_PATH',
        'deadline past': 'QB_AGREEMENT_DEADLINE_PASSED',
        altered: 'QB_AGREEMENT_RELAY_SIGNATURE',
      });
      expect(refusals[0]![1].error!.domain).toBe('dom-b'); // refused by the first relay, before anything went on
      expect(refusals[3]![1].error!.domain).toBe('dom-c'); // only the target can check the origin's signature
      expect(await stores.get('dom-c')!.agreement(agreementId)).toEqual([]);
      // the same call, well formed: dom-c holds its segment for dom-a, and a relayed Abort releases it
      const ok = await c.call(relay({}));
      expect(ok.relay?.reply?.reserve?.quote?.domain, JSON.stringify(ok)).toBe('dom-c');
      expect((await live('dom-c', agreementId)).map((r) => [r.state, r.meta?.owner])).toEqual([['held', 'dom-a']]);
      const abortJson = JSON.stringify({ abort: { agreement_id: agreementId } });
      expect((await c.call(relay({}, abortJson))).relay?.reply?.result).toBe('abort');
      expect(await live('dom-c', agreementId)).toEqual([]);
    } finally {
      c.end();
    }
  });

  test('chain - a refusal at the far end (dom-e lacks the capacity) aborts every hold on the path: nothing is left held in any Redis', async () => {
    const first = await agree(45, 5); // dom-e's core has 50 Mbit/s of EF
    expect(first.status, JSON.stringify(first.body)).toBe(200);
    const r = await agree(10, 5);
    expect(r.status).toBe(409);
    expect(r.body.code).toBe('QB_AGREEMENT_FAILED');
    expect(r.body.error).toMatch(/dom-e cannot hold 10 Mbit\/s of EF on dom-e-core/);
    for (const d of LINE) expect(await live(d, r.agreementId), d).toEqual([]);
    // what the refusal found taken is still the first agreement's alone
    expect(Math.max(...(await stores.get('dom-e')!.usage('dom-e-core', 'EF', r.start, r.end)).map((u) => u.usedBps))).toBe(45e6);
  });

  /** Restart a daemon (SIGTERM, then start it again with `env`) and wait for the line to converge. */
  const restart = async (d: Dom, env: Record<string, string> = {}) => {
    const old = daemons.get(d)!;
    if (old.proc.exitCode === null && old.proc.signalCode === null) old.proc.kill('SIGTERM');
    await old.exited;
    const daemon = await startDomain(d, env);
    await converged();
    return daemon;
  };

  test('chain - a relay that alters what it passes back is caught: a lowered quote is refused by its own domain at Commit, a replaced signature fails verification; every hold and booking is released', async () => {
    try {
      for (const [failpoint, why] of [
        ['agreement:relay-tamper-quote', /QB_AGREEMENT_BODY_MISMATCH|dom-e will not sign/],
        ['agreement:relay-tamper-signature', /signature of dom-e|dom-e.*signature/i],
      ] as const) {
        await restart('dom-d', { QOS_BROKER_FAILPOINTS: failpoint });
        const r = await agree(2, 8);
        expect(r.status, `${failpoint}: ${JSON.stringify(r.body)}`).toBe(409);
        expect(r.body.error, failpoint).toMatch(why);
        for (const d of LINE) expect(await live(d, r.agreementId), `${failpoint}: ${d}`).toEqual([]);
      }
    } finally {
      await restart('dom-d');
    }
    // the same relay, honest again: the agreement goes through
    const r = await agree(2, 8);
    expect(r.status, JSON.stringify(r.body)).toBe(200);
  }, 120_000);

  test('chain - a relay killed mid-agreement (dom-c, SIGKILL as it hands a Commit on): the order fails, dom-a and dom-b abort, and the holds beyond it expire on their own, logged as abandoned', async () => {
    const c = await restart('dom-c', { QOS_BROKER_FAILPOINTS: 'agreement:relay-commit' });
    const r = await agree(3, 12);
    expect(r.status, JSON.stringify(r.body)).toBe(409);
    expect(await c.exited).toBe(null); // killed by its failpoint
    expect(c.proc.signalCode).toBe('SIGKILL');
    for (const d of ['dom-a', 'dom-b'] as const) expect(await live(d, r.agreementId), d).toEqual([]);
    for (const d of ['dom-d', 'dom-e'] as const) {
      const abandoned = () => daemons.get(d)!.logs.filter((l) => l.event === 'agreement-abandoned' && l.agreement_id === r.agreementId);
      await waitFor(`${d} logs ${r.agreementId} as abandoned`, () => abandoned().length > 0, 20_000);
      expect(abandoned()[0]).toMatchObject({ level: 'warn', caller: 'dom-a' });
      expect(await live(d, r.agreementId), d).toEqual([]);
    }
  }, 120_000);
});
