/**
 * What this domain advertises: built from the inventory (config) and live
 * state (used capacity per link and class from the resource store), plus the
 * rule that decides when available capacity moved enough to re-advertise.
 */
import type { ClassTable, DomainAdvertisement, PriceSchedule, SiteAttachment } from '../topology/types.js';
import { buildTopology } from '../topology/index.js';

/** One class on one link or transit of the inventory. */
export interface InventoryClass {
  capacityMbps: number;
  latencyMs: number;
  jitterMs: number;
  loss: number;
}

/** Intra-domain carriage between two borders; `id` is its link id in the resource store. */
export interface InventoryTransit {
  id: string;
  from: string;
  to: string;
  bidirectional: boolean;
  classes: Record<string, InventoryClass>;
}

/** Egress link to a peer domain; `id` is its link id in the resource store. */
export interface InventoryLink {
  id: string;
  border: string;
  peerDomain: string;
  peerBorder: string;
  classes: Record<string, InventoryClass>;
}

/** The domain inventory of a provider. */
export interface Inventory {
  borders: string[];
  sites: SiteAttachment[];
  transits: InventoryTransit[];
  links: InventoryLink[];
  prices: PriceSchedule;
}

/** Used bandwidth, bit/s, keyed by usageKey(link, cls). */
export type UsageMap = Map<string, number>;
export const usageKey = (link: string, cls: string): string => `${link}\u0000${cls}`;

/**
 * The store link id of a directed path edge (`domain/border` ids) in this
 * domain's inventory: a transit either way when bidirectional, an egress link
 * by its border and peer. Undefined for an edge the domain does not advertise.
 */
export function inventoryLinkId(domain: string, inv: Inventory, hop: { from: string; to: string }): string | undefined {
  const [fd, fb] = hop.from.split('/') as [string, string];
  const [td, tb] = hop.to.split('/') as [string, string];
  if (fd !== domain) return undefined;
  if (td === domain) return inv.transits.find((t) => (t.from === fb && t.to === tb) || (t.bidirectional && t.from === tb && t.to === fb))?.id;
  return inv.links.find((l) => l.border === fb && l.peerDomain === td && l.peerBorder === tb)?.id;
}

/** Every (link id, class, capacity bit/s) of the inventory, for the resource store. */
export function inventoryCapacities(inv: Inventory): { link: string; cls: string; capacityBps: number }[] {
  const out: { link: string; cls: string; capacityBps: number }[] = [];
  for (const e of [...inv.transits, ...inv.links]) {
    for (const [cls, c] of Object.entries(e.classes)) out.push({ link: e.id, cls, capacityBps: Math.round(c.capacityMbps * 1e6) });
  }
  return out;
}

function classTable(link: string, classes: Record<string, InventoryClass>, used: UsageMap): ClassTable {
  const t: ClassTable = {};
  for (const [cls, c] of Object.entries(classes)) {
    const usedMbps = (used.get(usageKey(link, cls)) ?? 0) / 1e6;
    t[cls] = {
      availableMbps: Math.max(0, Math.round((c.capacityMbps - usedMbps) * 1000) / 1000),
      capacityMbps: c.capacityMbps,
      latencyMs: c.latencyMs,
      jitterMs: c.jitterMs,
      loss: c.loss,
    };
  }
  return t;
}

/** The advertisement body of `domain` given what is used now. */
export function buildAdvertisement(domain: string, inv: Inventory, used: UsageMap): DomainAdvertisement {
  return {
    origin: domain,
    borders: [...inv.borders],
    sites: inv.sites.map((s) => ({ id: s.id, borders: [...s.borders], ...(s.prefixes?.length ? { prefixes: [...s.prefixes] } : {}) })),
    transits: inv.transits.map((t) => ({ from: t.from, to: t.to, bidirectional: t.bidirectional, classes: classTable(t.id, t.classes, used) })),
    links: inv.links.map((l) => ({ border: l.border, peerDomain: l.peerDomain, peerBorder: l.peerBorder, classes: classTable(l.id, l.classes, used) })),
    prices: { currency: inv.prices.currency, perMbpsHour: { ...inv.prices.perMbpsHour } },
  };
}

/**
 * True when some class of some edge moved its available bandwidth by at least
 * `threshold` (a fraction of that class's capacity) between two advertisements,
 * or the set of edges/classes changed.
 */
export function capacityMovedPastThreshold(prev: DomainAdvertisement, next: DomainAdvertisement, threshold: number): boolean {
  const flat = (a: DomainAdvertisement): Map<string, { avail: number; cap: number }> => {
    const m = new Map<string, { avail: number; cap: number }>();
    a.transits.forEach((t, i) => {
      for (const [c, v] of Object.entries(t.classes)) m.set(`t${i}/${c}`, { avail: v.availableMbps, cap: v.capacityMbps ?? v.availableMbps });
    });
    a.links.forEach((l, i) => {
      for (const [c, v] of Object.entries(l.classes)) m.set(`l${i}/${c}`, { avail: v.availableMbps, cap: v.capacityMbps ?? v.availableMbps });
    });
    return m;
  };
  const a = flat(prev);
  const b = flat(next);
  if (a.size !== b.size) return true;
  for (const [k, v] of b) {
    const o = a.get(k);
    if (!o || o.cap !== v.cap) return true;
    if (Math.abs(o.avail - v.avail) >= threshold * Math.max(v.cap, 1e-9)) return true;
  }
  return false;
}

/** The body of a signed withdrawal. */
export interface WithdrawnBody {
  withdrawn: true;
}
/** What an advertisement envelope carries: a domain advertisement or a withdrawal. */
export type AdvertBody = DomainAdvertisement | WithdrawnBody;

export function isWithdrawal(body: AdvertBody): body is WithdrawnBody {
  return (body as WithdrawnBody).withdrawn === true;
}

/** validateBody for the AdvertTable: a withdrawal, or a domain advertisement the topology accepts. */
export function validateAdvertBody(body: unknown): string | undefined {
  const b = body as Record<string, unknown>;
  if (b.withdrawn === true) return Object.keys(b).length === 1 ? undefined : 'a withdrawal carries only {"withdrawn": true}';
  for (const k of ['origin', 'borders', 'transits', 'links', 'prices']) if (!(k in b)) return `${k} is missing`;
  try {
    buildTopology([body as DomainAdvertisement]);
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
  return undefined;
}
