/** The `qos-broker lab` command: argument errors, and single-router driven through it end to end. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, test, vi } from 'vitest';
import { labCommand } from '../../daemon/cli/lab.js';
import { labLeftovers } from '../../lab/runner.js';
import { loadLabPlan } from '../../lab/topology.js';

const FILE = resolve(import.meta.dirname, '../../containerlab/single-router.clab.yml');
const isRoot = process.getuid?.() === 0;
const stateRoot = mkdtempSync(join(tmpdir(), 'qb-lab-cli-'));
// the lab picks a management subnet no other lab (another worker's included) uses
const common = ['--name', `qbt-one-${process.pid}`, '--mgmt-subnet', 'free', '--state-root', stateRoot];

let stdout = '';
beforeEach(() => {
  stdout = '';
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    stdout += String(chunk);
    return true;
  });
});
afterEach(() => {
  vi.restoreAllMocks();
});
afterAll(async () => {
  if (isRoot) await labCommand(['down', FILE, ...common]).catch(() => undefined);
  rmSync(stateRoot, { recursive: true, force: true });
});

describe('qos-broker lab', () => {
  test('lab cli - bad arguments are QB_INVALID_ARGUMENT with what to change', async () => {
    const bad = async (argv: string[], msg: RegExp) => {
      await expect(labCommand(argv)).rejects.toMatchObject({ code: 'QB_INVALID_ARGUMENT', message: expect.stringMatching(msg) });
    };
    await bad([], /needs an operation/);
    await bad(['frobnicate', FILE], /unknown lab operation "frobnicate"/);
    await bad(['up'], /needs a topology FILE/);
    await bad(['up', FILE, 'extra'], /unexpected argument "extra"/);
    await bad(['exec', FILE], /needs FILE NODE -- CMD/);
    await bad(['exec', FILE, 'r1', 'ip'], /needs "--" before the command/);
    await bad(['traffic', FILE, '--from', 'host-1'], /needs --from NODE and --to NODE/);
    await bad(['traffic', FILE, '--from', 'host-1', '--to', 'host-2', '--dscp', 'ef'], /--dscp must be a number/);
    await expect(labCommand(['up', FILE, '--bogus'])).rejects.toMatchObject({ code: 'ERR_PARSE_ARGS_UNKNOWN_OPTION' });
    await expect(labCommand(['up', '/nonexistent.clab.yml'])).rejects.toMatchObject({ code: isRoot ? 'QB_LAB_FILE_UNREADABLE' : 'QB_LAB_NEEDS_ROOT' });
  });

  test('lab cli - --help prints the usage with an example', async () => {
    await labCommand(['--help']);
    expect(stdout).toContain('qos-broker lab up containerlab/two-domain.clab.yml');
  });

  test.skipIf(!isRoot)('lab cli - single-router up, status, exec, traffic, down (needs root: network namespaces)', async () => {
    await labCommand(['up', FILE, ...common]);
    expect(stdout).toMatch(/start-up time: \d+\.\d\d s/);
    expect(stdout).toMatch(/r1 +linux_tc domain-a +ssh\/netconf root@198\.19\.\d+\.2:830/);

    stdout = '';
    await labCommand(['status', FILE, ...common, '--json']);
    const s = JSON.parse(stdout);
    expect(s.state).toBe('up');
    expect(s.nodes.find((n: { node: string }) => n.node === 'r1')).toMatchObject({ netnsUp: true, mgmtReachable: true });

    await expect(labCommand(['exec', FILE, 'r1', ...common, '--', 'sh', '-c', 'exit 7'])).rejects.toMatchObject({ code: 'QB_LAB_EXEC_FAILED' });

    // the r1 -> host-2 link gets a rate of its own (HTB on r1's egress, set through lab exec): what
    // traffic prints is checked against it
    const rateMbps = 30;
    await labCommand(['exec', FILE, 'r1', ...common, '--', 'sh', '-c', `tc qdisc add dev eth2 root handle 1: htb default 10 && tc class add dev eth2 parent 1: classid 1:10 htb rate ${rateMbps}mbit ceil ${rateMbps}mbit`]);
    stdout = '';
    await labCommand(['traffic', FILE, ...common, '--from', 'host-1', '--to', 'host-2', '--seconds', '2', '--dscp', '46']);
    const m = /host-1 -> host-2 \(198\.18\.20\.2\) dscp 46, 2 s: ([\d.]+) (Mbit|Gbit)\/s received/.exec(stdout);
    expect(m, stdout).not.toBeNull();
    const measuredMbps = Number(m![1]) * (m![2] === 'Gbit' ? 1000 : 1);
    expect(Math.abs(measuredMbps - rateMbps) / rateMbps, `measured ${measuredMbps} Mbit/s on a ${rateMbps} Mbit/s link`).toBeLessThan(0.1);

    await labCommand(['down', FILE, ...common]);
    expect(await labLeftovers(loadLabPlan(FILE, { name: common[1], mgmtSubnet: common[3] }), { stateRoot })).toEqual({ netns: [], rootLinks: [], pids: [], stateDir: false });
  }, 60_000);
});
