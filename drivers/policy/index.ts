/**
 * The abstract QoS policy (yang/qos-broker-policy.yang is its source of
 * truth): types, validation, partitions. `admitPolicy` is the one entry
 * point the provisioning step calls before any platform renders.
 */
import type { DeviceInventory, QosPolicy, ResolvedPolicy } from './types.js';
import { validatePolicy } from './validate.js';
import { checkPartition, validatePartitions } from './partitions.js';

export * from './types.js';
export { validatePolicy, checkPrefix, prefixFamily } from './validate.js';
export { checkPartition, validatePartitions } from './partitions.js';

/**
 * Validate a policy for a device, then admit it into the provider's
 * partition; `installed` are the policies already on the device. Throws
 * PolicyInvalidError or PartitionViolationError; nothing has been sent.
 */
export function admitPolicy(policy: QosPolicy, device: DeviceInventory, installed: readonly ResolvedPolicy[] = []): ResolvedPolicy {
  validatePartitions(device);
  return checkPartition(validatePolicy(policy, device), device, installed);
}
export { policiesXml, policyEntryXml, partitionsXml, NS_POLICY } from './xml.js';
