/**
 * cisco_iosxr (CLI): IOS XR configuration lines, sent in one `configure`
 * session and made effective by `commit` (XR's target-config model: nothing
 * changes on the router before commit, and a failed commit changes
 * nothing). The undo lines are rendered with the apply lines, before
 * anything is sent, and run when a later step fails or on remove.
 *
 * A policy becomes an access-list per address family (one line per
 * source x destination prefix pair), a class-map (match-all: access-group,
 * DSCP, VLAN, and `match vrf` for a partition's network-instance) and a
 * policy-map on the egress interface's output: `priority level 1|2` for
 * queue priority 0|1 (XR wants priority classes policed), otherwise
 * `bandwidth remaining ratio` with `shape average` (shape) or `police`
 * (police). With an ingress interface, policing and remarking move to an
 * input policy-map on that interface and the egress policy only queues.
 * Limitation: XR takes one service-policy per direction per interface, so a
 * second policy on the same interface replaces the first; several services
 * per interface need one policy-map rendered from all of them.
 */
import type { ResolvedPolicy } from '../../policy/types.js';
import { families, objectName, prefixesOf } from '../common.js';
import type { CliPayload, Platform } from '../types.js';

function policeLine(p: ResolvedPolicy): string {
  const r = p.rates;
  const peak = r.peakKbps > r.committedKbps ? ` peak-rate ${r.peakKbps} kbps peak-burst ${r.peakBurstBytes} bytes` : '';
  return `  police rate ${r.committedKbps} kbps burst ${r.committedBurstBytes} bytes${peak}`;
}

function render(p: ResolvedPolicy): CliPayload {
  const n = objectName(p);
  const c = p.classifier;
  const r = p.rates;
  const fams = families(p);
  const hasPrefixes = c.sourcePrefixes.length + c.destinationPrefixes.length > 0;
  const apply: string[] = ['configure'];
  const acls: string[] = [];
  if (hasPrefixes) {
    for (const f of fams) {
      const afi = f === 4 ? 'ipv4' : 'ipv6';
      const src = prefixesOf(c.sourcePrefixes, f);
      const dst = prefixesOf(c.destinationPrefixes, f);
      apply.push(`${afi} access-list ${n}-${afi}`);
      let seq = 10;
      for (const s of src.length ? src : ['any']) {
        for (const d of dst.length ? dst : ['any']) {
          apply.push(` ${seq} permit ${afi} ${s} ${d}`);
          seq += 10;
        }
      }
      apply.push('!');
      acls.push(`${afi} access-list ${n}-${afi}`);
    }
  }
  apply.push(`class-map match-all ${n}`);
  if (hasPrefixes) for (const f of fams) apply.push(` match access-group ${f === 4 ? 'ipv4' : 'ipv6'} ${n}-${f === 4 ? 'ipv4' : 'ipv6'}`);
  if (c.dscp.length) apply.push(` match dscp ${c.dscp.join(' ')}`);
  if (c.vlan !== undefined) apply.push(` match vlan ${c.vlan}`);
  if (p.networkInstance) apply.push(` match vrf ${p.networkInstance}`);
  apply.push(' end-class-map', '!');

  const marking = p.remark ? [`  set dscp ${p.dscp}`] : [];
  const split = c.ingressInterface !== undefined;
  if (split) {
    apply.push(`policy-map ${n}-in`, ` class ${n}`, ...(p.action === 'police' ? [policeLine(p)] : []), ...marking, ' !', ' class class-default', ' !', ' end-policy-map', '!');
  }
  const queueing: string[] = [];
  if (p.queuePriority <= 1) {
    // XR wants a priority class policed, also when the ingress polices too
    queueing.push(`  priority level ${p.queuePriority + 1}`, policeLine(p));
  } else {
    queueing.push(`  bandwidth remaining ratio ${8 - p.queuePriority}`);
    if (p.action === 'shape') queueing.push(`  shape average ${r.peakKbps} kbps`);
    else if (!split) queueing.push(policeLine(p));
  }
  apply.push(`policy-map ${n}`, ` class ${n}`, ...queueing, ...(split ? [] : marking), ' !', ' class class-default', ' !', ' end-policy-map', '!');
  apply.push(`interface ${c.egressInterface}`, ` service-policy output ${n}`, '!');
  if (split) apply.push(`interface ${c.ingressInterface}`, ` service-policy input ${n}-in`, '!');
  apply.push('commit', 'end');

  const undo: string[] = ['configure'];
  undo.push(`interface ${c.egressInterface}`, ` no service-policy output ${n}`, '!');
  if (split) undo.push(`interface ${c.ingressInterface}`, ` no service-policy input ${n}-in`, '!');
  undo.push(`no policy-map ${n}`);
  if (split) undo.push(`no policy-map ${n}-in`);
  undo.push(`no class-map match-all ${n}`);
  for (const a of acls) undo.push(`no ${a}`);
  undo.push('commit', 'end');
  return { transport: 'cli', apply, undo };
}

export const ciscoIosxr: Platform<CliPayload> = {
  id: 'cisco_iosxr',
  description: 'IOS XR CLI: access-lists, class-map, policy-map (priority, police, shape, bandwidth remaining), service-policy, commit',
  transport: 'cli',
  capabilities: [],
  render,
};
