/**
 * A real Prometheus (Debian `prometheus`) scrapes a qos-brokerd process; the
 * test reads the values back through Prometheus's HTTP API. `promtool check
 * metrics` must find nothing to complain about in /metrics.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Cluster, freePort, inventory, waitFor, type Daemon } from '../brokerd/harness.js';

const cluster = new Cluster();
let d: Daemon;
let prom: ChildProcess | undefined;
let promExited: Promise<unknown> | undefined;
const promDir = mkdtempSync(join(tmpdir(), 'qb-prom-'));
let promAddr = '';

beforeAll(async () => {
  await cluster.init();
  const f = cluster.pki.domain('dom-m');
  d = await cluster.start(f, await cluster.allocate(), {
    role: 'provider',
    peering: { 'hold-time-s': 3, 'poll-interval-ms': 200 },
    peers: [{ 'domain-id': 'dom-n', 'ca-file': cluster.pki.caCert }],
    inventory: inventory('dom-m', ['dom-n'], 250),
  });
  promAddr = `127.0.0.1:${await freePort()}`;
  writeFileSync(
    join(promDir, 'prometheus.yml'),
    `global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: qos-brokerd\n    static_configs:\n      - targets: ['${d.metrics}']\n`,
  );
  prom = spawn(
    '/usr/bin/prometheus',
    [`--config.file=${join(promDir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(promDir, 'data')}`, `--web.listen-address=${promAddr}`, '--log.level=warn'],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  prom.stderr!.resume();
  promExited = new Promise((res) => prom!.once('exit', res));
});

afterAll(async () => {
  if (prom && prom.exitCode === null) {
    prom.kill('SIGTERM');
    const t = setTimeout(() => prom!.kill('SIGKILL'), 5000);
    await promExited;
    clearTimeout(t);
  }
  await cluster.stopAll();
  rmSync(promDir, { recursive: true, force: true });
});

async function query(q: string): Promise<{ metric: Record<string, string>; value: [number, string] }[]> {
  const r = await fetch(`http://${promAddr}/api/v1/query?query=${encodeURIComponent(q)}`);
  const body = (await r.json()) as { status: string; data: { result: { metric: Record<string, string>; value: [number, string] }[] } };
  if (body.status !== 'success') throw new Error(JSON.stringify(body));
  return body.data.result;
}

describe('metrics: Prometheus scrapes qos-brokerd', () => {
  test('metrics - promtool check metrics finds no problem in /metrics', async () => {
    const text = await d.metricsText();
    for (const name of ['qos_broker_peers', 'qos_broker_adverts_sent_total', 'qos_broker_adverts_rejected_total', 'qos_broker_flood_convergence_seconds', 'qos_broker_link_capacity_bytes_per_second', 'qos_broker_link_utilisation_ratio', 'qos_broker_rpc_duration_seconds', 'qos_broker_redis_duration_seconds']) {
      expect(text).toContain(`# TYPE ${name} `);
    }
    const r = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
    expect(r.stdout + r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  test('metrics - values read back through the Prometheus HTTP API', async () => {
    await waitFor('prometheus has scraped the daemon', async () => (await query('up{job="qos-brokerd"}')).some((s) => s.value[1] === '1'), 30_000);
    const cap = await query('qos_broker_link_capacity_bytes_per_second{link="dom-m-core",class="EF"}');
    expect(cap.map((s) => Number(s.value[1]))).toEqual([250_000_000 / 8]);
    const peers = await query('qos_broker_peers');
    expect(Object.fromEntries(peers.map((s) => [s.metric.state, Number(s.value[1])]))).toEqual({ idle: 1, connecting: 0, 'open-sent': 0, established: 0 });
    const rejected = await query('sum(qos_broker_adverts_rejected_total)');
    expect(Number(rejected[0]!.value[1])).toBe(0);
    const redis = await query('qos_broker_redis_duration_seconds_count{op="utilisation"}');
    expect(Number(redis[0]!.value[1])).toBeGreaterThan(0);
  });
});
