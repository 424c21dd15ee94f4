/**
 * A four-domain topology with alternative paths, for topology and agreement tests.
 *
 *            +-- B (cheap, slow, low jitter) --+
 *   A (hq) --+          |  b2 -> c1 (one way)  +-- D (dc)
 *            +-- C (dear, fast, jittery) ------+
 *
 * Class EF, per Mbit/s-hour: A 2, B 1, C 3, D 2.
 *   via B:    price 5, latency 17 ms, jitter 2.4 ms
 *   via C:    price 7, latency  8 ms, jitter 5.4 ms (c2 -> d3 has only 50 Mbit/s)
 *   via B, C: price 8, latency 20 ms, jitter 6.9 ms (dominated by via C)
 */
import type { ClassMetrics, DomainAdvertisement } from '../../../daemon/topology/types.js';

export const m = (latencyMs: number, jitterMs: number, availableMbps = 1000, loss = 0, capacityMbps = 1000): ClassMetrics => ({ latencyMs, jitterMs, availableMbps, loss, capacityMbps });
const both = (a: string, b: string, x: ClassMetrics) => ({ from: a, to: b, bidirectional: true, classes: { EF: x, BE: { ...x, latencyMs: x.latencyMs * 2 } } });
const link = (border: string, peerDomain: string, peerBorder: string, x: ClassMetrics) => ({ border, peerDomain, peerBorder, classes: { EF: x, BE: { ...x, latencyMs: x.latencyMs * 2 } } });
const prices = (ef: number) => ({ currency: 'EUR', perMbpsHour: { EF: ef, BE: ef / 4 } });

export function fourDomains(): DomainAdvertisement[] {
  return [
    {
      origin: 'A',
      borders: ['a1', 'a2', 'a3'],
      sites: [{ id: 'hq', borders: ['a1'] }],
      transits: [both('a1', 'a2', m(2, 0.2)), both('a1', 'a3', m(2, 0.2))],
      links: [link('a2', 'B', 'b1', m(2, 0.5)), link('a3', 'C', 'c1', m(1, 0.5))],
      prices: prices(2),
    },
    {
      origin: 'B',
      borders: ['b1', 'b2'],
      transits: [both('b1', 'b2', m(10, 1, 1000, 0.001))],
      links: [link('b1', 'A', 'a2', m(2, 0.5)), link('b2', 'D', 'd2', m(2, 0.5)), link('b2', 'C', 'c1', m(1, 0.5))],
      prices: prices(1),
    },
    {
      origin: 'C',
      borders: ['c1', 'c2'],
      transits: [both('c1', 'c2', m(3, 4, 1000, 0.0001))],
      links: [link('c1', 'A', 'a3', m(1, 0.5)), link('c2', 'D', 'd3', m(1, 0.5, 50, 0, 100))],
      prices: prices(3),
    },
    {
      origin: 'D',
      borders: ['d1', 'd2', 'd3'],
      sites: [{ id: 'dc', borders: ['d1'] }],
      transits: [both('d2', 'd1', m(1, 0.2)), both('d3', 'd1', m(1, 0.2))],
      links: [link('d2', 'B', 'b2', m(2, 0.5)), link('d3', 'C', 'c2', m(1, 0.5))],
      prices: prices(2),
    },
  ];
}
