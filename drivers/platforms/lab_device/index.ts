/**
 * lab_device (NETCONF): the lab router model yang/qos-broker-lab-device.yang
 * served by every lab netconfd; the NETCONF side of a lab router (its data
 * plane is linux_tc). A policy becomes one /device/qos/policy entry keyed
 * by the service id. The model holds one source and one destination
 * prefix and one burst: a policy with more prefixes is refused at render.
 */
import { PolicyInvalidError } from '../../errors.js';
import type { ResolvedPolicy } from '../../policy/types.js';
import { leaf } from '../common.js';
import { CANDIDATE_CONFIRMED_COMMIT, type NetconfPayload, type Platform } from '../types.js';

export const NS_LAB_DEVICE = 'urn:qos-broker:yang:lab-device';
const NC = 'urn:ietf:params:xml:ns:netconf:base:1.0';

/** The `<policy>` entry's leaves in model order, as [leaf, value]. */
export function labPolicyLeaves(p: ResolvedPolicy): [string, string | number][] {
  const c = p.classifier;
  for (const [field, list] of [['classifier.sourcePrefixes', c.sourcePrefixes], ['classifier.destinationPrefixes', c.destinationPrefixes]] as const) {
    if (list.length > 1) throw new PolicyInvalidError('QB_PLATFORM_UNSUPPORTED', field, `lab_device holds one prefix per direction; ${field} has ${list.length}: split the policy`);
  }
  for (const [field, v] of [['classifier.dscp', c.dscp.length ? 1 : 0], ['classifier.vlan', c.vlan], ['classifier.ingressInterface', c.ingressInterface]] as const) {
    if (v) throw new PolicyInvalidError('QB_PLATFORM_UNSUPPORTED', field, `lab_device cannot match on ${field}: leave it out for lab routers`);
  }
  const out: [string, string | number | undefined][] = [
    ['name', p.serviceId],
    ['interface', c.egressInterface],
    ['traffic-class', p.trafficClass],
    ['dscp', p.dscp],
    ['source-prefix', c.sourcePrefixes[0]],
    ['destination-prefix', c.destinationPrefixes[0]],
    ['committed-rate-kbps', p.rates.committedKbps],
    ['peak-rate-kbps', p.rates.peakKbps],
    ['burst-bytes', p.rates.committedBurstBytes],
    ['action', p.action],
    ['priority', p.queuePriority],
  ];
  return out.filter((x): x is [string, string | number] => x[1] !== undefined);
}

function render(p: ResolvedPolicy): NetconfPayload {
  const leaves = labPolicyLeaves(p);
  return {
    transport: 'netconf',
    config: `<device xmlns="${NS_LAB_DEVICE}"><qos><policy>${leaves.map(([k, v]) => leaf(k, v)).join('')}</policy></qos></device>`,
    removeConfig: `<device xmlns="${NS_LAB_DEVICE}"><qos><policy xmlns:nc="${NC}" nc:operation="delete">${leaf('name', p.serviceId)}</policy></qos></device>`,
  };
}

export const labDevice: Platform<NetconfPayload> = {
  id: 'lab_device',
  description: 'qos-broker lab router model over NETCONF: /device/qos/policy',
  transport: 'netconf',
  capabilities: CANDIDATE_CONFIRMED_COMMIT,
  render,
  pruneWhenEmpty: [
    { filter: `<device xmlns="${NS_LAB_DEVICE}"><qos/></device>`, element: 'qos', removeConfig: `<device xmlns="${NS_LAB_DEVICE}"><qos xmlns:nc="${NC}" nc:operation="remove"/></device>` },
  ],
  verifyFilter: (p) => `<device xmlns="${NS_LAB_DEVICE}"><qos><policy>${leaf('name', p.serviceId)}</policy></qos></device>`,
  editWrapper: { open: `<device xmlns="${NS_LAB_DEVICE}"><qos>`, close: '</qos></device>' },
};
