/**
 * The README's main command: `qos-broker demo` starts real qos-brokerd
 * processes (one per provider, each with its redis-server and lab NETCONF routers on loopback),
 * orders through the Management service, and leaves nothing behind.
 */
import { execSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, test } from 'vitest';
import { demoCommand } from '../../../daemon/cli/demo.js';

// the demo's TMPDIR (os.tmpdir() reads it): its temp dir and processes are told apart from another run's on this machine
const demoTmp = mkdtempSync(join(tmpdir(), 'qb-dt-'));
afterAll(() => rmSync(demoTmp, { recursive: true, force: true }));
const dirs = (prefix: string) => readdirSync(demoTmp).filter((f) => f.startsWith(prefix));
const procs = (pattern: string) => {
  try {
    return execSync(`pgrep -f '${pattern}'`, { encoding: 'utf8' }).trim().split('\n').filter(Boolean).length;
  } catch {
    return 0;
  }
};

test('demo - four qos-brokerd processes agree, sign, provision, boost and tear down; a forged advert and a tampered contract are refused; nothing is left', async () => {
  const before = dirs('qb-demo-');
  const lines: string[] = [];
  const saved = process.env.TMPDIR;
  process.env.TMPDIR = demoTmp;
  try {
    // the loopback routers also as root (CI): the root path is test/daemon/cli/demo-root.test.ts
    await demoCommand(['--loopback'], (s) => lines.push(s));
  } finally {
    if (saved === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = saved;
  }
  const text = lines.join('\n');
  expect(text).toContain('two lab routers (netconfd behind sshd on 127.0.0.1)');
  expect(text).toMatch(/daemons: provider-x \(pid \d+, gRPC 127\.0\.0\.1:\d+\), provider-y/);
  expect(text).toContain('advertisements: every provider holds all 4');
  expect(text).toMatch(/a forged provider-y advertisement .* refused \(bad-signature\); qos_broker_adverts_rejected_total\{reason="bad-signature"\} 0 -> 1/);
  expect(text).toMatch(/\[cheapest\] order ord-\S+: completed, service active; path provider-x > provider-y > provider-z/);
  expect(text).toMatch(/\[lowest-latency\] order ord-\S+: completed, service active; path provider-x > provider-w > provider-z/);
  expect(text.match(/signed by provider-x, provider-\w, provider-z; verified offline/g)).toHaveLength(2);
  expect(text.match(/a tampered copy is refused: field \/body\/segments\/0\/priceMinor changed/g)).toHaveLength(2);
  // every domain of both paths provisioned two routers, read back at the contracted rate
  expect(text.match(/provider-\w \((internal|external)\): completed in [\d.]+ s; routers now hold provider-\w-\w\d eth\d 10000 kbit\/s, provider-\w-\w\d eth\d 10000 kbit\/s/g)).toHaveLength(6);
  expect(text).toMatch(/routers of provider-x, provider-y, provider-z now at 20000 kbit\/s/);
  expect(text).toContain('after the window the daemon reverted it on its own: 10 Mbit/s, routers at 10000 kbit/s');
  expect(text.match(/terminate ord-\S+: service terminated/g)).toHaveLength(2);
  expect(text).toContain("every router's running config is as before the orders (read back over NETCONF); no booking left in any provider's Redis");
  expect(text).toMatch(/demo done in [\d.]+ s/);
  // its configs, logs, PKI, routers and the daemons' data all lived in its one directory
  expect(dirs('qb-demo-')).toEqual(before);
  expect(procs(`${demoTmp.replace(/^\//, '[/]')}/qb-demo-`)).toBe(0);
}, 180_000);
