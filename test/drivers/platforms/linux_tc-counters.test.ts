/**
 * linux_tc counters: the HTB class's statistics read back as bytes,
 * packets and drops. Parsing is checked on both forms tc prints (the text
 * of iproute2 6.1, which ignores -j for `class show`, and JSON); in a
 * namespace lab (root), an iperf3 TCP flow through a 10 Mbit/s shaped class
 * gives a rate from two counter samples within 10 % of the shaper's rate
 * and of iperf3's own figure taken to the same layer, while a best-effort
 * flow to another address does not move the class's counters.
 */
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startVethLab, type VethLab } from './veth-lab.js';
import { ProvisioningError } from '../../../drivers/errors.js';
import { applyCli, removeCli, type CliExec } from '../../../drivers/platforms/cli-apply.js';
import { linuxTc, tcId } from '../../../drivers/platforms/linux_tc/index.js';
import type { PolicyCounters } from '../../../drivers/platforms/index.js';
import { admitPolicy, type DeviceInventory, type ResolvedPolicy } from '../../../drivers/policy/index.js';

const ROUTER: DeviceInventory = { name: 'ra', platform: 'linux_tc', interfaces: [{ name: 'eth1', speedMbps: 10000 }] };
const POLICY: ResolvedPolicy = admitPolicy(
  {
    serviceId: 'svc-counters-10m',
    owner: { provider: 'provider-a', customer: 'acme' },
    device: 'ra',
    classifier: { destinationPrefixes: ['198.18.12.2/32'], egressInterface: 'eth1' },
    trafficClass: 'AF41',
    rates: { committedKbps: 10_000 },
    action: 'shape',
    queuePriority: 2,
    validity: { start: '2026-11-24T14:00:00Z', end: '2026-11-24T16:00:00Z' },
  },
  ROUTER,
);
const HANDLE = `1:${tcId(`qb-${POLICY.serviceId}`).toString(16)}`;

describe('linux_tc counters - parse', () => {
  test('linux_tc counters - reads bytes, packets and drops from the text iproute2 6.1 prints', () => {
    const out = `class htb ${HANDLE} root prio 2 rate 10Mbit ceil 10Mbit burst 15Kb cburst 15Kb \n Sent 123456789 bytes 81543 pkt (dropped 17, overlimits 9000 requeues 0) \n backlog 0b 0p requeues 0\n lended: 1 borrowed: 0 giants: 0\n tokens: 1 ctokens: 1\n`;
    expect(linuxTc.counters!.parse(POLICY, out)).toEqual({ bytes: 123456789, packets: 81543, drops: 17 });
  });

  test('linux_tc counters - reads the JSON form, stats at the top level or under stats', () => {
    const top = JSON.stringify([{ class: 'htb', handle: HANDLE, bytes: 5000, packets: 4, drops: 1, overlimits: 0 }]);
    const nested = JSON.stringify([{ class: 'htb', handle: '1:1', stats: { bytes: 1, packets: 1, drops: 0 } }, { class: 'htb', handle: HANDLE, stats: { bytes: 7000, packets: 5, drops: 0 } }]);
    expect(linuxTc.counters!.parse(POLICY, top)).toEqual({ bytes: 5000, packets: 4, drops: 1 });
    expect(linuxTc.counters!.parse(POLICY, nested)).toEqual({ bytes: 7000, packets: 5, drops: 0 });
  });

  test('linux_tc counters - a class that is not there gives no counters, not zero', () => {
    expect(linuxTc.counters!.parse(POLICY, '')).toBeUndefined();
    expect(linuxTc.counters!.parse(POLICY, '[]')).toBeUndefined();
    expect(linuxTc.counters!.parse(POLICY, 'class htb 1:1 root prio 0 rate 1Mbit ceil 1Mbit\n Sent 5 bytes 1 pkt (dropped 0, overlimits 0 requeues 0)\n')).toBeUndefined();
  });

  test('linux_tc counters - output without statistics is a typed error naming the class', () => {
    const err = (() => {
      try {
        linuxTc.counters!.parse(POLICY, `class htb ${HANDLE} root prio 2 rate 10Mbit ceil 10Mbit burst 15Kb cburst 15Kb\n`);
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(ProvisioningError);
    expect((err as ProvisioningError).code).toBe('QB_PROVISION_COUNTERS_UNREADABLE');
    expect((err as Error).message).toContain(HANDLE);
    expect(() => linuxTc.counters!.parse(POLICY, JSON.stringify([{ handle: HANDLE, bytes: -1, packets: 0, drops: 0 }]))).toThrow(/no bytes counter/);
  });

  test('linux_tc counters - the line reads the one class of the policy on its egress interface, with statistics', () => {
    expect(linuxTc.counters!.lines(POLICY)).toEqual([`tc -s -j class show dev eth1 classid ${HANDLE}`]);
  });
});

const root = process.getuid?.() === 0;
const A = `qb-cta-${process.pid}`;
const B = `qb-ctb-${process.pid}`;

const exec: CliExec = async (line) => {
  const r = spawnSync('ip', ['netns', 'exec', A, 'sh', '-c', line], { encoding: 'utf8' });
  return { ok: r.status === 0, output: `${r.stdout}${r.stderr}` };
};

async function read(): Promise<{ at: number; c: PolicyCounters }> {
  const [line] = linuxTc.counters!.lines(POLICY);
  const r = await exec(line!);
  expect(r.ok, r.output).toBe(true);
  const c = linuxTc.counters!.parse(POLICY, r.output);
  expect(c).toBeDefined();
  return { at: performance.now(), c: c! };
}

/**
 * An iperf3 TCP run of `seconds` from A to `to`, reporting every second; `onInterval(n)` is
 * called as each interval report arrives. Resolves to iperf3's received goodput, bit/s.
 */
async function iperfRun(to: string, seconds: number, onInterval: (n: number) => Promise<void> = async () => {}): Promise<number> {
  const p = spawn('ip', ['netns', 'exec', A, 'iperf3', '-c', to, '-t', String(seconds), '-i', '1', '-f', 'k', '--forceflush', '--connect-timeout', '3000'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let n = 0;
  let receiver = NaN;
  let pending: Promise<void> = Promise.resolve();
  const lines = createInterface({ input: p.stdout! });
  lines.on('line', (l) => {
    const m = /\s([\d.]+) Kbits\/sec.*receiver$/.exec(l);
    if (m) receiver = Number(m[1]) * 1000;
    else if (/^\[\s*\d+\]\s+[\d.]+-[\d.]+\s+sec\s.*Kbits\/sec/.test(l)) {
      n++;
      const k = n;
      pending = pending.then(() => onInterval(k));
    }
  });
  let stderr = '';
  p.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const [code] = (await once(p, 'exit')) as [number | null];
  await pending;
  if (code !== 0 || !Number.isFinite(receiver)) throw new Error(`iperf3 to ${to} failed (${code}): ${stderr}`);
  return receiver;
}

describe.skipIf(!root)('linux_tc counters in a namespace lab (needs root)', () => {
  let lab: VethLab | undefined;
  beforeAll(async () => {
    lab = await startVethLab(A, B, '198.18.12');
  });
  afterAll(async () => {
    await lab?.stop();
  });

  test('linux_tc counters - the rate from two samples is the shaper\'s within 10 %, best effort does not count', async () => {
    const payload = linuxTc.render(POLICY);
    await applyCli(exec, payload, A);
    try {
      const fresh = await read();
      expect(fresh.c).toEqual({ bytes: 0, packets: 0, drops: 0 });
      // samples after the first and the fifth interval report: the flow is past slow start and still running
      const samples: Array<{ at: number; c: PolicyCounters }> = [];
      const goodput = await iperfRun('198.18.12.2', 6, async (n) => {
        if (n === 1 || n === 5) samples.push(await read());
      });
      expect(samples).toHaveLength(2);
      const [s1, s2] = samples as [{ at: number; c: PolicyCounters }, { at: number; c: PolicyCounters }];
      const bps = ((s2.c.bytes - s1.c.bytes) * 8) / ((s2.at - s1.at) / 1000);
      expect(bps / 10e6).toBeGreaterThan(0.9);
      expect(bps / 10e6).toBeLessThan(1.1);
      expect(s2.c.packets).toBeGreaterThan(s1.c.packets);
      // iperf3 counts TCP payload; the class counts whole frames: per full segment 1448 bytes of 1514 (Ethernet, IP, TCP with timestamps)
      const goodputAtLayer2 = (goodput * 1514) / 1448;
      expect(bps / goodputAtLayer2).toBeGreaterThan(0.9);
      expect(bps / goodputAtLayer2).toBeLessThan(1.1);

      const before = await read();
      const bestEffort = await iperfRun('198.18.12.3', 2);
      const after = await read();
      expect(bestEffort).toBeGreaterThan(30e6);
      // the class saw none of the other flow's 30+ Mbit/s: at most its own flow's stray tail
      expect(after.c.bytes - before.c.bytes).toBeLessThan(bestEffort / 8 / 100);
    } finally {
      await removeCli(exec, payload, A);
    }
    const r = await exec(linuxTc.counters!.lines(POLICY)[0]!);
    expect(linuxTc.counters!.parse(POLICY, r.output)).toBeUndefined();
  });
});
