/**
 * linux_tc data plane: a 10 Mbit/s shaped policy rendered by linux_tc and
 * applied with applyCli between two network namespaces (lab addresses
 * 198.18.0.0/15); iperf3 measures the policed flow within 10 % of the
 * rate, best-effort traffic to another address still flows well above it,
 * and remove restores the full rate.
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
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
  let server: ChildProcess | undefined;
  beforeAll(async () => {
    execFileSync('ip', ['netns', 'add', A]);
    execFileSync('ip', ['netns', 'add', B]);
    execFileSync('ip', ['-n', A, 'link', 'add', 'eth1', 'type', 'veth', 'peer', 'name', 'eth1', 'netns', B]);
    execFileSync('ip', ['-n', A, 'addr', 'add', '198.18.10.1/24', 'dev', 'eth1']);
    execFileSync('ip', ['-n', B, 'addr', 'add', '198.18.10.2/24', 'dev', 'eth1']);
    execFileSync('ip', ['-n', B, 'addr', 'add', '198.18.10.3/24', 'dev', 'eth1']);
    for (const ns of [A, B]) {
      execFileSync('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
      execFileSync('ip', ['-n', ns, 'link', 'set', 'eth1', 'up']);
    }
    server = spawn('ip', ['netns', 'exec', B, 'iperf3', '-s', '-B', '0.0.0.0'], { stdio: 'ignore' });
    for (let i = 0; i < 50; i++) {
      if (spawnSync('ip', ['netns', 'exec', A, 'bash', '-c', 'exec 3<>/dev/tcp/198.18.10.2/5201'], { stdio: 'ignore' }).status === 0) break;
      await new Promise((r) => setTimeout(r, 100));
    }
  });
  afterAll(async () => {
    if (server && server.exitCode === null) {
      await new Promise<void>((res) => {
        server!.once('exit', () => res());
        server!.kill('SIGTERM');
      });
    }
    spawnSync('ip', ['netns', 'del', A]);
    spawnSync('ip', ['netns', 'del', B]);
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
