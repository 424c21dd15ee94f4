/**
 * nokia_srlinux (CLI). Choice: the CLI in flat `set / <path>` form inside a
 * private candidate, committed with `commit now`, rather than NETCONF.
 * Why: SR Linux's management interfaces are gNMI, JSON-RPC and the CLI;
 * its NETCONF server is recent and off by default, while the flat CLI is
 * the same YANG paths (srl_nokia-qos, srl_nokia-acl) written as text, works
 * on every release over plain SSH, and its undo is simply `delete /` of the
 * same paths. A private candidate is discarded when the session ends, so a
 * failure before `commit now` changes nothing.
 *
 * A policy becomes ACL filters per address family matching the prefixes
 * (and DSCP), a DSCP classifier policy mapping the matched (or class) DSCP
 * to forwarding class fc<7 - queue-priority>, a DSCP rewrite policy when
 * remark is set, a policer template (police) and a qos interface entry
 * binding them to the subinterface (the VLAN id, 0 otherwise) of the
 * ingress interface (input: classifier, policer, ACL) and the egress
 * interface (output: rewrite, shaping by the forwarding class's queue
 * peak rate). Interface names are the inventory's (ethernet-1/1 ...). A
 * partition's network-instance shows in the object names; SR Linux qos is
 * not per network-instance.
 */
import type { ResolvedPolicy } from '../../policy/types.js';
import { families, objectName, prefixesOf } from '../common.js';
import type { CliPayload, Platform } from '../types.js';

function render(p: ResolvedPolicy): CliPayload {
  const n = objectName(p);
  const c = p.classifier;
  const r = p.rates;
  const fc = `fc${7 - p.queuePriority}`;
  const sub = c.vlan ?? 0;
  const inIf = c.ingressInterface ?? c.egressInterface;
  const inId = `${n}-in-${inIf.replace(/\//g, '-')}`;
  const outId = `${n}-out-${c.egressInterface.replace(/\//g, '-')}`;
  const fams = families(p);
  const hasPrefixes = c.sourcePrefixes.length + c.destinationPrefixes.length > 0;
  const apply: string[] = [`enter candidate private name ${n}`];
  const undo: string[] = [`enter candidate private name ${n}`];

  if (hasPrefixes) {
    for (const f of fams) {
      const filter = `${f === 4 ? 'ipv4' : 'ipv6'}-filter ${n}`;
      let seq = 10;
      for (const s of prefixesOf(c.sourcePrefixes, f).length ? prefixesOf(c.sourcePrefixes, f) : [undefined]) {
        for (const d of prefixesOf(c.destinationPrefixes, f).length ? prefixesOf(c.destinationPrefixes, f) : [undefined]) {
          const e = `set / acl ${filter} entry ${seq}`;
          if (s) apply.push(`${e} match source-ip prefix ${s}`);
          if (d) apply.push(`${e} match destination-ip prefix ${d}`);
          apply.push(`${e} action accept`);
          seq += 10;
        }
      }
      apply.push(`set / acl ${filter} entry 65000 action accept`);
      apply.push(`set / interface ${inIf} subinterface ${sub} acl input ${filter}`);
      undo.push(`delete / interface ${inIf} subinterface ${sub} acl input ${filter}`, `delete / acl ${filter}`);
    }
  }
  const dscps = c.dscp.length ? c.dscp : [p.dscp];
  for (const d of dscps) apply.push(`set / qos classifiers dscp-policy ${n} dscp ${d} forwarding-class ${fc}`);
  apply.push(`set / qos interfaces interface ${inId} interface-ref interface ${inIf}`);
  apply.push(`set / qos interfaces interface ${inId} interface-ref subinterface ${sub}`);
  apply.push(`set / qos interfaces interface ${inId} input classifiers dscp-policy ${n}`);
  if (p.action === 'police') {
    const t = `set / qos policer-templates policer-template ${n} policer 1`;
    apply.push(
      `${t} committed-rate-kbps ${r.committedKbps}`,
      `${t} peak-rate-kbps ${r.peakKbps}`,
      `${t} committed-burst-size ${r.committedBurstBytes}`,
      `${t} maximum-burst-size ${r.peakBurstBytes}`,
      `${t} forwarding-class ${fc}`,
      `${t} violate-action drop`,
      `set / qos interfaces interface ${inId} input policer-templates policer-template ${n}`,
    );
  }
  if (p.remark) apply.push(`set / qos rewrite-rules dscp-policy ${n} map ${fc} dscp ${p.dscp}`);
  if (outId !== inId || p.remark || p.action === 'shape') {
    if (inIf !== c.egressInterface) {
      apply.push(`set / qos interfaces interface ${outId} interface-ref interface ${c.egressInterface}`);
      apply.push(`set / qos interfaces interface ${outId} interface-ref subinterface ${c.ingressInterface ? 0 : sub}`);
    }
    const out = inIf !== c.egressInterface ? outId : inId;
    if (p.remark) apply.push(`set / qos interfaces interface ${out} output rewrite-rules dscp-policy ${n}`);
    if (p.action === 'shape') {
      apply.push(`set / qos interfaces interface ${out} output queues queue ${fc} queue-parameters committed-rate-kbps ${r.committedKbps}`);
      apply.push(`set / qos interfaces interface ${out} output queues queue ${fc} queue-parameters peak-rate-kbps ${r.peakKbps}`);
    }
    if (inIf !== c.egressInterface) undo.push(`delete / qos interfaces interface ${outId}`);
  }
  apply.push('commit now');
  undo.push(`delete / qos interfaces interface ${inId}`);
  if (p.remark) undo.push(`delete / qos rewrite-rules dscp-policy ${n}`);
  if (p.action === 'police') undo.push(`delete / qos policer-templates policer-template ${n}`);
  undo.push(`delete / qos classifiers dscp-policy ${n}`, 'commit now');
  return { transport: 'cli', apply, undo };
}

export const nokiaSrlinux: Platform<CliPayload> = {
  id: 'nokia_srlinux',
  description: 'SR Linux flat CLI in a private candidate: acl filters, qos classifiers, rewrite-rules, policer-templates, qos interfaces',
  transport: 'cli',
  capabilities: [],
  render,
};
