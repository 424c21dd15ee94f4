/**
 * The inventory of a two-border test domain, as the tests' and benches'
 * daemons advertise it: borders b1 (the domain's site) and b2 (a link to each
 * neighbour), one transit between them, EF only.
 */
export function twoBorderInventory(domain: string, neighbours: string[], efMbps: number): Record<string, unknown> {
  const cls = { 'capacity-mbps': efMbps, 'latency-ms': 2, 'jitter-ms': 0.5, loss: 0 };
  return {
    borders: ['b1', 'b2'],
    sites: [{ id: `${domain}-site`, borders: ['b1'] }],
    transits: [{ id: `${domain}-core`, from: 'b1', to: 'b2', bidirectional: true, classes: { EF: cls } }],
    links: neighbours.map((n) => ({ id: `${domain}-${n}`, border: 'b2', 'peer-domain': n, 'peer-border': 'b1', classes: { EF: cls } })),
    prices: { currency: 'EUR', 'per-mbps-hour': { EF: 0.5 } },
  };
}
