/**
 * freePorts: ports for servers a test or the demo will start, claimed
 * machine-wide (one file per port naming the claiming process) and below the
 * kernel's ephemeral range, so neither another worker nor an outgoing
 * connection takes one before its server binds it.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';
import { claimPort, freePorts } from '../../lab/netconf-device.js';

const ROOT = resolve(fileURLToPath(import.meta.url), '../../..');
const claimDir = process.getuid?.() === 0 ? '/run/qos-broker-ports' : join(tmpdir(), 'qos-broker-ports');
const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
/** A node process that takes `n` ports, prints them as JSON, and exits when its stdin closes. */
const taker = (n: number) =>
  spawn(process.execPath, ['--input-type=module', '-e', `const { freePorts } = await import(${JSON.stringify(join(ROOT, 'dist/lab/netconf-device.js'))}); console.log(JSON.stringify(await freePorts('127.0.0.1', ${n}))); process.stdin.resume(); process.stdin.on('end', () => process.exit(0));`], { stdio: ['pipe', 'pipe', 'inherit'] });
const portsOf = (c: ReturnType<typeof taker>) =>
  new Promise<number[]>((res, rej) => {
    let out = '';
    c.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('\n')) res(JSON.parse(out) as number[]);
    });
    c.once('exit', (code) => rej(new Error(`taker exited ${code} before printing its ports`)));
  });

describe('lab ports', () => {
  test('ports are distinct, below the ephemeral range, claimed in a file naming this process, and bindable', async () => {
    const ports = await freePorts('127.0.0.1', 20);
    expect(new Set(ports).size).toBe(20);
    for (const p of ports) {
      expect(p).toBeGreaterThanOrEqual(10_000);
      expect(p).toBeLessThan(low);
      expect(readFileSync(join(claimDir, String(p)), 'utf8')).toBe(String(process.pid));
    }
    const s = createServer();
    await new Promise<void>((res, rej) => s.once('error', rej).listen(ports[0], '127.0.0.1', () => res()));
    await new Promise((r) => s.close(r));
  });

  test('two processes asking at once never get the same port; a process that exits releases its claims', async () => {
    const a = taker(300);
    const b = taker(300);
    try {
      const [pa, pb] = await Promise.all([portsOf(a), portsOf(b)]);
      expect(pa).toHaveLength(300);
      expect(pb).toHaveLength(300);
      expect(pa.filter((p) => pb.includes(p))).toEqual([]);
      expect(pa.every((p) => readFileSync(join(claimDir, String(p)), 'utf8') === String(a.pid))).toBe(true);
      const gone = new Promise((r) => a.once('exit', r));
      a.stdin!.end();
      await gone;
      expect(pa.filter((p) => existsSync(join(claimDir, String(p))))).toEqual([]);
      expect(pb.every((p) => existsSync(join(claimDir, String(p))))).toBe(true);
    } finally {
      a.kill('SIGKILL');
      b.kill('SIGKILL');
    }
  });

  test('a claim left by a process that died is taken over; a live process\'s claim is not', async () => {
    mkdirSync(claimDir, { recursive: true });
    const deadPid = Number(spawnSync(process.execPath, ['-e', 'console.log(process.pid)'], { encoding: 'utf8' }).stdout.trim());
    const live = spawn('sleep', ['30'], { stdio: 'ignore' });
    try {
      const [stale, held] = await freePorts('127.0.0.1', 2); // two ports no one else claims; then pretend others hold them
      writeFileSync(join(claimDir, String(stale)), String(deadPid));
      writeFileSync(join(claimDir, String(held)), String(live.pid));
      expect(claimPort(stale)).toBe(true);
      expect(readFileSync(join(claimDir, String(stale)), 'utf8')).toBe(String(process.pid));
      expect(claimPort(held)).toBe(false);
      expect(readFileSync(join(claimDir, String(held)), 'utf8')).toBe(String(live.pid));
      rmSync(join(claimDir, String(held)), { force: true });
    } finally {
      live.kill('SIGKILL');
    }
  });
  test('a process\'s first ports sweep away the claims of processes that died without releasing them', async () => {
    mkdirSync(claimDir, { recursive: true });
    const deadPid = Number(spawnSync(process.execPath, ['-e', 'console.log(process.pid)'], { encoding: 'utf8' }).stdout.trim());
    // ports no one claims now, then claimed in the name of a process that is gone
    const [p1, p2] = await freePorts('127.0.0.1', 2);
    for (const p of [p1, p2]) writeFileSync(join(claimDir, String(p)), String(deadPid));
    const c = taker(1);
    try {
      await portsOf(c);
      expect([p1, p2].filter((p) => existsSync(join(claimDir, String(p))))).toEqual([]);
    } finally {
      c.kill('SIGKILL');
    }
  });
});
