/**
 * linux_tc (CLI over SSH on a lab router): shell lines of iproute2 `tc`.
 * Only sch_htb, sch_fifo and cls_u32 are needed for rate enforcement, which
 * every kernel here has; remarking and ingress classification need tc
 * action modules (act_pedit, act_csum, act_skbedit) and cls_fw.
 *
 * - egress: an HTB root qdisc `1:` on the egress interface (added only if
 *   absent, so policies share it; no default class, so unclassified traffic
 *   goes out unshaped), one HTB class `1:<id>` (rate committed, ceil peak,
 *   burst / cburst, prio queue-priority) and u32 filters at prio <id>
 *   (IPv4) / <id>+0x8000 (IPv6) steering the matched packets into it;
 * - shape: the class queues above the rate (its default pfifo);
 * - police: the class gets a `bfifo` child whose limit is the committed
 *   burst, so traffic above the rate is dropped once the burst is used,
 *   not queued (no act_police needed);
 * - remark: `action pedit ex munge ip dsfield` / `ip6 traffic_class`
 *   rewrites the DSCP (keeping ECN), then `action csum ip` fixes the IPv4
 *   header checksum; no iptables involved;
 * - classifier: u32 matches src/dst prefixes, DSCP (`ip tos` / `ip6
 *   priority` under mask 0xfc) and the VLAN id (`protocol 802.1q`, tag at
 *   -4); with an ingress interface, classification runs on that interface's
 *   clsact ingress hook and marks the packet (`action skbedit mark <id>`),
 *   and the egress side steers by that mark (`fw` filter);
 * - a partition's network-instance (a VRF on Linux) does not change tc,
 *   which is per device; it is named in a comment line.
 *
 * - counters: the HTB class's own statistics (`tc -s -j class show`):
 *   bytes and packets it sent, packets dropped. The kernel counts whole
 *   frames as queued (Ethernet header included, no FCS) when the class
 *   dequeues them, so they are what left through the shaper; only traffic
 *   the filters steered into the class counts.
 *
 * The id (class minor, filter prio and fw mark) is derived from the object
 * name, so render stays pure and remove finds exactly what apply added.
 * The undo lines delete the filters and the class, then the root qdisc /
 * clsact only when nothing else is left on them, restoring the device.
 */
import type { ResolvedPolicy } from '../../policy/types.js';
import { families, objectName, prefixesOf } from '../common.js';
import { ProvisioningError } from '../../errors.js';
import type { CliPayload, Platform, PolicyCounters } from '../types.js';

/**
 * FNV-1a of the object name folded into 0x100..0x7eff: the class minor, the
 * fw mark and the filter prio of IPv4 (IPv6 filters use id + 0x8000: tc
 * wants one protocol per prio).
 */
export function tcId(name: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) {
    h ^= name.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return 0x100 + (h % 0x7e00);
}

function render(p: ResolvedPolicy): CliPayload {
  const n = objectName(p);
  const id = tcId(n);
  const hex = id.toString(16);
  const c = p.classifier;
  const r = p.rates;
  const eg = c.egressInterface;
  const apply: string[] = [];
  const undo: string[] = [];
  if (p.networkInstance) {
    apply.push(`# ${n}: network-instance ${p.networkInstance}`);
    undo.push(`# ${n}: network-instance ${p.networkInstance}`);
  }
  apply.push(`tc qdisc show dev ${eg} root | grep -q '^qdisc htb 1: ' || tc qdisc add dev ${eg} root handle 1: htb`);
  apply.push(`tc class add dev ${eg} parent 1: classid 1:${hex} htb rate ${r.committedKbps}kbit ceil ${r.peakKbps}kbit burst ${r.committedBurstBytes}b cburst ${r.peakBurstBytes}b prio ${p.queuePriority}`);

  if (p.action === 'police') apply.push(`tc qdisc add dev ${eg} parent 1:${hex} handle ${hex}: bfifo limit ${r.committedBurstBytes}`);
  const actions = (f: 4 | 6) => {
    const a: string[] = [];
    if (p.remark) {
      a.push(f === 4 ? `action pedit ex munge ip dsfield set ${p.dscp << 2} retain 0xfc pipe` : `action pedit ex munge ip6 traffic_class set ${p.dscp << 2} retain 0xfc pipe`);
      if (f === 4) a.push('action csum ip pipe');
    }
    return a;
  };
  const prio = (f: 4 | 6) => (f === 4 ? id : id + 0x8000);
  const matches = (f: 4 | 6): string[] => {
    const out: string[] = [];
    const src = prefixesOf(c.sourcePrefixes, f);
    const dst = prefixesOf(c.destinationPrefixes, f);
    for (const s of src.length ? src : [undefined]) {
      for (const d of dst.length ? dst : [undefined]) {
        for (const dscp of c.dscp.length ? c.dscp : [undefined]) {
          const proto = c.vlan !== undefined ? '802.1q' : f === 4 ? 'ip' : 'ipv6';
          const sel = f === 4 ? 'ip' : 'ip6';
          const keys = [
            c.vlan !== undefined && `match u16 0x${c.vlan.toString(16).padStart(4, '0')} 0x0fff at -4`,
            s && `match ${sel} src ${s}`,
            d && `match ${sel} dst ${d}`,
            dscp !== undefined && `match ${f === 4 ? 'ip tos' : 'ip6 priority'} 0x${(dscp << 2).toString(16)} 0xfc`,
          ].filter(Boolean);
          // u32 needs one match at least: an empty classifier matches every packet of the protocol
          out.push(`protocol ${proto} prio ${prio(f)} u32 ${keys.length ? keys.join(' ') : 'match u32 0 0'}`);
        }
      }
    }
    return out;
  };
  const fams = families(p);
  if (c.ingressInterface) {
    const ing = c.ingressInterface;
    apply.push(`tc qdisc show dev ${ing} clsact | grep -q clsact || tc qdisc add dev ${ing} clsact`);
    for (const f of fams) for (const m of matches(f)) apply.push(`tc filter add dev ${ing} ingress ${m} ${[...actions(f), `action skbedit mark 0x${hex}`].join(' ')}`);
    apply.push(`tc filter add dev ${eg} parent 1: protocol all prio ${id} handle 0x${hex} fw classid 1:${hex}`);
    for (const f of fams) undo.push(`tc filter del dev ${ing} ingress prio ${prio(f)}`);
    undo.push(`tc filter show dev ${ing} ingress | grep -q . || tc qdisc del dev ${ing} clsact`);
  } else {
    for (const f of fams) for (const m of matches(f)) apply.push(`tc filter add dev ${eg} parent 1: ${m} ${[`classid 1:${hex}`, ...actions(f)].join(' ')}`);
  }
  if (c.ingressInterface) undo.push(`tc filter del dev ${eg} parent 1: prio ${id}`);
  else for (const f of fams) undo.push(`tc filter del dev ${eg} parent 1: prio ${prio(f)}`);
  undo.push(`tc class del dev ${eg} classid 1:${hex}`);
  undo.push(`tc class show dev ${eg} | grep -q . || tc qdisc del dev ${eg} root`);
  return { transport: 'cli', apply, undo };
}

/** The one read-only line whose output readBackDiffs compares: the policy's class, then every filter of the egress root. */
function readBackLines(p: ResolvedPolicy): string[] {
  const eg = p.classifier.egressInterface;
  return [`tc class show dev ${eg} classid 1:${tcId(objectName(p)).toString(16)}; echo ---; tc filter show dev ${eg} parent 1:`];
}

/** A rate as tc prints it (`10Mbit`, `10500Kbit`, `800bit`; SI multiples), in bit/s. */
function tcRate(s: string): number {
  const m = /^([\d.]+)([KMGT]?)bit$/.exec(s);
  if (!m) return NaN;
  return Number(m[1]) * ({ '': 1, K: 1e3, M: 1e6, G: 1e9, T: 1e12 } as const)[m[2] as '' | 'K' | 'M' | 'G' | 'T'];
}

/** `match` value/mask at offset of an IPv4 prefix, as u32 prints it. */
function u32Match(prefix: string, off: number): string {
  const [addr, len] = prefix.split('/') as [string, string];
  const v = addr.split('.').reduce((a, o) => ((a << 8) | Number(o)) >>> 0, 0);
  const mask = Number(len) === 0 ? 0 : (0xffffffff << (32 - Number(len))) >>> 0;
  return `${v.toString(16).padStart(8, '0')}/${mask.toString(16).padStart(8, '0')} at ${off}`;
}

/** The eight 16-bit groups of an IPv6 address (`::` expanded; a dotted IPv4 tail as two groups). */
function v6Groups(addr: string): number[] {
  let a = addr;
  const v4 = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(a);
  if (v4) {
    const [b0, b1, b2, b3] = v4.slice(1).map(Number) as [number, number, number, number];
    a = `${a.slice(0, v4.index)}${((b0 << 8) | b1).toString(16)}:${((b2 << 8) | b3).toString(16)}`;
  }
  const [head = '', tail] = a.split('::') as [string, string | undefined];
  const parse = (s: string) => (s === '' ? [] : s.split(':').map((g) => parseInt(g, 16)));
  const h = parse(head);
  const t = tail === undefined ? [] : parse(tail);
  return [...h, ...Array<number>(8 - h.length - t.length).fill(0), ...t];
}

/** The `match` value/mask lines u32 prints for an IPv6 prefix at `off` (src 8, dst 24): one per 32-bit word its mask touches. */
function u32Match6(prefix: string, off: number): string[] {
  const [addr, len] = prefix.split('/') as [string, string];
  const g = v6Groups(addr);
  const out: string[] = [];
  for (let w = 0; w < 4; w++) {
    const bits = Math.min(32, Math.max(0, Number(len) - 32 * w));
    if (bits === 0) break;
    const mask = (0xffffffff << (32 - bits)) >>> 0;
    const v = ((((g[2 * w]! << 16) | g[2 * w + 1]!) >>> 0) & mask) >>> 0;
    out.push(`${v.toString(16).padStart(8, '0')}/${mask.toString(16).padStart(8, '0')} at ${off + 4 * w}`);
  }
  return out;
}

/**
 * Compare what readBackLines printed with the policy: the HTB class (rate, ceil), the
 * number of filters steering into it, and the u32 matches of its IPv4 and IPv6 prefixes.
 */
function readBackDiffs(p: ResolvedPolicy, output: string): string[] {
  const n = objectName(p);
  const id = tcId(n);
  const hex = id.toString(16);
  const eg = p.classifier.egressInterface;
  const [classPart = '', filterPart = ''] = output.split(/^---$/m);
  const diffs: string[] = [];
  const cls = new RegExp(`^class htb 1:${hex} .*\\brate (\\S+) ceil (\\S+)`, 'm').exec(classPart);
  // filter entries (a header line with flowid/classid 1:<hex>) and the match lines under each
  const entries: { pref: number; matches: string[] }[] = [];
  let cur: { pref: number; matches: string[] } | undefined;
  for (const line of filterPart.split('\n')) {
    const h = /^filter .*\bpref (\d+) /.exec(line);
    if (h) {
      cur = new RegExp(`\\b(flowid|classid) 1:${hex}\\b`).test(line) ? { pref: Number(h[1]), matches: [] } : undefined;
      if (cur) entries.push(cur);
      continue;
    }
    const m = /^\s+match (\S+ at -?\d+)/.exec(line);
    if (m && cur) cur.matches.push(m[1]!.replace(/^([0-9a-f]+)\/([0-9a-f]+)/, (_x, v: string, k: string) => `${v.padStart(8, '0')}/${k.padStart(8, '0')}`));
  }
  if (!cls && entries.length === 0) return [`missing ${n} on ${eg}: no class 1:${hex}, no filter into it (/name=${n})`];
  if (!cls) diffs.push(`missing class 1:${hex} of ${n} on ${eg}`);
  else {
    const [rate, ceil] = [tcRate(cls[1]!), tcRate(cls[2]!)];
    if (!(Math.abs(rate - p.rates.committedKbps * 1000) <= p.rates.committedKbps * 5)) diffs.push(`class 1:${hex} of ${n} on ${eg}: rate ${cls[1]}, expected ${p.rates.committedKbps}kbit`);
    if (!(Math.abs(ceil - p.rates.peakKbps * 1000) <= p.rates.peakKbps * 5)) diffs.push(`class 1:${hex} of ${n} on ${eg}: ceil ${cls[2]}, expected ${p.rates.peakKbps}kbit`);
  }
  const payload = render(p);
  const want = payload.apply.filter((l) => l.startsWith(`tc filter add dev ${eg} parent 1: `)).length;
  if (p.classifier.ingressInterface) {
    if (entries.length !== want) diffs.push(`${n} on ${eg}: ${entries.length} filter(s) into 1:${hex}, expected ${want}`);
    return diffs;
  }
  // u32 lists each key of a filter as its own entry line under the header; count the headers of our prefs
  const prefs = new Set(families(p).map((f) => (f === 4 ? id : id + 0x8000)));
  const ours = entries.filter((e) => prefs.has(e.pref));
  if (ours.length !== want) diffs.push(`${n} on ${eg}: ${ours.length} filter(s) into 1:${hex}, expected ${want}`);
  const seen = new Set(ours.filter((e) => e.pref === id).flatMap((e) => e.matches));
  const src = prefixesOf(p.classifier.sourcePrefixes, 4).filter((x) => x.split('/')[1] !== '0');
  const dst = prefixesOf(p.classifier.destinationPrefixes, 4).filter((x) => x.split('/')[1] !== '0');
  for (const [list, off, what] of [[src, 12, 'source'], [dst, 16, 'destination']] as const) {
    for (const x of list) if (!seen.has(u32Match(x, off))) diffs.push(`${n} on ${eg}: no filter matches ${what} ${x}`);
  }
  // IPv6 prefixes: every word of the prefix under one of the IPv6 filters (pref id + 0x8000)
  const seen6 = new Set(ours.filter((e) => e.pref === id + 0x8000).flatMap((e) => e.matches));
  for (const [list, off, what] of [[p.classifier.sourcePrefixes, 8, 'source'], [p.classifier.destinationPrefixes, 24, 'destination']] as const) {
    for (const x of prefixesOf(list, 6)) if (!u32Match6(x, off).every((m) => seen6.has(m))) diffs.push(`${n} on ${eg}: no filter matches ${what} ${x}`);
  }
  return diffs;
}

/** The one read-only line whose output parseCounters reads: the statistics of the policy's HTB class. */
function counterLines(p: ResolvedPolicy): string[] {
  return [`tc -s -j class show dev ${p.classifier.egressInterface} classid 1:${tcId(objectName(p)).toString(16)}`];
}

/**
 * The class's counters from `tc -s -j class show`: JSON where iproute2
 * prints it for classes (stats at the top level or under `stats`), the
 * text form otherwise (iproute2 6.1 ignores -j for `class show`):
 * `Sent B bytes P pkt (dropped D, ...)`. Undefined when the class is not there.
 */
function parseCounters(p: ResolvedPolicy, output: string): PolicyCounters | undefined {
  const handle = `1:${tcId(objectName(p)).toString(16)}`;
  const text = output.trim();
  if (text.startsWith('[')) {
    const list = JSON.parse(text) as Array<Record<string, unknown>>;
    const c = list.find((x) => x.handle === handle);
    if (!c) return undefined;
    const st = (typeof c.stats === 'object' && c.stats !== null ? c.stats : c) as Record<string, unknown>;
    const num = (k: string) => {
      const v = st[k];
      if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw new ProvisioningError('QB_PROVISION_COUNTERS_UNREADABLE', `tc printed no ${k} counter for class ${handle} of ${objectName(p)}: ${text.slice(0, 200)}`);
      return v;
    };
    return { bytes: num('bytes'), packets: num('packets'), drops: num('drops') };
  }
  if (!new RegExp(`^class htb ${handle} `, 'm').test(text)) return undefined;
  const m = /^\s*Sent (\d+) bytes (\d+) pkt \(dropped (\d+),/m.exec(text);
  if (!m) throw new ProvisioningError('QB_PROVISION_COUNTERS_UNREADABLE', `tc printed class ${handle} of ${objectName(p)} without its counters (was -s given?): ${text.slice(0, 200)}`);
  return { bytes: Number(m[1]), packets: Number(m[2]), drops: Number(m[3]) };
}

export const linuxTc: Platform<CliPayload> = {
  id: 'linux_tc',
  description: 'Linux tc: HTB class and bfifo policer, u32 filters, DSCP remark by tc pedit',
  transport: 'cli',
  capabilities: [],
  render,
  readBack: { lines: readBackLines, diffs: readBackDiffs },
  counters: { lines: counterLines, parse: parseCounters },
};
