import { freePort } from '../../../lab/netconf-device.js';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, test } from 'vitest';
import { Redis } from 'ioredis';
import { ResourceStoreError } from '../../../daemon/errors.js';
import { startEmbeddedRedis, type EmbeddedRedis } from '../../../daemon/state/embedded-redis.js';
import { RedisResourceStore } from '../../../daemon/state/redis-store.js';
import { pidAlive } from '../../../lab/runner.js';

const dirs: string[] = [];
const servers: EmbeddedRedis[] = [];
const clients: Redis[] = [];
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'qb-emb-'));
  dirs.push(d);
  return d;
}
function client(path: string): Redis {
  const c = new Redis({ path, maxRetriesPerRequest: 1 });
  clients.push(c);
  return c;
}
afterAll(async () => {
  for (const c of clients) c.disconnect();
  for (const s of servers) await s.stop();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});


test('state - embedded redis without redis-server on PATH says how to install or configure one', async () => {
  const saved = process.env.PATH;
  process.env.PATH = join(tempDir(), 'empty-bin');
  try {
    const err = await startEmbeddedRedis(tempDir(), { log: () => {} }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ResourceStoreError);
    expect((err as ResourceStoreError).code).toBe('QB_STATE_REDIS_NOT_INSTALLED');
    expect((err as Error).message).toMatch(/apt-get install redis-server/);
    expect((err as Error).message).toMatch(/state\.redis/);
  } finally {
    process.env.PATH = saved;
  }
});

test('state - embedded redis listens only on a socket in the data dir, logs it, keeps an AOF across restarts', async () => {
  const dataDir = tempDir();
  const lines: Record<string, unknown>[] = [];
  const first = await startEmbeddedRedis(dataDir, { log: (l) => lines.push(l) });
  servers.push(first);
  expect(first.socketPath.startsWith(dataDir)).toBe(true);
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatchObject({ msg: expect.stringMatching(/embedded redis-server/), socket: first.socketPath, appendfsync: 'everysec' });

  const c = client(first.socketPath);
  expect(await c.config('GET', 'port')).toEqual(['port', '0']);
  expect(await c.config('GET', 'appendonly')).toEqual(['appendonly', 'yes']);
  expect(await c.config('GET', 'appendfsync')).toEqual(['appendfsync', 'everysec']);

  const store = new RedisResourceStore({ domain: 'emb', redis: c });
  await store.setCapacity('l1', 'ef', 100);
  const t = Math.ceil((Date.now() + 3_600_000) / 60_000) * 60_000;
  await store.reserve({ id: 'keep', links: ['l1'], cls: 'ef', rateBps: 70, start: t, end: t + 60_000 });
  await store.commit('keep');
  c.disconnect();
  await first.stop();
  expect(pidAlive(first.pid)).toBe(false);
  expect(existsSync(join(first.dir, 'appendonlydir'))).toBe(true);

  const second = await startEmbeddedRedis(dataDir, { log: () => {} });
  servers.push(second);
  const again = new RedisResourceStore({ domain: 'emb', redis: client(second.socketPath) });
  expect((await again.get('keep'))?.state).toBe('committed');
  expect((await again.usage('l1', 'ef', t, t + 60_000))[0]!.usedBps).toBe(70);
});

test('state - the store works on a Redis Cluster node (all keys of a domain in one slot)', async () => {
  const dataDir = tempDir();
  const node = await startEmbeddedRedis(dataDir, {
    log: () => {},
    // port 0 puts the cluster bus on 10000: pick a free one so parallel runs do not collide
    extraArgs: ['--cluster-enabled', 'yes', '--cluster-config-file', join(dataDir, 'nodes.conf'), '--cluster-port', String(await freePort())],
  });
  servers.push(node);
  const c = client(node.socketPath);
  await c.call('CLUSTER', 'ADDSLOTSRANGE', '0', '16383');
  for (let i = 0; i < 100 && !String(await c.call('CLUSTER', 'INFO')).includes('cluster_state:ok'); i++) {
    await new Promise((r) => setTimeout(r, 50));
  }
  expect(String(await c.call('CLUSTER', 'INFO'))).toContain('cluster_state:ok');

  const store = new RedisResourceStore({ domain: 'clu', redis: c, holdTtlMs: 300 });
  await store.setCapacity('l1', 'ef', 100);
  await store.setCapacity('l2', 'ef', 100);
  const t = Math.ceil((Date.now() + 3_600_000) / 60_000) * 60_000;
  expect((await store.reserve({ id: 'c1', links: ['l1', 'l2'], cls: 'ef', rateBps: 100, start: t, end: t + 60_000 })).admitted).toBe(true);
  // until c1's hold has expired on the store's clock (Redis TIME)
  const expiresAt = (await store.get('c1'))!.holdExpiresAt!;
  const now = async () => (([sec, us]) => Number(sec) * 1000 + Math.floor(Number(us) / 1000))((await c.call('TIME')) as [string, string]);
  for (const end = Date.now() + 30_000; (await now()) < expiresAt && Date.now() < end; ) await new Promise((r) => setTimeout(r, 20));
  expect(await now()).toBeGreaterThanOrEqual(expiresAt);
  // the sweep inside this script touches keys of c1 that are not in its KEYS: same slot, so the cluster allows it
  expect((await store.reserve({ id: 'c2', links: ['l2'], cls: 'ef', rateBps: 100, start: t, end: t + 60_000 })).admitted).toBe(true);
  expect((await store.get('c1'))?.state).toBe('expired');
  const slots = new Set<number>();
  for (const k of await c.keys('*')) slots.add(Number(await c.call('CLUSTER', 'KEYSLOT', k)));
  expect(slots.size).toBe(1);
});

test('state - a store whose Redis is gone fails with a typed error that says what to check', async () => {
  const server = await startEmbeddedRedis(tempDir(), { log: () => {} });
  servers.push(server);
  const store = new RedisResourceStore({ domain: 'gone', redis: { path: server.socketPath, maxRetriesPerRequest: 0, retryStrategy: () => null } });
  await store.setCapacity('l1', 'ef', 100);
  await server.stop();
  const t = Math.ceil((Date.now() + 3_600_000) / 60_000) * 60_000;
  const err = await store.reserve({ id: 'x', links: ['l1'], cls: 'ef', rateBps: 1, start: t, end: t + 60_000 }).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(ResourceStoreError);
  expect((err as ResourceStoreError).code).toBe('QB_STATE_REDIS_FAILED');
  expect((err as Error).message).toMatch(/check that Redis is running/);
  await store.close();
});

test('regression - the embedded redis-server goes when its owner dies of an uncaught error (it used to outlive a crashed daemon)', async () => {
  const dataDir = tempDir();
  const mod = join(import.meta.dirname, '../../../dist/daemon/state/embedded-redis.js');
  expect(existsSync(mod), `${mod} is missing: run npm run build (npm test does it)`).toBe(true);
  const { spawn } = await import('node:child_process');
  const child = spawn(process.execPath, ['-e', `import(${JSON.stringify(mod)}).then(async (m) => { const r = await m.startEmbeddedRedis(${JSON.stringify(dataDir)}, { log: () => {} }); console.log(r.pid); setTimeout(() => { throw new Error('boom'); }, 10); });`], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  const code = await new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
  expect(code).toBe(1);
  const pid = Number(out.trim());
  expect(pid).toBeGreaterThan(0);
  const end = Date.now() + 10_000;
  while (pidAlive(pid) && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
  const survived = pidAlive(pid);
  if (survived) process.kill(pid, 'SIGKILL'); // leave nothing behind, even when the check fails
  expect(survived).toBe(false);
});
