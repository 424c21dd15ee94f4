/**
 * The shipped example configs (daemon/config/examples: dom-a <-> dom-b <->
 * dom-c on 127.0.0.1-3, and an exchange on 127.0.0.4), started as their
 * README says: its key commands (openssl) run as written, then the four
 * daemons with `node dist/daemon/brokerd.js --config FILE`. Only the data
 * directories move into a temp dir (the files name /tmp/qos-brokerd-examples).
 * dom-a peers with dom-b alone, so its calls for dom-c are chained through
 * dom-b (agreement.proto, Chaining).
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { BROKERD, CLI, waitFor } from './harness.js';
import { rawPublicKey } from '../../../daemon/peering/advert.js';
import type { SignedContract } from '../../../daemon/agreement/contract.js';

const run = promisify(execFile);
const EXAMPLES = resolve(__dirname, '../../../daemon/config/examples');
const dir = mkdtempSync(join(tmpdir(), 'qb-examples-'));
const here = join(dir, 'daemon/config/examples');
const procs: Array<{ name: string; proc: ChildProcess; out: string[]; exited: Promise<unknown> }> = [];
const cli = (...args: string[]) => run(process.execPath, [CLI, ...args]);
const admin = { 'dom-a': '127.0.0.1:9471', 'dom-b': '127.0.0.2:9472', 'dom-c': '127.0.0.3:9473' } as const;
const get = async (d: keyof typeof admin, path: string) => (await (await fetch(`http://${admin[d]}${path}`)).json()) as Record<string, unknown>;

beforeAll(async () => {
  mkdirSync(here, { recursive: true });
  for (const f of readdirSync(EXAMPLES).filter((f) => f.endsWith('.yaml'))) {
    copyFileSync(join(EXAMPLES, f), join(here, f));
    const p = join(here, f);
    writeFileSync(p, readFileSync(p, 'utf8').replace(/\/tmp\/qos-brokerd-examples\//g, `${dir}/data/`));
  }
  // the README's key commands, as written, from the repository root (here: the temp copy)
  const readme = readFileSync(join(EXAMPLES, 'README.md'), 'utf8');
  const keys = /```sh\n(cd daemon\/config\/examples && mkdir -p keys[\s\S]*?)```/.exec(readme)?.[1];
  if (!keys) throw new Error('daemon/config/examples/README.md has no key commands starting with cd daemon/config/examples');
  await run('bash', ['-euc', keys], { cwd: dir });
  for (const name of ['exchange', 'dom-a', 'dom-b', 'dom-c']) {
    const proc = spawn(process.execPath, [BROKERD, '--config', join(here, `${name}.yaml`)], { stdio: ['ignore', 'pipe', 'pipe'] });
    const out: string[] = [];
    proc.stdout!.on('data', (b: Buffer) => out.push(b.toString()));
    proc.stderr!.on('data', (b: Buffer) => out.push(b.toString()));
    const exited = new Promise((res) => proc.once('exit', res));
    procs.push({ name, proc, out, exited });
    await waitFor(`${name} to start`, () => {
      if (proc.exitCode !== null) throw new Error(`${name} exited with ${proc.exitCode}: ${out.join('').slice(-2000)} exited with`);
      return out.join('').includes('"qos-brokerd started"');
    });
  }
  for (const d of ['dom-a', 'dom-b', 'dom-c'] as const) {
    await waitFor(`${d} holds the adverts of dom-a, dom-b and dom-c`, async () => ((await get(d, '/v1/adverts')).adverts as unknown[]).length === 3, 30_000);
  }
  await waitFor('dom-a established with dom-b', async () => ((await get('dom-a', '/v1/peers')).peers as { state: string }[]).every((p) => p.state === 'established'), 30_000);
}, 120_000);

afterAll(async () => {
  for (const p of procs.reverse()) {
    if (p.proc.exitCode === null && p.proc.signalCode === null) {
      p.proc.kill('SIGTERM');
      const t = setTimeout(() => p.proc.kill('SIGKILL'), 5000);
      await p.exited;
      clearTimeout(t);
    }
  }
  rmSync(dir, { recursive: true, force: true });
});

describe('the shipped example configs', () => {
  test('examples - dom-a peers only with dom-b, and an agreement dom-a -> dom-c is chained through dom-b; the contract verifies with each domain key', async () => {
    expect(((await get('dom-a', '/v1/peers')).peers as { domain: string }[]).map((p) => p.domain)).toEqual(['dom-b']);
    const file = join(dir, 'contract.json');
    const flags = ['--from', 'dom-a/paris-dc1', '--to', 'dom-c/berlin-dc2', '--class', 'EF', '--rate', '10M', '--for', '1h'];
    const o = await cli('agree', ...flags, '--customer', 'acme', '--admin', admin['dom-a'], '--out', file);
    expect(o.stdout).toMatch(/^agreed agr-[0-9a-f-]+: dom-a > dom-b > dom-c, total \d+\.\d\d EUR/);
    expect(o.stdout).toMatch(/signed by dom-a, dom-b, dom-c; written to/);
    const trust = join(dir, 'trust.json');
    writeFileSync(trust, JSON.stringify(Object.fromEntries(['dom-a', 'dom-b', 'dom-c'].map((d) => [d, rawPublicKey(readFileSync(join(here, 'keys', `${d}-advert.key`), 'utf8'))]))));
    const v = await cli('contract', 'verify', file, '--trust', trust);
    expect(v.stdout).toMatch(/^OK: signed by dom-a, dom-b, dom-c \(keys match the trust file\)/);
    const contract = JSON.parse(readFileSync(file, 'utf8')) as SignedContract;
    // dom-c booked its part for dom-a, reached through dom-b
    const c = procs.find((p) => p.name === 'dom-c')!;
    await waitFor('dom-c logs the commit for dom-a', () => c.out.join('').split('\n').some((l) => l.includes('"agreement-committed"') && l.includes(contract.body.agreementId) && l.includes('"caller":"dom-a"')));
  });

  test('examples - an order dom-a -> dom-c through the Management API gets its agreement, and the provisioning calls reach dom-c through dom-b (the examples have no routers: dom-c itself answers that it has no device)', async () => {
    const mgmt = `unix:${dir}/data/dom-a/management.sock`;
    const r = await cli('order', 'create', '--from', 'dom-a/paris-dc1', '--to', 'dom-c/berlin-dc2', '--class', 'EF', '--rate', '10M', '--for', '1h', '--customer', 'acme', '--management', mgmt).catch((e: { stdout: string; stderr: string }) => e);
    const out = `${r.stdout}${(r as { stderr?: string }).stderr ?? ''}`;
    expect(out).toMatch(/path dom-a > dom-b > dom-c/);
    expect(out).toMatch(/agree\s+dom-a\s+internal completed/);
    // the chained Activate was answered by dom-c (its own refusal, naming its own border), and the chained Deactivate completed
    expect(out).toMatch(/provision dom-c\s+external failed \(QB_PROVISION_NO_DEVICE: dom-c has no device at border c2/);
    expect(out).toMatch(/remove\s+dom-c\s+external completed/);
    expect(out).not.toMatch(/no agreement with domain|QB_AGREEMENT_NO_ROUTE|unreachable/i);
  });
});
