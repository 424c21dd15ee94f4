/**
 * A resolved policy as instance data of yang/qos-broker-policy.yang (XML),
 * e.g. to store it or hand it to tools; the tests validate this output with
 * yanglint against the module, which keeps the types and the module in step.
 */
import { escapeXml } from '../netconf/xml.js';
import type { Partition, ResolvedPolicy } from './types.js';

export const NS_POLICY = 'urn:qos-broker:yang:policy';

const leaf = (name: string, v: string | number | boolean | undefined): string => (v === undefined ? '' : `<${name}>${escapeXml(String(v))}</${name}>`);

/** `<policy>` list entry (without the `<policies>` container). */
export function policyEntryXml(p: ResolvedPolicy): string {
  const c = p.classifier;
  return (
    '<policy>' +
    leaf('service-id', p.serviceId) +
    `<owner>${leaf('provider', p.owner.provider)}${leaf('customer', p.owner.customer)}</owner>` +
    leaf('device', p.device) +
    leaf('partition', p.partition) +
    leaf('network-instance', p.networkInstance) +
    '<classifier>' +
    c.sourcePrefixes.map((x) => leaf('source-prefix', x)).join('') +
    c.destinationPrefixes.map((x) => leaf('destination-prefix', x)).join('') +
    c.dscp.map((x) => leaf('dscp', x)).join('') +
    leaf('vlan', c.vlan) +
    leaf('ingress-interface', c.ingressInterface) +
    leaf('egress-interface', c.egressInterface) +
    '</classifier>' +
    leaf('traffic-class', p.trafficClass) +
    leaf('dscp', p.dscp) +
    leaf('remark', p.remark) +
    `<rates>${leaf('committed-kbps', p.rates.committedKbps)}${leaf('peak-kbps', p.rates.peakKbps)}${leaf('committed-burst-bytes', p.rates.committedBurstBytes)}${leaf('peak-burst-bytes', p.rates.peakBurstBytes)}</rates>` +
    leaf('action', p.action) +
    leaf('queue-priority', p.queuePriority) +
    `<validity>${leaf('start', p.validity.start)}${leaf('end', p.validity.end)}</validity>` +
    '</policy>'
  );
}

/** A `<policies>` document holding the given policies. */
export function policiesXml(policies: readonly ResolvedPolicy[]): string {
  return `<policies xmlns="${NS_POLICY}">${policies.map(policyEntryXml).join('')}</policies>`;
}

/** A `<partitions>` document. */
export function partitionsXml(parts: readonly Partition[]): string {
  return (
    `<partitions xmlns="${NS_POLICY}">` +
    parts
      .map(
        (p) =>
          '<partition>' +
          leaf('device', p.device) +
          leaf('name', p.name) +
          leaf('provider', p.provider) +
          leaf('role', p.role) +
          p.interfaces.map((i) => leaf('interface', i)).join('') +
          leaf('rate-budget-kbps', p.rateBudgetKbps) +
          leaf('network-instance', p.networkInstance) +
          '</partition>',
      )
      .join('') +
    '</partitions>'
  );
}
