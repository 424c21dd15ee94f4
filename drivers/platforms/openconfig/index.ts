/**
 * openconfig (NETCONF): openconfig-qos. A policy becomes a queue, a
 * forwarding-group, a classifier per address family (one term per
 * source x destination prefix pair, DSCP set, remark), a scheduler-policy
 * (one-rate-two-color when peak = committed, two-rate-three-color otherwise;
 * queuing-behavior SHAPE or POLICE) and two qos interface entries: the
 * classifier on the input of the ingress interface (on the output of the
 * egress interface when no ingress is given) and the scheduler-policy on the
 * output of the egress interface. VLAN classification binds to the
 * subinterface whose index is the VLAN id. openconfig-qos is device global,
 * so a partition's network-instance only shows in the object names; the
 * partition check (drivers/policy/partitions.ts) keeps the interfaces inside it.
 *
 * The qos interface entries have their own interface-id (the object name
 * plus the interface) pointing at the interface through interface-ref, so
 * two policies on one interface never share an entry and remove deletes
 * exactly what apply created.
 */
import type { ResolvedPolicy } from '../../policy/types.js';
import { bps, families, leaf, objectName, prefixesOf } from '../common.js';
import { CANDIDATE_CONFIRMED_COMMIT, type NetconfPayload, type Platform } from '../types.js';

export const NS_OC_QOS = 'http://openconfig.net/yang/qos';
export const NS_OC_QOS_TYPES = 'http://openconfig.net/yang/qos-types';

function cfg(inner: string): string {
  return `<config>${inner}</config>`;
}

function classifierXml(p: ResolvedPolicy, name: string, family: 4 | 6): string {
  const c = p.classifier;
  const src = prefixesOf(c.sourcePrefixes, family);
  const dst = prefixesOf(c.destinationPrefixes, family);
  const pairs: [string | undefined, string | undefined][] = [];
  for (const s of src.length ? src : [undefined]) for (const d of dst.length ? dst : [undefined]) pairs.push([s, d]);
  const af = family === 4 ? 'ipv4' : 'ipv6';
  const terms = pairs
    .map(([s, d], i) => {
      const id = String(i + 1);
      const match = leaf('source-address', s) + leaf('destination-address', d) + c.dscp.map((x) => leaf('dscp-set', x)).join('');
      const conditions = match ? `<conditions><${af}>${cfg(match)}</${af}></conditions>` : '';
      const remark = p.remark ? `<remark>${cfg(leaf('set-dscp', p.dscp))}</remark>` : '';
      return `<term>${leaf('id', id)}${cfg(leaf('id', id))}${conditions}<actions>${cfg(leaf('target-group', name))}${remark}</actions></term>`;
    })
    .join('');
  const cname = `${name}-${af}`;
  return `<classifier>${leaf('name', cname)}${cfg(leaf('name', cname) + leaf('type', family === 4 ? 'IPV4' : 'IPV6'))}<terms>${terms}</terms></classifier>`;
}

function schedulerXml(p: ResolvedPolicy, name: string): string {
  const r = p.rates;
  // A policer with a peak above committed is two-rate three-color (violate
  // drops). A shaper is one-rate two-color with queuing-behavior SHAPE at the
  // committed rate: openconfig-qos has no shaper with a separate peak.
  const twoRate = p.action === 'police' && r.peakKbps > r.committedKbps;
  const type = twoRate ? 'TWO_RATE_THREE_COLOR' : 'ONE_RATE_TWO_COLOR';
  const drop = cfg(leaf('drop', true));
  const meter = twoRate
    ? `<two-rate-three-color>${cfg(leaf('cir', bps(r.committedKbps)) + leaf('pir', bps(r.peakKbps)) + leaf('bc', r.committedBurstBytes) + leaf('be', r.peakBurstBytes))}` +
      `<violate-action>${drop}</violate-action></two-rate-three-color>`
    : `<one-rate-two-color>${cfg(leaf('cir', bps(r.committedKbps)) + leaf('bc', r.committedBurstBytes) + leaf('queuing-behavior', p.action === 'police' ? 'POLICE' : 'SHAPE'))}` +
      `<exceed-action>${drop}</exceed-action></one-rate-two-color>`;
  const priority = p.queuePriority === 0 ? leaf('priority', 'STRICT') : '';
  return (
    `<scheduler-policy>${leaf('name', name)}${cfg(leaf('name', name))}<schedulers><scheduler>${leaf('sequence', 1)}` +
    cfg(leaf('sequence', 1) + `<type xmlns:oc-qos-types="${NS_OC_QOS_TYPES}">oc-qos-types:${type}</type>` + priority) +
    `<inputs><input>${leaf('id', name)}${cfg(leaf('id', name) + leaf('input-type', 'QUEUE') + leaf('queue', name))}</input></inputs>` +
    `<output>${cfg(leaf('output-type', 'FWD_GROUP') + leaf('output-fwd-group', name))}</output>` +
    meter +
    '</scheduler></schedulers></scheduler-policy>'
  );
}

function interfaceRef(ifname: string, vlan: number | undefined): string {
  return `<interface-ref>${cfg(leaf('interface', ifname) + leaf('subinterface', vlan))}</interface-ref>`;
}

function render(p: ResolvedPolicy): NetconfPayload {
  const name = objectName(p);
  const c = p.classifier;
  const fams = families(p);
  const classifiers = fams.map((f) => classifierXml(p, name, f)).join('');
  const classifierIf = c.ingressInterface ?? c.egressInterface;
  const direction = c.ingressInterface ? 'input' : 'output';
  const bindClassifiers = fams
    .map((f) => {
      const type = f === 4 ? 'IPV4' : 'IPV6';
      return `<classifier>${leaf('type', type)}${cfg(leaf('name', `${name}-ipv${f}`) + leaf('type', type))}</classifier>`;
    })
    .join('');
  const classIfId = `${name}-${direction === 'input' ? 'in' : 'cls'}-${classifierIf}`;
  const schedIfId = `${name}-out-${c.egressInterface}`;
  const ifClassifier =
    `<interface>${leaf('interface-id', classIfId)}${cfg(leaf('interface-id', classIfId))}${interfaceRef(classifierIf, c.vlan)}` +
    `<${direction}><classifiers>${bindClassifiers}</classifiers></${direction}></interface>`;
  const ifScheduler =
    `<interface>${leaf('interface-id', schedIfId)}${cfg(leaf('interface-id', schedIfId))}${interfaceRef(c.egressInterface, c.ingressInterface ? undefined : c.vlan)}` +
    `<output><scheduler-policy>${cfg(leaf('name', name))}</scheduler-policy></output></interface>`;
  const config =
    `<qos xmlns="${NS_OC_QOS}">` +
    `<interfaces>${ifClassifier}${ifScheduler}</interfaces>` +
    `<classifiers>${classifiers}</classifiers>` +
    `<forwarding-groups><forwarding-group>${leaf('name', name)}${cfg(leaf('name', name) + leaf('output-queue', name))}</forwarding-group></forwarding-groups>` +
    `<queues><queue>${leaf('name', name)}${cfg(leaf('name', name) + leaf('queue-id', 7 - p.queuePriority))}</queue></queues>` +
    `<scheduler-policies>${schedulerXml(p, name)}</scheduler-policies>` +
    '</qos>';
  const del = (list: string, key: string, value: string) => `<${list} xmlns:nc="urn:ietf:params:xml:ns:netconf:base:1.0" nc:operation="delete">${leaf(key, value)}</${list}>`;
  const removeConfig =
    `<qos xmlns="${NS_OC_QOS}">` +
    `<interfaces>${del('interface', 'interface-id', classIfId)}${del('interface', 'interface-id', schedIfId)}</interfaces>` +
    `<classifiers>${fams.map((f) => del('classifier', 'name', `${name}-ipv${f}`)).join('')}</classifiers>` +
    `<forwarding-groups>${del('forwarding-group', 'name', name)}</forwarding-groups>` +
    `<queues>${del('queue', 'name', name)}</queues>` +
    `<scheduler-policies>${del('scheduler-policy', 'name', name)}</scheduler-policies>` +
    '</qos>';
  return { transport: 'netconf', config, removeConfig };
}

export const openconfig: Platform<NetconfPayload> = {
  id: 'openconfig',
  description: 'openconfig-qos over NETCONF: classifiers, forwarding-groups, queues, scheduler-policies, interface bindings',
  transport: 'netconf',
  capabilities: CANDIDATE_CONFIRMED_COMMIT,
  render,
  verifyFilter: () => `<qos xmlns="${NS_OC_QOS}"/>`,
};
