/**
 * Provisioning of one domain's segment (seed 000's design server, policy
 * server and network management, in that order):
 *   design   - which devices and interfaces carry the segment, as abstract
 *              QoS policies (drivers/policy);
 *   policy   - admitted against the device inventory and its partitions,
 *              rendered per platform (drivers/platforms);
 *   network  - applied transactionally and verified on the device.
 * A failure on any device removes what was applied on the others.
 */
import { NetconfClient, type NetconfClientOptions } from '../../drivers/netconf/client.js';
import { ProvisioningError, QosBrokerError } from '../../drivers/errors.js';
import { admitPolicy, type DeviceInventory, type QosPolicy, type ResolvedPolicy, type TrafficClass } from '../../drivers/policy/index.js';
import { platformById, type NetconfPayload, type Platform } from '../../drivers/platforms/index.js';
import { applyPolicy, removePolicy, verifyPolicy } from '../../drivers/platforms/netconf-apply.js';
import type { ContractBody, ContractSegment } from '../agreement/contract.js';

/** A device of the domain: its inventory entry and how to reach it. */
export interface ManagedDevice {
  inventory: DeviceInventory;
  /** Border router id the device is (matches the advertisement). */
  border: string;
  /** Interface that leaves the domain at this border (towards the next domain or the customer). */
  egressInterface: string;
  connection: NetconfClientOptions;
}

/** Design: the policies that implement a segment, one per device where it leaves the domain. */
export function designSegment(contract: ContractBody, segment: ContractSegment, devices: ManagedDevice[]): QosPolicy[] {
  const egress = devices.find((d) => d.border === segment.egress);
  if (!egress) {
    throw new ProvisioningError('QB_PROVISION_NO_DEVICE', `${segment.domain} has no managed device for border ${segment.egress}: add it to the domain's inventory`);
  }
  return [
    {
      serviceId: `${contract.agreementId}-${segment.domain}`.replace(/[^A-Za-z0-9._-]/g, '-').slice(0, 64),
      owner: { provider: segment.domain, customer: contract.originator.customer },
      device: egress.inventory.name,
      classifier: { egressInterface: egress.egressInterface },
      trafficClass: contract.service.qosClass as TrafficClass,
      rates: { committedKbps: Math.round(contract.service.rateMbps * 1000) },
      action: 'shape',
      queuePriority: contract.service.qosClass === 'EF' ? 0 : 3,
      validity: { start: contract.window.start, end: contract.window.end },
    },
  ];
}

/** What was provisioned, to verify or remove later. */
export interface ProvisionedPolicy {
  device: ManagedDevice;
  policy: ResolvedPolicy;
}

async function withDevice<T>(d: ManagedDevice, fn: (c: NetconfClient, p: Platform<NetconfPayload>) => Promise<T>): Promise<T> {
  const platform = platformById(d.inventory.platform);
  if (platform.transport !== 'netconf') {
    throw new ProvisioningError('QB_PROVISION_TRANSPORT', `${d.inventory.name} is a ${platform.id} device (${platform.transport}); this step drives NETCONF devices`);
  }
  const client = await NetconfClient.connect({ device: d.inventory.name, ...d.connection });
  try {
    return await fn(client, platform as Platform<NetconfPayload>);
  } finally {
    await client.close();
  }
}

/**
 * Admit, render, apply and verify every policy of the segment. All or
 * nothing: on a failure, the policies already applied are removed again.
 */
export async function provisionSegment(policies: QosPolicy[], devices: ManagedDevice[], installed: (device: string) => ResolvedPolicy[] = () => []): Promise<ProvisionedPolicy[]> {
  const plan = policies.map((p) => {
    const device = devices.find((d) => d.inventory.name === p.device);
    if (!device) throw new ProvisioningError('QB_PROVISION_NO_DEVICE', `policy ${p.serviceId} names device ${p.device}, which is not managed`);
    return { device, policy: admitPolicy(p, device.inventory, installed(p.device)) };
  });
  const done: ProvisionedPolicy[] = [];
  try {
    for (const step of plan) {
      await withDevice(step.device, async (c, platform) => {
        await applyPolicy(c, platform, step.policy, { confirmTimeoutS: 30 });
        // confirmed on the device from here on: undo it on any later failure
        done.push(step);
        const diff = await verifyPolicy(c, platform, step.policy);
        if (diff.length) throw new ProvisioningError('QB_PROVISION_VERIFY_FAILED', `${step.device.inventory.name}: running config differs after apply: ${diff.slice(0, 3).join('; ')}`);
      });
    }
    return done;
  } catch (err) {
    const what = err instanceof QosBrokerError ? `${err.code}: ${err.message}` : (err as Error).message;
    let rollback = done.length ? `rolled back on ${done.map((d) => d.device.inventory.name).join(', ')}` : 'nothing had been applied';
    try {
      await unprovisionSegment(done);
    } catch (undo) {
      rollback = `ROLLBACK FAILED: ${(undo as Error).message}`;
    }
    throw new ProvisioningError(err instanceof QosBrokerError ? err.code : 'QB_PROVISION_FAILED', `${what}; ${rollback}`, { cause: err });
  }
}

/** Remove what provisionSegment applied, leaving each device as it was; tries every device, then reports those that failed. */
export async function unprovisionSegment(done: ProvisionedPolicy[]): Promise<void> {
  const failed: string[] = [];
  for (const step of [...done].reverse()) {
    try {
      await withDevice(step.device, (c, platform) => removePolicy(c, platform, step.policy, { confirmTimeoutS: 30 }));
    } catch (err) {
      failed.push(`${step.device.inventory.name}: ${(err as Error).message}`);
    }
  }
  if (failed.length) throw new ProvisioningError('QB_PROVISION_REMOVE_FAILED', `removal failed on ${failed.length} device(s): ${failed.join('; ')}`);
}
