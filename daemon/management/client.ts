/**
 * A client of a daemon's Management service (the CLI's): one method per RPC,
 * errors back as the typed QosBrokerError the daemon raised (its stable code
 * from the `qb-code` trailer).
 */
import * as grpc from '@grpc/grpc-js';
import { InvalidArgumentError } from '../../drivers/errors.js';
import { AdminError } from '../errors.js';
import { fromGrpcError } from '../agreement/remote.js';
import { loadManagementProto, type ApiKeyMsg, type CheckSyncMsg, type DeviceInfoMsg, type OrderMsg, type ServiceSpecMsg } from './proto.js';

export class ManagementClient {
  private readonly client: grpc.Client;

  constructor(
    /** `unix:PATH` or host:port */
    readonly address: string,
    private readonly timeoutMs = 130_000,
  ) {
    if (!/^unix:.+|^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):\d{1,5}$/.test(address)) throw new InvalidArgumentError(`--management must be unix:PATH or host:port (the daemon's management.listen), got ${JSON.stringify(address)}`);
    const M = loadManagementProto();
    this.client = new M(address, grpc.credentials.createInsecure());
  }

  private call<T>(rpc: string, req: object, timeoutMs = this.timeoutMs): Promise<T> {
    return new Promise((resolve, reject) => {
      const fn = (this.client as unknown as Record<string, (r: object, md: grpc.Metadata, o: grpc.CallOptions, cb: (e: grpc.ServiceError | null, m: T) => void) => void>)[rpc]!.bind(this.client);
      fn(req, new grpc.Metadata(), { deadline: Date.now() + timeoutMs }, (err, m) => {
        if (!err) return resolve(m);
        if (err.code === grpc.status.UNAVAILABLE && !err.metadata?.get('qb-code').length) {
          return reject(new AdminError('QB_MANAGEMENT_UNREACHABLE', `cannot reach qos-brokerd's management service at ${this.address}: ${err.details}; is the daemon running with management.listen there? (use --management or $QOS_BROKER_MANAGEMENT)`, { cause: err }));
        }
        reject(fromGrpcError(err, 'the daemon', `Management.${rpc}`));
      });
    });
  }

  createOrder(service: Partial<ServiceSpecMsg>, customer: string, wait: boolean, waitTimeoutMs = 120_000): Promise<OrderMsg> {
    return this.call('CreateOrder', { service, customer, wait, wait_timeout_ms: waitTimeoutMs }, waitTimeoutMs + 10_000);
  }
  getOrder(id: string, customer?: string): Promise<OrderMsg> {
    return this.call('GetOrder', { id, customer: customer ?? '' });
  }
  async listOrders(f: { customer?: string; state?: string; offset?: number; limit?: number } = {}): Promise<OrderMsg[]> {
    return (await this.call<{ orders: OrderMsg[] }>('ListOrders', { customer: f.customer ?? '', state: f.state ?? '', offset: f.offset ?? 0, limit: f.limit ?? 0 })).orders;
  }
  modifyOrder(id: string, rateMbps: number, durationMs: number, customer?: string): Promise<OrderMsg> {
    return this.call('ModifyOrder', { id, customer: customer ?? '', rate_mbps: rateMbps, duration_ms: durationMs });
  }
  terminateOrder(id: string, customer?: string): Promise<OrderMsg> {
    return this.call('TerminateOrder', { id, customer: customer ?? '' });
  }
  checkSync(id: string): Promise<CheckSyncMsg> {
    return this.call('CheckSync', { id });
  }
  redeploy(id: string): Promise<CheckSyncMsg> {
    return this.call('Redeploy', { id });
  }
  async devices(probe: boolean): Promise<DeviceInfoMsg[]> {
    return (await this.call<{ devices: DeviceInfoMsg[] }>('ListDevices', { probe })).devices;
  }
  createApiKey(role: string, customer: string, description = ''): Promise<{ key: ApiKeyMsg; secret: string }> {
    return this.call('CreateApiKey', { role, customer, description });
  }
  revokeApiKey(id: string): Promise<ApiKeyMsg> {
    return this.call('RevokeApiKey', { id });
  }
  async listApiKeys(customer?: string): Promise<ApiKeyMsg[]> {
    return (await this.call<{ keys: ApiKeyMsg[] }>('ListApiKeys', { customer: customer ?? '' })).keys;
  }
  /** Priced options (Quote); `body` as the agreement CLI builds it (from, to, qosClass, rateMbps, durationMs, ...). */
  async quote(service: Partial<ServiceSpecMsg>, o: { k?: number } = {}): Promise<Record<string, unknown>> {
    return JSON.parse((await this.call<{ json: string }>('Quote', { service, k: o.k ?? 0 })).json) as Record<string, unknown>;
  }
  async agree(service: Partial<ServiceSpecMsg>, o: { customer?: string; k?: number; agreementId?: string } = {}): Promise<Record<string, unknown>> {
    return JSON.parse((await this.call<{ json: string }>('Agree', { service, customer: o.customer ?? '', k: o.k ?? 0, agreement_id: o.agreementId ?? '' })).json) as Record<string, unknown>;
  }
  async peers(): Promise<Record<string, unknown>> {
    return JSON.parse((await this.call<{ json: string }>('ListPeers', {})).json) as Record<string, unknown>;
  }
  async domains(): Promise<Record<string, unknown>> {
    return JSON.parse((await this.call<{ json: string }>('ListDomains', {})).json) as Record<string, unknown>;
  }
  async adverts(): Promise<Record<string, unknown>> {
    return JSON.parse((await this.call<{ json: string }>('ListAdverts', {})).json) as Record<string, unknown>;
  }
  close(): void {
    this.client.close();
  }
}
