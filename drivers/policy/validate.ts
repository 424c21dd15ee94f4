/**
 * Validation of an abstract QoS policy against the YANG module's rules and
 * the device inventory. Every refusal is a PolicyInvalidError with a stable
 * code, the field in error and a message saying what to change. Validation
 * also resolves defaults, so renderers only ever see a ResolvedPolicy.
 */
import { isIPv4, isIPv6 } from 'node:net';
import { PolicyInvalidError } from '../errors.js';

type PolicyCode = ConstructorParameters<typeof PolicyInvalidError>[0];
import { DEFAULT_DSCP, TRAFFIC_CLASSES, type DeviceInventory, type QosPolicy, type ResolvedPolicy, type TrafficClass } from './types.js';

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const DATE_AND_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;
const MAX_RATE_KBPS = 400_000_000; // 400 Gbit/s, the lab device model's bound too
const BURST_MIN = 1500;
const BURST_MAX = 16_777_216;

function fail(code: PolicyCode, field: string, message: string): never {
  throw new PolicyInvalidError(code, field, message);
}

function checkName(v: unknown, field: string): string {
  if (typeof v !== 'string' || !NAME.test(v)) {
    fail('QB_POLICY_INVALID_NAME', field, `${field} must be 1..64 characters of letters, digits, '.', '_' or '-' starting with a letter or digit, not ${JSON.stringify(v)}`);
  }
  return v;
}

function checkInt(v: unknown, field: string, min: number, max: number, code: PolicyCode, what: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    fail(code, field, `${field} must be ${what} (a whole number ${min}..${max}), not ${JSON.stringify(v)}`);
  }
  return v;
}

/** Parse `addr/len`; returns the family or throws naming the field. */
export function checkPrefix(p: unknown, field: string): 4 | 6 {
  const bad = (why: string): never => fail('QB_POLICY_INVALID_PREFIX', field, `${field} ${JSON.stringify(p)} is not a well-formed prefix: ${why}`);
  if (typeof p !== 'string') return bad('expected a string such as 198.18.1.0/24 or 2001:db8::/32');
  const slash = p.indexOf('/');
  if (slash < 0 || slash !== p.lastIndexOf('/')) return bad('expected address/length, e.g. 198.18.1.0/24');
  const addr = p.slice(0, slash);
  const lenText = p.slice(slash + 1);
  if (!/^\d{1,3}$/.test(lenText)) return bad('the length after / must be a number');
  const len = Number(lenText);
  if (isIPv4(addr)) {
    if (len > 32) return bad('an IPv4 prefix length is 0..32');
    const value = addr.split('.').reduce((a, o) => (a << 8n) | BigInt(o), 0n);
    const host = len === 32 ? 0n : (1n << BigInt(32 - len)) - 1n;
    if ((value & host) !== 0n) return bad(`host bits are set; use the network address ${networkOf(value & ~host, 4)}/${len}`);
    return 4;
  }
  if (isIPv6(addr) && !addr.includes('.') && !addr.includes('%')) {
    if (len > 128) return bad('an IPv6 prefix length is 0..128');
    const value = ipv6ToBigInt(addr);
    const host = len === 128 ? 0n : (1n << BigInt(128 - len)) - 1n;
    if ((value & host) !== 0n) return bad(`host bits are set; use the network address ${networkOf(value & ~host, 6)}/${len}`);
    return 6;
  }
  return bad('the address is neither IPv4 nor IPv6');
}

function ipv6ToBigInt(addr: string): bigint {
  const [head, tail] = addr.includes('::') ? addr.split('::') : [addr, undefined];
  const h = head ? head.split(':') : [];
  const t = tail !== undefined && tail !== '' ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array(8 - h.length - t.length).fill('0'), ...t];
  return groups.reduce((a, g) => (a << 16n) | BigInt(parseInt(g, 16)), 0n);
}

function networkOf(v: bigint, family: 4 | 6): string {
  if (family === 4) return [24n, 16n, 8n, 0n].map((s) => String((v >> s) & 255n)).join('.');
  const g: string[] = [];
  for (let i = 7; i >= 0; i--) g.push(((v >> BigInt(i * 16)) & 0xffffn).toString(16));
  return g.join(':');
}

/** Family of a prefix already validated. */
export function prefixFamily(p: string): 4 | 6 {
  return p.includes(':') ? 6 : 4;
}

/**
 * Validate a policy for a device and fill in every default. Throws
 * PolicyInvalidError on the first problem found.
 */
export function validatePolicy(policy: QosPolicy, device: DeviceInventory): ResolvedPolicy {
  if (typeof policy !== 'object' || policy === null) fail('QB_POLICY_INVALID', 'policy', 'a policy must be an object');
  const serviceId = checkName(policy.serviceId, 'serviceId');
  if (typeof policy.owner !== 'object' || policy.owner === null) fail('QB_POLICY_INVALID_OWNER', 'owner', 'owner must be { provider, customer }');
  const provider = checkName(policy.owner.provider, 'owner.provider');
  const customer = checkName(policy.owner.customer, 'owner.customer');
  checkName(policy.device, 'device');
  if (policy.device !== device.name) {
    fail('QB_POLICY_WRONG_DEVICE', 'device', `policy ${serviceId} is for device ${policy.device} but was given the inventory of ${device.name}`);
  }
  if (policy.partition !== undefined) checkName(policy.partition, 'partition');
  if (policy.networkInstance !== undefined) checkName(policy.networkInstance, 'networkInstance');

  // classifier
  const c = policy.classifier;
  if (typeof c !== 'object' || c === null) fail('QB_POLICY_INVALID_CLASSIFIER', 'classifier', 'classifier must be an object with at least egressInterface');
  const known = new Set(device.interfaces.map((i) => i.name));
  const checkIf = (name: unknown, field: string): string => {
    if (typeof name !== 'string' || name === '') fail('QB_POLICY_UNKNOWN_INTERFACE', field, `${field} must name an interface of ${device.name}`);
    if (!known.has(name)) {
      fail('QB_POLICY_UNKNOWN_INTERFACE', field, `${field} ${name} does not exist on ${device.name} in the device inventory; known interfaces: ${[...known].join(', ') || 'none'}`);
    }
    return name;
  };
  const egressInterface = checkIf(c.egressInterface, 'classifier.egressInterface');
  const ingressInterface = c.ingressInterface === undefined ? undefined : checkIf(c.ingressInterface, 'classifier.ingressInterface');
  if (ingressInterface !== undefined && ingressInterface === egressInterface) {
    fail('QB_POLICY_INVALID_CLASSIFIER', 'classifier.ingressInterface', `classifier.ingressInterface and classifier.egressInterface are both ${egressInterface}; give the interface the traffic enters on, or leave classifier.ingressInterface out`);
  }
  const list = <T>(v: T[] | undefined, field: string): T[] => {
    if (v === undefined) return [];
    if (!Array.isArray(v)) fail('QB_POLICY_INVALID_CLASSIFIER', field, `${field} must be a list`);
    return v;
  };
  const sourcePrefixes = list(c.sourcePrefixes, 'classifier.sourcePrefixes');
  const destinationPrefixes = list(c.destinationPrefixes, 'classifier.destinationPrefixes');
  const srcFam = new Set(sourcePrefixes.map((p, i) => checkPrefix(p, `classifier.sourcePrefixes[${i}]`)));
  const dstFam = new Set(destinationPrefixes.map((p, i) => checkPrefix(p, `classifier.destinationPrefixes[${i}]`)));
  if (srcFam.size > 0 && dstFam.size > 0 && ![...srcFam].some((f) => dstFam.has(f))) {
    fail('QB_POLICY_INVALID_PREFIX', 'classifier.destinationPrefixes', `classifier.sourcePrefixes are IPv${[...srcFam][0]} and classifier.destinationPrefixes IPv${[...dstFam][0]}: no packet can match both; use one address family`);
  }
  const dscpMatch = list(c.dscp, 'classifier.dscp').map((d, i) => checkInt(d, `classifier.dscp[${i}]`, 0, 63, 'QB_POLICY_INVALID_DSCP', 'a DSCP'));
  const vlan = c.vlan === undefined ? undefined : checkInt(c.vlan, 'classifier.vlan', 1, 4094, 'QB_POLICY_INVALID_VLAN', 'a VLAN id');
  if (new Set(sourcePrefixes).size !== sourcePrefixes.length || new Set(destinationPrefixes).size !== destinationPrefixes.length || new Set(dscpMatch).size !== dscpMatch.length) {
    fail('QB_POLICY_INVALID_CLASSIFIER', 'classifier', 'classifier lists must not repeat an entry (YANG leaf-lists are sets)');
  }

  // class and marking
  if (!TRAFFIC_CLASSES.includes(policy.trafficClass)) {
    fail('QB_POLICY_INVALID_CLASS', 'trafficClass', `trafficClass must be one of ${TRAFFIC_CLASSES.join(', ')}, not ${JSON.stringify(policy.trafficClass)}`);
  }
  const trafficClass: TrafficClass = policy.trafficClass;
  const dscp = policy.dscp === undefined ? DEFAULT_DSCP[trafficClass] : checkInt(policy.dscp, 'dscp', 0, 63, 'QB_POLICY_INVALID_DSCP', 'a DSCP');
  if (policy.remark !== undefined && typeof policy.remark !== 'boolean') fail('QB_POLICY_INVALID_REMARK', 'remark', 'remark must be true or false');

  // rates
  const r = policy.rates;
  if (typeof r !== 'object' || r === null) fail('QB_POLICY_INVALID_RATE', 'rates', 'rates must be an object with committedKbps');
  const committedKbps = checkInt(r.committedKbps, 'rates.committedKbps', 1, MAX_RATE_KBPS, 'QB_POLICY_INVALID_RATE', 'a positive rate in kbit/s');
  const peakKbps = r.peakKbps === undefined ? committedKbps : checkInt(r.peakKbps, 'rates.peakKbps', 1, MAX_RATE_KBPS, 'QB_POLICY_INVALID_RATE', 'a positive rate in kbit/s');
  if (peakKbps < committedKbps) {
    fail('QB_POLICY_PEAK_BELOW_COMMITTED', 'rates.peakKbps', `rates.peakKbps ${peakKbps} is below rates.committedKbps ${committedKbps}; raise the peak or lower the committed rate`);
  }
  const defaultBurst = (kbps: number) => Math.min(BURST_MAX, Math.max(BURST_MIN, Math.ceil(kbps * 1.25))); // 10 ms at the rate
  const committedBurstBytes = r.committedBurstBytes === undefined ? defaultBurst(committedKbps) : checkInt(r.committedBurstBytes, 'rates.committedBurstBytes', BURST_MIN, BURST_MAX, 'QB_POLICY_INVALID_BURST', 'a burst in bytes');
  const peakBurstBytes = r.peakBurstBytes === undefined ? Math.max(committedBurstBytes, defaultBurst(peakKbps)) : checkInt(r.peakBurstBytes, 'rates.peakBurstBytes', BURST_MIN, BURST_MAX, 'QB_POLICY_INVALID_BURST', 'a burst in bytes');
  if (peakBurstBytes < committedBurstBytes) {
    fail('QB_POLICY_INVALID_BURST', 'rates.peakBurstBytes', `rates.peakBurstBytes ${peakBurstBytes} is below rates.committedBurstBytes ${committedBurstBytes}`);
  }
  const speed = device.interfaces.find((i) => i.name === egressInterface)?.speedMbps;
  if (speed !== undefined && peakKbps > speed * 1000) {
    fail('QB_POLICY_RATE_ABOVE_LINE_RATE', 'rates.peakKbps', `rates.peakKbps ${peakKbps} kbit/s is above the line rate of ${egressInterface} (${speed} Mbit/s)`);
  }

  const action = policy.action ?? 'shape';
  if (action !== 'police' && action !== 'shape') fail('QB_POLICY_INVALID_ACTION', 'action', `action must be police or shape, not ${JSON.stringify(action)}`);
  const queuePriority = policy.queuePriority === undefined ? 4 : checkInt(policy.queuePriority, 'queuePriority', 0, 7, 'QB_POLICY_INVALID_PRIORITY', 'a queue priority (0 is highest)');

  // validity window
  const v = policy.validity;
  if (typeof v !== 'object' || v === null) fail('QB_POLICY_INVALID_VALIDITY', 'validity', 'validity must be { start, end }');
  for (const k of ['start', 'end'] as const) {
    if (typeof v[k] !== 'string' || !DATE_AND_TIME.test(v[k]) || Number.isNaN(Date.parse(v[k]))) {
      fail('QB_POLICY_INVALID_VALIDITY', `validity.${k}`, `validity.${k} must be an RFC 3339 date-and-time such as 2026-11-24T14:00:00Z, not ${JSON.stringify(v[k])}`);
    }
  }
  if (Date.parse(v.start) >= Date.parse(v.end)) {
    fail('QB_POLICY_INVALID_VALIDITY', 'validity.end', `validity.end ${v.end} is not after validity.start ${v.start}; the window must be non-empty`);
  }

  return {
    serviceId,
    owner: { provider, customer },
    device: device.name,
    ...(policy.partition !== undefined ? { partition: policy.partition } : {}),
    ...(policy.networkInstance !== undefined ? { networkInstance: policy.networkInstance } : {}),
    classifier: {
      sourcePrefixes: [...sourcePrefixes],
      destinationPrefixes: [...destinationPrefixes],
      dscp: dscpMatch,
      ...(vlan !== undefined ? { vlan } : {}),
      ...(ingressInterface !== undefined ? { ingressInterface } : {}),
      egressInterface,
    },
    trafficClass,
    dscp,
    remark: policy.remark ?? false,
    rates: { committedKbps, peakKbps, committedBurstBytes, peakBurstBytes },
    action,
    queuePriority,
    validity: { start: v.start, end: v.end },
  };
}
