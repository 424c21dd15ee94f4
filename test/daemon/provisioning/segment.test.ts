/** Provisioning a segment on two real lab routers (netconfd behind sshd): all or nothing. */
import { afterAll, beforeAll, expect, test } from 'vitest';
import { NetconfClient } from '../../../drivers/netconf/client.js';
import { ProvisioningError } from '../../../drivers/errors.js';
import type { QosPolicy } from '../../../drivers/policy/index.js';
import { SegmentFailedError, SessionPool, policyDiffs, provisionSegment, provisionSegments, unprovisionPresent, unprovisionSegment, type ManagedDevice, type NetconfSessions } from '../../../daemon/provisioning/segment.js';
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

/** A session pool that counts the RPCs its sessions send, by kind (a confirmed commit and its confirmation apart). */
function counting(pool: SessionPool): { sessions: NetconfSessions; rpcs: Record<string, number> } {
  const rpcs: Record<string, number> = {};
  const seen = new WeakSet<NetconfClient>();
  return {
    rpcs,
    sessions: {
      async acquire(d) {
        const lent = await pool.acquire(d);
        if (!seen.has(lent.client)) {
          seen.add(lent.client);
          const send = lent.client.send.bind(lent.client);
          lent.client.send = (req, o) => {
            const kind = req.operation === 'commit' ? (/<confirmed\/>/.test(req.body) ? 'commit-confirmed' : 'confirm') : req.operation;
            rpcs[kind] = (rpcs[kind] ?? 0) + 1;
            return send(req, o);
          };
        }
        return lent;
      },
    },
  };
}

const policyOn = (n: number, iface = 'eth2'): QosPolicy => ({ ...policy('r0'), serviceId: `svc-batch-${n}`, classifier: { egressInterface: iface }, rates: { committedKbps: 1000 + n } });
const policiesOn = (d: ManagedDevice) => onDevice(d, async (c) => [...(await c.getConfig({})).matchAll(/<policy>[\s\S]*?<name>([^<]*)<\/name>[\s\S]*?<committed-rate-kbps>(\d+)</g)].map((m) => `${m[1]}=${m[2]}`).sort());

test('provisioning - segments waiting for the same router share one transaction: one edit-config carrying every policy, one confirmed commit, one read-back, one confirmation; removing them is one transaction too', async () => {
  const pool = new SessionPool();
  const { sessions, rpcs } = counting(pool);
  try {
    const before = await running(routers[0]!);
    const jobs = [1, 2, 3, 4, 5, 6].map((n) => ({ policies: [policyOn(n)], devices: [routers[0]!] }));
    const out = await provisionSegments(jobs, () => [], sessions);
    expect(out.map((o) => o.ok && o.batch)).toEqual([6, 6, 6, 6, 6, 6]);
    expect(rpcs).toEqual({ lock: 1, 'discard-changes': 1, 'edit-config': 1, 'commit-confirmed': 1, 'get-config': 1, confirm: 1, unlock: 1 });
    expect(await policiesOn(routers[0]!)).toEqual([1, 2, 3, 4, 5, 6].map((n) => `svc-batch-${n}=${1000 + n}`).sort());
    for (const k of Object.keys(rpcs)) delete rpcs[k];
    const failures = await unprovisionPresent(out.flatMap((o) => (o.ok ? o.done : [])), sessions);
    expect([...failures.values()]).toEqual([]);
    // one read of running to see what is there, then one transaction for all six: one edit removing them, one removing
    // the emptied <qos> (read from the candidate first), one confirmed commit, one read-back of running, one confirmation
    expect(rpcs).toEqual({ 'get-config': 3, lock: 1, 'discard-changes': 1, 'edit-config': 2, 'commit-confirmed': 1, confirm: 1, unlock: 1 });
    expect(await running(routers[0]!)).toBe(before);
  } finally {
    await pool.close();
  }
});

test('provisioning - one segment of a batch that its router refuses (a real rpc-error) fails alone, naming the device and the rpc-error; the others go through', async () => {
  const pool = new SessionPool();
  try {
    const before = await running(routers[0]!);
    // eth3 is in the inventory but not on the router: netconfd refuses the leafref
    const r0: ManagedDevice = { ...routers[0]!, inventory: { ...routers[0]!.inventory, interfaces: [{ name: 'eth2', speedMbps: 1000 }, { name: 'eth3', speedMbps: 1000 }] } };
    const jobs = [1, 2, 3, 4, 5].map((n) => ({ policies: [policyOn(n, n === 4 ? 'eth3' : 'eth2')], devices: [r0] }));
    const out = await provisionSegments(jobs, () => [], pool);
    expect(out.map((o) => o.ok)).toEqual([true, true, true, false, true]);
    const bad = out[3]!;
    if (bad.ok) throw new Error('segment 4 should have failed');
    expect(bad.error).toBeInstanceOf(SegmentFailedError);
    expect(bad.error).toMatchObject({ device: 'r0', message: expect.stringMatching(/rpc-error data-missing .*interface: required value instance not found/) });
    expect(await policiesOn(r0)).toEqual([1, 2, 3, 5].map((n) => `svc-batch-${n}=${1000 + n}`).sort());
    // the same error as the segment alone would meet
    const alone = await provisionSegment(jobs[3]!.policies, [r0], () => [], pool).catch((e: unknown) => e);
    expect((alone as Error).message).toBe((bad.error as Error).message);
    expect([...(await unprovisionPresent(out.flatMap((o) => (o.ok ? o.done : [])), pool)).values()]).toEqual([]);
    expect(await running(r0)).toBe(before);
  } finally {
    await pool.close();
  }
});

test('provisioning - removing a batch takes off what is still there (one policy already gone by hand) and leaves the router as before', async () => {
  const pool = new SessionPool();
  try {
    const before = await running(routers[0]!);
    const out = await provisionSegments([1, 2, 3].map((n) => ({ policies: [policyOn(n)], devices: [routers[0]!] })), () => [], pool);
    const done = out.flatMap((o) => (o.ok ? o.done : []));
    expect(done).toHaveLength(3);
    // one removed by hand already: the batch removes the other two
    await onDevice(routers[0]!, async (c) => {
      await c.editConfig({ config: `<device xmlns="${NS}"><qos><policy xmlns:nc="urn:ietf:params:xml:ns:netconf:base:1.0" nc:operation="delete"><name>svc-batch-2</name></policy></qos></device>` });
      await c.commit();
    });
    expect([...(await unprovisionPresent(done, pool)).values()]).toEqual([]);
    expect(await running(routers[0]!)).toBe(before);
  } finally {
    await pool.close();
  }
});
