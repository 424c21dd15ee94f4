/**
 * The northbound listener with tls-cert and tls-key: a real qos-brokerd
 * serves the API over HTTPS with the configured certificate (checked against
 * the lab CA) and refuses plain HTTP on that port.
 */
import { request } from 'node:https';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { Cluster, freePort, inventory, type Daemon } from '../brokerd/harness.js';

const cluster = new Cluster();
let daemon: Daemon;
let base = '';

beforeAll(async () => {
  await cluster.init();
  const files = cluster.pki.domain('dom-t');
  const addr = await cluster.allocate();
  const listen = `${addr.host}:${await freePort(addr.host)}`;
  daemon = await cluster.start(files, addr, { role: 'provider', inventory: inventory('dom-t', []), northbound: { listen, 'tls-cert': files.cert, 'tls-key': files.key } });
  base = daemon.logs.find((l) => l.msg === 'qos-brokerd started')!.northbound as string;
}, 60_000);
afterAll(() => cluster.stopAll());

function get(path: string, headers: Record<string, string> = {}): Promise<{ status: number; body: Record<string, unknown> }> {
  const u = new URL(path, base);
  return new Promise((resolve, reject) => {
    const req = request({ host: u.hostname, port: u.port, path: u.pathname, headers, ca: readFileSync(cluster.pki.caCert), servername: 'dom-t' }, (res) => {
      let b = '';
      res.on('data', (c: Buffer) => (b += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode!, body: JSON.parse(b) as Record<string, unknown> }));
    });
    req.on('error', reject);
    req.end();
  });
}

test('northbound tls - the API is served over HTTPS with the configured certificate; plain HTTP on its port gets no answer', async () => {
  expect(base).toMatch(/^https:\/\/127\.0\.0\.\d+:\d+$/);
  const doc = await get('/openapi.json');
  expect(doc.status).toBe(200);
  expect(doc.body.openapi).toBe('3.1.0');
  const noKey = await get('/tmf-api/serviceInventory/v4/service');
  expect(noKey).toMatchObject({ status: 401, body: { code: 'QB_NORTHBOUND_UNAUTHENTICATED' } });
  await expect(fetch(`${base.replace('https:', 'http:')}/openapi.json`, { signal: AbortSignal.timeout(5000) })).rejects.toThrow();
});
