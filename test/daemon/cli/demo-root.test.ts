/**
 * `qos-broker demo` as root: the lab containerlab/four-provider.clab.yml as
 * network namespaces, four real qos-brokerd driving its linux_tc routers over
 * SSH, iperf3 between the customer hosts. The rates it measures are the
 * contracted ones within 10 %, and nothing of the run is left afterwards (no
 * namespace, process or temp dir), also after a Ctrl-C.
 */
import { execSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { DEMO_LAB_FILE, demoCommand, labUnavailable } from '../../../daemon/cli/demo.js';
import { labDown, labLeftovers } from '../../../lab/runner.js';
import { loadLabPlan } from '../../../lab/topology.js';

const ROOT = resolve(import.meta.dirname, '../../..');
const isRoot = process.getuid?.() === 0;
// the demo's TMPDIR (os.tmpdir() reads it): its temp dir and processes are told apart from another run's
const demoTmp = mkdtempSync(join(tmpdir(), 'qb-dr-'));
afterAll(async () => {
  if (isRoot) await labDown(DEMO_LAB_FILE).catch(() => undefined);
  rmSync(demoTmp, { recursive: true, force: true });
});
const dirs = () => readdirSync(demoTmp).filter((f) => f.startsWith('qb-demo-'));
const procs = () => {
  try {
    return execSync(`pgrep -f '${demoTmp.replace(/^\//, '[/]')}/qb-demo-'`, { encoding: 'utf8' }).trim().split('\n').filter(Boolean);
  } catch {
    return [];
  }
};
/** Nothing of the demo's lab or its daemons exists. */
async function expectNothingLeft(): Promise<void> {
  const left = await labLeftovers(loadLabPlan(DEMO_LAB_FILE));
  expect(left).toEqual({ netns: [], rootLinks: [], pids: [], stateDir: false });
  expect(execSync('ip netns list', { encoding: 'utf8' })).not.toContain('qbl-qb-four-provider-');
  expect(dirs()).toEqual([]);
  expect(procs()).toEqual([]);
}

describe.skipIf(!isRoot)('demo as root (needs root: network namespaces, tc, iperf3)', () => {
  test('demo root - network namespaces work here, so the demo picks the lab', async () => {
    expect(await labUnavailable()).toBeUndefined();
  });

  test('demo root - the lab runs the four providers, iperf3 measures the contracted rate within 10 % with the service active, during the boost and after its revert; nothing is left', async () => {
    const lines: string[] = [];
    const saved = process.env.TMPDIR;
    process.env.TMPDIR = demoTmp;
    const t0 = performance.now();
    try {
      await demoCommand([], (s) => lines.push(s));
    } finally {
      if (saved === undefined) delete process.env.TMPDIR;
      else process.env.TMPDIR = saved;
    }
    const text = lines.join('\n');
    console.log(`demo as root: ${((performance.now() - t0) / 1000).toFixed(1)} s\n${lines.filter((l) => l.includes('traffic') || l.includes('(') && l.endsWith(' s)')).join('\n')}`);
    expect(text).toContain('driving its linux_tc routers of the lab containerlab/four-provider.clab.yml');
    expect(text).toMatch(/lab qb-four-provider: up in [\d.]+ s \(10 nodes, 10 links, 8 routers/);
    expect(text).toMatch(/\[cheapest\] order ord-\S+: completed, service active; path provider-x > provider-y > provider-z/);
    expect(text).toMatch(/\[lowest-latency\] order ord-\S+: completed, service active; path provider-x > provider-w > provider-z/);
    // every domain of both paths shaped on two linux_tc routers, the htb classes read back at the contracted rate
    expect(text.match(/provider-\w \((internal|external)\): completed in [\d.]+ s; routers now hold provider-\w-\w\d eth\d 10000 kbit\/s, provider-\w-\w\d eth\d 10000 kbit\/s \(tc over SSH/g)).toHaveLength(6);
    const measured = (when: string) => {
      const m = new RegExp(`traffic ${when}: iperf3 host-x -> host-z \\(DSCP 46, 3 s\\) measured ([\\d.]+) Mbit/s`).exec(text);
      expect(m, `a measurement ${when}`).not.toBeNull();
      return Number(m![1]);
    };
    const near = (mbps: number, contracted: number) => expect(Math.abs(mbps - contracted) / contracted).toBeLessThan(0.1);
    near(measured('with the service active'), 10);
    near(measured('during the boost'), 20);
    near(measured('after the revert'), 10);
    // unshaped, the hosts' link carries far more than any of the contracted rates
    expect(measured('before any order')).toBeGreaterThan(100);
    // the policies classify the sites' prefixes: other traffic over the same routers is not the service's
    expect(text).toMatch(/contract agr-\S+ \(a JWS, RFC 7515 JSON serialization\): signed by provider-x, provider-y, provider-z; verified offline against the providers' keys; carries 198\.18\.40\.0\/24 -> 198\.18\.50\.0\/24/);
    const other = /traffic outside the service \(to provider-z-z2, not in site-z 198\.18\.50\.0\/24, the same way\): iperf3 host-x -> provider-z-z2 \(198\.18\.44\.2\) \(DSCP 46, 3 s\) measured ([\d.]+) Mbit\/s/.exec(text);
    expect(other, 'a measurement outside the service').not.toBeNull();
    expect(Number(other![1])).toBeGreaterThan(100);
    expect(measured('after terminate')).toBeGreaterThan(100);
    expect(text).toContain('routers of provider-x, provider-y, provider-z now at 20000 kbit/s');
    expect(text).toContain('after the window the daemon reverted it on its own: 10 Mbit/s, routers at 10000 kbit/s');
    expect(text.match(/terminate ord-\S+: service terminated/g)).toHaveLength(2);
    expect(text).toContain("every router's tc state (qdiscs, classes, filters of every data interface) is as before the orders; no booking left in any provider's Redis");
    for (const p of ['lab up', 'daemons up and peered', 'orders agreed and provisioned', 'boost and revert', 'terminate', 'stopped everything the demo started']) expect(text).toMatch(new RegExp(`\\(${p}: [\\d.]+ s\\)`));
    await expectNothingLeft();
  }, 300_000);

  test('demo root - Ctrl-C once the daemons run stops them and takes the lab down', async () => {
    // its own process group, as a terminal runs it: Ctrl-C sends SIGINT to the demo and every process of the group
    const child = spawn(process.execPath, [join(ROOT, 'dist', 'daemon', 'cli', 'main.js'), 'demo'], { env: { ...process.env, TMPDIR: demoTmp }, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let output = '';
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    try {
      await new Promise<void>((res, rej) => {
        child.stdout.on('data', (d: Buffer) => {
          output += d.toString();
          if (output.includes('\ndaemons: ')) res();
        });
        child.stderr.on('data', (d: Buffer) => (output += d.toString()));
        void exited.then(() => rej(new Error(`the demo exited before its daemons ran:\n${output}`)));
      });
      expect(existsSync('/run/qos-broker-lab/qb-four-provider')).toBe(true);
      process.kill(-child.pid!, 'SIGINT');
      expect(await exited).toBe(130);
    } finally {
      if (child.exitCode === null) process.kill(-child.pid!, 'SIGKILL');
    }
    expect(output).toContain('SIGINT: stopping everything the demo started');
    await expectNothingLeft();
  }, 180_000);
});
