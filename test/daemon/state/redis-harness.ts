/** A real redis-server per test file, on a unix socket in a temp dir that is removed afterwards. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { startEmbeddedRedis, type EmbeddedRedis } from '../../../daemon/state/embedded-redis.js';

export interface TestRedis {
  server: EmbeddedRedis;
  dataDir: string;
  /** A new client; closed by stop(). */
  client(): Redis;
  stop(): Promise<void>;
}

export async function startTestRedis(): Promise<TestRedis> {
  const dataDir = mkdtempSync(join(tmpdir(), 'qb-redis-'));
  const clients: Redis[] = [];
  let server: EmbeddedRedis;
  try {
    server = await startEmbeddedRedis(dataDir, { log: () => {} });
  } catch (err) {
    rmSync(dataDir, { recursive: true, force: true });
    throw err;
  }
  return {
    server,
    dataDir,
    client() {
      const c = new Redis({ path: server.socketPath, maxRetriesPerRequest: 1 });
      clients.push(c);
      return c;
    },
    async stop() {
      for (const c of clients) c.disconnect();
      await server.stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
