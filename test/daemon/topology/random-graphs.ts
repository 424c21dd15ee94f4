/** Seeded random advertisements and requests for property tests and benches of path computation. */
import type { ClassMetrics, DomainAdvertisement, PathObjective, PathRequest } from '../../../daemon/topology/types.js';
import { prng } from '../../../bench/prng.js';

export { prng };


export const pick = <T>(r: () => number, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
export const int = (r: () => number, lo: number, hi: number): number => lo + Math.floor(r() * (hi - lo + 1));

export const CLASSES = ['EF', 'BE'] as const;

function metrics(r: () => number): ClassMetrics {
  return {
    availableMbps: pick(r, [5, 10, 50, 100]),
    latencyMs: int(r, 1, 10),
    jitterMs: int(r, 0, 5),
    loss: pick(r, [0, 0, 0.001, 0.01, 0.05]),
  };
}

function classTable(r: () => number): Record<string, ClassMetrics> {
  const t: Record<string, ClassMetrics> = {};
  for (const c of CLASSES) if (r() < 0.93) t[c] = metrics(r);
  return t;
}

/** A small random multi-domain topology: 2-4 domains of 1-3 borders. */
export function smallTopology(r: () => number): DomainAdvertisement[] {
  const nd = int(r, 2, 4);
  const names = Array.from({ length: nd }, (_, i) => `D${i}`);
  const borders = names.map(() => Array.from({ length: int(r, 1, 3) }, (_, j) => `b${j}`));
  return names.map((origin, d) => {
    const bs = borders[d]!;
    const transits = [];
    for (const a of bs) for (const b of bs) if (a !== b && r() < 0.6) transits.push({ from: a, to: b, bidirectional: r() < 0.3, classes: classTable(r) });
    const links = [];
    for (let p = 0; p < nd; p++) {
      if (p === d || r() < 0.3) continue;
      const n = int(r, 1, 2);
      for (let i = 0; i < n; i++) links.push({ border: pick(r, bs), peerDomain: names[p]!, peerBorder: pick(r, borders[p]!), classes: classTable(r) });
    }
    const perMbpsHour: Record<string, number> = {};
    for (const c of CLASSES) if (r() < 0.96) perMbpsHour[c] = int(r, 0, 5);
    return { origin, borders: bs, sites: [{ id: 'site', borders: bs.filter(() => r() < 0.6).concat(bs[0]!).filter((b, i, a) => a.indexOf(b) === i) }], transits, links, prices: { currency: 'EUR', perMbpsHour } };
  });
}

/** A random request over `ads` (endpoints never share a border). */
export function smallRequest(r: () => number, ads: DomainAdvertisement[]): PathRequest {
  for (;;) {
    const a = pick(r, ads);
    const b = pick(r, ads);
    const from = r() < 0.3 ? { domain: a.origin, site: 'site' } : { domain: a.origin, border: pick(r, a.borders) };
    const to = r() < 0.3 ? { domain: b.origin, site: 'site' } : { domain: b.origin, border: pick(r, b.borders) };
    const fb = from.site ? a.sites![0]!.borders : [from.border!];
    const tb = to.site ? b.sites![0]!.borders : [to.border!];
    if (a.origin === b.origin && fb.some((x) => tb.includes(x))) continue;
    const others = ads.map((x) => x.origin).filter((d) => d !== a.origin && d !== b.origin);
    const req: PathRequest = {
      from,
      to,
      qosClass: pick(r, CLASSES),
      rateMbps: pick(r, [1, 8, 20, 60]),
      objective: pick<PathObjective>(r, ['cheapest', 'lowest-latency', 'balanced']),
      k: int(r, 1, 4),
    };
    if (r() < 0.6) req.maxLatencyMs = int(r, 2, 30);
    if (r() < 0.4) req.maxJitterMs = int(r, 0, 12);
    if (r() < 0.3) req.maxLoss = pick(r, [0.001, 0.02, 0.1]);
    if (others.length > 0 && r() < 0.2) req.includeDomains = others.length > 1 && r() < 0.4 ? [...others].sort(() => r() - 0.5).slice(0, 2) : [pick(r, others)];
    else if (others.length > 0 && r() < 0.2) req.excludeDomains = [pick(r, others)];
    else if (others.length > 0 && r() < 0.15) req.allowedDomains = [a.origin, b.origin, ...others.filter(() => r() < 0.5)];
    return req;
  }
}
