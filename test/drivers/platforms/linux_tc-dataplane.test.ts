/**
 * linux_tc data plane: a 10 Mbit/s shaped policy rendered by linux_tc and
 * applied with applyCli between two network namespaces (lab addresses
 * 198.18.0.0/15); iperf3 measures the policed flow within 10 % of the
 * rate, best-effort traffic to another address still flows well above it,
 * and remove restores the full rate.
 */
import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startVethLab, type VethLab } from './veth-lab.js';
import { applyCli, removeCli, type CliExec } from '../../../drivers/platforms/cli-apply.js';
import { linuxTc } from '../../../drivers/platforms/linux_tc/index.js';
import { admitPolicy, type DeviceInventory } from '../../../drivers/policy/index.js';

const root = process.getuid?.() === 0;
const A = `qb-dpa-${process.pid}`;
const B = `qb-dpb-${process.pid}`;
const ROUTER: DeviceInventory = { name: 'ra', platform: 'linux_tc', interfaces: [{ name: 'eth1', speedMbps: 10000 }] };

const exec: CliExec = async (line) => {
  const r = spawnSync('ip', ['netns', 'exec', A, 'sh', '-c', line], { encoding: 'utf8' });
  return { ok: r.status === 0, output: `${r.stdout}${r.stderr}` };
};

/** Received Mbit/s of a 2 s iperf3 TCP run from A to `to`. */
function iperf(to: string): number {
  const r = spawnSync('ip', ['netns', 'exec', A, 'iperf3', '-c', to, '-t', '2', '-J', '--connect-timeout', '3000'], { encoding: 'utf8', timeout: 20_000 });
  if (r.status !== 0) throw new Error(`iperf3 to ${to} failed: ${r.stdout.slice(-500)}${r.stderr}`);
  return JSON.parse(r.stdout).end.sum_received.bits_per_second / 1e6;
}

describe.skipIf(!root)('linux_tc data plane (needs root for network namespaces)', () => {
  let lab: VethLab | undefined;
  beforeAll(async () => {
    lab = await startVethLab(A, B, '198.18.10');
  });
  afterAll(async () => {
    await lab?.stop();
  });

  test('linux_tc data plane - a 10 Mbit/s policy holds within 10 %, best effort still flows, remove restores full rate', async () => {
    const policy = admitPolicy(
      {
        serviceId: 'svc-dp-10m',
        owner: { provider: 'provider-a', customer: 'acme' },
        device: 'ra',
        classifier: { destinationPrefixes: ['198.18.10.2/32'], egressInterface: 'eth1' },
        trafficClass: 'AF41',
        rates: { committedKbps: 10_000 },
        action: 'shape',
        queuePriority: 2,
        validity: { start: '2026-11-24T14:00:00Z', end: '2026-11-24T16:00:00Z' },
      },
      ROUTER,
    );
    const payload = linuxTc.render(policy);
    const full = iperf('198.18.10.2');
    expect(full).toBeGreaterThan(30);
    await applyCli(exec, payload, A);
    try {
      const shaped = iperf('198.18.10.2');
      expect(shaped).toBeGreaterThan(9);
      expect(shaped).toBeLessThan(11);
      const bestEffort = iperf('198.18.10.3');
      expect(bestEffort).toBeGreaterThan(30);
    } finally {
      await removeCli(exec, payload, A);
    }
    expect(iperf('198.18.10.2')).toBeGreaterThan(30);
  });
});
