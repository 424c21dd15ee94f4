/**
 * The embedded default network of the loopback demo, used when nothing is
 * configured: four providers, two ways from X to Z.
 *
 *            +-- provider-y (cheap, 14 ms) --+
 *   site-x --x1--x2                        z1--z2-- site-z
 *            +-- provider-w (fast, 4 ms) ----+
 *
 * Every provider advertises EF, AF41 and BE between its borders, its
 * egress links and its price schedule.
 */
import type { ClassTable, DomainAdvertisement } from '../topology/types.js';

function classes(capMbps: number, latencyMs: number, jitterMs: number, loss: number): ClassTable {
  return {
    EF: { availableMbps: capMbps * 0.3, capacityMbps: capMbps * 0.3, latencyMs, jitterMs, loss },
    AF41: { availableMbps: capMbps * 0.4, capacityMbps: capMbps * 0.4, latencyMs: latencyMs * 1.2, jitterMs: jitterMs * 2, loss: loss * 2 },
    BE: { availableMbps: capMbps, capacityMbps: capMbps, latencyMs: latencyMs * 1.5, jitterMs: jitterMs * 4, loss: loss * 10 },
  };
}

const prices = (ef: number, af: number, be: number) => ({ currency: 'EUR', perMbpsHour: { EF: ef, AF41: af, BE: be } });

export function demoNetwork(): DomainAdvertisement[] {
  return [
    {
      origin: 'provider-x',
      borders: ['x1', 'x2'],
      sites: [{ id: 'site-x', borders: ['x1'] }],
      transits: [{ from: 'x1', to: 'x2', bidirectional: true, classes: classes(1000, 2, 0.2, 0.0001) }],
      links: [
        { border: 'x2', peerDomain: 'provider-y', peerBorder: 'y1', classes: classes(100, 1, 0.1, 0) },
        { border: 'x2', peerDomain: 'provider-w', peerBorder: 'w1', classes: classes(100, 1, 0.1, 0) },
      ],
      prices: prices(0.05, 0.03, 0.01),
    },
    {
      origin: 'provider-y',
      borders: ['y1', 'y2'],
      transits: [{ from: 'y1', to: 'y2', bidirectional: true, classes: classes(400, 14, 2, 0.0005) }],
      links: [
        { border: 'y2', peerDomain: 'provider-z', peerBorder: 'z1', classes: classes(100, 1, 0.1, 0) },
        { border: 'y1', peerDomain: 'provider-x', peerBorder: 'x2', classes: classes(100, 1, 0.1, 0) },
      ],
      prices: prices(0.04, 0.02, 0.005),
    },
    {
      origin: 'provider-w',
      borders: ['w1', 'w2'],
      transits: [{ from: 'w1', to: 'w2', bidirectional: true, classes: classes(200, 4, 0.5, 0.0001) }],
      links: [
        { border: 'w2', peerDomain: 'provider-z', peerBorder: 'z1', classes: classes(100, 1, 0.1, 0) },
        { border: 'w1', peerDomain: 'provider-x', peerBorder: 'x2', classes: classes(100, 1, 0.1, 0) },
      ],
      prices: prices(0.12, 0.08, 0.02),
    },
    {
      origin: 'provider-z',
      borders: ['z1', 'z2'],
      sites: [{ id: 'site-z', borders: ['z2'] }],
      transits: [{ from: 'z1', to: 'z2', bidirectional: true, classes: classes(1000, 2, 0.2, 0.0001) }],
      links: [
        { border: 'z1', peerDomain: 'provider-y', peerBorder: 'y2', classes: classes(100, 1, 0.1, 0) },
        { border: 'z1', peerDomain: 'provider-w', peerBorder: 'w2', classes: classes(100, 1, 0.1, 0) },
      ],
      prices: prices(0.05, 0.03, 0.01),
    },
  ];
}
