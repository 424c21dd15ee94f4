/**
 * The agreement benchmark runs as `npm run bench -- agreement` does (the
 * compiled bench, as a child process), on a small scale: its harness must keep
 * working, and the figures it prints must be figures. Nothing here judges
 * speed (the machine is shared and noisy): the bench itself reports against
 * its reference.
 */
import { resolve } from 'node:path';
import { describe, expect, test } from 'vitest';
import { benchDirs as dirsWith, benchProcesses as processesWith, leftBehind, runBench as run } from './run-bench.js';

const DIST = resolve(__dirname, '../../dist/bench/agreement');
const PREFIX = 'qb-bench-agreements-';
const runBench = (script: string, args: string[]) => run(resolve(DIST, script), args);
const benchDirs = () => dirsWith(PREFIX);
const benchProcesses = () => processesWith(PREFIX);

describe('bench agreement', () => {
  test('bench - the path part on a 100-domain graph prints p50/p99 and the ratio to Dijkstra, every search exact', async () => {
    const { code, last } = await runBench('main.js', ['--paths-only', '--sizes', '100', '--queries', '300']);
    expect(code).toBe(0);
    expect(last.bench).toBe('agreement');
    for (const k of ['d100_p50_ms', 'd100_p99_ms', 'd100_dijkstra_p99_ms', 'ratio_vs_dijkstra_p99']) {
      expect(Number.isFinite(last[k]) && last[k] > 0, `${k} = ${last[k]}`).toBe(true);
    }
    expect(last.d100_p99_ms).toBeGreaterThanOrEqual(last.d100_p50_ms);
    expect(last.d100_inexact).toBe(0);
    expect(typeof last.met.path).toBe('boolean');
  });

  test('bench - agreements across three daemons: every order agreed, CPU counted per daemon, nothing left behind', async () => {
    const before = new Set(benchDirs());
    const running = new Set(benchProcesses());
    const { code, out, last } = await runBench('agreements.js', ['--rounds', '1', '--seconds', '1', '--offered', '100', '--concurrency', '20']);
    expect(code, out.slice(-2000)).toBe(0);
    expect(last.bench).toBe('agreement-agreements');
    expect(last.agreements).toBeGreaterThan(0);
    expect(last.failed).toBe(0);
    expect(last.offered_failed).toBe(0);
    // the open loop ran at the rate asked and reports what it achieved as a figure; how close the
    // achieved rate comes to the offered one is speed, which this test does not judge (see the header)
    expect(last.offered_per_s).toBe(100);
    expect(Number.isFinite(last.offered_achieved_per_s) && last.offered_achieved_per_s > 0).toBe(true);
    expect(last.offered_p99_ms).toBeGreaterThanOrEqual(last.offered_p50_ms);
    expect(last.grpc_unary_per_s).toBeGreaterThan(0);
    expect(Object.keys(last.cpu_ms_per_agreement).sort()).toEqual(['dom-a', 'dom-b', 'dom-c']);
    for (const ms of Object.values(last.cpu_ms_per_agreement) as number[]) expect(ms).toBeGreaterThan(0);
    // its temp dir (configs, PKI, redis data) is gone, and so are its daemons and their redis-servers
    expect(benchDirs().filter((d) => !before.has(d))).toEqual([]);
    expect(await leftBehind(PREFIX, running)).toEqual([]);
  }, 120_000);
});
