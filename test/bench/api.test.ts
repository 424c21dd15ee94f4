/**
 * The api benchmark runs as `npm run bench -- api` does (the compiled bench,
 * as a child process), on a small scale: a real qos-brokerd, its store seeded
 * through the API, the bare node:http reference in the same run. Nothing here
 * judges speed (the machine is shared): the figures must be figures, every
 * answer the expected status, and nothing may be left behind.
 */
import { resolve } from 'node:path';
import { expect, test } from 'vitest';
import { benchDirs, benchProcesses, leftBehind, runBench } from './run-bench.js';

const PREFIX = 'qb-bench-api-';

test('bench - api: list and order rates against the bare server, ratios and p99 printed, every answer as expected, nothing left behind', async () => {
  const before = new Set(benchDirs(PREFIX));
  const running = new Set(benchProcesses(PREFIX));
  const { code, out, last } = await runBench(resolve(__dirname, '../../dist/bench/api/main.js'), ['--services', '150', '--seconds', '1', '--rounds', '1', '--clients', '10']);
  expect(code, out.slice(-2000)).toBe(0);
  expect(last.bench).toBe('api');
  expect(last.services).toBe(150);
  for (const k of ['listRps', 'listP99Ms', 'refListRps', 'listRatio', 'postRps', 'postP99Ms', 'refPostRps', 'postRatio']) expect(Number.isFinite(last[k]) && last[k] > 0, `${k} = ${last[k]}`).toBe(true);
  expect(last.unexpectedStatuses).toBe(0);
  expect(out).toMatch(/seeded 150 services of customer bench-list/);
  expect(out).toMatch(/GET \/tmf-api\/serviceInventory\/v4\/service: 100 services/);
  expect(typeof last.met.listRatio).toBe('boolean');
  expect(benchDirs(PREFIX).filter((d) => !before.has(d))).toEqual([]);
  expect(await leftBehind(PREFIX, running)).toEqual([]);
}, 300_000);
