/**
 * The abstract QoS policy, as TypeScript types. The YANG module
 * `yang/qos-broker-policy.yang` is the source of truth: these types mirror
 * it node for node (kebab-case leaves become camelCase fields); change the
 * module first, then this file.
 */

/** Per-hop behaviour (YANG typedef `traffic-class`). */
export type TrafficClass =
  | 'EF'
  | 'AF11' | 'AF12' | 'AF13'
  | 'AF21' | 'AF22' | 'AF23'
  | 'AF31' | 'AF32' | 'AF33'
  | 'AF41' | 'AF42' | 'AF43'
  | 'BE';

/** Every class, in the YANG enumeration's order. */
export const TRAFFIC_CLASSES: readonly TrafficClass[] = [
  'EF', 'AF11', 'AF12', 'AF13', 'AF21', 'AF22', 'AF23', 'AF31', 'AF32', 'AF33', 'AF41', 'AF42', 'AF43', 'BE',
];

/** Standard code point of each class (RFC 3246, RFC 2597): EF 46, AFxy 8x+2y, BE 0. */
export const DEFAULT_DSCP: Readonly<Record<TrafficClass, number>> = {
  EF: 46,
  AF11: 10, AF12: 12, AF13: 14,
  AF21: 18, AF22: 20, AF23: 22,
  AF31: 26, AF32: 28, AF33: 30,
  AF41: 34, AF42: 36, AF43: 38,
  BE: 0,
};

/** `policy/classifier`: which packets the policy applies to; all given criteria must match. */
export interface Classifier {
  /** Source prefixes (v4 or v6, CIDR), any of them. @default [] */
  sourcePrefixes?: string[];
  /** Destination prefixes (v4 or v6, CIDR), any of them. @default [] */
  destinationPrefixes?: string[];
  /** DSCP values matched on arrival, any of them. @default [] */
  dscp?: number[];
  /** 802.1Q VLAN id, 1..4094. */
  vlan?: number;
  /** Interface the traffic enters on. */
  ingressInterface?: string;
  /** Interface the traffic leaves on; the policy is bound to it. */
  egressInterface: string;
}

/** `policy/rates`. */
export interface Rates {
  /** Committed information rate, kbit/s, > 0. */
  committedKbps: number;
  /** Peak information rate, kbit/s, >= committed; absent means equal to committed. */
  peakKbps?: number;
  /** Committed burst, bytes (1500..16777216); platform default when absent. */
  committedBurstBytes?: number;
  /** Peak burst, bytes (1500..16777216); platform default when absent. */
  peakBurstBytes?: number;
}

/** One `policy` list entry: the QoS policy of one service segment on one device. */
export interface QosPolicy {
  /** Service id (YANG typedef `name`: letters, digits, `._-`, 1..64). */
  serviceId: string;
  owner: { provider: string; customer: string };
  /** Device of the inventory the policy goes to. */
  device: string;
  /** Partition of a shared device; required when the device is partitioned. */
  partition?: string;
  /** Network-instance / logical node; the partition's when absent. */
  networkInstance?: string;
  classifier: Classifier;
  trafficClass: TrafficClass;
  /** DSCP of the class on this device. @default DEFAULT_DSCP[trafficClass] */
  dscp?: number;
  /** Rewrite matched packets' DSCP to the class DSCP. @default false */
  remark?: boolean;
  rates: Rates;
  /** @default 'shape' */
  action?: 'police' | 'shape';
  /** 0 (highest) .. 7. @default 4 */
  queuePriority?: number;
  /** RFC 3339 date-and-time strings, start < end. */
  validity: { start: string; end: string };
}

/** One `partitions/partition` entry: a provider's share of a shared device (seed 002). */
export interface Partition {
  device: string;
  name: string;
  provider: string;
  role?: 'wholesale' | 'retail';
  /** Interfaces of the device that belong to the partition. */
  interfaces: string[];
  /** Sum of committed rates allowed in the partition, kbit/s. */
  rateBudgetKbps: number;
  /** Network-instance / logical node of the partition. */
  networkInstance: string;
}

/** A device as the inventory knows it (not part of the policy module: the design step owns it). */
export interface DeviceInventory {
  name: string;
  /** Platform id, e.g. `juniper_junos`. */
  platform: string;
  interfaces: { name: string; speedMbps?: number }[];
  /** Present when the device is shared between providers. */
  partitions?: Partition[];
}

/**
 * A policy after validation: every default filled in, so renderers never
 * guess. Produced only by `normalizePolicy`.
 */
export interface ResolvedPolicy {
  serviceId: string;
  owner: { provider: string; customer: string };
  device: string;
  partition?: string;
  networkInstance?: string;
  classifier: Required<Pick<Classifier, 'sourcePrefixes' | 'destinationPrefixes' | 'dscp'>> & Omit<Classifier, 'sourcePrefixes' | 'destinationPrefixes' | 'dscp'>;
  trafficClass: TrafficClass;
  dscp: number;
  remark: boolean;
  rates: { committedKbps: number; peakKbps: number; committedBurstBytes: number; peakBurstBytes: number };
  action: 'police' | 'shape';
  queuePriority: number;
  validity: { start: string; end: string };
}
