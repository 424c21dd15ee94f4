/**
 * The e2e benchmark runs as `npm run bench -- e2e` does (the compiled bench,
 * as a child process), on a small scale: the three-domain lab as namespaces,
 * three daemons on its linux_tc routers, a few orders, the three contracted
 * rates measured briefly. Its harness must keep working, its figures must be
 * figures, and it must leave nothing behind (lab, daemons, temp dir), also
 * when it is stopped by a signal. Speed is not judged here (the machine is
 * shared); the rate ratios are, since they depend on accounting, not on load.
 */
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { describe, expect, test } from 'vitest';
import { listNetns } from '../../lab/runner.js';
import { benchDirs as dirsWith, benchEnv, benchProcesses as processesWith, leftBehind, runBench as run } from './run-bench.js';

const MAIN = resolve(__dirname, '../../dist/bench/e2e/main.js');
const PREFIX = 'qb-bench-e2e-';
const isRoot = process.getuid?.() === 0;
const labNetns = async () => (await listNetns()).filter((n) => n.startsWith('qbl-qbb-e2e-'));

describe.skipIf(!isRoot)('bench e2e (needs root: network namespaces)', () => {
  test('bench - orders to active on linux_tc against the floor, each contracted rate measured within 0.95-1.05 at the frame layer, nothing left behind', async () => {
    const before = new Set(dirsWith(PREFIX));
    const running = new Set(processesWith(PREFIX));
    const { code, out, last } = await run(MAIN, ['--warmup', '0', '--orders', '2', '--rates', '10,20,50', '--seconds', '2']);
    expect(code, out.slice(-3000)).toBe(0);
    expect(last).toMatchObject({ bench: 'e2e', orders: 2, failed: 0, failures: {} });
    for (const k of ['p50_ms', 'p99_ms', 'floor_ms', 'floor_p99_ms', 'ratio_p50_vs_floor', 'ratio_p99_vs_floor_p99', 'lab_up_ms']) expect(Number.isFinite(last[k]) && last[k] > 0, `${k} = ${last[k]}`).toBe(true);
    expect(Object.keys(last.floor_by_domain_ms).sort()).toEqual(['domain-a', 'domain-b', 'domain-c']);
    expect(last.accuracy.map((a: { contracted_mbps: number }) => a.contracted_mbps)).toEqual([10, 20, 50]);
    for (const a of last.accuracy) {
      expect(a.ratio, `${a.contracted_mbps} Mbit/s`).toBeGreaterThanOrEqual(0.95);
      expect(a.ratio, `${a.contracted_mbps} Mbit/s`).toBeLessThanOrEqual(1.05);
      // iperf3's own figure is payload: below the frame rate by the headers of each segment
      expect(a.goodput_ratio).toBeCloseTo((a.ratio * a.mss) / (a.mss + a.header_bytes), 3);
    }
    expect(last.met).toBe(true);
    expect(dirsWith(PREFIX).filter((d) => !before.has(d))).toEqual([]);
    expect(await leftBehind(PREFIX, running)).toEqual([]);
    expect(await labNetns()).toEqual([]);
  }, 300_000);

  test('bench - SIGTERM while its lab and daemons run: it exits, and its namespaces, processes and temp dir are gone', async () => {
    const before = new Set(dirsWith(PREFIX));
    const running = new Set(processesWith(PREFIX));
    const p = spawn(process.execPath, [MAIN, '--warmup', '0', '--orders', '50'], { stdio: 'ignore', env: benchEnv });
    const exited = new Promise<number | null>((r) => p.once('exit', (code) => r(code)));
    const mine = () => processesWith(PREFIX).filter((x) => !running.has(x));
    for (let i = 0; i < 1200 && !mine().some((x) => x.includes('brokerd.js')); i++) await new Promise((r) => setTimeout(r, 100));
    expect(mine().some((x) => x.includes('brokerd.js'))).toBe(true);
    expect((await labNetns()).length).toBeGreaterThan(0);
    p.kill('SIGTERM');
    expect(await exited).toBe(143);
    expect(dirsWith(PREFIX).filter((d) => !before.has(d))).toEqual([]);
    expect(await leftBehind(PREFIX, running)).toEqual([]);
    expect(await labNetns()).toEqual([]);
  }, 180_000);
});
