/**
 * bench/agreement: path computation over synthetic multi-domain graphs.
 *
 * Graphs of 100, 1,000 and 10,000 domains (4 borders each, transit between every pair of
 * borders, 4 classes, random inter-domain links of small degree, seeded). Each query is
 * a random border-to-border request in a random class with a rate, a latency bound set
 * between 1.1x and 2x the unconstrained best latency, a jitter bound, and a rotating
 * objective (cheapest, lowest-latency, balanced), k = 3. The reference, timed on the same
 * graph in the same run, is an unconstrained Dijkstra on latency between the same endpoints.
 *
 * Then agreements across three daemons (agreements.ts) and chained across five (chain.ts).
 *
 * Usage: npm run bench -- agreement [--sizes 100,1000,10000] [--queries N] [--paths-only]
 * Last line: one JSON object with p50/p99 per size and the ratio to the reference.
 */
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { buildTopology, computePaths, PathInfeasibleError, shortestLatency, type PathObjective, type PathRequest, type TopologyGraph } from '../../daemon/topology/index.js';
import { CLASSES, prng, syntheticTopology } from './synthetic.js';
import { runAgreements } from './agreements.js';
import { runChain } from './chain.js';

const REPEAT = 3;
const quantile = (xs: number[], q: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
};

interface SizeResult { n: number; nodes: number; p50: number; p99: number; refP50: number; refP99: number; feasible: number; infeasible: number; inexact: number; queries: number }

/** The next random request: border to border in a random class, bounds set from the best latency (which the reference computes). */
function nextQuery(n: number, r: () => number, q: number): { from: PathRequest['from']; to: PathRequest['to']; qosClass: string; finish(best: number): PathRequest } {
  const objectives: PathObjective[] = ['cheapest', 'lowest-latency', 'balanced'];
  const a = Math.floor(r() * n);
  let b = Math.floor(r() * n);
  if (b === a) b = (a + 1) % n;
  const from = { domain: `D${a}`, border: `b${Math.floor(r() * 4)}` };
  const to = { domain: `D${b}`, border: `b${Math.floor(r() * 4)}` };
  const qosClass = CLASSES[Math.floor(r() * 4)]!;
  return {
    from,
    to,
    qosClass,
    finish: (best) => ({
      from,
      to,
      qosClass,
      rateMbps: [1, 5, 10, 50][Math.floor(r() * 4)]!,
      maxLatencyMs: best * (1.1 + 0.9 * r()),
      maxJitterMs: best * (0.3 + r()),
      objective: objectives[q % 3],
      k: 3,
    }),
  };
}

function solve(graph: TopologyGraph, req: PathRequest): { ok: boolean; exact: boolean } {
  try {
    return { ok: true, exact: computePaths(graph, req).exact };
  } catch (e) {
    if (!(e instanceof PathInfeasibleError)) throw e;
    return { ok: false, exact: true };
  }
}

function runSize(n: number, queries: number, seed: number): SizeResult {
  const tb = performance.now();
  const graph = buildTopology(syntheticTopology(n, seed));
  for (const c of CLASSES) graph.classGraph(c);
  const buildMs = performance.now() - tb;
  // Warm-up, untimed, for the search and the reference alike: as many queries again, drawn
  // from another seed. Without it the p99 at 100 domains measures V8 more than the search:
  // the search runs in V8's lower tiers for its first several hundred calls (the reference,
  // one tight loop, is optimized within its first calls), and a daemon pays that once.
  const rw = prng(seed * 7 + 2);
  for (let q = 0; q < queries; q++) {
    const w = nextQuery(n, rw, q);
    solve(graph, w.finish(shortestLatency(graph, w)));
  }
  const r = prng(seed * 7 + 1);
  const times: number[] = [];
  const infeasibleTimes: number[] = [];
  const refTimes: number[] = [];
  let feasible = 0;
  let infeasible = 0;
  let inexact = 0;
  for (let q = 0; q < queries; q++) {
    const query = nextQuery(n, r, q);
    // Each query runs REPEAT times and keeps its fastest run, for both the reference and the
    // search: this filters out preemption on a shared machine, not the cost of hard queries.
    let refMs = Infinity;
    let best = 0;
    for (let i = 0; i < REPEAT; i++) {
      const t0 = performance.now();
      best = shortestLatency(graph, query);
      refMs = Math.min(refMs, performance.now() - t0);
    }
    const req = query.finish(best);
    let out = { ok: true, exact: true };
    let ms = Infinity;
    for (let i = 0; i < REPEAT; i++) {
      const t2 = performance.now();
      out = solve(graph, req);
      ms = Math.min(ms, performance.now() - t2);
    }
    refTimes.push(refMs);
    times.push(ms);
    if (out.ok) feasible++;
    else {
      infeasible++;
      infeasibleTimes.push(ms);
    }
    if (!out.exact) inexact++;
  }
  const res = { n, nodes: graph.size, p50: quantile(times, 0.5), p99: quantile(times, 0.99), refP50: quantile(refTimes, 0.5), refP99: quantile(refTimes, 0.99), feasible, infeasible, inexact, queries };
  console.log(
    `${String(n).padStart(6)} domains (${graph.size} borders, built in ${buildMs.toFixed(0)} ms): ${queries} queries, ` +
      `p50 ${res.p50.toFixed(3)} ms p99 ${res.p99.toFixed(3)} ms; unconstrained Dijkstra p50 ${res.refP50.toFixed(3)} ms p99 ${res.refP99.toFixed(3)} ms; ` +
      `ratio p99 ${(res.p99 / res.refP99).toFixed(2)}x; feasible ${feasible}, infeasible ${infeasible} (p99 ${infeasibleTimes.length ? quantile(infeasibleTimes, 0.99).toFixed(3) : '-'} ms), inexact ${inexact}`,
  );
  return res;
}

const { values } = parseArgs({ options: { sizes: { type: 'string', default: '100,1000,10000' }, queries: { type: 'string' }, seed: { type: 'string', default: '42' }, 'paths-only': { type: 'boolean', default: false } } });
const sizes = values.sizes!.split(',').map(Number);
const out: Record<string, unknown> = { bench: 'agreement' };
const ratios: number[] = [];
for (const n of sizes) {
  const queries = values.queries ? Number(values.queries) : n <= 1000 ? 2000 : 600;
  const s = runSize(n, queries, Number(values.seed) + n);
  out[`d${n}_p50_ms`] = +s.p50.toFixed(4);
  out[`d${n}_p99_ms`] = +s.p99.toFixed(4);
  out[`d${n}_dijkstra_p99_ms`] = +s.refP99.toFixed(4);
  out[`d${n}_ratio_p99`] = +(s.p99 / s.refP99).toFixed(3);
  out[`d${n}_infeasible`] = s.infeasible;
  out[`d${n}_inexact`] = s.inexact;
  ratios.push(s.p99 / s.refP99);
}
out.ratio_vs_dijkstra_p99 = +Math.max(...ratios).toFixed(3);
// targets: p99 <= 5x the reference at every size; 1,000 domains p99 < 5 ms; 10,000 < 50 ms
const p99Under = (n: number, ms: number) => out[`d${n}_p99_ms`] === undefined || (out[`d${n}_p99_ms`] as number) < ms;
const met: Record<string, boolean> = { path: (out.ratio_vs_dijkstra_p99 as number) <= 5 && p99Under(1000, 5) && p99Under(10000, 50) };
if (!values['paths-only']) {
  // agreements across three qos-brokerd processes on loopback (agreements.ts), against raw gRPC unary in the same run
  const ag = await runAgreements({ concurrency: 50 });
  out.agreements_per_s = ag.agreements_per_s;
  out.agreements_p99_ms = ag.p99_ms;
  out.agreements_ratio_vs_grpc_unary = ag.ratio_vs_grpc_unary;
  out.agreements_offered_per_s = ag.offered_per_s;
  out.agreements_offered_p99_ms = ag.offered_p99_ms;
  out.agreements_cpu_ms = ag.cpu_ms_per_agreement;
  met.agreements = ag.met;
  // agreements chained across five daemons (each peering only with its neighbours) against three direct, same run (chain.ts)
  const ch = await runChain({ concurrency: 50 });
  out.chain_agreements_per_s = ch.chain_agreements_per_s;
  out.chain_offered_p99_ms = ch.chain_offered_p99_ms;
  out.chain_direct_agreements_per_s = ch.direct_agreements_per_s;
  out.chain_ratio_vs_direct = ch.ratio_chain_vs_direct;
  out.chain_cpu_ms = ch.chain_cpu_ms_per_agreement;
  met.chain = ch.met;
}
out.met = met;
console.log(JSON.stringify(out));
