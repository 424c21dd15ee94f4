import { describe, expect, test } from 'vitest';
import { congestionMultiplier, pricePath, priceScenarios, type QuoteRequest } from '../../../daemon/agreement/pricing.js';
import { buildTopology, PathInfeasibleError } from '../../../daemon/topology/index.js';
import { prng, smallRequest, smallTopology } from '../topology/random-graphs.js';

describe('agreement/pricing - properties on random topologies', () => {
  test('pricing - charges add up, terms hold, scenarios win on their criterion, price grows with rate', () => {
    let priced = 0;
    for (let seed = 1; seed <= 600; seed++) {
      const r = prng(seed);
      const ads = smallTopology(r);
      // Random capacities so congestion varies.
      for (const ad of ads) for (const e of [...ad.transits, ...ad.links]) for (const m of Object.values(e.classes)) m.capacityMbps = m.availableMbps * (1 + 3 * r());
      const graph = buildTopology(ads);
      const req: QuoteRequest = { ...smallRequest(r, ads), durationHours: 0.5 + 3 * r() };
      const contracts = Object.fromEntries(ads.filter(() => r() < 0.5).map((a) => [a.origin, { discount: 0.3 * r(), floorPerMbpsHour: r() < 0.3 ? 2 * r() : 0, minimumCharge: r() < 0.3 ? 50 * r() : 0 }]));
      let options;
      try {
        options = priceScenarios(graph, req, { contracts });
      } catch (e) {
        if (e instanceof PathInfeasibleError) continue;
        throw e;
      }
      priced++;
      const label = `seed ${seed}`;
      for (const o of options) {
        const sum = o.price.segments.reduce((s, x) => s + x.charge, 0);
        expect(o.price.total, label).toBeCloseTo(sum, 9);
        expect(o.price.segments.map((x) => x.domain), label).toEqual(o.path.domains);
        for (const x of o.price.segments) {
          const t = contracts[x.domain] ?? { discount: 0, floorPerMbpsHour: 0, minimumCharge: 0 };
          expect(x.congestionMultiplier, label).toBeCloseTo(congestionMultiplier(x.utilisationAfter), 12);
          expect(x.congestionMultiplier, label).toBeGreaterThanOrEqual(1);
          expect(x.congestionMultiplier, label).toBeLessThanOrEqual(3);
          expect(x.unitPerMbpsHour, label).toBeGreaterThanOrEqual(t.floorPerMbpsHour);
          expect(x.unitPerMbpsHour, label).toBeCloseTo(Math.max(t.floorPerMbpsHour, x.listPerMbpsHour * x.congestionMultiplier * (1 - t.discount)), 9);
          expect(x.charge, label).toBeGreaterThanOrEqual(t.minimumCharge);
        }
        // Half the rate never costs more.
        const half = pricePath(graph, o.path, { qosClass: req.qosClass, rateMbps: req.rateMbps / 2, durationHours: req.durationHours }, { contracts });
        expect(half.total, label).toBeLessThanOrEqual(o.price.total + 1e-9);
      }
      const cheapest = options.find((o) => o.scenarios.includes('cheapest'))!;
      const fastest = options.find((o) => o.scenarios.includes('fastest'))!;
      expect(options.filter((o) => o.scenarios.length > 0).length, label).toBeGreaterThan(0);
      for (const o of options) {
        expect(cheapest.price.total, label).toBeLessThanOrEqual(o.price.total + 1e-9);
        expect(fastest.path.metrics.latencyMs, label).toBeLessThanOrEqual(o.path.metrics.latencyMs + 1e-9);
        expect(o.path.metrics.latencyMs, label).toBeLessThanOrEqual((req.maxLatencyMs ?? Infinity) + 1e-9);
      }
    }
    expect(priced).toBeGreaterThan(150);
  });
});
