/**
 * bench/platforms:
 *   1. renders per second per platform (pure, no I/O), over a set of
 *      policies covering police/shape, remark, v4/v6, VLAN, ingress,
 *      partitions; reference in the same run: JSON.stringify of the same
 *      policies (the cheapest "serialize a policy" there is);
 *   2. apply + verify + remove cycles per second against a lab netconfd
 *      (drivers/platforms/netconf-apply.ts with the lab_device platform:
 *      lock, discard, edit, commit confirmed, read back, confirm, unlock,
 *      then the same for remove), reference in the same run: the same cycle,
 *      RPC for RPC, done by python3-ncclient (reference.py), in interleaved
 *      rounds. Target: >= 20x ncclient.
 * Last line: one JSON object.
 */
import { spawnSync } from 'node:child_process';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { NetconfClient } from '../../drivers/netconf/client.js';
import { PLATFORMS } from '../../drivers/platforms/index.js';
import { labDevice } from '../../drivers/platforms/lab_device/index.js';
import { applyPolicy, removePolicy } from '../../drivers/platforms/netconf-apply.js';
import { admitPolicy, TRAFFIC_CLASSES, type DeviceInventory, type QosPolicy, type ResolvedPolicy } from '../../drivers/policy/index.js';
import { startNetconfDevice } from '../../lab/netconf-device.js';

const HERE = resolve(fileURLToPath(import.meta.url), '..');
const SRC = HERE.replace(/\/dist\/bench\//, '/bench/');
const ROUNDS = Number(process.env.QB_BENCH_ROUNDS ?? 3);
const OURS_CYCLES = Number(process.env.QB_BENCH_CYCLES ?? 100);
const NCC_CYCLES = Number(process.env.QB_BENCH_NCCLIENT_CYCLES ?? 3);
const NS = 'urn:qos-broker:yang:lab-device';

const DEVICE: DeviceInventory = {
  name: 'r1',
  platform: 'any',
  interfaces: [{ name: 'eth1', speedMbps: 10000 }, { name: 'eth2', speedMbps: 10000 }, { name: 'eth3', speedMbps: 10000 }],
  partitions: [{ device: 'r1', name: 'p-a', provider: 'provider-a', interfaces: ['eth1', 'eth2', 'eth3'], rateBudgetKbps: 10_000_000, networkInstance: 'ni-a' }],
};
const window = { start: '2026-11-24T14:00:00Z', end: '2026-11-24T16:00:00Z' };

function renderSet(): ResolvedPolicy[] {
  return TRAFFIC_CLASSES.map((tc, i) => {
    const v6 = i % 4 === 1;
    const p: QosPolicy = {
      serviceId: `svc-${i}`,
      owner: { provider: 'provider-a', customer: 'c' },
      device: 'r1',
      partition: 'p-a',
      classifier: {
        sourcePrefixes: v6 ? ['2001:db8:1::/48'] : ['198.18.1.0/24', '198.18.2.0/24'],
        destinationPrefixes: v6 ? ['2001:db8:2::/48'] : ['198.19.0.0/16'],
        ...(i % 3 === 0 ? { dscp: [10, 12] } : {}),
        ...(i % 5 === 0 ? { vlan: 100 + i } : {}),
        ...(i % 2 === 0 ? { ingressInterface: 'eth3' } : {}),
        egressInterface: 'eth1',
      },
      trafficClass: tc,
      remark: i % 2 === 1,
      rates: { committedKbps: 1000 * (i + 1), peakKbps: 1500 * (i + 1) },
      action: i % 2 ? 'police' : 'shape',
      queuePriority: i % 8,
      validity: window,
    };
    return admitPolicy(p, DEVICE);
  });
}

function rate(fn: () => void, minMs = 300): number {
  let n = 0;
  const t0 = performance.now();
  let t = t0;
  while (t - t0 < minMs) {
    for (let i = 0; i < 200; i++) fn();
    n += 200;
    t = performance.now();
  }
  return (n * 1000) / (t - t0);
}

const r1 = (x: number) => Math.round(x * 10) / 10;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function main(): Promise<void> {
  // 1. render
  const set = renderSet();
  let k = 0;
  const refRate = rate(() => JSON.stringify(set[k++ % set.length]));
  const renders: Record<string, number> = {};
  const renderRatios: Record<string, number> = {};
  for (const p of PLATFORMS.filter((x) => x.id !== 'lab_device')) {
    let j = 0;
    renders[p.id] = Math.round(rate(() => p.render(set[j++ % set.length]!)));
    renderRatios[p.id] = Math.round((renders[p.id]! / refRate) * 1000) / 1000;
    console.log(`render ${p.id}: ${renders[p.id]} policies/s (${renderRatios[p.id]}x JSON.stringify at ${Math.round(refRate)}/s)`);
  }

  // 2. apply + verify + remove cycles
  const dev = await startNetconfDevice();
  try {
    const c = await NetconfClient.connect({ host: dev.host, port: dev.port, username: dev.username, privateKeyFile: dev.privateKeyFile, knownHostsFile: dev.knownHostsFile, helloSettleMs: 20, device: 'bench' });
    await c.editConfig({ config: `<device xmlns="${NS}"><hostname>r1</hostname><interfaces><interface><name>eth1</name></interface></interfaces></device>` });
    await c.commit();
    const lab: DeviceInventory = { name: 'r1', platform: 'lab_device', interfaces: [{ name: 'eth1' }] };
    const labPolicy = (i: number) =>
      admitPolicy(
        {
          serviceId: `ours-${i}`,
          owner: { provider: 'provider-a', customer: 'c' },
          device: 'r1',
          classifier: { sourcePrefixes: ['198.18.1.0/24'], destinationPrefixes: ['198.18.2.0/24'], egressInterface: 'eth1' },
          trafficClass: 'EF',
          rates: { committedKbps: 10_000, peakKbps: 20_000 },
          action: 'shape',
          queuePriority: 1,
          validity: window,
        },
        lab,
      );
    const ours: number[] = [];
    const ncc: number[] = [];
    const ratios: number[] = [];
    let i = 0;
    for (let round = 0; round < ROUNDS; round++) {
      const t0 = performance.now();
      for (let n = 0; n < OURS_CYCLES; n++) {
        const p = labPolicy(i++);
        await applyPolicy(c, labDevice, p);
        await removePolicy(c, labDevice, p);
      }
      const o = (OURS_CYCLES * 1000) / (performance.now() - t0);
      const r = spawnSync('/usr/bin/python3', [join(SRC, 'reference.py'), dev.host, String(dev.port), dev.username, dev.privateKeyFile, String(NCC_CYCLES)], { encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`ncclient reference failed: ${r.stderr.slice(-1500)}`);
      const n = JSON.parse(r.stdout.trim().split('\n').pop()!).cycles_per_s as number;
      ours.push(o);
      ncc.push(n);
      ratios.push(o / n);
      console.log(`round ${round + 1}: ours ${r1(o)} cycles/s, ncclient ${r1(n)} cycles/s, ratio ${r1(o / n)}x`);
    }
    await c.close();
    const out = {
      bench: 'platforms',
      renders_per_s: renders,
      render_ratio_vs_json_stringify: renderRatios,
      cycles_per_s: r1(median(ours)),
      ncclient_cycles_per_s: Math.round(median(ncc) * 100) / 100,
      ratio_vs_ncclient: r1(median(ratios)),
      target_ratio: 20,
    };
    console.log(JSON.stringify(out));
  } finally {
    await dev.stop();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
