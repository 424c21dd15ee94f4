/**
 * bench/peering, convergence part: N in-process brokers (PeeringCore with
 * in-memory session streams) on a random mesh of degree 3 (a ring plus a
 * random perfect matching). For each change (a new advertisement signed at a
 * random broker) it measures the time until every broker holds it and the
 * messages sent per link. Reference in the same run: a plain flood of an
 * unsigned {origin, seq} over the same graph and the same in-memory delivery
 * (seen-set dedupe, no signatures, no table): the ratio shows what signing,
 * verification and the table cost on top of the delivery itself.
 * Targets: N = 100 converges in under 1 s; at most 2 messages per link per change.
 *
 * Run alone: node dist/bench/peering/convergence.js
 */
import { generateKeyPairSync } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { PeeringCore, type PeerSpec } from '../../daemon/peering/peering-core.js';
import { MemoryTransport, memoryPair as pair, type MemoryStream as MemEnd } from '../../daemon/peering/memory.js';
import { rawPublicKey } from '../../daemon/crypto/keys.js';
import type { PeerFrame } from '../../daemon/peering/proto.js';
import type { Inventory } from '../../daemon/peering/origin.js';
import { prng } from '../prng.js';


/** Edges of a connected random graph of degree 3 on n (even) nodes: a ring plus a random perfect matching. */
export function degree3Mesh(n: number, random: () => number): [number, number][] {
  const key = (a: number, b: number) => (a < b ? `${a}-${b}` : `${b}-${a}`);
  const edges = new Map<string, [number, number]>();
  for (let i = 0; i < n; i++) edges.set(key(i, (i + 1) % n), [Math.min(i, (i + 1) % n), Math.max(i, (i + 1) % n)]);
  for (let attempt = 0; attempt < 1000; attempt++) {
    const perm = [...Array(n).keys()];
    for (let i = n - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1));
      [perm[i], perm[j]] = [perm[j]!, perm[i]!];
    }
    const extra: [number, number][] = [];
    let ok = true;
    for (let i = 0; i < n; i += 2) {
      const a = perm[i]!;
      const b = perm[i + 1]!;
      if (edges.has(key(a, b))) {
        ok = false;
        break;
      }
      extra.push([Math.min(a, b), Math.max(a, b)]);
    }
    if (!ok) continue;
    for (const [a, b] of extra) edges.set(key(a, b), [a, b]);
    return [...edges.values()];
  }
  throw new Error(`no degree-3 matching found for n=${n}`);
}

const inventory = (d: string): Inventory => ({
  borders: ['b1', 'b2'],
  sites: [],
  transits: [{ id: `${d}-core`, from: 'b1', to: 'b2', bidirectional: true, classes: { EF: { capacityMbps: 100, latencyMs: 1, jitterMs: 0.1, loss: 0 } } }],
  links: [],
  prices: { currency: 'EUR', perMbpsHour: { EF: 1 } },
});

const tick = () => new Promise<void>((r) => setImmediate(r));
const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
};

export interface ConvergenceFigures {
  n: number;
  links: number;
  changes: number;
  p50_ms: number;
  p99_ms: number;
  max_ms: number;
  msgs_per_link_per_change: number;
  max_msgs_per_link_per_change: number;
  reference_p50_ms: number;
  ratio_vs_plain_flood: number;
}

async function runN(n: number, changes: number, seed: number): Promise<ConvergenceFigures> {
  const random = prng(seed);
  const edges = degree3Mesh(n, random);
  const names = [...Array(n).keys()].map((i) => `d${String(i).padStart(3, '0')}`);
  const keys = names.map(() => generateKeyPairSync('ed25519').privateKey);
  const originKeys = Object.fromEntries(names.map((d, i) => [d, rawPublicKey(keys[i]!)]));
  const cores: PeeringCore[] = [];
  const neighbours = names.map(() => [] as number[]);
  for (const [a, b] of edges) {
    neighbours[a]!.push(b);
    neighbours[b]!.push(a);
  }
  const transport = new MemoryTransport();
  for (let i = 0; i < n; i++) {
    const peers: PeerSpec[] = neighbours[i]!.map((j) => ({ domain: names[j]!, caPem: Buffer.alloc(0), address: j > i ? 'mem' : undefined }));
    const core = new PeeringCore({
      role: 'provider',
      domain: names[i]!,
      brokerId: `${names[i]}-1`,
      signingKey: keys[i]!,
      peers,
      originKeys,
      holdTimeS: 90,
      inventory: inventory(names[i]!),
      transport,
    });
    cores.push(core);
    transport.cores.set(names[i]!, core);
  }
  for (const c of cores) await c.start();
  const deadline = Date.now() + 60_000;
  while (!cores.every((c) => c.adverts().length === n)) {
    if (Date.now() > deadline) throw new Error(`n=${n}: initial flood did not converge`);
    await tick();
  }
  const sent = () => cores.reduce((s, c) => s + (c.stats.advertsSent.advertisement ?? 0), 0);
  const times: number[] = [];
  const perLink: number[] = [];
  for (let k = 0; k < changes; k++) {
    const i = Math.floor(random() * n);
    const before = sent();
    const t0 = performance.now();
    const seq = cores[i]!.originate('bench')!.envelope.seq;
    while (!cores.every((c) => c.table.highestSeq(names[i]!) >= seq)) await tick();
    times.push(performance.now() - t0);
    // let in-flight duplicates land before counting messages
    for (let q = 0; q < 20; q++) await tick();
    perLink.push((sent() - before) / edges.length);
  }
  for (const c of cores) await c.stop();

  // Reference: a plain flood over the same graph and delivery, no crypto, no table.
  const ref: number[] = [];
  for (let k = 0; k < changes; k++) {
    const seen = names.map(() => 0);
    const ends = new Map<string, MemEnd>();
    for (const [a, b] of edges) {
      const [x, y] = pair();
      ends.set(`${a}>${b}`, x);
      ends.set(`${b}>${a}`, y);
      const recv = (at: number, from: number) => (f: PeerFrame) => {
        const m = JSON.parse(Buffer.from(f.advertisement!.signed_advert).toString()) as { seq: number };
        if (seen[at]! >= m.seq) return;
        seen[at] = m.seq;
        for (const nb of neighbours[at]!) if (nb !== from) ends.get(`${at}>${nb}`)!.write(f);
      };
      y.on('data', recv(b, a));
      x.on('data', recv(a, b));
    }
    const i = Math.floor(random() * n);
    const t0 = performance.now();
    seen[i] = k + 1;
    const frame: PeerFrame = { advertisement: { signed_advert: Buffer.from(JSON.stringify({ origin: names[i], seq: k + 1 })) } };
    for (const nb of neighbours[i]!) ends.get(`${i}>${nb}`)!.write(frame);
    while (!seen.every((s) => s >= k + 1)) await tick();
    ref.push(performance.now() - t0);
  }
  const p50 = pct(times, 50);
  const refP50 = pct(ref, 50);
  return {
    n,
    links: edges.length,
    changes,
    p50_ms: round(p50),
    p99_ms: round(pct(times, 99)),
    max_ms: round(Math.max(...times)),
    msgs_per_link_per_change: round(perLink.reduce((a, b) => a + b, 0) / perLink.length),
    max_msgs_per_link_per_change: round(Math.max(...perLink)),
    reference_p50_ms: round(refP50),
    ratio_vs_plain_flood: round(p50 / Math.max(refP50, 1e-6)),
  };
}

const round = (x: number) => Math.round(x * 1000) / 1000;

/** Run N = 10, 50, 100; returns the figures and whether the targets are met. */
export async function convergenceBench(log: (line: string) => void = console.log, sizes = [10, 50, 100], changes = 20) {
  const results: ConvergenceFigures[] = [];
  for (const n of sizes) {
    const r = await runN(n, changes, 0x5eed + n);
    results.push(r);
    log(
      `convergence n=${r.n} links=${r.links}: p50 ${r.p50_ms} ms, p99 ${r.p99_ms} ms, max ${r.max_ms} ms; ` +
        `${r.msgs_per_link_per_change} msgs/link/change (max ${r.max_msgs_per_link_per_change}); plain flood p50 ${r.reference_p50_ms} ms (ratio ${r.ratio_vs_plain_flood})`,
    );
  }
  const big = results.find((r) => r.n === 100) ?? results.at(-1)!;
  const targetMet = big.max_ms < 1000 && results.every((r) => r.max_msgs_per_link_per_change <= 2);
  log(`convergence target (n=100 converges < 1 s, <= 2 msgs per link per change): ${targetMet ? 'met' : 'NOT met'}`);
  return { results, convergence_n100_max_ms: big.max_ms, convergence_n100_p50_ms: big.p50_ms, convergence_msgs_per_link_per_change: big.msgs_per_link_per_change, convergence_ratio_vs_plain_flood: big.ratio_vs_plain_flood, convergence_target_met: targetMet };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  convergenceBench().then(
    (r) => {
      const { results, ...summary } = r;
      console.log(JSON.stringify({ bench: 'peering-convergence', ...summary, by_n: results }));
    },
    (err: unknown) => {
      console.error(err instanceof Error ? (err.stack ?? err.message) : String(err));
      process.exit(1);
    },
  );
}
