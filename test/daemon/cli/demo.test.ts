/** The README's main command: the loopback demo works end to end and leaves nothing behind. */
import { execSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, test } from 'vitest';
import { demoCommand } from '../../../daemon/cli/demo.js';

// the demo's TMPDIR (os.tmpdir() reads it): its temp dir and processes are told apart from another run's on this machine
const demoTmp = mkdtempSync(join(tmpdir(), 'qb-dt-'));
afterAll(() => rmSync(demoTmp, { recursive: true, force: true }));
const demoDirs = () => readdirSync(demoTmp).filter((f) => f.startsWith('qb-demo-'));
const procs = (pattern: string) => {
  try {
    return execSync(`pgrep -f '${pattern}'`, { encoding: 'utf8' }).trim().split('\n').filter(Boolean).length;
  } catch {
    return 0;
  }
};

test('demo - four providers agree, sign, provision and tear down; a forged advert and a tampered contract are refused', async () => {
  const before = demoDirs();
  const lines: string[] = [];
  const saved = process.env.TMPDIR;
  process.env.TMPDIR = demoTmp;
  try {
    await demoCommand([], (s) => lines.push(s));
  } finally {
    if (saved === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = saved;
  }
  const text = lines.join('\n');
  expect(text).toContain("a provider-y advertisement signed with provider-w's key: rejected (origin-key-mismatch)");
  expect(text).toMatch(/\[cheapest\] path provider-x > provider-y > provider-z/);
  expect(text).toMatch(/\[lowest-latency\] path provider-x > provider-w > provider-z/);
  expect(text.match(/signed by provider-x, provider-\w, provider-z; verified offline/g)).toHaveLength(2);
  expect(text.match(/tampered copy refused: field \/body\/segments\/0\/priceMinor changed/g)).toHaveLength(2);
  expect(text.match(/provisioned provider-\w: .* \(confirmed commit, verified\)/g)).toHaveLength(6);
  expect(text.match(/service removed: running config of every router as before, bookings released/g)).toHaveLength(2);
  expect(demoDirs()).toEqual(before);
  expect(procs(`${demoTmp.replace(/^\//, '[/]')}/qb-demo-`)).toBe(0);
}, 120_000);
