/**
 * The transactional NETCONF apply against a real netconfd (lab device
 * model, behind a real sshd): apply + verify + remove restores running
 * exactly; a device error in the middle of a transaction changes nothing;
 * a confirmed commit nobody confirms rolls back on its own.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { NetconfRpcError, ProvisioningError } from '../../../drivers/errors.js';
import { NetconfClient } from '../../../drivers/netconf/client.js';
import { labDevice } from '../../../drivers/platforms/lab_device/index.js';
import { applyNetconf, applyPolicy, leafPaths, prepareApply, removePolicies, removePolicy, verifyPolicies, verifyPolicy } from '../../../drivers/platforms/netconf-apply.js';
import { admitPolicy, type DeviceInventory, type QosPolicy } from '../../../drivers/policy/index.js';
import { startNetconfDevice, type NetconfDevice } from '../../../lab/netconf-device.js';

const LAB: DeviceInventory = { name: 'r1', platform: 'lab_device', interfaces: [{ name: 'eth1', speedMbps: 1000 }, { name: 'eth2', speedMbps: 1000 }] };
const NS = 'urn:qos-broker:yang:lab-device';

function policy(serviceId: string, committedKbps = 10_000): QosPolicy {
  return {
    serviceId,
    owner: { provider: 'provider-a', customer: 'acme' },
    device: 'r1',
    classifier: { sourcePrefixes: ['198.18.1.0/24'], destinationPrefixes: ['198.18.2.0/24'], egressInterface: 'eth1' },
    trafficClass: 'EF',
    rates: { committedKbps, peakKbps: committedKbps * 2 },
    action: 'shape',
    queuePriority: 1,
    validity: { start: '2026-11-24T14:00:00Z', end: '2026-11-24T16:00:00Z' },
  };
}

let dev: NetconfDevice;
let client: NetconfClient;
const connect = () => NetconfClient.connect({ host: dev.host, port: dev.port, username: dev.username, privateKeyFile: dev.privateKeyFile, knownHostsFile: dev.knownHostsFile, helloSettleMs: 20 });
const running = () => client.getConfig({ source: 'running' });

beforeAll(async () => {
  dev = await startNetconfDevice();
  client = await connect();
  // the device as the lab sets it up: a hostname and two interfaces
  await client.editConfig({ config: `<device xmlns="${NS}"><hostname>r1</hostname><interfaces><interface><name>eth1</name><speed-mbps>1000</speed-mbps></interface><interface><name>eth2</name></interface></interfaces></device>` });
  await client.commit();
});
afterAll(async () => {
  await client?.close().catch(() => client.destroy());
  await dev?.stop();
});

describe('netconf apply', () => {
  test('netconf apply - apply, verify and remove; full running config after remove equals before apply', async () => {
    const p = admitPolicy(policy('svc-lab-1'), LAB);
    const before = await running();
    const r = await applyPolicy(client, labDevice, p, { confirmTimeoutS: 30 });
    expect(r.verifiedRunning).toContain('<name>svc-lab-1</name>');
    const lines = await leafPaths(await running());
    expect(lines).toContain('device/qos/policy[name=svc-lab-1]/committed-rate-kbps=10000');
    expect(lines).toContain('device/qos/policy[name=svc-lab-1]/peak-rate-kbps=20000');
    expect(await verifyPolicy(client, labDevice, p)).toEqual([]);
    // a different policy is not verified by it
    expect(await verifyPolicy(client, labDevice, admitPolicy(policy('svc-lab-1', 9_000), LAB))).toContain('missing device/qos/policy[name=svc-lab-1]/committed-rate-kbps=9000');
    await removePolicy(client, labDevice, p, { confirmTimeoutS: 30 });
    expect(await running()).toBe(before);
    expect(await verifyPolicy(client, labDevice, p)).not.toEqual([]);
  });

  test('netconf apply - removing one of two policies keeps the other; removing both restores running', async () => {
    const before = await running();
    const [a, b] = [admitPolicy(policy('svc-lab-a'), LAB), admitPolicy(policy('svc-lab-b', 5_000), LAB)];
    await applyPolicy(client, labDevice, a);
    await applyPolicy(client, labDevice, b);
    await removePolicy(client, labDevice, a);
    expect(await verifyPolicy(client, labDevice, b)).toEqual([]);
    expect(await running()).not.toContain('<name>svc-lab-a</name>');
    await removePolicy(client, labDevice, b);
    expect(await running()).toBe(before);
  });

  test('netconf apply - several policies in one transaction: applied and read back together, removed together, running as before', async () => {
    const before = await running();
    const ps = [1, 2, 3, 4].map((n) => admitPolicy(policy(`svc-lab-m${n}`, 1000 * n), LAB));
    const tx = await prepareApply(client, labDevice, ps, { confirmTimeoutS: 30, persistId: 'qb-svc-lab-m1' });
    for (const n of [1, 2, 3, 4]) expect(tx.verifiedRunning).toContain(`<name>svc-lab-m${n}</name>`);
    await tx.confirm();
    expect(await verifyPolicies(client, labDevice, ps)).toEqual([[], [], [], []]);
    // remove three of them at once: the fourth stays as it was
    await removePolicies(client, labDevice, ps.slice(0, 3), { confirmTimeoutS: 30 });
    expect((await verifyPolicies(client, labDevice, ps)).map((d) => d.length > 0)).toEqual([true, true, true, false]);
    await removePolicies(client, labDevice, ps.slice(3), { confirmTimeoutS: 30 });
    expect(await running()).toBe(before);
  });

  test('netconf apply - lab_device refuses at render what its model cannot hold', () => {
    const p = admitPolicy({ ...policy('svc-lab-x'), classifier: { sourcePrefixes: ['198.18.1.0/24', '198.18.3.0/24'], egressInterface: 'eth1' } }, LAB);
    expect(() => labDevice.render(p)).toThrow(expect.objectContaining({ code: 'QB_PLATFORM_UNSUPPORTED' }));
  });

  test('netconf apply - a device error in the second edit leaves running and candidate unchanged and the lock free', async () => {
    const before = await running();
    const good = labDevice.render(admitPolicy(policy('svc-lab-2'), LAB));
    // the policy layer would refuse priority 9; here the device must refuse it (YANG range 0..7)
    const bad = labDevice.render(admitPolicy(policy('svc-lab-3'), LAB));
    bad.config = bad.config.replace('<priority>1</priority>', '<priority>9</priority>');
    const err = await applyNetconf(client, labDevice, [good, bad], { confirmTimeoutS: 30 }).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(ProvisioningError);
    expect((err as ProvisioningError).code).toBe('QB_PROVISION_APPLY_FAILED');
    expect((err as ProvisioningError).message).toContain('edit failed');
    expect((err as ProvisioningError).cause).toBeInstanceOf(NetconfRpcError);
    expect(await running()).toBe(before);
    expect(await client.getConfig({ source: 'candidate' })).toBe(before);
    const other = await connect();
    try {
      await other.lock('candidate');
      await other.unlock('candidate');
    } finally {
      await other.close();
    }
  });

  test('netconf apply - a verify failure after the confirmed commit is cancelled at once', async () => {
    const before = await running();
    const p = admitPolicy(policy('svc-lab-4'), LAB);
    const err = await applyPolicy(client, labDevice, p, { confirmTimeoutS: 30, verify: async () => ['forced mismatch'] }).then(() => undefined, (e: unknown) => e);
    expect((err as ProvisioningError).code).toBe('QB_PROVISION_VERIFY_FAILED');
    expect((err as ProvisioningError).message).toContain('cancelled');
    expect(await running()).toBe(before);
  });

  test('netconf apply - an unconfirmed commit rolls back on its own when its timeout expires', async () => {
    const before = await running();
    const p = admitPolicy(policy('svc-lab-5'), LAB);
    const err = await applyPolicy(client, labDevice, p, { confirmTimeoutS: 2, verify: async () => ['forced mismatch'], onFailureAfterCommit: 'await-rollback' }).then(() => undefined, (e: unknown) => e);
    expect((err as ProvisioningError).code).toBe('QB_PROVISION_VERIFY_FAILED');
    // the commit is in running until the device's timer fires
    expect(await running()).toContain('<name>svc-lab-5</name>');
    let now = await running();
    for (let i = 0; i < 30 && now !== before; i++) {
      await new Promise((r) => setTimeout(r, 1000));
      now = await running();
    }
    expect(now).toBe(before);
  });

  test('netconf apply - a verify slower than the confirm timeout fails instead of confirming nothing', async () => {
    const before = await running();
    const p = admitPolicy(policy('svc-lab-8'), LAB);
    // verify returns only once the device has rolled back on its own (netconfd fires its timer
    // when idle for a second: poll slowly), generously bounded
    let rolledBackDuringVerify = false;
    const slow = async () => {
      const has = async () => (await running()).includes('<name>svc-lab-8</name>');
      const end = Date.now() + 30_000;
      while ((await has()) && Date.now() < end) await new Promise((r) => setTimeout(r, 1500));
      rolledBackDuringVerify = !(await has());
      return [];
    };
    const err = await applyPolicy(client, labDevice, p, { confirmTimeoutS: 1, verify: slow }).then(() => undefined, (e: unknown) => e);
    expect(rolledBackDuringVerify).toBe(true);
    expect(err).toBeInstanceOf(ProvisioningError);
    expect((err as ProvisioningError).message).toContain('confirm failed');
    expect(await running()).toBe(before);
  });

  test('netconf apply - a platform capability the device lacks is refused before anything is sent', async () => {
    const before = await running();
    const needy = { ...labDevice, capabilities: [...labDevice.capabilities, ':startup'] };
    await expect(applyPolicy(client, needy, admitPolicy(policy('svc-lab-6'), LAB))).rejects.toMatchObject({ code: 'QB_NETCONF_CAPABILITY_NOT_SUPPORTED' });
    expect(await running()).toBe(before);
  });

  test('netconf apply - a candidate locked by another session is refused with nothing changed', async () => {
    const before = await running();
    const other = await connect();
    try {
      await other.lock('candidate');
      await expect(applyPolicy(client, labDevice, admitPolicy(policy('svc-lab-7'), LAB))).rejects.toMatchObject({ code: 'QB_PROVISION_LOCK_FAILED' });
      await other.unlock('candidate');
    } finally {
      await other.close();
    }
    expect(await running()).toBe(before);
  });
});
