/**
 * The documented three-domain loopback example runs as written: keys made by
 * the script in daemon/config/examples/README.md, the four configs unchanged
 * except data-dir (a temp dir), four qos-brokerd processes. dom-a peers with
 * dom-b alone, so its calls for dom-c are chained through dom-b
 * (agreement.proto, Chaining).
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parse, stringify } from 'yaml';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { BROKERD, CLI, waitFor } from '../brokerd/harness.js';
import { rawPublicKey } from '../../../daemon/peering/advert.js';
import { contractBody, type SignedContract } from '../../../daemon/agreement/contract.js';

const SRC = resolve(__dirname, '../../../daemon/config/examples');
const root = mkdtempSync(join(tmpdir(), 'qb-examples-'));
const dir = join(root, 'daemon/config/examples');
const procs: { name: string; proc: ChildProcess; logs: string[]; exited: Promise<unknown> }[] = [];

beforeAll(async () => {
  mkdirSync(dir, { recursive: true });
  cpSync(SRC, dir, { recursive: true });
  const readme = readFileSync(join(dir, 'README.md'), 'utf8');
  const script = /```sh\n(cd daemon\/config\/examples[\s\S]*?)```/.exec(readme)![1]!;
  const r = spawnSync('bash', ['-euo', 'pipefail', '-c', script], { cwd: root, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`the README key script failed: ${r.stderr}`);
  for (const name of ['exchange', 'dom-a', 'dom-b', 'dom-c']) {
    const file = join(dir, `${name}.yaml`);
    const cfg = parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
    cfg['data-dir'] = join(root, 'data', name);
    writeFileSync(file, stringify(cfg));
    const proc = spawn(process.execPath, [BROKERD, '--config', file], { stdio: ['ignore', 'pipe', 'pipe'] });
    const logs: string[] = [];
    proc.stdout!.on('data', (d: Buffer) => logs.push(...d.toString().split('\n').filter(Boolean)));
    proc.stderr!.on('data', (d: Buffer) => logs.push(d.toString()));
    const exited = new Promise((res) => proc.once('exit', res));
    procs.push({ name, proc, logs, exited });
    await waitFor(`${name} to start`, () => {
      if (proc.exitCode !== null) throw new Error(`${name} exited with ${proc.exitCode}: ${logs.slice(-3).join('\n')} exited with`);
      return logs.some((l) => l.includes('"msg":"qos-brokerd started"'));
    });
  }
});

afterAll(async () => {
  for (const p of procs) {
    if (p.proc.exitCode === null && p.proc.signalCode === null) {
      p.proc.kill('SIGTERM');
      const t = setTimeout(() => p.proc.kill('SIGKILL'), 5000);
      await p.exited;
      clearTimeout(t);
    }
  }
  rmSync(root, { recursive: true, force: true });
});

const get = async (admin: string, path: string) => (await (await fetch(`http://${admin}${path}`)).json()) as Record<string, unknown>;

describe('config examples', () => {
  test('examples - the three-domain loopback setup converges and dom-c registers with the exchange', async () => {
    const origins = async (admin: string) => ((await get(admin, '/v1/adverts')).adverts as { envelope: { origin: string } }[]).map((a) => a.envelope.origin);
    for (const admin of ['127.0.0.1:9471', '127.0.0.2:9472', '127.0.0.3:9473']) {
      await waitFor(`${admin} holds the three domains`, async () => (await origins(admin)).length === 3);
      expect(await origins(admin)).toEqual(['dom-a', 'dom-b', 'dom-c']);
    }
    // regression: dom-a and dom-b dial each other; the dropped duplicate stream's CANCELLED error crashed both
    for (const p of procs) expect(p.proc.exitCode, `${p.name} exited: ${p.logs.slice(-3).join('\n')}`).toBeNull();
    await waitFor('the exchange holds dom-c', async () => ((await get('127.0.0.4:9474', '/v1/domains')).domains as { domain: string; registered: boolean }[]).some((d) => d.domain === 'dom-c' && d.registered));
    const peersC = (await get('127.0.0.3:9473', '/v1/peers')).peers as { domain: string; state: string }[];
    expect(peersC.map((p) => [p.domain, p.state])).toEqual([
      ['dom-b', 'established'],
      ['exchange-x', 'established'],
    ]);
    const metrics = await (await fetch('http://127.0.0.2:9462/metrics')).text();
    expect(metrics).toMatch(/^qos_broker_peers\{state="established"\} 2$/m);
    for (const p of procs) expect(p.logs.join('\n')).not.toMatch(/PRIVATE KEY/);
  });

  const run = promisify(execFile);
  const cli = (...args: string[]) => run(process.execPath, [CLI, ...args]);
  const route = ['--from', 'dom-a/paris-dc1', '--to', 'dom-c/berlin-dc2', '--class', 'EF', '--rate', '10M', '--for', '1h', '--customer', 'acme'];

  test('examples - dom-a peers only with dom-b, and an agreement dom-a -> dom-c is chained through dom-b; the contract verifies with each domain key', async () => {
    await waitFor('dom-a holds the three domains', async () => ((await get('127.0.0.1:9471', '/v1/adverts')).adverts as unknown[]).length === 3);
    const peersA = (await get('127.0.0.1:9471', '/v1/peers')).peers as { domain: string; state: string }[];
    expect(peersA.map((p) => [p.domain, p.state])).toEqual([['dom-b', 'established']]);
    const file = join(root, 'contract.json');
    const o = await cli('agree', ...route, '--management', `unix:${join(root, 'data', 'dom-a')}/management.sock`, '--out', file);
    expect(o.stdout).toMatch(/^agreed agr-[0-9a-f-]+: dom-a > dom-b > dom-c, total \d+\.\d\d EUR/);
    expect(o.stdout).toMatch(/signed by dom-a, dom-b, dom-c; written to/);
    const trust = join(root, 'trust.json');
    writeFileSync(trust, JSON.stringify(Object.fromEntries(['dom-a', 'dom-b', 'dom-c'].map((d) => [d, rawPublicKey(readFileSync(join(dir, 'keys', `${d}-advert.key`), 'utf8'))]))));
    const v = await cli('contract', 'verify', file, '--trust', trust);
    expect(v.stdout).toMatch(/^OK: signed by dom-a, dom-b, dom-c \(keys match the trust file\)/);
    const id = contractBody(JSON.parse(readFileSync(file, 'utf8')) as SignedContract).agreementId;
    // dom-c booked its part for dom-a, reached through dom-b
    const c = procs.find((p) => p.name === 'dom-c')!;
    await waitFor('dom-c logs the commit for dom-a', () => c.logs.some((l) => l.includes('"agreement-committed"') && l.includes(id) && l.includes('"caller":"dom-a"')));
  });

  test('examples - an order dom-a -> dom-c through the Management API gets its agreement, and the provisioning calls reach dom-c through dom-b (the examples have no routers: dom-c itself answers that it has no device)', async () => {
    const r = await cli('order', 'create', ...route, '--management', `unix:${join(root, 'data', 'dom-a')}/management.sock`).catch((e: { stdout: string; stderr: string }) => e);
    const out = `${r.stdout}${(r as { stderr?: string }).stderr ?? ''}`;
    expect(out).toMatch(/path dom-a > dom-b > dom-c/);
    expect(out).toMatch(/agree\s+dom-a\s+internal completed/);
    // the chained Activate was answered by dom-c (its own refusal, naming its own border), and the chained Deactivate completed
    expect(out).toMatch(/provision dom-c\s+external failed \(QB_PROVISION_NO_DEVICE: dom-c has no device at border c2/);
    expect(out).toMatch(/remove\s+dom-c\s+external completed/);
    expect(out).not.toMatch(/no agreement with domain|QB_AGREEMENT_NO_ROUTE|unreachable/i);
  });
});
