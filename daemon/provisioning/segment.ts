/**
 * Provisioning of one domain's segment (seed 000's design server, policy
 * server and network management, in that order):
 *   design   - which devices and interfaces carry the segment, as abstract
 *              QoS policies (drivers/policy);
 *   policy   - admitted against the device inventory and its partitions,
 *              rendered per platform (drivers/platforms);
 *   network  - applied transactionally and verified on the device: NETCONF
 *              with a confirmed commit, or a shell CLI (linux_tc) with the
 *              undo lines recorded before the first line is sent.
 * A failure on any device removes what was applied on the others.
 */
import { NetconfClient, type NetconfClientOptions } from '../../drivers/netconf/client.js';
import { ProvisioningError, QosBrokerError } from '../../drivers/errors.js';
import { admitPolicy, type DeviceInventory, type QosPolicy, type ResolvedPolicy, type TrafficClass } from '../../drivers/policy/index.js';
import { platformById, type CliPayload, type NetconfPayload, type Platform } from '../../drivers/platforms/index.js';
import { applyCli, removeCli, type CliExec } from '../../drivers/platforms/cli-apply.js';
import { execLine } from '../../drivers/cli/ssh-exec.js';
import { SshTransport } from '../../drivers/ssh/transport.js';
import { applyPolicy, removePolicy, verifyPolicy } from '../../drivers/platforms/netconf-apply.js';
import type { ContractBody, ContractSegment } from '../agreement/contract.js';

/** A device of the domain: its inventory entry and how to reach it. */
export interface ManagedDevice {
  inventory: DeviceInventory;
  /** Border router id the device is (matches the advertisement). */
  border: string;
  /** Interface that leaves the domain at this border (towards the next domain or the customer). */
  egressInterface: string;
  /** NETCONF over SSH for NETCONF platforms; the same SSH settings for shell CLI platforms (linux_tc). */
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

/** Platforms whose CLI is a POSIX shell: one SSH exec channel per line. The others need an interactive channel (prompts, paging), which does not exist yet: they render only. */
const SHELL_CLI: ReadonlySet<string> = new Set(['linux_tc']);

async function withNetconf<T>(d: ManagedDevice, platform: Platform<NetconfPayload>, fn: (c: NetconfClient, p: Platform<NetconfPayload>) => Promise<T>): Promise<T> {
  const client = await NetconfClient.connect({ device: d.inventory.name, ...d.connection });
  try {
    return await fn(client, platform);
  } finally {
    await client.close();
  }
}

async function withShell<T>(d: ManagedDevice, fn: (exec: CliExec) => Promise<T>): Promise<T> {
  const ssh = await SshTransport.connect({ ...d.connection, port: d.connection.port ?? 22 });
  try {
    return await fn((line) => execLine(ssh, line));
  } finally {
    await ssh.close();
  }
}

function platformOf(d: ManagedDevice): Platform {
  const platform = platformById(d.inventory.platform);
  if (platform.transport === 'cli' && !SHELL_CLI.has(platform.id)) {
    throw new ProvisioningError('QB_PROVISION_TRANSPORT', `${d.inventory.name} is a ${platform.id} device: its CLI needs an interactive channel (prompts, paging) that qos-broker does not have yet; ${platform.id} renders only`);
  }
  return platform;
}

/** Apply (and for NETCONF, verify) one policy on its device. */
async function applyOne(step: ProvisionedPolicy, applied: () => void): Promise<void> {
  const platform = platformOf(step.device);
  if (platform.transport === 'cli') {
    await withShell(step.device, (exec) => applyCli(exec, (platform as Platform<CliPayload>).render(step.policy), step.device.inventory.name));
    applied();
    return;
  }
  await withNetconf(step.device, platform as Platform<NetconfPayload>, async (c, p) => {
    await applyPolicy(c, p, step.policy, { confirmTimeoutS: 30 });
    // confirmed on the device from here on: undo it on any later failure
    applied();
    const diff = await verifyPolicy(c, p, step.policy);
    if (diff.length) throw new ProvisioningError('QB_PROVISION_VERIFY_FAILED', `${step.device.inventory.name}: running config differs after apply: ${diff.slice(0, 3).join('; ')}`);
  });
}

async function removeOne(step: ProvisionedPolicy): Promise<void> {
  const platform = platformOf(step.device);
  if (platform.transport === 'cli') {
    await withShell(step.device, (exec) => removeCli(exec, (platform as Platform<CliPayload>).render(step.policy), step.device.inventory.name));
    return;
  }
  await withNetconf(step.device, platform as Platform<NetconfPayload>, (c, p) => removePolicy(c, p, step.policy, { confirmTimeoutS: 30 }));
}

/**
 * Admit, render, apply and verify every policy of the segment. All or
 * nothing: on a failure, the policies already applied are removed again.
 */
export async function provisionSegment(policies: QosPolicy[], devices: ManagedDevice[], installed: (device: string) => ResolvedPolicy[] = () => []): Promise<ProvisionedPolicy[]> {
  const plan = policies.map((p) => {
    const device = devices.find((d) => d.inventory.name === p.device);
    if (!device) throw new ProvisioningError('QB_PROVISION_NO_DEVICE', `policy ${p.serviceId} names device ${p.device}, which is not managed`);
    platformOf(device);
    return { device, policy: admitPolicy(p, device.inventory, installed(p.device)) };
  });
  const done: ProvisionedPolicy[] = [];
  try {
    for (const step of plan) await applyOne(step, () => done.push(step));
    return done;
  } catch (err) {
    const what = err instanceof QosBrokerError ? `${err.code}: ${err.message}` : (err as Error).message;
    let rollback = done.length ? `rolled back on ${done.map((d) => d.device.inventory.name).join(', ')}` : 'nothing had been applied';
    try {
      await unprovisionSegment(done);
    } catch (undo) {
      rollback = `ROLLBACK FAILED: ${(undo as Error).message}`;
    }
    throw new ProvisioningError(err instanceof ProvisioningError ? err.code : 'QB_PROVISION_FAILED', `${what}; ${rollback}`, { cause: err });
  }
}

/** Remove what provisionSegment applied, leaving each device as it was; tries every device, then reports those that failed. */
export async function unprovisionSegment(done: ProvisionedPolicy[]): Promise<void> {
  const failed: string[] = [];
  for (const step of [...done].reverse()) {
    try {
      await removeOne(step);
    } catch (err) {
      failed.push(`${step.device.inventory.name}: ${(err as Error).message}`);
    }
  }
  if (failed.length) throw new ProvisioningError('QB_PROVISION_REMOVE_FAILED', `removal failed on ${failed.length} device(s): ${failed.join('; ')}`);
}
