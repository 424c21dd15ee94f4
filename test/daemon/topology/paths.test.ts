import { describe, expect, test } from 'vitest';
import { InvalidArgumentError } from '../../../drivers/errors.js';
import { buildTopology, computePaths, PathInfeasibleError, TopologyError, type PathRequest } from '../../../daemon/topology/index.js';
import { fourDomains } from './fixtures.js';

const base: PathRequest = { from: { domain: 'A', site: 'hq' }, to: { domain: 'D', site: 'dc' }, qosClass: 'EF', rateMbps: 10 };
const graph = buildTopology(fourDomains());

function infeasible(req: PathRequest): PathInfeasibleError {
  try {
    computePaths(graph, req);
  } catch (e) {
    if (e instanceof PathInfeasibleError) return e;
    throw e;
  }
  throw new Error(`expected ${JSON.stringify(req)} to be infeasible`);
}

describe('topology/paths - four domains with alternative paths', () => {
  test('paths - cheapest goes through B and reports segments and metrics', () => {
    const r = computePaths(graph, { ...base, objective: 'cheapest', k: 3 });
    expect(r.exact).toBe(true);
    const best = r.paths[0]!;
    expect(best.domains).toEqual(['A', 'B', 'D']);
    expect(best.nodes).toEqual(['A/a1', 'A/a2', 'B/b1', 'B/b2', 'D/d2', 'D/d1']);
    expect(best.metrics.pricePerMbpsHour).toBe(5);
    expect(best.metrics.latencyMs).toBeCloseTo(17);
    expect(best.metrics.jitterMs).toBeCloseTo(2.4);
    expect(best.metrics.loss).toBeCloseTo(0.001);
    expect(best.segments.map((s) => [s.domain, s.ingress, s.egress])).toEqual([
      ['A', 'a1', 'a2'],
      ['B', 'b1', 'b2'],
      ['D', 'd2', 'd1'],
    ]);
    // The alternatives: via C (price 7); via B then C is dominated by via C and never offered.
    expect(r.paths.map((p) => p.domains.join(''))).toEqual(['ABD', 'ACD']);
    expect(r.paths.map((p) => p.score)).toEqual([5, 7]);
  });

  test('paths - lowest latency goes through C; a latency bound turns cheapest to C too', () => {
    expect(computePaths(graph, { ...base, objective: 'lowest-latency' }).paths[0]!.domains).toEqual(['A', 'C', 'D']);
    const bounded = computePaths(graph, { ...base, objective: 'cheapest', maxLatencyMs: 10 });
    expect(bounded.paths.map((p) => p.domains.join(''))).toEqual(['ACD']);
    expect(bounded.paths[0]!.metrics.latencyMs).toBeLessThanOrEqual(10);
  });

  test('paths - balanced normalises price and latency by the best of each', () => {
    const r = computePaths(graph, { ...base, objective: 'balanced' });
    expect(r.balanceReference).toEqual({ pricePerMbpsHour: 5, latencyMs: 8 });
    // via B: 5/5 + 17/8 = 3.125; via C: 7/5 + 8/8 = 2.4
    expect(r.paths[0]!.domains).toEqual(['A', 'C', 'D']);
    expect(r.paths[0]!.score).toBeCloseTo(2.4);
    expect(r.paths[1]!.score).toBeCloseTo(3.125);
  });

  test('paths - include and exclude domains steer the path', () => {
    expect(computePaths(graph, { ...base, includeDomains: ['C'] }).paths[0]!.domains).toEqual(['A', 'C', 'D']);
    expect(computePaths(graph, { ...base, excludeDomains: ['B'] }).paths.map((p) => p.domains.join(''))).toEqual(['ACD']);
    expect(computePaths(graph, { ...base, allowedDomains: ['A', 'B', 'D'] }).paths.map((p) => p.domains.join(''))).toEqual(['ABD']);
  });

  test('paths - a latency bound below the best says so with the best achievable', () => {
    const e = infeasible({ ...base, maxLatencyMs: 5 });
    expect(e.code).toBe('QB_PATH_LATENCY_BOUND');
    expect(e.reason).toEqual({ kind: 'latency', bestMs: 8, boundMs: 5 });
    expect(e.message).toMatch(/best achievable is 8 ms/);
  });

  test('paths - too much bandwidth names the domain it cannot get past', () => {
    const e = infeasible({ ...base, rateMbps: 100, excludeDomains: ['B'] });
    expect(e.code).toBe('QB_PATH_NO_BANDWIDTH');
    expect(e.reason).toMatchObject({ kind: 'bandwidth', pastDomain: 'C', bestMbps: 50, rateMbps: 100, thinEdges: ['C/c2 -> D/d3 (50 Mbit/s)'] });
    expect(e.message).toMatch(/past domain C/);
    // With B allowed, 100 Mbit/s fits through B, but only at 17 ms.
    expect(infeasible({ ...base, rateMbps: 100, maxLatencyMs: 10 }).reason).toEqual({ kind: 'latency', bestMs: 17, boundMs: 10 });
  });

  test('paths - jitter, loss, joint bounds, policy and class each get their own reason', () => {
    expect(infeasible({ ...base, maxJitterMs: 2 }).reason).toMatchObject({ kind: 'jitter', boundMs: 2 });
    expect((infeasible({ ...base, maxJitterMs: 2 }).reason as { bestMs: number }).bestMs).toBeCloseTo(2.4);
    expect(infeasible({ ...base, maxLoss: 0.00005 }).code).toBe('QB_PATH_LOSS_BOUND');
    const joint = infeasible({ ...base, maxLatencyMs: 10, maxJitterMs: 3 });
    expect(joint.code).toBe('QB_PATH_BOUNDS_JOINTLY');
    expect(joint.reason).toMatchObject({ kind: 'bounds-jointly', best: { latencyMs: 8 } });
    expect(infeasible({ ...base, allowedDomains: ['A', 'D'] }).reason).toEqual({ kind: 'policy', blocking: ['B', 'C'] });
    expect(infeasible({ ...base, qosClass: 'AF41' }).reason).toEqual({ kind: 'no-route', qosClass: 'AF41' });
    expect(infeasible({ ...base, includeDomains: ['C'], rateMbps: 100 }).reason).toEqual({ kind: 'include', domains: ['C'] });
  });

  test('paths - a per-node cap marks the answer inexact instead of failing', () => {
    const r = computePaths(graph, { ...base, k: 3 }, { maxLabelsPerNode: 1 });
    expect(r.paths.length).toBeGreaterThan(0);
    expect(r.stats.labelsDroppedAtCap).toBeGreaterThan(0);
    expect(r.exact).toBe(false);
  });

  test('paths - the total label cap stops the search with QB_PATH_SEARCH_LIMIT', () => {
    let err: unknown;
    try {
      computePaths(graph, base, { maxLabels: 1 });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(PathInfeasibleError);
    expect((err as PathInfeasibleError).reason).toEqual({ kind: 'search-limit', maxLabels: 1 });
    // The smallest cap that lets the first answer through stops before the second: the
    // answer comes back marked inexact.
    let r;
    for (let cap = 1; cap < 100 && !r; cap++) {
      try {
        r = computePaths(graph, { ...base, k: 3 }, { maxLabels: cap });
      } catch (e) {
        if (!(e instanceof PathInfeasibleError) || e.reason.kind !== 'search-limit') throw e;
      }
    }
    expect(r!.paths.map((p) => p.domains.join(''))).toEqual(['ABD']);
    expect(r!.stats.hitTotalCap).toBe(true);
    expect(r!.exact).toBe(false);
  });

  test('paths - bad requests get InvalidArgumentError naming the field', () => {
    const bad: [Partial<PathRequest>, RegExp][] = [
      [{ rateMbps: 0 }, /rateMbps/],
      [{ from: { domain: 'Z', border: 'x' } }, /from.domain Z is not advertised/],
      [{ to: { domain: 'D', border: 'nope' } }, /to.border nope is not a border of D/],
      [{ to: { domain: 'A', border: 'a1' } }, /share border A\/a1/],
      [{ objective: 'fastest' as never }, /objective must be one of/],
      [{ k: 0 }, /k must be/],
      [{ maxLoss: 1 }, /maxLoss/],
      [{ excludeDomains: ['A'] }, /from.domain A is excluded/],
      [{ includeDomains: ['Q'] }, /includeDomains/],
      [{ includeDomains: 'B' as never }, /includeDomains must be a list/],
      [{ allowedDomains: ['A', 'B'] }, /to.domain D is excluded or not in allowedDomains/],
    ];
    for (const [patch, msg] of bad) {
      expect(() => computePaths(graph, { ...base, ...patch }), JSON.stringify(patch)).toThrow(InvalidArgumentError);
      expect(() => computePaths(graph, { ...base, ...patch }), JSON.stringify(patch)).toThrow(msg);
    }
  });
});

describe('topology/graph - advertisement validation', () => {
  test('graph - malformed advertisements name the origin and field', () => {
    const cases: [(ads: ReturnType<typeof fourDomains>) => void, RegExp][] = [
      [(ads) => (ads[1]!.transits[0]!.classes.EF!.loss = 1.5), /advertisement of B: transits\[0\]\.classes\.EF\.loss/],
      [(ads) => (ads[0]!.links[0]!.border = 'zz'), /advertisement of A: links\[0\]\.border: unknown border "zz"/],
      [(ads) => ads.push(fourDomains()[0]!), /advertisement of A: origin: advertised twice/],
      [(ads) => (ads[2]!.prices.currency = 'euro'), /prices\.currency/],
      [(ads) => (ads[3]!.borders = ['d1', 'd1']), /duplicate border d1/],
      [(ads) => (ads[0]!.origin = 'A/x'), /origin/],
      [(ads) => (ads[1]!.transits[0]!.classes.EF!.capacityMbps = 10), /capacityMbps.*below availableMbps/],
      [(ads) => (ads[0]!.sites![0]!.borders = ['q']), /sites\[0\]\.borders\[0\]/],
    ];
    for (const [mutate, msg] of cases) {
      const ads = fourDomains();
      mutate(ads);
      let err: unknown;
      try {
        buildTopology(ads);
      } catch (e) {
        err = e;
      }
      expect(err, String(msg)).toBeInstanceOf(TopologyError);
      expect((err as TopologyError).code).toBe('QB_TOPOLOGY_INVALID_ADVERTISEMENT');
      expect((err as Error).message).toMatch(msg);
    }
  });

  test('graph - links to domains not advertised are ignored and listed', () => {
    const ads = fourDomains();
    ads[0]!.links.push({ border: 'a1', peerDomain: 'X', peerBorder: 'x1', classes: {} });
    const g = buildTopology(ads);
    expect(g.ignoredLinks).toEqual(['A/a1 -> X/x1']);
    expect(computePaths(g, base).paths[0]!.domains).toEqual(['A', 'B', 'D']);
  });

  test('graph - a domain without a price for the class carries none of it', () => {
    const ads = fourDomains();
    delete (ads[1]!.prices.perMbpsHour as Record<string, number>).EF;
    expect(computePaths(buildTopology(ads), { ...base, k: 3 }).paths.map((p) => p.domains.join(''))).toEqual(['ACD']);
  });
});
