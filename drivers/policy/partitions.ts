/**
 * Partitions of shared devices (seed 002): a device split between
 * providers, each with its own interfaces, rate budget and network-instance
 * (logical node). A policy that reaches outside its provider's partition or
 * over its budget is refused here, before any platform renders or sends.
 */
import { PartitionViolationError, PolicyInvalidError } from '../errors.js';
import type { DeviceInventory, Partition, ResolvedPolicy } from './types.js';

function refuse(code: ConstructorParameters<typeof PartitionViolationError>[0], resource: string, message: string): never {
  throw new PartitionViolationError(code, resource, message);
}

/** Check the partitions of one device are coherent: known interfaces, no interface in two partitions, unique names. */
export function validatePartitions(device: DeviceInventory): void {
  const parts = device.partitions ?? [];
  const known = new Set(device.interfaces.map((i) => i.name));
  const owner = new Map<string, string>();
  const names = new Set<string>();
  for (const p of parts) {
    const field = `partitions.${p.name}`;
    if (p.device !== device.name) throw new PolicyInvalidError('QB_PARTITION_INVALID', field, `partition ${p.name} is declared for device ${p.device} but listed under ${device.name}`);
    if (names.has(p.name)) throw new PolicyInvalidError('QB_PARTITION_INVALID', field, `partition name ${p.name} is used twice on ${device.name}`);
    names.add(p.name);
    if (!Number.isInteger(p.rateBudgetKbps) || p.rateBudgetKbps < 1) throw new PolicyInvalidError('QB_PARTITION_INVALID', `${field}.rateBudgetKbps`, `rate budget of partition ${p.name} must be a positive whole number of kbit/s`);
    for (const i of p.interfaces) {
      if (!known.has(i)) throw new PolicyInvalidError('QB_PARTITION_INVALID', `${field}.interfaces`, `partition ${p.name} lists interface ${i}, which ${device.name} does not have`);
      const prev = owner.get(i);
      if (prev) throw new PolicyInvalidError('QB_PARTITION_INVALID', `${field}.interfaces`, `interface ${i} of ${device.name} is in both partitions ${prev} and ${p.name}; give it to one`);
      owner.set(i, p.name);
    }
  }
}

/**
 * Admit a validated policy into its provider's partition. `installed` are the
 * policies already on the device (a policy with the same service id is being
 * replaced and does not count against the budget). Returns the policy with
 * its network-instance resolved from the partition. On a device without
 * partitions the policy must not name one.
 */
export function checkPartition(policy: ResolvedPolicy, device: DeviceInventory, installed: readonly ResolvedPolicy[] = []): ResolvedPolicy {
  const parts = device.partitions ?? [];
  if (parts.length === 0) {
    if (policy.partition !== undefined) {
      refuse('QB_PARTITION_UNKNOWN', `partition ${policy.partition}`, `policy ${policy.serviceId} names partition ${policy.partition} but ${device.name} is not partitioned; leave partition out`);
    }
    return policy;
  }
  if (policy.partition === undefined) {
    const mine = parts.filter((p) => p.provider === policy.owner.provider).map((p) => p.name);
    refuse('QB_PARTITION_REQUIRED', `device ${device.name}`, `${device.name} is shared between providers: policy ${policy.serviceId} must name the partition of ${policy.owner.provider} (${mine.join(', ') || 'it has none'})`);
  }
  const part: Partition | undefined = parts.find((p) => p.name === policy.partition);
  if (!part) refuse('QB_PARTITION_UNKNOWN', `partition ${policy.partition}`, `${device.name} has no partition ${policy.partition}; it has ${parts.map((p) => p.name).join(', ')}`);
  if (part.provider !== policy.owner.provider) {
    refuse('QB_PARTITION_NOT_OWNER', `partition ${part.name}`, `partition ${part.name} of ${device.name} belongs to provider ${part.provider}, not ${policy.owner.provider}`);
  }
  const ifs = new Set(part.interfaces);
  for (const [field, name] of [['egress', policy.classifier.egressInterface], ['ingress', policy.classifier.ingressInterface]] as const) {
    if (name !== undefined && !ifs.has(name)) {
      const holder = parts.find((p) => p.interfaces.includes(name));
      refuse(
        'QB_PARTITION_INTERFACE_OUTSIDE',
        `interface ${name}`,
        `${field} interface ${name} of ${device.name} is outside partition ${part.name} of ${part.provider}${holder ? ` (it belongs to partition ${holder.name} of ${holder.provider})` : ''}; use one of ${part.interfaces.join(', ') || 'none'}`,
      );
    }
  }
  if (policy.networkInstance !== undefined && policy.networkInstance !== part.networkInstance) {
    refuse('QB_PARTITION_NETWORK_INSTANCE_OUTSIDE', `network-instance ${policy.networkInstance}`, `network-instance ${policy.networkInstance} is outside partition ${part.name}, whose network-instance is ${part.networkInstance}`);
  }
  const used = installed
    .filter((p) => p.partition === part.name && p.serviceId !== policy.serviceId)
    .reduce((sum, p) => sum + p.rates.committedKbps, 0);
  if (used + policy.rates.committedKbps > part.rateBudgetKbps) {
    refuse(
      'QB_PARTITION_RATE_BUDGET_EXCEEDED',
      `rate-budget of partition ${part.name}`,
      `policy ${policy.serviceId} needs ${policy.rates.committedKbps} kbit/s but the rate budget of partition ${part.name} on ${device.name} is ${part.rateBudgetKbps} kbit/s with ${used} kbit/s in use (${part.rateBudgetKbps - used} free)`,
    );
  }
  return { ...policy, networkInstance: part.networkInstance };
}
