/** Small pure helpers shared by the renderers. */
import { escapeXml } from '../netconf/xml.js';
import { prefixFamily } from '../policy/validate.js';
import type { ResolvedPolicy, TrafficClass } from '../policy/types.js';

/**
 * Base name of every object a policy creates on a device. Service ids are
 * already restricted to `[A-Za-z0-9._-]`, safe in every vendor syntax; a
 * network-instance (partition) is part of the name so two partitions of a
 * shared device never collide.
 */
export function objectName(p: ResolvedPolicy): string {
  return p.networkInstance ? `qb-${p.networkInstance}-${p.serviceId}` : `qb-${p.serviceId}`;
}

/** A leaf element, or '' when the value is undefined. */
export function leaf(name: string, v: string | number | boolean | undefined): string {
  return v === undefined ? '' : `<${name}>${escapeXml(String(v))}</${name}>`;
}

/** Six-bit DSCP as Junos writes code points, e.g. 46 -> 101110. */
export function dscpBits(d: number): string {
  return d.toString(2).padStart(6, '0');
}

/** AFx1 low, AFx2 medium, AFx3 high drop precedence; EF and BE low. */
export function dropPrecedence(c: TrafficClass): 'low' | 'medium' | 'high' {
  if (c.startsWith('AF')) return c.endsWith('1') ? 'low' : c.endsWith('2') ? 'medium' : 'high';
  return 'low';
}

/** Address families the classifier matches: those of its prefixes, both when it has none. */
export function families(p: ResolvedPolicy): (4 | 6)[] {
  const f = new Set([...p.classifier.sourcePrefixes, ...p.classifier.destinationPrefixes].map(prefixFamily));
  return f.size === 0 ? [4, 6] : ([4, 6] as const).filter((x) => f.has(x));
}

/** Prefixes of one family. */
export function prefixesOf(list: string[], family: 4 | 6): string[] {
  return list.filter((x) => prefixFamily(x) === family);
}

/** kbit/s as bit/s. */
export function bps(kbps: number): number {
  return kbps * 1000;
}
