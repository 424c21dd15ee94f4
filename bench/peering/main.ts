/**
 * bench/peering: admission decisions per second through the Redis resource
 * store against redis-benchmark's EVAL rate on the same redis-server in the
 * same run (target: at least 25%), and zero overbooking with 256 concurrent
 * clients; then advertisement convergence for 10, 50 and 100 brokers on a
 * random degree-3 mesh (convergence.ts). The last line is one JSON object.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEmbeddedRedis } from '../../daemon/state/embedded-redis.js';
import { admissionBench } from './admission.js';
import { convergenceBench } from './convergence.js';

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'qb-bench-'));
  const redis = await startEmbeddedRedis(dir, { log: () => {} });
  try {
    console.log(`redis-server on ${redis.socketPath}`);
    const adm = await admissionBench(redis.socketPath, (l) => console.log(l));
    const target = adm.ratio_vs_redis_eval >= 0.25 && adm.overbooked === 0 && adm.usage_mismatch === 0;
    console.log(`admission target (>= 25% of redis EVAL, no overbooking): ${target ? 'met' : 'NOT met'}`);
    const { results: _results, ...conv } = await convergenceBench((l) => console.log(l));
    console.log(JSON.stringify({ bench: 'peering', ...adm, admission_target_met: target, ...conv }));
  } finally {
    await redis.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? (err.stack ?? err.message) : String(err));
  process.exit(1);
});
