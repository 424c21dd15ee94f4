/** Test helpers: in-process PeeringCores over real gRPC with mutual TLS. */
import { createPrivateKey } from 'node:crypto';
import { PeeringCore, type PeerSpec } from '../../../daemon/peering/peering-core.js';
import { GrpcPeeringTransport, PeeringServer } from '../../../daemon/peering/server.js';
import type { Inventory } from '../../../daemon/peering/origin.js';
import type { DomainFiles, TestPki } from '../../../lab/pki.js';

export function inventoryFor(domain: string, neighbours: string[], capacityMbps = 100): Inventory {
  const cls = { capacityMbps, latencyMs: 2, jitterMs: 0.5, loss: 0 };
  return {
    borders: ['b1', 'b2'],
    sites: [{ id: `${domain}-site`, borders: ['b1'] }],
    transits: [{ id: `${domain}-core`, from: 'b1', to: 'b2', bidirectional: true, classes: { EF: cls, BE: { ...cls, capacityMbps: capacityMbps * 4 } } }],
    links: neighbours.map((n) => ({ id: `${domain}-${n}`, border: 'b2', peerDomain: n, peerBorder: 'b2', classes: { EF: cls } })),
    prices: { currency: 'EUR', perMbpsHour: { EF: 0.5, BE: 0.05 } },
  };
}

export interface TestBroker {
  core: PeeringCore;
  server: PeeringServer;
  files: DomainFiles;
  address: string;
  stop(): Promise<void>;
}

export async function startBroker(
  files: DomainFiles,
  opts: { peers: PeerSpec[]; inventory?: Inventory; role?: 'provider' | 'exchange'; holdTimeS?: number; originKeys?: Record<string, string>; lifetimeS?: number },
): Promise<TestBroker> {
  const own = { certPem: files.certPem, keyPem: files.keyPem };
  const core = new PeeringCore({
    role: opts.role ?? 'provider',
    domain: files.domain,
    brokerId: `${files.domain}-1`,
    signingKey: createPrivateKey(files.advertKeyPem),
    peers: opts.peers,
    originKeys: opts.originKeys,
    holdTimeS: opts.holdTimeS ?? 3,
    advertLifetimeS: opts.lifetimeS ?? 30,
    backoff: { initialMs: 100, maxMs: 500 },
    inventory: opts.inventory,
    transport: new GrpcPeeringTransport(own, 1000),
  });
  const server = new PeeringServer(core, own, '127.0.0.1:0');
  await server.start(opts.peers);
  await core.start();
  return {
    core,
    server,
    files,
    address: `127.0.0.1:${server.port}`,
    async stop() {
      await core.stop();
      await server.stop();
    },
  };
}

export function pin(pki: TestPki, files: DomainFiles, address?: string, extra: Partial<PeerSpec> = {}): PeerSpec {
  return { domain: files.domain, caPem: pki.caPem, address, ...extra };
}

export async function waitFor(what: string, cond: () => boolean | Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
