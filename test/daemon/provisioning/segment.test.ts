/** Provisioning a segment on two real lab routers (netconfd behind sshd): all or nothing. */
import { afterAll, beforeAll, expect, test } from 'vitest';
import { NetconfClient } from '../../../drivers/netconf/client.js';
import { ProvisioningError } from '../../../drivers/errors.js';
import type { QosPolicy } from '../../../drivers/policy/index.js';
import { SessionPool, policyDiffs, provisionSegment, unprovisionSegment, type ManagedDevice } from '../../../daemon/provisioning/segment.js';
import { startNetconfDevice, type NetconfDevice } from '../../../lab/netconf-device.js';

const NS = 'urn:qos-broker:yang:lab-device';
let devs: NetconfDevice[] = [];
let routers: ManagedDevice[] = [];

async function onDevice<T>(d: ManagedDevice, fn: (c: NetconfClient) => Promise<T>): Promise<T> {
  const c = await NetconfClient.connect(d.connection);
  try {
    return await fn(c);
  } finally {
    await c.close();
  }
}
const running = (d: ManagedDevice) => onDevice(d, (c) => c.getConfig({}));

beforeAll(async () => {
  devs = await Promise.all([startNetconfDevice(), startNetconfDevice()]);
  routers = devs.map((dev, i) => ({
    border: `r${i}`,
    inventory: { name: `r${i}`, platform: 'lab_device', interfaces: [{ name: 'eth2', speedMbps: 1000 }] },
    connection: { host: dev.host, port: dev.port, username: dev.username, privateKeyFile: dev.privateKeyFile, knownHostsFile: dev.knownHostsFile, helloSettleMs: 20, device: `r${i}` },
  }));
  // r0 has its interface; r1 does not, so a policy bound to eth2 fails there (leafref)
  await onDevice(routers[0]!, async (c) => {
    await c.editConfig({ config: `<device xmlns="${NS}"><interfaces><interface><name>eth2</name></interface></interfaces></device>` });
    await c.commit();
  });
});
afterAll(async () => {
  await Promise.all(devs.map((d) => d.stop()));
});

const policy = (device: string): QosPolicy => ({
  serviceId: `svc-prov-${device}`,
  owner: { provider: 'provider-x', customer: 'acme' },
  device,
  classifier: { egressInterface: 'eth2' },
  trafficClass: 'EF',
  rates: { committedKbps: 5000 },
  validity: { start: '2026-01-01T00:00:00Z', end: '2027-01-01T00:00:00Z' },
});

test('provisioning - a failure on the second device rolls the first back; both routers end as they were', async () => {
  const before = await Promise.all(routers.map(running));
  const e = await provisionSegment([policy('r0'), policy('r1')], routers).catch((x: unknown) => x);
  expect(e).toBeInstanceOf(ProvisioningError);
  expect((e as Error).message).toMatch(/rolled back on r0/);
  const after = await Promise.all(routers.map(running));
  expect(after).toEqual(before);
});

test('provisioning - apply then remove leaves the router exactly as before', async () => {
  const before = await running(routers[0]!);
  const done = await provisionSegment([policy('r0')], routers);
  expect(await running(routers[0]!)).toContain('<name>svc-prov-r0</name>');
  await unprovisionSegment(done);
  expect(await running(routers[0]!)).toBe(before);
});

test('provisioning - a policy for an unmanaged device or outside the inventory is refused before anything is sent', async () => {
  await expect(provisionSegment([policy('r9')], routers)).rejects.toMatchObject({ code: 'QB_PROVISION_NO_DEVICE' });
  await expect(provisionSegment([{ ...policy('r0'), classifier: { egressInterface: 'eth7' } }], routers)).rejects.toMatchObject({ name: 'PolicyInvalidError' });
});

test('provisioning - a CLI platform without its interactive channel is refused before anything is sent, naming why', async () => {
  const xr: ManagedDevice = { ...routers[0]!, inventory: { name: 'xr1', platform: 'cisco_iosxr', interfaces: [{ name: 'eth2', speedMbps: 1000 }] } };
  await expect(provisionSegment([policy('xr1')], [xr])).rejects.toMatchObject({ code: 'QB_PROVISION_TRANSPORT', message: expect.stringMatching(/cisco_iosxr renders only/) });
});

test('provisioning - a session pool keeps one NETCONF session per device across transactions, replaces one that closed, and rolls back as well', async () => {
  const pool = new SessionPool();
  try {
    const before = await Promise.all(routers.map(running));
    const done = await provisionSegment([policy('r0')], routers, () => [], pool);
    const first = await pool.acquire(routers[0]!);
    const id = first.client.sessionId;
    await first.release();
    expect(await policyDiffs(done[0]!, pool)).toEqual([]);
    await unprovisionSegment(done, pool);
    const again = await pool.acquire(routers[0]!);
    expect(again.client.sessionId).toBe(id); // the same session all along: apply, read back, remove
    // the device ends the session: the next use opens a new one
    again.client.destroy();
    await again.release();
    const fresh = await pool.acquire(routers[0]!);
    expect(fresh.client.sessionId).not.toBe(id);
    expect(fresh.client.session.status).toBe('ready');
    await fresh.release();
    // a failure on r1 still rolls r0 back through the pooled sessions
    await expect(provisionSegment([policy('r0'), policy('r1')], routers, () => [], pool)).rejects.toThrow(/rolled back on r0/);
    expect(await Promise.all(routers.map(running))).toEqual(before);
    expect(pool.devices.sort()).toEqual(['r0', 'r1']);
  } finally {
    await pool.close();
  }
  expect(pool.devices).toEqual([]);
  await expect(pool.acquire(routers[0]!)).rejects.toMatchObject({ code: 'QB_PROVISION_TRANSPORT' });
});
