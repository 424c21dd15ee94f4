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
 * A policy becomes
 * - police: ACL filters per address family whose entries match the
 *   prefixes and DSCP values (one entry per combination) and accept through
 *   an ACL policer (peak rate, max burst), then a last entry accepting the
 *   rest; bound on the subinterface (the VLAN id, 0
 *   otherwise) as input of the ingress interface, or output of the egress
 *   interface when there is none;
 * - with an ingress interface, a DSCP classifier policy mapping the matched
 *   (or class) DSCP to forwarding class fc<7 - queue-priority> on its input;
 * - on the egress interface's output: a DSCP rewrite policy (remark) and the
 *   class's queue rates (shape). SR Linux queues by forwarding class, which
 *   only DSCP classifiers set: a shaped policy shapes its class's traffic.
 * Interface names are the inventory's (ethernet-1/1 ...). A partition's
 * network-instance shows in the object names; SR Linux qos is not per
 * network-instance.
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
  const ing = c.ingressInterface;
  const eg = c.egressInterface;
  const aclIf = ing ?? eg;
  const aclDir = ing ? 'input' : 'output';
  const qosId = (dir: string, ifname: string) => `${n}-${dir}-${ifname.replace(/\//g, '-')}`;
  const police = p.action === 'police';
  const apply: string[] = [`enter candidate private name ${n}`];
  const undo: string[] = [`enter candidate private name ${n}`];

  if (police) apply.push(`set / acl policers policer ${n} peak-rate ${r.peakKbps}`, `set / acl policers policer ${n} max-burst ${r.peakBurstBytes}`);
  for (const f of police ? families(p) : []) {
    const filter = `${f === 4 ? 'ipv4' : 'ipv6'}-filter ${n}`;
    const src = prefixesOf(c.sourcePrefixes, f);
    const dst = prefixesOf(c.destinationPrefixes, f);
    let seq = 10;
    for (const s of src.length ? src : [undefined]) {
      for (const d of dst.length ? dst : [undefined]) {
        for (const dscp of c.dscp.length ? c.dscp : [undefined]) {
          const e = `set / acl ${filter} entry ${seq}`;
          if (s) apply.push(`${e} match source-ip prefix ${s}`);
          if (d) apply.push(`${e} match destination-ip prefix ${d}`);
          if (dscp !== undefined) apply.push(`${e} match dscp value ${dscp}`);
          apply.push(police ? `${e} action accept rate-limit policer ${n}` : `${e} action accept`);
          seq += 10;
        }
      }
    }
    apply.push(`set / acl ${filter} entry 65000 action accept`);
    apply.push(`set / interface ${aclIf} subinterface ${sub} acl ${aclDir} ${filter}`);
    undo.push(`delete / interface ${aclIf} subinterface ${sub} acl ${aclDir} ${filter}`, `delete / acl ${filter}`);
  }
  if (police) undo.push(`delete / acl policers policer ${n}`);
  if (ing) {
    const id = qosId('in', ing);
    for (const d of c.dscp.length ? c.dscp : [p.dscp]) apply.push(`set / qos classifiers dscp-policy ${n} dscp ${d} forwarding-class ${fc}`);
    apply.push(
      `set / qos interfaces interface ${id} interface-ref interface ${ing}`,
      `set / qos interfaces interface ${id} interface-ref subinterface ${sub}`,
      `set / qos interfaces interface ${id} input classifiers dscp-policy ${n}`,
    );
    undo.push(`delete / qos interfaces interface ${id}`, `delete / qos classifiers dscp-policy ${n}`);
  }
  if (p.remark || !police) {
    const id = qosId('out', eg);
    apply.push(`set / qos interfaces interface ${id} interface-ref interface ${eg}`, `set / qos interfaces interface ${id} interface-ref subinterface ${ing ? 0 : sub}`);
    if (p.remark) {
      apply.push(`set / qos rewrite-rules dscp-policy ${n} map ${fc} dscp ${p.dscp}`, `set / qos interfaces interface ${id} output rewrite-rules dscp-policy ${n}`);
    }
    if (!police) {
      apply.push(
        `set / qos interfaces interface ${id} output queues queue ${fc} queue-parameters committed-rate-kbps ${r.committedKbps}`,
        `set / qos interfaces interface ${id} output queues queue ${fc} queue-parameters peak-rate-kbps ${r.peakKbps}`,
      );
    }
    undo.push(`delete / qos interfaces interface ${id}`);
    if (p.remark) undo.push(`delete / qos rewrite-rules dscp-policy ${n}`);
  }
  apply.push('commit now');
  undo.push('commit now');
  return { transport: 'cli', apply, undo };
}

export const nokiaSrlinux: Platform<CliPayload> = {
  id: 'nokia_srlinux',
  description: 'SR Linux flat CLI in a private candidate: acl filters, qos classifiers, rewrite-rules, policer-templates, qos interfaces',
  transport: 'cli',
  capabilities: [],
  render,
};
