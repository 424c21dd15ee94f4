/**
 * The Management gRPC service of a daemon: one-line adapters from the RPCs
 * of qosbroker/v1/management.proto to the BrokerCore's methods. Served on
 * its own plaintext gRPC server bound to a unix socket or a loopback port
 * (the config refuses anything else).
 */
import { mkdirSync, rmSync } from 'node:fs';
import { dirname } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { InvalidArgumentError } from '../../drivers/errors.js';
import { toGrpcError } from '../agreement/remote.js';
import type { BrokerCore } from '../core.js';
import { apiKeyToMsg, deviceToMsg, loadManagementProto, orderToMsg, syncToMsg, type ServiceSpecMsg } from './proto.js';

type Handler = (call: grpc.ServerUnaryCall<Record<string, unknown>, unknown>, cb: grpc.sendUnaryData<unknown>) => void;

const MAX_WAIT_MS = 600_000;

function waitMs(v: unknown): number {
  const ms = typeof v === 'number' && v > 0 ? v : 120_000;
  if (ms > MAX_WAIT_MS) throw new InvalidArgumentError(`wait_timeout_ms must be at most ${MAX_WAIT_MS}, got ${ms}`);
  return ms;
}

/** Serve the core's operations; resolves with a stop function once listening. */
export async function serveManagement(core: BrokerCore, domain: string, listen: string, observe: (rpc: string, code: string, seconds: number) => void = () => {}): Promise<{ address: string; stop(): Promise<void> }> {
  const M = loadManagementProto();
  const server = new grpc.Server();
  const wrap =
    (rpc: string, fn: (req: Record<string, unknown>) => Promise<unknown>): Handler =>
    (call, cb) => {
      const t0 = performance.now();
      fn(call.request).then(
        (r) => {
          observe(`Management.${rpc}`, 'OK', (performance.now() - t0) / 1000);
          cb(null, r);
        },
        (err: unknown) => {
          const g = toGrpcError(err, domain);
          observe(`Management.${rpc}`, grpc.status[g.code ?? grpc.status.INTERNAL] ?? 'INTERNAL', (performance.now() - t0) / 1000);
          cb(g as grpc.ServiceError);
        },
      );
    };
  const cust = (r: Record<string, unknown>) => (typeof r.customer === 'string' && r.customer !== '' ? r.customer : undefined);
  const id = (r: Record<string, unknown>) => r.id as string;
  const json = (doc: unknown) => ({ json: JSON.stringify(doc) });
  const specInput = (s: ServiceSpecMsg) => ({ from: s.from, to: s.to, qosClass: s.qos_class, rateMbps: s.rate_mbps, maxLatencyMs: s.max_latency_ms, start: s.start_ms, durationMs: s.duration_ms, objective: s.objective, viaExchange: s.via_exchange });
  const agreementInput = (r: Record<string, unknown>) => {
    if (!r.service) throw new InvalidArgumentError('AgreementRequest.service is required');
    return { ...specInput(r.service as ServiceSpecMsg), customer: (r.customer as string) || 'cli', k: r.k, agreementId: r.agreement_id };
  };
  server.addService(M.service, {
    CreateOrder: wrap('CreateOrder', async (r) => {
      const s = (r.service ?? {}) as ServiceSpecMsg;
      if (!r.service) throw new InvalidArgumentError('CreateOrderRequest.service is required');
      const input = { ...specInput(s), customer: (r.customer as string) || 'operator' };
      return orderToMsg(await core.createOrder(input, r.wait ? { timeoutMs: waitMs(r.wait_timeout_ms) } : undefined));
    }),
    GetOrder: wrap('GetOrder', async (r) => orderToMsg(await core.getOrder(id(r), cust(r)))),
    ListOrders: wrap('ListOrders', async (r) => ({ orders: (await core.listOrders({ customer: cust(r), state: (r.state as string) || undefined, offset: r.offset as number, limit: (r.limit as number) || undefined })).map(orderToMsg) })),
    ModifyOrder: wrap('ModifyOrder', async (r) => orderToMsg(await core.modifyOrder(id(r), { rateMbps: r.rate_mbps as number, durationMs: r.duration_ms as number }, cust(r)))),
    TerminateOrder: wrap('TerminateOrder', async (r) => orderToMsg(await core.terminateOrder(id(r), cust(r)))),
    CheckSync: wrap('CheckSync', async (r) => syncToMsg(id(r), await core.checkSync(id(r), cust(r)))),
    Redeploy: wrap('Redeploy', async (r) => syncToMsg(id(r), await core.redeploy(id(r), cust(r)))),
    ListDevices: wrap('ListDevices', async (r) => ({ devices: (await core.devices(Boolean(r.probe))).map(deviceToMsg) })),
    CreateApiKey: wrap('CreateApiKey', async (r) => (({ key, secret }) => ({ key: apiKeyToMsg(key), secret }))(await core.createApiKey({ role: r.role as string, customer: r.customer as string, description: r.description as string }))),
    RevokeApiKey: wrap('RevokeApiKey', async (r) => apiKeyToMsg(await core.revokeApiKey(id(r)))),
    ListApiKeys: wrap('ListApiKeys', async (r) => ({ keys: (await core.listApiKeys(cust(r))).map(apiKeyToMsg) })),
    Quote: wrap('Quote', async (r) => json(await core.quoteOptions(agreementInput(r)))),
    Agree: wrap('Agree', async (r) => json(await core.agree(agreementInput(r)))),
    ListPeers: wrap('ListPeers', async () => json(core.peers())),
    ListDomains: wrap('ListDomains', async () => json(core.domains())),
    ListAdverts: wrap('ListAdverts', async () => json(core.adverts())),
  });
  const socket = listen.startsWith('unix:') ? listen.slice(5) : undefined;
  if (socket) {
    mkdirSync(dirname(socket), { recursive: true, mode: 0o700 });
    rmSync(socket, { force: true }); // a stale socket of a daemon that died
  }
  const address = socket ? `unix:${socket}` : listen;
  await new Promise<void>((resolve, reject) => server.bindAsync(address, grpc.ServerCredentials.createInsecure(), (err) => (err ? reject(err) : resolve())));
  return {
    address,
    stop: () =>
      new Promise<void>((resolve) => {
        const t = setTimeout(() => server.forceShutdown(), 3000);
        server.tryShutdown(() => {
          clearTimeout(t);
          if (socket) rmSync(socket, { force: true });
          resolve();
        });
      }),
  };
}
