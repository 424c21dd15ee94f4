/**
 * bench/agreement (chain): whole agreements across a chain of five qos-brokerd
 * processes in a line (dom-a - dom-b - dom-c - dom-d - dom-e), each peering
 * only with its neighbours, so dom-a's calls for dom-c, dom-d and dom-e are
 * relayed hop by hop (agreement.proto, Chaining: signed by dom-a, checked by
 * each target; each phase one chain message per hop, "Aggregated chain").
 * Orders go to dom-a's admin endpoint (POST /v1/order).
 *
 * Reference, same run, interleaved rounds: the three-daemon direct case
 * (dom-a with a session to dom-b and dom-c, the agreements bench's cluster),
 * the same load generator and the same orders. Both clusters run at once; the
 * idle one only keeps its peering sessions alive.
 *
 * Per cluster: agreements/s with 50 in flight (closed loop), then 300 orders/s
 * offered as seeded Poisson arrivals (at most 50 in flight, latency from when
 * each was due, 2 s untimed lead-in) for the p99.
 *
 * Usage: node dist/bench/agreement/chain.js [--concurrency 50] [--rounds 3] [--seconds 4] [--offered 300]
 * Last line: one JSON object.
 */
import { createPublicKey } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { twoBorderInventory } from '../../lab/inventory.js';
import { freePorts } from '../../lab/netconf-device.js';
import { makePki, type TestPki } from '../../lab/pki.js';
import { clusterAddresses, DOMAINS, domainConfig, median, ownedDirs, quantile, round, spawnDaemon, stopDaemons, type BenchDaemon } from '../daemons.js';
import { benchMain, closedLoop, cpuMs, openLoop, orderPoster, type LoadOptions } from './agreements.js';

const TARGET_PER_S = 300;
const LINE = ['dom-a', 'dom-b', 'dom-c', 'dom-d', 'dom-e'] as const;

interface Daemon extends BenchDaemon {
  admin: string;
}

export interface ChainResult {
  bench: 'agreement-chain';
  concurrency: number;
  chain_agreements_per_s: number;
  chain_p99_ms: number;
  chain_offered_achieved_per_s: number;
  chain_offered_p50_ms: number;
  chain_offered_p99_ms: number;
  chain_failed: number;
  direct_agreements_per_s: number;
  direct_p99_ms: number;
  direct_offered_p99_ms: number;
  direct_failed: number;
  /** Median over rounds of chained agreements/s divided by direct agreements/s. */
  ratio_chain_vs_direct: number;
  /** CPU ms per chained agreement, per daemon (with its embedded redis-server), closed-loop rounds. */
  chain_cpu_ms_per_agreement: Record<string, number>;
  offered_per_s: number;
  target: { agreements_per_s: 300; p99_ms: 50 };
  met: boolean;
}

async function get(admin: string, path: string): Promise<Record<string, unknown>> {
  return (await (await fetch(`http://${admin}${path}`)).json()) as Record<string, unknown>;
}

/** Every daemon holds `adverts` advertisements and all its sessions are established. */
async function converged(daemons: Daemon[], adverts: number, timeoutMs = 180_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (const d of daemons) {
    for (;;) {
      if (d.proc.exitCode !== null) throw new Error(`${d.domain} exited with ${d.proc.exitCode}`);
      const held = await get(d.admin, '/v1/adverts').then((b) => (b.adverts as unknown[]).length, () => -1);
      const peers = await get(d.admin, '/v1/peers').then((b) => (b.peers as { domain: string; state: string }[]).map((p) => `${p.domain} ${p.state}`), () => ['unreadable']);
      if (held === adverts && peers.every((p) => p.endsWith(' established'))) break;
      if (Date.now() > deadline) throw new Error(`${d.domain} did not converge within ${timeoutMs / 1000} s: ${held} of ${adverts} adverts, peers ${peers.join(', ')}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

async function startDirect(dir: string, pki: TestPki): Promise<Daemon[]> {
  const addr = await clusterAddresses();
  const daemons: Daemon[] = [];
  for (const d of [...DOMAINS].reverse()) daemons.push({ ...spawnDaemon(d, join(dir, `direct-${d}.yaml`), domainConfig(d, join(dir, 'direct'), pki, addr)), admin: addr[d].admin });
  await converged(daemons, 3);
  return daemons;
}

async function startChain(dir: string, pki: TestPki): Promise<Daemon[]> {
  const ports = await freePorts('127.0.0.1', 2 * LINE.length);
  const grpc = (i: number) => `127.0.0.1:${ports[2 * i]}`;
  const admin = (i: number) => `127.0.0.1:${ports[2 * i + 1]}`;
  // each call of pki.domain makes new keys: once per domain
  const files = LINE.map((d) => pki.domain(d));
  const pub = LINE.map((d, i) => {
    const file = join(dir, `chain-${d}-advert.pub`);
    writeFileSync(file, createPublicKey(files[i]!.advertKeyPem).export({ type: 'spki', format: 'pem' }));
    return file;
  });
  const daemons: Daemon[] = [];
  for (const [i, d] of [...LINE.entries()].reverse()) {
    const keys = files[i]!;
    const near = [i - 1, i + 1].filter((j) => j >= 0 && j < LINE.length);
    const cfg = {
      role: 'provider',
      'domain-id': d,
      listen: grpc(i),
      'data-dir': `${dir}/chain/${d}-data`,
      keys: { 'advert-key': keys.advertKey, 'tls-cert': keys.cert, 'tls-key': keys.key },
      peering: { 'hold-time-s': 9, 'advert-lifetime-s': 60, 'backoff-initial-ms': 100, 'backoff-max-ms': 1000, 'readvertise-min-interval-ms': 5000 },
      peers: near.map((j) => ({ 'domain-id': LINE[j], 'ca-file': pki.caCert, address: grpc(j) })),
      'origin-keys': LINE.flatMap((o, j) => (j === i || near.includes(j) ? [] : [{ 'domain-id': o, 'public-key-file': pub[j] }])),
      redis: { embedded: true },
      inventory: twoBorderInventory(d, near.map((j) => LINE[j]!), 100_000),
      admin: { listen: admin(i) },
      log: { level: 'warn' },
    };
    daemons.push({ ...spawnDaemon(d, join(dir, `chain-${d}.yaml`), cfg), admin: admin(i) });
  }
  await converged(daemons, LINE.length);
  return daemons;
}

/** POST /v1/order to `admin` for an agreement of 1 Mbit/s for a minute (windows spread so capacity never runs out). */
function orderer(admin: string, to: string, concurrency: number, failures: Map<string, number>) {
  let n = 0;
  const base = Math.ceil(Date.now() / 60_000) * 60_000 + 3_600_000;
  const { post, close } = orderPoster(admin, concurrency);
  const one = async () => {
    const start = base + ((n++ * 7919) % 43_200) * 60_000;
    try {
      const { status, text } = await post({ from: 'dom-a/dom-a-site', to: `${to}/${to}-site`, qosClass: 'EF', rateMbps: 1, start, durationMs: 60_000, customer: 'bench' });
      if (status !== 200) {
        const reason = `HTTP ${status} ${text.slice(0, 300)}`;
        failures.set(reason, (failures.get(reason) ?? 0) + 1);
      }
      return status === 200;
    } catch (err) {
      const reason = (err as Error).message;
      failures.set(reason, (failures.get(reason) ?? 0) + 1);
      return false;
    }
  };
  return { one, close };
}

export async function runChain(opts: LoadOptions = {}): Promise<ChainResult> {
  const concurrency = opts.concurrency ?? 50;
  const offered = opts.offered ?? TARGET_PER_S;
  const rounds = opts.rounds ?? 3;
  const seconds = opts.seconds ?? 4;
  const dir = mkdtempSync(join(tmpdir(), 'qb-bench-chain-'));
  ownedDirs.add(dir);
  let pki: TestPki | undefined;
  let chainPki: TestPki | undefined;
  const all: Daemon[] = [];
  try {
    pki = makePki();
    ownedDirs.add(pki.dir);
    const direct = await startDirect(dir, pki);
    all.push(...direct);
    // a PKI of its own: the chain's domains have the same names as the direct cluster's
    chainPki = makePki();
    ownedDirs.add(chainPki.dir);
    const chain = await startChain(dir, chainPki);
    all.push(...chain);
    const failures = { direct: new Map<string, number>(), chain: new Map<string, number>() };
    const d = orderer(direct.find((x) => x.domain === 'dom-a')!.admin, 'dom-c', concurrency, failures.direct);
    const c = orderer(chain.find((x) => x.domain === 'dom-a')!.admin, 'dom-e', concurrency, failures.chain);
    // warm-up: channels, JIT, Lua scripts
    await closedLoop(concurrency, 2, d.one);
    await closedLoop(concurrency, 2, c.one);
    const dr: Awaited<ReturnType<typeof closedLoop>>[] = [];
    const cr: Awaited<ReturnType<typeof closedLoop>>[] = [];
    const ratios: number[] = [];
    const cpu = new Map<string, number>(chain.map((x) => [x.domain, 0]));
    for (let i = 0; i < rounds; i++) {
      const a = await closedLoop(concurrency, seconds, d.one);
      const before = new Map(chain.map((x) => [x.domain, cpuMs(x.proc.pid!)]));
      const b = await closedLoop(concurrency, seconds, c.one);
      for (const x of chain) cpu.set(x.domain, cpu.get(x.domain)! + cpuMs(x.proc.pid!) - before.get(x.domain)!);
      dr.push(a);
      cr.push(b);
      ratios.push(b.perS / a.perS);
      console.log(`round ${i + 1}: chain of 5 ${b.perS.toFixed(0)} agreements/s (p99 ${quantile(b.lat, 0.99).toFixed(1)} ms, ${b.failed} failed), direct 3 ${a.perS.toFixed(0)}/s (p99 ${quantile(a.lat, 0.99).toFixed(1)} ms, ${a.failed} failed): ratio ${(b.perS / a.perS).toFixed(3)}`);
    }
    const reasons = () => {
      for (const [which, m] of Object.entries(failures)) for (const [reason, k] of [...m].sort((x, y) => y[1] - x[1]).slice(0, 5)) console.log(`${which} failed ${k}x: ${reason}`);
    };
    reasons();
    const openSeconds = Math.max(8, (seconds * rounds) / 2);
    const od = await openLoop(offered, concurrency, openSeconds, d.one, 2);
    const oc = await openLoop(offered, concurrency, openSeconds, c.one, 2);
    console.log(`offered ${offered}/s: chain ${oc.perS.toFixed(0)}/s p50 ${quantile(oc.lat, 0.5).toFixed(1)} ms p99 ${quantile(oc.lat, 0.99).toFixed(1)} ms (${oc.failed} failed); direct ${od.perS.toFixed(0)}/s p99 ${quantile(od.lat, 0.99).toFixed(1)} ms (${od.failed} failed)`);
    const okTotal = cr.reduce((s, x) => s + x.ok, 0);
    const cpuPer = Object.fromEntries([...cpu].map(([dom, ms]) => [dom, round(ms / Math.max(1, okTotal), 3)]));
    console.log(`CPU per chained agreement (ms, daemon with its redis-server): ${Object.entries(cpuPer).map(([dom, ms]) => `${dom} ${ms}`).join(', ')}`);
    reasons();
    d.close();
    c.close();
    const perS = median(cr.map((x) => x.perS));
    const p99 = quantile(oc.lat, 0.99);
    return {
      bench: 'agreement-chain',
      concurrency,
      chain_agreements_per_s: round(perS, 1),
      chain_p99_ms: round(quantile(cr.flatMap((x) => x.lat), 0.99)),
      chain_offered_achieved_per_s: round(oc.perS, 1),
      chain_offered_p50_ms: round(quantile(oc.lat, 0.5)),
      chain_offered_p99_ms: round(p99),
      chain_failed: cr.reduce((s, x) => s + x.failed, 0) + oc.failed,
      direct_agreements_per_s: round(median(dr.map((x) => x.perS)), 1),
      direct_p99_ms: round(quantile(dr.flatMap((x) => x.lat), 0.99)),
      direct_offered_p99_ms: round(quantile(od.lat, 0.99)),
      direct_failed: dr.reduce((s, x) => s + x.failed, 0) + od.failed,
      ratio_chain_vs_direct: round(median(ratios), 3),
      chain_cpu_ms_per_agreement: cpuPer,
      offered_per_s: offered,
      target: { agreements_per_s: 300, p99_ms: 50 },
      met: perS >= TARGET_PER_S && offered >= TARGET_PER_S && p99 < 50 && oc.failed === 0,
    };
  } finally {
    await stopDaemons(all);
    rmSync(dir, { recursive: true, force: true });
    pki?.cleanup();
    chainPki?.cleanup();
    ownedDirs.clear();
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) benchMain(runChain);
