/**
 * The lifecycle benchmark runs as `npm run bench -- lifecycle` does (the
 * compiled bench, as a child process), on a small scale: three daemons, six
 * lab routers, a few orders, a restart. Its harness must keep working, the
 * figures it prints must be figures, and it must leave nothing behind.
 * Nothing here judges speed (the machine is shared and noisy).
 *
 * The closed loop runs with two orders in flight: a domain's transactions
 * take turns per device, so orders that share routers must all succeed.
 */
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { describe, expect, test } from 'vitest';
import { benchDirs as dirsWith, benchEnv, benchProcesses as processesWith, leftBehind, runBench as run } from './run-bench.js';

const MAIN = resolve(__dirname, '../../dist/bench/lifecycle/main.js');
const PREFIX = 'qb-bench-lifecycle-';
const runBench = (args: string[]) => run(MAIN, args);
const benchDirs = () => dirsWith(PREFIX);
const benchProcesses = () => processesWith(PREFIX);

describe('bench lifecycle', () => {
  test('bench - orders to active against the floor, a closed loop, a restart reconciled: figures, no failed order, nothing left behind', async () => {
    const before = new Set(benchDirs());
    const running = new Set(benchProcesses());
    const { code, out, last } = await runBench(['--warmup', '1', '--orders', '3', '--inflight', '2', '--concurrent-orders', '4', '--services', '4', '--check-sync-sample', '2']);
    expect(code, out.slice(-3000)).toBe(0);
    // every order of every part became active
    expect(last).toMatchObject({ bench: 'lifecycle', orders: 3, failed: 0, concurrent_failed: 0, services_failed: 0, failures: {} });
    for (const k of ['p50_ms', 'p99_ms', 'floor_ms', 'floor_p99_ms', 'floor_parallel_ms', 'plan_agree_ms', 'plan_provision_ms', 'ratio_p50_vs_floor', 'ratio_p50_vs_floor_parallel', 'ratio_floor_parallel_vs_floor', 'cpus', 'orders_per_s', 'restart_started_ms', 'reconcile_ms', 'check_sync_ms_per_service']) {
      expect(Number.isFinite(last[k]) && last[k] > 0, `${k} = ${last[k]}`).toBe(true);
    }
    for (const k of ['floor_new_session_ms', 'ratio_p50_vs_floor_new_session']) expect(Number.isFinite(last[k]) && last[k] > 0, `${k} = ${last[k]}`).toBe(true);
    // where the time went, from the orders' plans: each part a number, the agreement and the provisioning taking some
    expect(Object.keys(last.split_ms).sort()).toEqual(['agree', 'agree_to_provision', 'before_agree', 'provision_slowest', 'provision_to_completed', 'reply']);
    for (const v of Object.values(last.split_ms)) expect(Number.isFinite(v)).toBe(true);
    expect(last.split_ms.agree).toBeGreaterThan(0);
    expect(last.split_ms.provision_slowest).toBeGreaterThan(0);
    expect(Object.keys(last.split_provision_by_domain_ms).sort()).toEqual(['dom-a', 'dom-b', 'dom-c']);
    expect(last.p99_ms).toBeGreaterThanOrEqual(last.p50_ms);
    expect(Object.keys(last.floor_by_domain_ms).sort()).toEqual(['dom-a', 'dom-b', 'dom-c']);
    expect(typeof last.met).toBe('boolean');
    // the restart read every order dom-a ever took (warm-up, timed, closed loop, setup) and found none unfinished
    expect(last.services_active).toBe(4);
    expect(last.reconciled_orders).toBe(1 + 3 + 4);
    expect(last.reconciled_resumed).toBe(0);
    expect(last.reconcile_ms).toBeGreaterThanOrEqual(last.restart_started_ms);
    // and read every device that carries them back once: dom-a's two routers, nothing drifted
    expect(last).toMatchObject({ reconciled_segments: 4, reconciled_devices: 2, reconciled_redeployed: 0 });
    expect(last.reconcile_devices_ms).toBeGreaterThanOrEqual(last.restart_started_ms);
    expect(last.check_sync_in_sync).toBe(last.check_sync_sample);
    // its temp dir (configs, routers, redis data) is gone, and so are its daemons, redis-servers and routers
    expect(benchDirs().filter((d) => !before.has(d))).toEqual([]);
    expect(await leftBehind(PREFIX, running)).toEqual([]);
  }, 300_000);

  test('bench - SIGTERM while its daemons and routers run: it exits, and its processes and temp dir are gone', async () => {
    const before = new Set(benchDirs());
    const running = new Set(benchProcesses());
    const p = spawn(process.execPath, [MAIN, '--warmup', '0', '--orders', '50'], { stdio: 'ignore', env: benchEnv });
    const exited = new Promise<number | null>((r) => p.once('exit', (code) => r(code)));
    const mine = () => benchProcesses().filter((x) => !running.has(x));
    // the daemons are up (and the routers before them): a qos-brokerd on a config in the bench's dir
    for (let i = 0; i < 600 && !mine().some((x) => x.includes('brokerd.js')); i++) await new Promise((r) => setTimeout(r, 100));
    expect(mine().some((x) => x.includes('brokerd.js'))).toBe(true);
    p.kill('SIGTERM');
    expect(await exited).toBe(143);
    expect(benchDirs().filter((d) => !before.has(d))).toEqual([]);
    expect(await leftBehind(PREFIX, running)).toEqual([]);
  }, 120_000);
});
