/**
 * End to end: the two-domain topology as network namespaces, every router
 * reached over NETCONF and SSH, traffic host to host through both domains, a
 * hand-set HTB limit measured, then nothing left behind.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { NetconfClient } from '../../drivers/netconf/client.js';
import { SshTransport } from '../../drivers/ssh/transport.js';
import { labDown, labExec, labLeftovers, labStatus, labTraffic, labUp, listNetns, listRootLinks, pidAlive, type LabOptions, type LabUpResult } from '../../lab/runner.js';
import { loadLabPlan } from '../../lab/topology.js';

const FILE = resolve(import.meta.dirname, '../../containerlab/two-domain.clab.yml');
const isRoot = process.getuid?.() === 0;
const stateRoot = mkdtempSync(join(tmpdir(), 'qb-lab-test-'));
// a name of its own, and a management subnet the lab picks free, so neither a lab a person has up
// nor another worker's lab is touched
const opts: LabOptions = { name: `qbt-two-${process.pid}`, mgmtSubnet: 'free', stateRoot };
const plan = loadLabPlan(FILE, opts);


async function counter(node: string, iface: string, which: 'tx_bytes' | 'rx_bytes'): Promise<number> {
  const r = await labExec(FILE, node, ['cat', `/sys/class/net/${iface}/statistics/${which}`], opts);
  return Number(r.stdout.trim());
}

describe.skipIf(!isRoot)('lab two-domain (needs root: network namespaces)', () => {
  let up: LabUpResult;
  beforeAll(async () => {
    up = await labUp(FILE, opts);
  }, 60_000);
  afterAll(async () => {
    await labDown(FILE, opts).catch(() => undefined);
    rmSync(stateRoot, { recursive: true, force: true });
  }, 60_000);

  test('lab - up makes one namespace per node and reports every router', async () => {
    expect(up.alreadyUp).toBe(false);
    // the picked management subnet is a /24 of 198.19.16.0 - 198.19.127.255, and every router lives in it
    const third = Number(/^198\.19\.(\d+)\.0\/24$/.exec(up.plan.mgmt.subnet)?.[1]);
    expect(third).toBeGreaterThanOrEqual(16);
    expect(third).toBeLessThanOrEqual(127);
    const net = up.plan.mgmt.subnet.replace(/\.0\/24$/, '.');
    for (const r of up.routers) expect(r.host.startsWith(net)).toBe(true);
    const ns = await listNetns();
    for (const n of plan.nodes) expect(ns).toContain(n.netns);
    expect(up.routers.map((r) => r.node).sort()).toEqual(['a-border', 'a-edge', 'b-border', 'b-edge']);
    const s = await labStatus(FILE, opts);
    expect(s.state).toBe('up');
    console.log(`two-domain start-up: ${up.startupMs} ms`);
  });

  test('lab - up again is idempotent: same processes, nothing rebuilt', async () => {
    const before = (await labStatus(FILE, opts)).nodes.flatMap((n) => n.processes ?? []).map((p) => p.pid);
    const again = await labUp(FILE, opts);
    expect(again.alreadyUp).toBe(true);
    const after = (await labStatus(FILE, opts)).nodes.flatMap((n) => n.processes ?? []).map((p) => p.pid);
    expect(after).toEqual(before);
  });

  test('lab - every router answers NETCONF get-config and SSH exec with the lab known_hosts', async () => {
    for (const r of up.routers) {
      const nc = await NetconfClient.connect({ host: r.host, port: r.port, username: r.username, privateKeyFile: r.privateKeyFile, knownHostsFile: up.knownHostsFile, helloSettleMs: 20 });
      try {
        // each router has its own netconfd: a hostname committed on one is read back from it alone
        expect(await nc.getConfig({})).toContain('ietf-netconf-acm');
        await nc.editConfig({ config: `<device xmlns="urn:qos-broker:yang:lab-device"><hostname>${r.node}</hostname></device>` });
        await nc.commit();
        expect(await nc.getConfig({})).toContain(`<hostname>${r.node}</hostname>`);
      } finally {
        await nc.close();
      }
      const ssh = await SshTransport.connect({ host: r.host, port: r.port, username: r.username, privateKeyFile: r.privateKeyFile, knownHostsFile: up.knownHostsFile });
      try {
        const out = await ssh.exec('sysctl -n net.ipv4.ip_forward; ip -4 -o addr show dev mgmt0');
        expect(out.code).toBe(0);
        expect(out.stdout).toMatch(new RegExp(`^1\\n[\\s\\S]*inet ${r.host.replace(/\./g, '\\.')}/24`));
      } finally {
        await ssh.close();
      }
    }
  });

  test('lab - routers keep their own NETCONF configuration', async () => {
    for (const r of up.routers) {
      const nc = await NetconfClient.connect({ host: r.host, port: r.port, username: r.username, privateKeyFile: r.privateKeyFile, knownHostsFile: up.knownHostsFile, helloSettleMs: 20 });
      try {
        const cfg = await nc.getConfig({});
        expect(cfg).toContain(`<hostname>${r.node}</hostname>`);
        for (const other of up.routers.filter((o) => o.node !== r.node)) expect(cfg).not.toContain(`<hostname>${other.node}</hostname>`);
      } finally {
        await nc.close();
      }
    }
  });

  test('lab - iperf3 traffic flows host to host across both domains', async () => {
    const tx0 = await counter('a-border', 'eth2', 'tx_bytes');
    const rx0 = await counter('b-border', 'eth2', 'rx_bytes');
    const r = await labTraffic(FILE, { from: 'host-a', to: 'host-b', seconds: 1 }, opts);
    expect(r.toAddress).toBe('198.18.20.2');
    expect(r.receivedBitsPerSecond).toBeGreaterThan(1e6);
    // the bytes crossed the inter-domain link
    const bytes = (r.receivedBitsPerSecond * r.seconds) / 8;
    expect((await counter('a-border', 'eth2', 'tx_bytes')) - tx0).toBeGreaterThan(bytes * 0.9);
    expect((await counter('b-border', 'eth2', 'rx_bytes')) - rx0).toBeGreaterThan(bytes * 0.9);
  });

  test('lab - a hand-set HTB limit on a border router egress is measured within 10% by lab traffic', async () => {
    const rate = 20e6;
    const tc = (args: string) => labExec(FILE, 'a-border', ['sh', '-c', args], opts);
    // EF (DSCP 46, TOS 0xb8) limited to 20 Mbit/s, everything else to 200 Mbit/s
    const set = await tc(
      [
        'tc qdisc add dev eth2 root handle 1: htb default 10',
        'tc class add dev eth2 parent 1: classid 1:10 htb rate 200mbit ceil 200mbit',
        'tc class add dev eth2 parent 1: classid 1:20 htb rate 20mbit ceil 20mbit',
        'tc filter add dev eth2 parent 1: protocol ip u32 match ip tos 0xb8 0xfc flowid 1:20',
      ].join(' && '),
    );
    expect(set.code).toBe(0);
    try {
      const ef = await labTraffic(FILE, { from: 'host-a', to: 'host-b', seconds: 3, dscp: 46 }, opts);
      const error = (ef.receivedBitsPerSecond - rate) / rate;
      console.log(`shaping: set 20 Mbit/s, measured ${(ef.receivedBitsPerSecond / 1e6).toFixed(2)} Mbit/s (${(error * 100).toFixed(1)}%)`);
      expect(Math.abs(error)).toBeLessThan(0.1);
      // what HTB counts is the Ethernet frame of each segment: the flow at that layer is the limit itself
      const frameError = (ef.frameBitsPerSecond - rate) / rate;
      console.log(`shaping: as Ethernet frames (MSS ${ef.mss} + ${ef.headerBytesPerSegment} header bytes a segment) ${(ef.frameBitsPerSecond / 1e6).toFixed(2)} Mbit/s (${(frameError * 100).toFixed(1)}%)`);
      expect(Math.abs(frameError)).toBeLessThan(0.05);
      const efClass = (await tc('tc -s class show dev eth2 classid 1:20')).stdout;
      expect(Number(/Sent (\d+) bytes/.exec(efClass)?.[1])).toBeGreaterThan((ef.receivedBitsPerSecond * ef.seconds) / 8);
      // unmarked traffic is not in the EF class: it gets far more than 20 Mbit/s
      const be = await labTraffic(FILE, { from: 'host-a', to: 'host-b', seconds: 1 }, opts);
      expect(be.receivedBitsPerSecond).toBeGreaterThan(rate * 3);
    } finally {
      await tc('tc qdisc del dev eth2 root');
    }
  }, 30_000);

  test('lab - bad requests are typed errors', async () => {
    await expect(labTraffic(FILE, { from: 'host-a', to: 'nobody' }, opts)).rejects.toMatchObject({ code: 'QB_INVALID_ARGUMENT' });
    await expect(labTraffic(FILE, { from: 'host-a', to: 'host-b', dscp: 64 }, opts)).rejects.toMatchObject({ code: 'QB_INVALID_ARGUMENT' });
    await expect(labExec(FILE, 'a-edge', [], opts)).rejects.toMatchObject({ code: 'QB_INVALID_ARGUMENT' });
    // another lab asking for the subnet this one picked is refused
    await expect(labUp(FILE, { ...opts, name: `qbt-clash-${process.pid}`, mgmtSubnet: up.plan.mgmt.subnet })).rejects.toMatchObject({ code: 'QB_LAB_ADDRESS_IN_USE' });
  });

  test('lab - down removes every namespace, veth, process and file', async () => {
    const pids = (await labStatus(FILE, opts)).nodes.flatMap((n) => n.processes ?? []).map((p) => p.pid);
    expect(pids.length).toBe(8);
    await labDown(FILE, opts);
    const left = await labLeftovers(plan, opts);
    expect(left).toEqual({ netns: [], rootLinks: [], pids: [], stateDir: false });
    expect((await listNetns()).filter((n) => n.startsWith(plan.netnsPrefix))).toEqual([]);
    expect((await listRootLinks()).filter((l) => l.startsWith(plan.ifPrefix))).toEqual([]);
    expect(pids.filter(pidAlive)).toEqual([]);
    expect(existsSync(join(stateRoot, plan.name))).toBe(false);
    expect((await labStatus(FILE, opts)).state).toBe('down');
  });

  test('lab - down cleans up after a crashed runner (namespaces, root links, processes, state dir)', async () => {
    // what a runner killed half way leaves: a namespace with a process in it, a root interface, a state dir
    const ns = `${plan.netnsPrefix}a-edge`;
    const link = `${plan.ifPrefix}-0`;
    const dir = join(stateRoot, plan.name);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'state.json'), JSON.stringify({ name: plan.name, status: 'creating', netns: [ns], rootLinks: [link], pids: [] }));
    expect(spawnSync('ip', ['netns', 'add', ns]).status).toBe(0);
    expect(spawnSync('ip', ['link', 'add', link, 'type', 'bridge']).status).toBe(0);
    const sleeper: ChildProcess = spawn('ip', ['netns', 'exec', ns, 'sleep', '300'], { stdio: 'ignore' });
    try {
      const end = Date.now() + 5000;
      while (!(await labLeftovers(plan, opts)).pids.length && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
      expect((await labLeftovers(plan, opts)).pids).toEqual([sleeper.pid]);
      expect((await labStatus(FILE, opts)).state).toBe('degraded');
      const exited = new Promise<NodeJS.Signals | null>((r) => {
        if (sleeper.exitCode !== null || sleeper.signalCode !== null) r(sleeper.signalCode);
        else sleeper.once('exit', (_code, signal) => r(signal));
      });
      await labDown(FILE, opts);
      // down itself killed the sleeper: it exits on a signal (sleep 300 does not end on its own) before the test
      // cleans anything up, and its pid is gone
      const signal = await Promise.race([exited, new Promise<'still running'>((r) => setTimeout(() => r('still running'), 10_000))]);
      expect(signal).toMatch(/^SIG(TERM|KILL)$/);
      expect(pidAlive(sleeper.pid!)).toBe(false);
      expect(await labLeftovers(plan, opts)).toEqual({ netns: [], rootLinks: [], pids: [], stateDir: false });
    } finally {
      sleeper.kill('SIGKILL');
      spawnSync('ip', ['netns', 'del', ns]);
      spawnSync('ip', ['link', 'del', link]);
    }
  });
});

describe.skipIf(!isRoot)('lab management subnet free (needs root: network namespaces)', () => {
  const ONE = resolve(import.meta.dirname, '../../containerlab/single-router.clab.yml');
  const root = mkdtempSync(join(tmpdir(), 'qb-lab-free-'));
  const labs = [0, 1].map((i): LabOptions => ({ name: `qbt-free${i}-${process.pid}`, mgmtSubnet: 'free', stateRoot: root }));
  afterAll(async () => {
    for (const o of labs) await labDown(ONE, o).catch(() => undefined);
    rmSync(root, { recursive: true, force: true });
  }, 60_000);

  test('lab - two labs brought up at once with mgmtSubnet free pick different free subnets, and later operations find the pick', async () => {
    const ups = await Promise.all(labs.map((o) => labUp(ONE, o)));
    const [a, b] = ups.map((u) => u.plan.mgmt.subnet);
    expect(a).not.toBe(b);
    // each subnet is the lab's own: a route of this machine on its bridge, and nowhere else
    for (const u of ups) {
      const routes = JSON.parse(spawnSync('ip', ['-4', '-j', 'route', 'show', u.plan.mgmt.subnet]).stdout.toString()) as { dev: string }[];
      expect(routes.map((r) => r.dev)).toEqual([u.plan.mgmt.bridge]);
    }
    // status, exec and down with `free` work on the subnet that up picked
    for (const [i, o] of labs.entries()) {
      const s = await labStatus(ONE, o);
      expect(s.state).toBe('up');
      expect(s.routers[0]!.host).toBe(ups[i]!.routers[0]!.host);
      expect((await labExec(ONE, 'r1', ['ip', '-4', '-o', 'addr', 'show', 'dev', 'mgmt0'], o)).stdout).toContain(`inet ${ups[i]!.routers[0]!.host}/24`);
    }
    for (const o of labs) await labDown(ONE, o);
    for (const u of ups) expect(spawnSync('ip', ['-4', '-j', 'route', 'show', u.plan.mgmt.subnet]).stdout.toString().trim()).toMatch(/^(\[\])?$/);
  }, 60_000);
});
