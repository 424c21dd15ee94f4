/**
 * API keys on a real redis-server: the record of a key is kept in memory for
 * a while (no Redis round trip a request), the secret checked every time; a
 * revocation through this store is honoured at once, one through another
 * replica once the cached record is older than cacheMs (a clock injected).
 */
import { afterAll, beforeAll, expect, test } from 'vitest';
import type { Redis } from 'ioredis';
import { ApiKeyStore } from '../../../daemon/state/apikeys.js';
import { RecordStore } from '../../../daemon/state/records.js';
import { startTestRedis, type TestRedis } from './redis-harness.js';

let server: TestRedis;
let redis: Redis;

beforeAll(async () => {
  server = await startTestRedis();
  redis = server.client();
});
afterAll(async () => {
  await server?.stop();
});

/** Redis commands the server has run so far. */
async function commands(): Promise<number> {
  return Number(/total_commands_processed:(\d+)/.exec(await redis.info('stats'))![1]);
}

test('apikeys - a cached key costs no Redis round trip; a wrong secret for a known id is refused all the same; unknown ids are not cached', async () => {
  const keys = new ApiKeyStore(new RecordStore({ redis, domain: 'dom-k1' }), { cacheMs: 60_000 });
  const { key, secret } = await keys.create({ role: 'customer', customer: 'acme' });
  expect(await keys.authenticate(secret)).toEqual({ keyId: key.id, role: 'customer', customer: 'acme' });
  const before = await commands();
  for (let i = 0; i < 5; i++) expect(await keys.authenticate(secret)).toMatchObject({ keyId: key.id });
  const wrong = `${secret.slice(0, -4)}${secret.endsWith('AAAA') ? 'BBBB' : 'AAAA'}`;
  expect(await keys.authenticate(wrong)).toBeUndefined();
  // the INFO call itself is the only command since
  expect((await commands()) - before).toBe(1);
  const unknown = `qbk_${'0'.repeat(16)}_${'A'.repeat(43)}`;
  expect(await keys.authenticate(unknown)).toBeUndefined();
  const mark = await commands();
  expect(await keys.authenticate(unknown)).toBeUndefined();
  expect((await commands()) - mark).toBe(2);
});

test('apikeys - revoked through this store: refused at once; through another replica: refused here once the cached record is older than cacheMs', async () => {
  let now = 1_000_000;
  const here = new ApiKeyStore(new RecordStore({ redis, domain: 'dom-k2' }), { cacheMs: 1000, now: () => now });
  const replica = new ApiKeyStore(new RecordStore({ redis, domain: 'dom-k2' }));
  const a = await here.create({ role: 'operator' });
  const b = await here.create({ role: 'customer', customer: 'globex' });
  expect(await here.authenticate(a.secret)).toEqual({ keyId: a.key.id, role: 'operator' });
  expect(await here.authenticate(b.secret)).toMatchObject({ keyId: b.key.id });
  await here.revoke(a.key.id);
  expect(await here.authenticate(a.secret)).toBeUndefined();
  await replica.revoke(b.key.id);
  now += 999;
  expect(await here.authenticate(b.secret)).toMatchObject({ keyId: b.key.id });
  now += 1;
  expect(await here.authenticate(b.secret)).toBeUndefined();
  expect(await replica.authenticate(b.secret)).toBeUndefined();
});
