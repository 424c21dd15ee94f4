/** An exchange and two providers as separate qos-brokerd processes: registrations reach the other providers. */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import * as grpc from '@grpc/grpc-js';
import { Cluster, inventory, metricValue, waitFor, type Daemon } from './harness.js';
import { loadProtos, type RegistrationMsg } from '../../../daemon/peering/proto.js';
import { clientCredentials } from '../../../daemon/peering/tls.js';
import { rawPublicKey } from '../../../daemon/peering/advert.js';
import { pidAlive } from '../../../lab/runner.js';

const cluster = new Cluster();
let ex: Daemon, p1: Daemon, p2: Daemon;
const peering = { 'hold-time-s': 3, 'backoff-initial-ms': 100, 'backoff-max-ms': 1000 };
/** A provider registered at the exchange (started in beforeAll). */
const provider = (name: string) => ({
  role: 'provider',
  peering,
  peers: [{ 'domain-id': 'exchange-x', 'ca-file': cluster.pki.caCert, address: ex.grpc, exchange: true }],
  inventory: inventory(name, []),
  redis: { embedded: true }, // each provider starts its own redis-server under its data dir
});

beforeAll(async () => {
  await cluster.init();
  const pki = cluster.pki;
  const [fx, f1, f2] = [pki.domain('exchange-x'), pki.domain('prov-1'), pki.domain('prov-2')];
  const ca = pki.caCert;
  const [ax, a1, a2] = [await cluster.allocate(), await cluster.allocate(), await cluster.allocate()];
  ex = await cluster.start(fx, ax, {
    role: 'exchange',
    peering: { ...peering, 'registration-ttl-s': 1 },
    peers: [{ 'domain-id': 'prov-1', 'ca-file': ca }, { 'domain-id': 'prov-2', 'ca-file': ca }, { 'domain-id': 'prov-3', 'ca-file': ca }],
  });
  p1 = await cluster.start(f1, a1, provider('prov-1'));
  p2 = await cluster.start(f2, a2, provider('prov-2'));
});

afterAll(async () => {
  await cluster.stopAll();
});

type DomainRow = { domain: string; registered: boolean; keySource: string | null; peeringAddress: string | null; classes: string[] };

describe('qos-brokerd: exchange role', () => {
  test('exchange - a provider that goes away: its embedded redis-server stops, its registration expires everywhere', async () => {
    const f = cluster.pki.domain('prov-3');
    const p3 = await cluster.start(f, await cluster.allocate(), {
      role: 'provider',
      peering,
      peers: [{ 'domain-id': 'exchange-x', 'ca-file': cluster.pki.caCert, address: ex.grpc, exchange: true }],
      inventory: inventory('prov-3', []),
      redis: { embedded: true },
    });
    const pid = p3.logs.find((l) => l.msg === 'no Redis configured: started an embedded redis-server')!.pid as number;
    const registered = async (who: Daemon) => ((await who.get('/v1/domains')).domains as { domain: string; registered: boolean }[]).some((x) => x.domain === 'prov-3' && x.registered);
    await waitFor('prov-1 learns prov-3', () => registered(p1));
    expect(() => process.kill(pid, 0)).not.toThrow();
    p3.proc.kill('SIGTERM');
    expect(await p3.exited).toBe(0);
    expect(() => process.kill(pid, 0)).toThrow();
    // registration-ttl-s is 1 at the exchange: gone there and, through the exchange, at prov-1
    await waitFor('the exchange forgets prov-3', async () => !(await registered(ex)));
    await waitFor('prov-1 forgets prov-3', async () => !(await registered(p1)));
    expect(ex.logs.some((l) => l.msg === 'registration expired' && l.domain === 'prov-3')).toBe(true);
  });

  test('exchange - a provider registers and its registration reaches the other provider', async () => {
    await waitFor('prov-2 knows prov-1 through the exchange', async () => ((await p2.get('/v1/domains')).domains as DomainRow[]).some((d) => d.domain === 'prov-1' && d.registered));
    await waitFor('prov-1 knows prov-2 through the exchange', async () => ((await p1.get('/v1/domains')).domains as DomainRow[]).some((d) => d.domain === 'prov-2' && d.registered));
    const row = ((await p2.get('/v1/domains')).domains as DomainRow[]).find((d) => d.domain === 'prov-1')!;
    expect(row).toMatchObject({ registered: true, keySource: 'registration', peeringAddress: p1.grpc, classes: ['EF'] });
    const exRows = (await ex.get('/v1/domains')).domains as DomainRow[];
    expect(exRows.filter((d) => d.registered).map((d) => d.domain)).toEqual(['prov-1', 'prov-2']);
    expect(metricValue(await ex.metricsText(), 'qos_broker_registrations')).toBe(2);
    expect(metricValue(await ex.metricsText(), 'qos_broker_rpc_duration_seconds_count', { rpc: 'Registry.Register', code: 'OK' })).toBeGreaterThanOrEqual(2);
    const peers = (await p1.get('/v1/peers')).peers as { domain: string; state: string }[];
    expect(peers).toMatchObject([{ domain: 'exchange-x', state: 'established' }]);
    for (const p of [p1, p2]) expect(p.logs.some((l) => l.msg === 'no Redis configured: started an embedded redis-server' && l.component === 'state')).toBe(true);
  });

  /** Start a provider and return as soon as it has logged `msg` (it is still starting then). */
  const startUntil = async (domain: string, msg: string) =>
    cluster.start(cluster.pki.domain(domain), await cluster.allocate(), provider(domain), (logs) => logs.some((l) => l.msg === msg));

  test('exchange - a provider stopped while it is still starting takes its embedded redis-server with it', async () => {
    // SIGTERM as soon as its redis-server is up, before the rest of the start (TLS, gRPC, peering)
    const p4 = await startUntil('prov-4', 'no Redis configured: started an embedded redis-server');
    const pid = p4.logs.find((l) => l.msg === 'no Redis configured: started an embedded redis-server')!.pid as number;
    p4.proc.kill('SIGTERM');
    await waitFor('prov-4 to exit', () => p4.proc.exitCode !== null || p4.proc.signalCode !== null, 15_000).catch((err: Error) => {
      throw new Error(`${err.message}; its log: ${JSON.stringify(p4.logs.map((l) => l.msg))}`);
    });
    // it got SIGTERM as the daemon exited and ends on its own (an orphan would live on)
    await waitFor('the embedded redis-server to end', () => !pidAlive(pid));
  });

  test('exchange - a SIGHUP while a provider is starting is kept: it starts, then reloads its config', async () => {
    // as soon as the config is read: its redis-server is still to be started
    const p5 = await startUntil('prov-5', 'config loaded');
    p5.proc.kill('SIGHUP');
    await waitFor('prov-5 to start and reload', () => p5.logs.some((l) => l.msg === 'qos-brokerd started') && p5.logs.some((l) => l.msg === 'config reloaded'));
    // in that order: the reload waited for the start
    const started = p5.logs.findIndex((l) => l.msg === 'qos-brokerd started');
    const reloaded = p5.logs.findIndex((l) => l.msg === 'config reloaded');
    expect(started).toBeLessThan(reloaded);
    expect(p5.proc.exitCode).toBeNull();
  });

  test('exchange - a registration claiming another domain than its certificate is refused', async () => {
    const f = cluster.pki.domain('prov-1', { cn: 'prov-2' }); // valid CA, certificate for prov-2
    const { registry } = loadProtos();
    const client = new registry(ex.grpc, clientCredentials({ certPem: f.certPem, keyPem: f.keyPem }, { domain: 'exchange-x', caPem: cluster.pki.caPem }));
    try {
      const call = (client as unknown as { Register(r: RegistrationMsg): grpc.ClientReadableStream<RegistrationMsg> }).Register({
        domain: { domain_id: 'prov-1', broker_id: 'evil', public_key: rawPublicKey(f.advertKeyPem), peering_address: '127.0.0.1:1', borders: [] },
        service: { classes: [], sites: [], currency: 'EUR', price_per_mbps_hour: {} },
      });
      const err = await new Promise<grpc.ServiceError>((res) => {
        call.on('error', res);
        call.on('data', () => {});
      });
      expect(err.code).toBe(grpc.status.PERMISSION_DENIED);
      expect(err.details).toMatch(/the certificate presented for prov-1 is issued to prov-2, not to prov-1/);
    } finally {
      client.close();
    }
    const row = ((await p2.get('/v1/domains')).domains as DomainRow[]).find((d) => d.domain === 'prov-1')!;
    expect(row.peeringAddress).toBe(p1.grpc);
  });

  test('exchange - health service answers SERVING over mutual TLS', async () => {
    const { health } = loadProtos();
    const f = cluster.pki.domain('prov-1');
    const client = new health(ex.grpc, clientCredentials({ certPem: f.certPem, keyPem: f.keyPem }, { domain: 'exchange-x', caPem: cluster.pki.caPem }));
    try {
      const check = (service: string) =>
        new Promise<{ status: string } | grpc.ServiceError>((res) =>
          (client as unknown as { Check(r: unknown, cb: (e: grpc.ServiceError | null, r: { status: string }) => void): void }).Check({ service }, (e, r) => res(e ?? r)),
        );
      expect(await check('')).toEqual({ status: 'SERVING' });
      expect(await check('qosbroker.v1.Registry')).toEqual({ status: 'SERVING' });
      // an exchange brokers registrations; it is no provider and serves no Agreement
      expect((await check('qosbroker.v1.Agreement')) as grpc.ServiceError).toMatchObject({ code: grpc.status.NOT_FOUND });
      expect((await check('nope.Service')) as grpc.ServiceError).toMatchObject({ code: grpc.status.NOT_FOUND });
    } finally {
      client.close();
    }
  });
});
