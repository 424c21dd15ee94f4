/**
 * The provisioning API over gRPC (qosbroker/v1/provisioning.proto): a
 * `RemoteProvisioner` is another provider's segment provisioning reached over
 * the peer's mutually authenticated channel; `addProvisioningService` serves
 * our own DomainProvisioner to our peers. Errors travel as gRPC statuses with
 * the stable code in the `qb-code` trailer, as the agreement calls do.
 */
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { InvalidArgumentError } from '../../drivers/errors.js';
import { ServiceProvisioningError } from '../errors.js';
import { protoDir } from '../peering/proto.js';
import { callerPin, fromGrpcError, toGrpcError, type Channel, type PinSource } from '../agreement/remote.js';
import type { SignedContract } from '../agreement/contract.js';
import type { DomainProvisioner, SegmentStatus, SyncReport } from './domain.js';

/** One domain's provisioning as the workflow sees it: our own, or a peer's over gRPC. */
export interface SegmentProvisioner {
  readonly domain: string;
  /** Provision at the contract's rate, or at its rate plus a signed amendment's (a boost). */
  activate(contract: SignedContract, rateMbps?: number, amendment?: SignedContract): Promise<SegmentStatus>;
  deactivate(agreementId: string): Promise<SegmentStatus>;
  status(agreementId: string): Promise<SegmentStatus>;
  /** Read the segment's devices back and compare (check-sync). */
  checkSync(agreementId: string): Promise<SyncReport>;
  /** Put what drifted back, then check again. */
  redeploy(agreementId: string): Promise<SyncReport>;
}

/** Our own domain's provisioning, called by our own workflow. */
export function localProvisioner(p: DomainProvisioner): SegmentProvisioner {
  return {
    domain: p.domain,
    activate: (c, rate, amendment) => p.activate(c, p.domain, rate, amendment),
    deactivate: (id) => p.deactivate(id, p.domain),
    status: (id) => p.getStatus(id),
    checkSync: (id) => p.checkSync(id),
    redeploy: async (id) => {
      await p.redeploy(id, p.domain);
      return p.checkSync(id);
    },
  };
}

interface StatusMsg {
  domain: string;
  agreement_id: string;
  state: string;
  devices: string[];
  error?: { code: string; message: string; device: string } | null;
}

interface SyncMsg {
  domain: string;
  agreement_id: string;
  in_sync: boolean;
  devices: Array<{ device: string; unreadable: boolean; diffs: string[]; error: string }>;
}

function syncToMsg(s: SyncReport): SyncMsg {
  return { domain: s.domain, agreement_id: s.agreementId, in_sync: s.inSync, devices: s.devices.map((d) => ({ device: d.device, unreadable: d.diffs === 'unreadable', diffs: Array.isArray(d.diffs) ? d.diffs : [], error: d.error ?? '' })) };
}

function syncFromMsg(m: SyncMsg, domain: string): SyncReport {
  if (m.domain !== domain) throw new ServiceProvisioningError('QB_PROVISION_REMOTE_ERROR', `${domain} answered for domain ${m.domain}`);
  return { domain: m.domain, agreementId: m.agreement_id, inSync: m.in_sync, devices: (m.devices ?? []).map((d) => ({ device: d.device, diffs: d.unreadable ? 'unreadable' : (d.diffs ?? []), ...(d.error ? { error: d.error } : {}) })) };
}

let cached: grpc.ServiceClientConstructor | undefined;

function loadProto(): grpc.ServiceClientConstructor {
  if (cached) return cached;
  const def = protoLoader.loadSync(['qosbroker/v1/provisioning.proto'], { includeDirs: [protoDir()], keepCase: true, longs: Number, enums: String, defaults: true, oneofs: true });
  cached = (grpc.loadPackageDefinition(def) as unknown as { qosbroker: { v1: { Provisioning: grpc.ServiceClientConstructor } } }).qosbroker.v1.Provisioning;
  return cached;
}

function toMsg(s: SegmentStatus): StatusMsg {
  return { domain: s.domain, agreement_id: s.agreementId, state: s.state, devices: s.devices, error: s.error ? { code: s.error.code, message: s.error.message, device: s.error.device ?? '' } : null };
}

function fromMsg(m: StatusMsg, domain: string): SegmentStatus {
  const states = ['applying', 'active', 'failed', 'removing', 'removed', 'unknown'];
  if (m.domain !== domain) throw new ServiceProvisioningError('QB_PROVISION_REMOTE_ERROR', `${domain} answered for domain ${m.domain}`);
  if (!states.includes(m.state)) throw new ServiceProvisioningError('QB_PROVISION_REMOTE_ERROR', `${domain} answered with unknown segment state ${JSON.stringify(m.state)}`);
  const s: SegmentStatus = { domain: m.domain, agreementId: m.agreement_id, state: m.state as SegmentStatus['state'], devices: m.devices ?? [] };
  if (m.error && m.error.code) s.error = { code: m.error.code, message: m.error.message, ...(m.error.device ? { device: m.error.device } : {}) };
  return s;
}

const clients = new WeakMap<Channel, grpc.Client>();

/** Another provider's provisioning over its peer channel, each call with a deadline. */
export class RemoteProvisioner implements SegmentProvisioner {
  private readonly client: grpc.Client;

  constructor(
    readonly domain: string,
    channel: Channel,
    private readonly timeoutMs: number,
  ) {
    let c = clients.get(channel);
    if (!c) {
      const P = loadProto();
      c = new P(channel.getTarget(), grpc.credentials.createInsecure(), { channelOverride: channel });
      clients.set(channel, c);
    }
    this.client = c;
  }

  private call(rpc: 'Activate' | 'Deactivate' | 'Status', req: object): Promise<SegmentStatus> {
    return this.unary<StatusMsg, SegmentStatus>(rpc, req, (m) => fromMsg(m, this.domain));
  }

  private unary<M, T>(rpc: string, req: object, parse: (m: M) => T): Promise<T> {
    return new Promise((resolve, reject) => {
      const fn = (this.client as unknown as Record<string, (r: object, md: grpc.Metadata, o: grpc.CallOptions, cb: (e: grpc.ServiceError | null, m: M) => void) => void>)[rpc]!.bind(this.client);
      fn(req, new grpc.Metadata(), { deadline: Date.now() + this.timeoutMs }, (err, m) => {
        if (err) return reject(fromGrpcError(err, this.domain, `Provisioning.${rpc}`));
        try {
          resolve(parse(m));
        } catch (e) {
          reject(e);
        }
      });
    });
  }

  checkSync(agreementId: string): Promise<SyncReport> {
    return this.unary<SyncMsg, SyncReport>('CheckSync', { agreement_id: agreementId }, (m) => syncFromMsg(m, this.domain));
  }

  redeploy(agreementId: string): Promise<SyncReport> {
    return this.unary<SyncMsg, SyncReport>('Redeploy', { agreement_id: agreementId }, (m) => syncFromMsg(m, this.domain));
  }

  activate(contract: SignedContract, rateMbps?: number, amendment?: SignedContract): Promise<SegmentStatus> {
    return this.call('Activate', { contract_json: JSON.stringify(contract), rate_mbps: rateMbps ?? 0, amendment_json: amendment ? JSON.stringify(amendment) : '' });
  }

  deactivate(agreementId: string): Promise<SegmentStatus> {
    return this.call('Deactivate', { agreement_id: agreementId });
  }

  status(agreementId: string): Promise<SegmentStatus> {
    return this.call('Status', { agreement_id: agreementId });
  }
}

type Unary<Req, Res = StatusMsg> = (call: grpc.ServerUnaryCall<Req, Res>, cb: grpc.sendUnaryData<Res>) => void;

/** Serve our DomainProvisioner to our configured peers. */
export function addProvisioningService(server: grpc.Server, target: DomainProvisioner, pins: PinSource, observe: (rpc: string, code: string, seconds: number) => void = () => {}): void {
  const P = loadProto();
  const handle =
    <Req, Res = StatusMsg>(rpc: string, run: (req: Req, caller: string) => Promise<SegmentStatus | SyncMsg>): Unary<Req, Res> =>
    (call, cb) => {
      const t0 = performance.now();
      const pin = callerPin(call.getAuthContext()?.sslPeerCertificate?.raw, pins());
      const fail = (err: unknown) => {
        const g = toGrpcError(err, target.domain);
        observe(`Provisioning.${rpc}`, grpc.status[g.code ?? grpc.status.INTERNAL] ?? 'INTERNAL', (performance.now() - t0) / 1000);
        cb(g as grpc.ServiceError);
      };
      if (!pin) return fail(new ServiceProvisioningError('QB_PROVISION_NOT_A_PEER', `${target.domain} provisions only for its configured peers; the caller's certificate is none of their pinned identities`));
      run(call.request, pin.domain).then((s) => {
        observe(`Provisioning.${rpc}`, 'OK', (performance.now() - t0) / 1000);
        cb(null, ('in_sync' in s ? s : toMsg(s)) as Res);
      }, fail);
    };
  const id = (r: { agreement_id?: string }): string => {
    if (!r.agreement_id) throw new InvalidArgumentError('SegmentRef.agreement_id is empty');
    return r.agreement_id;
  };
  server.addService(P.service, {
    Activate: handle<{ contract_json: string; rate_mbps: number; amendment_json: string }>('Activate', async (r, caller) => {
      const json = (field: string, text: string): SignedContract => {
        try {
          return JSON.parse(text) as SignedContract;
        } catch (err) {
          throw new InvalidArgumentError(`ActivateRequest.${field} is not JSON: ${(err as Error).message}`);
        }
      };
      if (!(Number.isFinite(r.rate_mbps) && r.rate_mbps >= 0)) throw new InvalidArgumentError(`ActivateRequest.rate_mbps must be >= 0, got ${r.rate_mbps}`);
      return target.activate(json('contract_json', r.contract_json), caller, r.rate_mbps || undefined, r.amendment_json ? json('amendment_json', r.amendment_json) : undefined);
    }),
    Deactivate: handle<{ agreement_id: string }>('Deactivate', async (r, caller) => target.deactivate(id(r), caller)),
    Status: handle<{ agreement_id: string }>('Status', async (r) => target.getStatus(id(r))),
    CheckSync: handle<{ agreement_id: string }, SyncMsg>('CheckSync', async (r, caller) => syncToMsg(await target.checkSync(id(r), caller))),
    Redeploy: handle<{ agreement_id: string }, SyncMsg>('Redeploy', async (r, caller) => {
      await target.redeploy(id(r), caller);
      return syncToMsg(await target.checkSync(id(r), caller));
    }),
  });
}
