/**
 * End to end in the two-domain lab: a 10 Mbit/s linux_tc policy for
 * host-a -> host-b traffic is provisioned by the broker's provisioning step
 * (admitted, rendered, applied over the border router's SSH CLI with the
 * undo recorded); iperf3 measures it within 10 %;
 * best-effort traffic to another destination still flows; remove restores
 * the full rate and the router's tc state as it was.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { SshTransport } from '../../drivers/ssh/transport.js';
import { execLine } from '../../drivers/cli/ssh-exec.js';
import type { CliExec } from '../../drivers/platforms/cli-apply.js';
import type { DeviceInventory, QosPolicy } from '../../drivers/policy/index.js';
import { provisionSegment, unprovisionSegment, type ManagedDevice } from '../../daemon/provisioning/segment.js';
import { labDown, labTraffic, labUp, type LabOptions, type LabUpResult } from '../../lab/runner.js';

const FILE = resolve(import.meta.dirname, '../../containerlab/two-domain.clab.yml');
const isRoot = process.getuid?.() === 0;
const stateRoot = mkdtempSync(join(tmpdir(), 'qb-e2e-tc-'));
// the lab picks a management subnet no other lab (another worker's included) uses
const opts: LabOptions = { name: `qbe-tc-${process.pid}`, mgmtSubnet: 'free', stateRoot };

describe.skipIf(!isRoot)('e2e linux_tc in the two-domain lab (needs root: network namespaces)', () => {
  let up: LabUpResult;
  let ssh: SshTransport;
  let exec: CliExec;
  let access: LabUpResult['routers'][number];
  beforeAll(async () => {
    up = await labUp(FILE, opts);
    const r = up.routers.find((x) => x.node === 'a-border')!;
    access = r;
    ssh = await SshTransport.connect({ host: r.host, port: r.port, username: r.username, privateKeyFile: r.privateKeyFile, knownHostsFile: up.knownHostsFile });
    exec = (line) => execLine(ssh, line);
  }, 60_000);
  afterAll(async () => {
    await ssh?.close();
    await labDown(FILE, opts).catch(() => undefined);
    rmSync(stateRoot, { recursive: true, force: true });
  }, 60_000);

  test('e2e - 10 Mbit/s for host-a -> host-b measured within 10 %, best effort still flows, remove restores the full rate', async () => {
    const tcState = async () => (await exec('tc qdisc show dev eth2; tc class show dev eth2; tc filter show dev eth2')).output;
    const before = await tcState();
    const device: DeviceInventory = { name: 'a-border', platform: 'linux_tc', interfaces: [{ name: 'eth1', speedMbps: 10000 }, { name: 'eth2', speedMbps: 10000 }] };
    const policy: QosPolicy =
      {
        serviceId: 'svc-e2e-10m',
        owner: { provider: 'domain-a', customer: 'acme' },
        device: 'a-border',
        classifier: { egressInterface: 'eth2', sourcePrefixes: ['198.18.10.2/32'], destinationPrefixes: ['198.18.20.2/32'] },
        trafficClass: 'EF',
        rates: { committedKbps: 10_000 },
        action: 'shape',
        validity: { start: '2026-01-01T00:00:00Z', end: '2027-01-01T00:00:00Z' },
      };
    const router: ManagedDevice = {
      inventory: device,
      border: 'a-border',
      connection: { host: access.host, port: access.port, username: access.username, privateKeyFile: access.privateKeyFile, knownHostsFile: up.knownHostsFile },
    };
    const done = await provisionSegment([policy], [router]);
    try {
      const shaped = await labTraffic(FILE, { from: 'host-a', to: 'host-b', seconds: 3 }, opts);
      // the policy's rate is at the layer the shaper counts: the flow's Ethernet frames
      const err = (shaped.frameBitsPerSecond - 10e6) / 10e6;
      console.log(`linux_tc e2e: 10 Mbit/s policy, measured ${(shaped.frameBitsPerSecond / 1e6).toFixed(2)} Mbit/s as Ethernet frames (${(err * 100).toFixed(1)} %), iperf3 goodput ${(shaped.receivedBitsPerSecond / 1e6).toFixed(2)} Mbit/s`);
      expect(Math.abs(err)).toBeLessThan(0.1);
      // other destinations through the same egress are not in the class
      const other = await labTraffic(FILE, { from: 'host-a', to: 'b-edge', seconds: 1 }, opts);
      expect(other.receivedBitsPerSecond).toBeGreaterThan(30e6);
    } finally {
      await unprovisionSegment(done);
    }
    expect(await tcState()).toBe(before);
    const full = await labTraffic(FILE, { from: 'host-a', to: 'host-b', seconds: 1 }, opts);
    expect(full.receivedBitsPerSecond).toBeGreaterThan(30e6);
  }, 60_000);
});
