/** Seeded synthetic multi-domain topologies for the path-computation benchmark. */
import type { ClassMetrics, DomainAdvertisement } from '../../daemon/topology/index.js';
import { prng } from '../prng.js';

export { prng };

export const CLASSES = ['EF', 'AF41', 'AF21', 'BE'] as const;
/** Per class: latency and jitter multipliers and a price factor (better classes cost more). */
const CLASS_SHAPE = { EF: [1, 0.2, 4], AF41: [1.2, 0.5, 2.5], AF21: [1.5, 1, 1.5], BE: [2, 2, 1] } as const;


function table(r: () => number, baseLatency: number): Record<string, ClassMetrics> {
  const t: Record<string, ClassMetrics> = {};
  for (const c of CLASSES) {
    const [lm, jm] = CLASS_SHAPE[c];
    const cap = [100, 1000, 10000][Math.floor(r() * 3)]!;
    t[c] = {
      capacityMbps: cap,
      availableMbps: Math.round(cap * r()),
      latencyMs: Math.round(baseLatency * lm * (0.8 + 0.4 * r()) * 100) / 100,
      jitterMs: Math.round(baseLatency * jm * r() * 100) / 100,
      loss: r() < 0.5 ? 0 : Math.round(r() * 100) / 1e6,
    };
  }
  return t;
}

/** A seeded synthetic topology of `n` domains. Average inter-domain degree about 3. */
export function syntheticTopology(n: number, seed: number): DomainAdvertisement[] {
  const r = prng(seed);
  const borders = ['b0', 'b1', 'b2', 'b3'];
  const ads: DomainAdvertisement[] = [];
  for (let d = 0; d < n; d++) {
    const transits = [];
    for (let i = 0; i < 4; i++) for (let j = i + 1; j < 4; j++) transits.push({ from: borders[i]!, to: borders[j]!, bidirectional: true, classes: table(r, 0.5 + 4 * r()) });
    const perMbpsHour: Record<string, number> = {};
    const base = 0.01 + 0.05 * r();
    for (const c of CLASSES) perMbpsHour[c] = Math.round(base * CLASS_SHAPE[c][2] * 1e4) / 1e4;
    ads.push({ origin: `D${d}`, borders, transits, links: [], prices: { currency: 'EUR', perMbpsHour } });
  }
  const link = (a: number, b: number) => {
    const ba = borders[Math.floor(r() * 4)]!;
    const bb = borders[Math.floor(r() * 4)]!;
    const base = 1 + 15 * r();
    ads[a]!.links.push({ border: ba, peerDomain: `D${b}`, peerBorder: bb, classes: table(r, base) });
    ads[b]!.links.push({ border: bb, peerDomain: `D${a}`, peerBorder: ba, classes: table(r, base) });
  };
  // A ring keeps the graph connected; random chords give it small diameter.
  for (let d = 0; d < n; d++) link(d, (d + 1) % n);
  for (let d = 0; d < n / 2; d++) {
    const a = Math.floor(r() * n);
    const b = Math.floor(r() * n);
    if (a !== b) link(a, b);
  }
  return ads;
}

