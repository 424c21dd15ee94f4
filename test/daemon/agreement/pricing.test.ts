import { describe, expect, test } from 'vitest';
import { InvalidArgumentError } from '../../../drivers/errors.js';
import { PricingError } from '../../../daemon/errors.js';
import {
  applyBusinessObjectives,
  congestionMultiplier,
  pricePath,
  priceScenarios,
  quote,
  type BusinessObjectives,
  type QuoteRequest,
} from '../../../daemon/agreement/pricing.js';
import { buildTopology, computePaths, PathInfeasibleError, type DomainAdvertisement } from '../../../daemon/topology/index.js';
import { fourDomains, m } from '../topology/fixtures.js';

const four = buildTopology(fourDomains());
const req4: QuoteRequest = { from: { domain: 'A', site: 'hq' }, to: { domain: 'D', site: 'dc' }, qosClass: 'EF', rateMbps: 10, durationHours: 2, maxLatencyMs: 30, maxJitterMs: 10 };
const usage4 = { qosClass: 'EF', rateMbps: 10, durationHours: 2 };

/**
 * Three domains: X (site s1) reaches Z (site s2) directly over a thin, slow link (satellite,
 * 20 Mbit/s, 40 ms), or through Y over fast fibre. Per Mbit/s-hour: X 1, Y 2, Z 1.
 */
function threeDomains(): DomainAdvertisement[] {
  const t = (from: string, to: string) => ({ from, to, bidirectional: true, classes: { EF: m(1, 0.1) } });
  return [
    { origin: 'X', borders: ['x1', 'x2', 'x3'], sites: [{ id: 's1', borders: ['x1'] }], transits: [t('x1', 'x2'), t('x1', 'x3')], links: [{ border: 'x2', peerDomain: 'Y', peerBorder: 'y1', classes: { EF: m(2, 0.2) } }, { border: 'x3', peerDomain: 'Z', peerBorder: 'z2', classes: { EF: m(40, 2, 20, 0.001, 20) } }], prices: { currency: 'EUR', perMbpsHour: { EF: 1 } } },
    { origin: 'Y', borders: ['y1', 'y2'], transits: [t('y1', 'y2')], links: [{ border: 'y2', peerDomain: 'Z', peerBorder: 'z1', classes: { EF: m(2, 0.2) } }], prices: { currency: 'EUR', perMbpsHour: { EF: 2 } } },
    { origin: 'Z', borders: ['z1', 'z2', 'z3'], sites: [{ id: 's2', borders: ['z3'] }], transits: [t('z1', 'z3'), t('z2', 'z3')], links: [], prices: { currency: 'EUR', perMbpsHour: { EF: 1 } } },
  ];
}
const three = buildTopology(threeDomains());
const req3: QuoteRequest = { from: { domain: 'X', site: 's1' }, to: { domain: 'Z', site: 's2' }, qosClass: 'EF', rateMbps: 10, durationHours: 1, maxLatencyMs: 50 };

describe('agreement/pricing - congestion curve', () => {
  test('pricing - multiplier is flat to the knee, then rises smoothly to the ceiling', () => {
    expect(congestionMultiplier(0)).toBe(1);
    expect(congestionMultiplier(0.5)).toBe(1);
    expect(congestionMultiplier(0.75)).toBeCloseTo(1.5);
    expect(congestionMultiplier(1)).toBeCloseTo(3);
    expect(congestionMultiplier(0.9, { knee: 0.8, ceiling: 5, exponent: 1 })).toBeCloseTo(3);
    let prev = 0;
    for (let u = 0; u <= 1.0001; u += 0.01) {
      const x = congestionMultiplier(u);
      expect(x).toBeGreaterThanOrEqual(prev);
      prev = x;
    }
    expect(congestionMultiplier(0.5001) - 1).toBeLessThan(1e-6);
  });
});

describe('agreement/pricing - path prices', () => {
  const viaC = computePaths(four, { ...req4, objective: 'lowest-latency' }).paths[0]!;

  test('pricing - schedule times rate times duration, with congestion on the busy link', () => {
    const p = pricePath(four, viaC, usage4);
    expect(p.currency).toBe('EUR');
    expect(p.segments.map((s) => [s.domain, s.listPerMbpsHour])).toEqual([['A', 2], ['C', 3], ['D', 2]]);
    expect(p.segments[0]!.charge).toBeCloseTo(40);
    expect(p.segments[1]!.charge).toBeCloseTo(60);
    // D is entered over c2 -> d3: 100 Mbit/s with 50 free; after 10 more, 60 % used: x1.08.
    expect(p.segments[2]!.utilisationAfter).toBeCloseTo(0.6);
    expect(p.segments[2]!.congestionMultiplier).toBeCloseTo(1.08);
    expect(p.segments[2]!.charge).toBeCloseTo(43.2);
    expect(p.total).toBeCloseTo(143.2);
  });

  test('pricing - per-peer contract terms: discount, unit floor, minimum charge', () => {
    const d = (terms: object) => pricePath(four, viaC, usage4, { contracts: { D: terms } }).segments[2]!;
    expect(d({ discount: 0.1 }).charge).toBeCloseTo(38.88);
    expect(d({ discount: 0.1, floorPerMbpsHour: 2 }).unitPerMbpsHour).toBe(2);
    expect(d({ discount: 0.1, floorPerMbpsHour: 2 }).charge).toBeCloseTo(40);
    expect(d({ minimumCharge: 50 }).charge).toBe(50);
    // Terms with one peer leave the others at list price.
    expect(pricePath(four, viaC, usage4, { contracts: { D: { discount: 0.5 } } }).segments[1]!.charge).toBeCloseTo(60);
    expect(() => pricePath(four, viaC, usage4, { contracts: { D: { discount: 1 } } })).toThrow(/contracts.D.discount/);
    expect(() => pricePath(four, viaC, { ...usage4, durationHours: 0 })).toThrow(InvalidArgumentError);
  });

  test('pricing - mixed currencies on one path are refused', () => {
    const ads = fourDomains();
    ads[2]!.prices.currency = 'USD';
    const g = buildTopology(ads);
    const p = computePaths(g, { ...req4, objective: 'lowest-latency' }).paths[0]!;
    expect(() => pricePath(g, p, usage4)).toThrow(PricingError);
    expect(() => pricePath(g, p, usage4)).toThrow(/C prices in USD/);
  });
});

describe('agreement/pricing - scenarios on three and four domains', () => {
  test('pricing - three domains: each scenario meets every bound and wins on its criterion', () => {
    const options = priceScenarios(three, req3);
    const byScenario = (s: string) => options.find((o) => o.scenarios.includes(s as never))!;
    expect(byScenario('cheapest').path.domains).toEqual(['X', 'Z']);
    expect(byScenario('cheapest').price.total).toBeCloseTo(20);
    expect(byScenario('fastest').path.domains).toEqual(['X', 'Y', 'Z']);
    for (const o of options) {
      expect(o.path.metrics.latencyMs).toBeLessThanOrEqual(req3.maxLatencyMs!);
      expect(o.path.metrics.bottleneckMbps).toBeGreaterThanOrEqual(req3.rateMbps);
    }
    for (const o of options) {
      expect(byScenario('cheapest').price.total).toBeLessThanOrEqual(o.price.total);
      expect(byScenario('fastest').path.metrics.latencyMs).toBeLessThanOrEqual(o.path.metrics.latencyMs);
    }
    // 30 Mbit/s does not fit the satellite: every scenario goes through Y.
    const wide = priceScenarios(three, { ...req3, rateMbps: 30 });
    expect(wide.map((o) => o.path.domains.join(''))).toEqual(['XYZ']);
    expect(wide[0]!.scenarios).toEqual(['cheapest', 'fastest', 'balanced']);
  });

  test('pricing - three domains: infeasible requests say which bound failed and where', () => {
    const err = (r: QuoteRequest) => {
      try {
        priceScenarios(three, r);
      } catch (e) {
        return e as PathInfeasibleError;
      }
      throw new Error('expected infeasible');
    };
    const lat = err({ ...req3, maxLatencyMs: 5 });
    expect(lat).toBeInstanceOf(PathInfeasibleError);
    expect(lat.reason).toEqual({ kind: 'latency', bestMs: 7, boundMs: 5 });
    const bw = err({ ...req3, rateMbps: 5000 });
    expect(bw.code).toBe('QB_PATH_NO_BANDWIDTH');
    expect(bw.reason).toMatchObject({ kind: 'bandwidth', pastDomain: 'X', bestMbps: 1000 });
    const pol = err({ ...req3, rateMbps: 30, excludeDomains: ['Y'] });
    expect(pol.reason).toMatchObject({ kind: 'bandwidth', pastDomain: 'X', bestMbps: 20 });
    expect(pol.message).toMatch(/X\/x3 -> Z\/z2 \(20 Mbit\/s\)/);
  });

  test('pricing - four domains: cheapest via B, fastest and balanced via C, all within bounds', () => {
    const options = priceScenarios(four, req4);
    expect(options.map((o) => [o.path.domains.join(''), o.scenarios])).toEqual([
      ['ABD', ['cheapest']],
      ['ACD', ['fastest', 'balanced']],
    ]);
    expect(options[0]!.price.total).toBeCloseTo(100);
    expect(options[1]!.price.total).toBeCloseTo(143.2);
    for (const o of options) {
      expect(o.path.metrics.latencyMs).toBeLessThanOrEqual(30);
      expect(o.path.metrics.jitterMs).toBeLessThanOrEqual(10);
    }
  });

  test('pricing - real-time congestion can overturn the advertised cheapest path', () => {
    const ads = fourDomains();
    // B's transit and the link into D from B are nearly full.
    ads[1]!.transits[0]!.classes.EF = m(10, 1, 12, 0.001, 1000);
    ads[1]!.links.find((l) => l.peerDomain === 'D')!.classes.EF = m(2, 0.5, 12, 0, 100);
    const g = buildTopology(ads);
    expect(computePaths(g, { ...req4, objective: 'cheapest' }).paths[0]!.domains).toEqual(['A', 'B', 'D']);
    const options = priceScenarios(g, req4);
    const cheapest = options.find((o) => o.scenarios.includes('cheapest'))!;
    expect(cheapest.path.domains).toEqual(['A', 'C', 'D']);
    const viaB = options.find((o) => o.path.domains.join('') === 'ABD')!;
    expect(viaB.price.total).toBeGreaterThan(cheapest.price.total);
    expect(viaB.price.segments[2]!.congestionMultiplier).toBeGreaterThan(2.8);
  });
});

describe('agreement/pricing - business objectives', () => {
  // The provider runs A and C; C is costly to operate. It resells B and D with a 20 % markup.
  const base: BusinessObjectives = {
    ownDomains: ['A', 'C'],
    resaleMarkup: 0.2,
    ownCostPerMbpsHour: { A: { EF: 1 }, C: { EF: 3.5 } },
    weights: { margin: 1, volume: 0 },
  };

  test('pricing - margin, margin ratio and on-net share per option', () => {
    const d = applyBusinessObjectives(four, priceScenarios(four, req4), usage4, base);
    const viaB = d.offered.find((o) => o.path.domains.join('') === 'ABD')!;
    const viaC = d.offered.find((o) => o.path.domains.join('') === 'ACD')!;
    // via B: own A 40; wholesale B 20 + D 40 = 60, resold at 72; own cost 20.
    expect(viaB.customerPrice).toBeCloseTo(112);
    expect(viaB.margin).toBeCloseTo(32);
    expect(viaB.onNetShare).toBeCloseTo(1 / 5);
    // via C: own A 40 + C 60; wholesale D 43.2, resold at 51.84; own cost 20 + 70.
    expect(viaC.customerPrice).toBeCloseTo(151.84);
    expect(viaC.margin).toBeCloseTo(18.64);
    expect(viaC.marginRatio).toBeCloseTo(18.64 / 151.84);
    expect(viaC.onNetShare).toBeCloseTo(3 / 5);
  });

  test('pricing - a change of business objective changes the preferred path and the offer', () => {
    const options = priceScenarios(four, req4);
    const margin = applyBusinessObjectives(four, options, usage4, base);
    expect(margin.preferred.path.domains).toEqual(['A', 'B', 'D']);
    const volume = applyBusinessObjectives(four, options, usage4, { ...base, weights: { margin: 0.2, volume: 1 } });
    expect(volume.preferred.path.domains).toEqual(['A', 'C', 'D']);
    expect(volume.offered).toHaveLength(2);
    // A target margin ratio of 20 % withdraws the on-net option altogether.
    const ratio = applyBusinessObjectives(four, options, usage4, { ...base, weights: { margin: 0.2, volume: 1 }, targetMarginRatio: 0.2 });
    expect(ratio.offered.map((o) => o.path.domains.join(''))).toEqual(['ABD']);
    expect(ratio.withheld.map((o) => o.path.domains.join(''))).toEqual(['ACD']);
    expect(ratio.preferred.path.domains).toEqual(['A', 'B', 'D']);
    // Price-sensitive: the cheapest customer price wins.
    expect(applyBusinessObjectives(four, options, usage4, { ...base, weights: { margin: 0, volume: 0, price: 1 } }).preferred.customerPrice).toBeCloseTo(112);
  });

  test('pricing - quote puts scenarios and objectives together; an unreachable target is a typed error', () => {
    const q = quote(four, req4, {}, { ...base, weights: { margin: 0.2, volume: 1 } });
    expect(q.currency).toBe('EUR');
    expect(q.preferred.path.domains).toEqual(['A', 'C', 'D']);
    expect(q.preferred.scenarios).toEqual(['fastest', 'balanced']);
    let err: unknown;
    try {
      quote(four, req4, {}, { ...base, targetMarginRatio: 0.5 });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(PricingError);
    expect((err as PricingError).code).toBe('QB_PRICING_BELOW_TARGET');
    expect((err as Error).message).toMatch(/best is 0\.286/);
    expect(() => quote(four, req4, {}, { ...base, weights: { margin: 0, volume: 0 } })).toThrow(/not all 0/);
    expect(() => quote(four, req4, {}, { ...base, ownDomains: ['Q'] })).toThrow(/Q is not an advertised domain/);
  });
});
