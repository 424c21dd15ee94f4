/**
 * Admission part of bench/peering: admission decisions per second through the
 * Redis resource store (one EVALSHA per decision), against redis-benchmark's
 * unpipelined EVAL rate on the same redis-server in the same run, and an
 * overbooking check with 256 concurrent clients on a bottleneck.
 */
import { spawnSync } from 'node:child_process';
import { Redis } from 'ioredis';
import { RedisResourceStore } from '../../daemon/state/redis-store.js';
import { prng } from '../prng.js';
import { findOnPath } from '../../daemon/state/embedded-redis.js';

const MIN = 60_000;

export interface AdmissionFigures {
  /**
   * Decisions per second with `admission_clients` concurrent clients sharing the
   * connections of 2 daemon replicas (one ioredis connection each, auto-pipelining on), as the daemon runs.
   */
  admissions_per_s: number;
  admission_clients: number;
  /** The same with one connection per client, like redis-benchmark -c (per-connection client cost dominates). */
  admissions_per_s_conn_per_client: number;
  ratio_conn_per_client_vs_redis_eval: number;
  admitted_fraction: number;
  /** Decisions per second with 256 concurrent clients over 8 connections (the overbooking run). */
  admissions_per_s_256: number;
  /** redis-benchmark EVAL "return 1" 0, unpipelined, -c 50, requests per second (median of the rounds). */
  redis_eval_per_s: number;
  /** Median over the rounds of admissions_per_s / redis_eval_per_s measured in the same round. */
  ratio_vs_redis_eval: number;
  /** Link/slot pairs used above capacity after the 256-client run (must be 0). */
  overbooked: number;
  /** Link/slot pairs whose usage differs from the sum of admitted requests (must be 0). */
  usage_mismatch: number;
}

/** Run redis-benchmark's EVAL test on the socket and return its requests per second. */
export function redisEvalRate(socketPath: string, clients: number, requests: number): number {
  const bin = findOnPath('redis-benchmark');
  if (!bin) throw new Error('redis-benchmark is not on PATH: apt-get install redis-tools (it comes with redis-server)');
  const r = spawnSync(bin, ['-s', socketPath, '-n', String(requests), '-c', String(clients), '-q', 'EVAL', 'return 1', '0'], {
    encoding: 'utf8',
  });
  const out = `${r.stdout}\n${r.stderr}`;
  const all = [...out.matchAll(/([\d.]+) requests per second/g)];
  const last = all.at(-1);
  if (r.status !== 0 || !last) throw new Error(`redis-benchmark failed (status ${r.status}): ${out.slice(-500)}`);
  return Number(last[1]);
}


/** Throughput: `clients` loops, each on its own connection, reserving single-domain paths for `ms` milliseconds. */
async function throughput(
  socketPath: string,
  domain: string,
  clients: number,
  connections: number,
  ms: number,
): Promise<{ perSecond: number; admittedFraction: number }> {
  // a shared connection batches the commands of one tick into one write (as the daemon's connection does)
  const conns = Array.from({ length: connections }, () => new Redis({ path: socketPath, enableAutoPipelining: connections < clients }));
  const stores = conns.map((c) => new RedisResourceStore({ domain, redis: c, holdTtlMs: 600_000 }));
  const links = Array.from({ length: 64 }, (_, i) => `l${i}`);
  for (const l of links) await stores[0]!.setCapacity(l, 'ef', 1_000_000_000_000);
  for (const s of stores) await s.sweepExpired(); // loads the scripts on every connection
  const T = Math.ceil((Date.now() + 3_600_000) / MIN) * MIN;
  let decisions = 0;
  let admitted = 0;
  let stop = false;
  const loop = async (c: number) => {
    const rnd = prng(c + 1);
    const store = stores[c % stores.length]!;
    for (let i = 0; !stop; i++) {
      // a path of two links of the domain, one slot of an advance window
      const a = Math.floor(rnd() * 64);
      const b = (a + 1 + Math.floor(rnd() * 63)) % 64;
      const slot = Math.floor(rnd() * 120);
      const res = await store.reserve({
        id: `${domain}-${c}-${i}`,
        links: [links[a]!, links[b]!],
        cls: 'ef',
        rateBps: 1_000_000,
        start: T + slot * MIN,
        end: T + (slot + 1) * MIN,
      });
      decisions += 1;
      if (res.admitted) admitted += 1;
    }
  };
  const t0 = performance.now();
  const timer = setTimeout(() => (stop = true), ms);
  await Promise.all(Array.from({ length: clients }, (_, c) => loop(c)));
  clearTimeout(timer);
  const seconds = (performance.now() - t0) / 1000;
  for (const c of conns) c.disconnect();
  return { perSecond: decisions / seconds, admittedFraction: decisions ? admitted / decisions : 0 };
}

/** 256 concurrent clients over 8 replicas on a bottleneck; then check every link/slot. */
async function overbooking(socketPath: string, ms: number): Promise<{ perSecond: number; overbooked: number; mismatch: number }> {
  const domain = 'bench-bottleneck';
  const conns = Array.from({ length: 8 }, () => new Redis({ path: socketPath, enableAutoPipelining: true }));
  const stores = conns.map((c) => new RedisResourceStore({ domain, redis: c, holdTtlMs: 600_000 }));
  const cap = 100_000_000;
  const links = ['bn', 'a0', 'a1', 'a2', 'a3'];
  for (const l of links) await stores[0]!.setCapacity(l, 'ef', l === 'bn' ? cap : 1_000_000_000);
  const T = Math.ceil((Date.now() + 3_600_000) / MIN) * MIN;
  const SLOTS = 16;
  const admitted = new Map<string, { links: string[]; rate: number; s0: number; s1: number }>();
  let decisions = 0;
  let stop = false;
  const loop = async (c: number) => {
    const rnd = prng(1000 + c);
    const store = stores[c % stores.length]!;
    for (let i = 0; !stop; i++) {
      const s0 = Math.floor(rnd() * SLOTS);
      const s1 = Math.min(SLOTS, s0 + 1 + Math.floor(rnd() * 4));
      const path = rnd() < 0.5 ? ['bn', `a${c % 4}`] : [`a${c % 4}`, 'bn'];
      const rate = 10_000 + Math.floor(rnd() * 200_000);
      // a third of the attempts start mid-slot and end mid-slot
      const off = i % 3 === 0 ? 12_345 : 0;
      const id = `ob-${c}-${i}`;
      const res = await store.reserve({
        id,
        links: path,
        cls: 'ef',
        rateBps: rate,
        start: T + s0 * MIN + off,
        end: T + s1 * MIN - (off ? 1 : 0),
      });
      decisions += 1;
      if (res.admitted) admitted.set(id, { links: path, rate, s0, s1 });
      // release some so that capacity keeps moving
      if (res.admitted && i % 5 === 0) {
        await store.release(id);
        admitted.delete(id);
      }
    }
  };
  const t0 = performance.now();
  const timer = setTimeout(() => (stop = true), ms);
  await Promise.all(Array.from({ length: 256 }, (_, c) => loop(c)));
  clearTimeout(timer);
  const seconds = (performance.now() - t0) / 1000;
  let overbooked = 0;
  let mismatch = 0;
  for (const link of links) {
    const usage = await stores[0]!.usage(link, 'ef', T, T + SLOTS * MIN);
    const linkCap = link === 'bn' ? cap : 1_000_000_000;
    usage.forEach((u, s) => {
      if (u.usedBps > linkCap) overbooked += 1;
      const expected = [...admitted.values()].filter((r) => r.links.includes(link) && r.s0 <= s && s < r.s1).reduce((a, r) => a + r.rate, 0);
      if (expected !== u.usedBps) mismatch += 1;
    });
  }
  for (const c of conns) c.disconnect();
  return { perSecond: decisions / seconds, overbooked, mismatch };
}

const median = (xs: number[]): number => {
  const v = [...xs].sort((a, b) => a - b);
  const m = Math.floor(v.length / 2);
  return v.length % 2 ? v[m]! : (v[m - 1]! + v[m]!) / 2;
};

/**
 * The machine is shared and noisy, so the reference and ours run in
 * interleaved rounds (redis-benchmark, then ours, on the same redis-server)
 * and the ratio is the median of the per-round ratios.
 */
export async function admissionBench(socketPath: string, log: (line: string) => void, rounds = 5): Promise<AdmissionFigures> {
  const clients = 50;
  const refs: number[] = [];
  const shared: number[] = [];
  const perConn: number[] = [];
  let admittedFraction = 1;
  for (let round = 0; round < rounds; round++) {
    const ref = redisEvalRate(socketPath, clients, 40_000);
    const t = await throughput(socketPath, `bench-tp${round}`, clients, 2, 1_500);
    const pc = await throughput(socketPath, `bench-pc${round}`, clients, clients, 1_500);
    refs.push(ref);
    shared.push(t.perSecond);
    perConn.push(pc.perSecond);
    admittedFraction = Math.min(admittedFraction, t.admittedFraction, pc.admittedFraction);
    log(
      `round ${round + 1}: redis-benchmark EVAL "return 1" 0 -c ${clients} ${ref.toFixed(0)} req/s; ` +
        `admission ${clients} clients on 2 replicas ${t.perSecond.toFixed(0)}/s (${(t.perSecond / ref).toFixed(3)}), ` +
        `on ${clients} connections ${pc.perSecond.toFixed(0)}/s (${(pc.perSecond / ref).toFixed(3)})`,
    );
  }
  const ob = await overbooking(socketPath, 3_000);
  log(`admission decisions, 256 clients on 8 connections (bottleneck): ${ob.perSecond.toFixed(0)} /s, overbooked slots ${ob.overbooked}, usage mismatches ${ob.mismatch}`);
  return {
    admissions_per_s: Math.round(median(shared)),
    admission_clients: clients,
    admissions_per_s_conn_per_client: Math.round(median(perConn)),
    ratio_conn_per_client_vs_redis_eval: Number(median(perConn.map((x, i) => x / refs[i]!)).toFixed(3)),
    admitted_fraction: Number(admittedFraction.toFixed(4)),
    admissions_per_s_256: Math.round(ob.perSecond),
    redis_eval_per_s: Math.round(median(refs)),
    ratio_vs_redis_eval: Number(median(shared.map((x, i) => x / refs[i]!)).toFixed(3)),
    overbooked: ob.overbooked,
    usage_mismatch: ob.mismatch,
  };
}
