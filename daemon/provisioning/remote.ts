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
import { AgreementError, OrderError, ServiceProvisioningError } from '../errors.js';
import { protoDir } from '../peering/proto.js';
import { callerPin, fromGrpcError, toGrpcError, type Channel, type ChainOrigin, type PinSource } from '../agreement/remote.js';
import { checkChainHop, nextHopToward, signChainHeader, verifyChainHeader, type ChainHeaderMsg } from '../agreement/chain.js';
import { AGREEMENT_DEFAULTS } from '../agreement/defaults.js';
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

/** The Provisioning client on a peer channel, shared per channel. */
function clientOn(channel: Channel): grpc.Client {
  let c = clients.get(channel);
  if (!c) {
    const P = loadProto();
    c = new P(channel.getTarget(), grpc.credentials.createInsecure(), { channelOverride: channel });
    clients.set(channel, c);
  }
  return c;
}

type Rpc = 'Activate' | 'Deactivate' | 'Status';
type UnaryFn = (r: object, md: grpc.Metadata, o: grpc.CallOptions, cb: (e: grpc.ServiceError | null, m: StatusMsg) => void) => void;

/** One unary call; a relayed one waits for a channel still connecting (its neighbour has a session with us) within its deadline. */
function unary(client: grpc.Client, rpc: Rpc | 'Relay', req: object, deadline: number): Promise<StatusMsg> {
  return new Promise((resolve, reject) => {
    const fn = (client as unknown as Record<string, UnaryFn>)[rpc]!.bind(client);
    fn(req, new grpc.Metadata(rpc === 'Relay' ? { waitForReady: true } : {}), { deadline }, (err, m) => (err ? reject(err) : resolve(m)));
  });
}

/** How a RemoteProvisioner reaches a domain it has no session with: through `firstHop`, a neighbour on `path`. */
export interface ProvisioningChain extends ChainOrigin {
  /** The order's domains in path order. */
  path: string[];
  firstHop: Channel;
  firstHopDomain: string;
}

/** Another provider's provisioning over its peer channel (or chained through a neighbour), each call with a deadline. */
export class RemoteProvisioner implements SegmentProvisioner {
  private readonly client: grpc.Client;

  constructor(
    readonly domain: string,
    /** The domain's peer channel; unused when `chain` is given. */
    channel: Channel | undefined,
    private readonly timeoutMs: number,
    private readonly chain?: ProvisioningChain,
  ) {
    this.client = clientOn(chain ? chain.firstHop : channel!);
  }

  private async call(rpc: Rpc, req: object): Promise<SegmentStatus> {
    const deadline = Date.now() + this.timeoutMs;
    const via = this.chain ? this.chain.firstHopDomain : this.domain;
    let m: StatusMsg;
    try {
      if (!this.chain) m = await unary(this.client, rpc, req, deadline);
      else {
        const c = this.chain;
        const callJson = JSON.stringify({ rpc, request: req });
        const header = signChainHeader('provisioning', { origin: c.origin, target: this.domain, path: c.path, deadline_ms: deadline }, callJson, c.signingKey);
        m = await unary(this.client, 'Relay', { header, call_json: callJson }, deadline);
      }
    } catch (err) {
      throw fromGrpcError(err as grpc.ServiceError, via, `Provisioning.${rpc}${this.chain ? ` for ${this.domain} through ${via}` : ''}`);
    }
    return fromMsg(m, this.domain);
  }

  private unary<M, T>(rpc: string, req: object, parse: (m: M) => T): Promise<T> {
    // Relay answers with a segment status: a sync report does not travel along the chain (yet)
    if (this.chain) return Promise.reject(new OrderError('QB_WORKFLOW_DOMAIN_UNREACHABLE', `no session with ${this.domain}, and ${rpc} is not relayed along the chain: its devices were not read`));
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

/** A gRPC failure of the next hop that carries a domain's refusal: passed back unchanged. */
class PassedOn extends Error {
  constructor(readonly status: grpc.ServiceError) {
    super(status.details);
  }
}

type Unary<Req, Res = StatusMsg> = (call: grpc.ServerUnaryCall<Req, Res>, cb: grpc.sendUnaryData<Res>) => void;

/** What a provider needs to relay provisioning calls (provisioning.proto, Chaining). */
export interface ProvisioningChainServing {
  /** The advertisement key (raw base64) of an origin, as peering verified it. */
  originKey(domain: string): string | undefined;
  /** The peer channel of a neighbour we can dial, to hand a call on. */
  neighbour(domain: string): Channel | undefined;
  /** @default AGREEMENT_DEFAULTS.chainHopMarginMs */
  hopMarginMs?: number;
}

/** Serve our DomainProvisioner to our configured peers. */
export function addProvisioningService(
  server: grpc.Server,
  target: DomainProvisioner,
  pins: PinSource,
  observe: (rpc: string, code: string, seconds: number) => void = () => {},
  chain?: ProvisioningChainServing,
): void {
  const P = loadProto();
  const handle =
    <Req, Res = StatusMsg>(rpc: string, run: (req: Req, caller: string) => Promise<SegmentStatus | SyncMsg>): Unary<Req, Res> =>
    (call, cb) => {
      const t0 = performance.now();
      const pin = callerPin(call.getAuthContext()?.sslPeerCertificate?.raw, pins());
      const fail = (err: unknown) => {
        const g = err instanceof PassedOn ? err.status : toGrpcError(err, target.domain);
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
  const activate = async (r: { contract_json: string; rate_mbps: number; amendment_json: string }, caller: string) => {
    const json = (field: string, text: string): SignedContract => {
      try {
        return JSON.parse(text) as SignedContract;
      } catch (err) {
        throw new InvalidArgumentError(`ActivateRequest.${field} is not JSON: ${(err as Error).message}`);
      }
    };
    if (!(Number.isFinite(r.rate_mbps) && r.rate_mbps >= 0)) throw new InvalidArgumentError(`ActivateRequest.rate_mbps must be >= 0, got ${r.rate_mbps}`);
    return target.activate(json('contract_json', r.contract_json), caller, r.rate_mbps || undefined, r.amendment_json ? json('amendment_json', r.amendment_json) : undefined);
  };
  type Run = (r: object, caller: string) => Promise<SegmentStatus>;
  const local: Record<Rpc, Run> = {
    Activate: activate as Run,
    Deactivate: async (r: { agreement_id?: string }, caller: string) => target.deactivate(id(r), caller),
    Status: async (r: { agreement_id?: string }) => target.getStatus(id(r)),
  };
  const margin = chain?.hopMarginMs ?? AGREEMENT_DEFAULTS.chainHopMarginMs;
  /** Answered here if we are the target (as if the origin had called), else handed on toward it; a refusal further on comes back as it was. */
  const relay = async (r: { header?: ChainHeaderMsg; call_json: string }, caller: string): Promise<SegmentStatus> => {
    const { dueAt } = checkChainHop(r.header, target.domain, caller, Date.now(), margin);
    const h = r.header!;
    if (h.target === target.domain) {
      verifyChainHeader('provisioning', h, r.call_json, chain?.originKey(h.origin), target.domain);
      let call: { rpc?: string; request?: object };
      try {
        call = JSON.parse(r.call_json) as typeof call;
      } catch (err) {
        throw new InvalidArgumentError(`RelayedProvisioning.call_json is not JSON: ${(err as Error).message}`);
      }
      const fn = typeof call.rpc === 'string' && Object.hasOwn(local, call.rpc) ? local[call.rpc as Rpc] : undefined;
      if (!fn || !call.request) throw new InvalidArgumentError(`RelayedProvisioning.call_json must name rpc Activate, Deactivate or Status and its request, got rpc ${JSON.stringify(call.rpc)}`);
      return fn(call.request, h.origin);
    }
    const next = chain ? nextHopToward(h.path, target.domain, h.target, (d) => chain.neighbour(d) !== undefined) : undefined;
    if (!next) throw new AgreementError('QB_AGREEMENT_NO_ROUTE', `${target.domain} cannot hand the provisioning call for ${h.target} on: it has no session it can dial with a domain between it and ${h.target} on the path ${h.path.join(' > ')}`);
    try {
      return fromMsg(await unary(clientOn(chain!.neighbour(next)!), 'Relay', r, dueAt), h.target);
    } catch (err) {
      // the refusal of a domain further on, with its code and domain, as it came
      if ((err as grpc.ServiceError).metadata?.get('qb-code').length) throw new PassedOn(err as grpc.ServiceError);
      throw fromGrpcError(err as grpc.ServiceError, next, `Provisioning.Relay for ${h.target} through ${next}`);
    }
  };
  server.addService(P.service, {
    Activate: handle<object>('Activate', local.Activate),
    Deactivate: handle<object>('Deactivate', local.Deactivate),
    Status: handle<object>('Status', local.Status),
    Relay: handle('Relay', relay),
    CheckSync: handle<{ agreement_id: string }, SyncMsg>('CheckSync', async (r, caller) => syncToMsg(await target.checkSync(id(r), caller))),
    Redeploy: handle<{ agreement_id: string }, SyncMsg>('Redeploy', async (r, caller) => {
      await target.redeploy(id(r), caller);
      return syncToMsg(await target.checkSync(id(r), caller));
    }),
  });
}

/** The wire shape of a segment status and back, for services that pass provisioning calls on (daemon/exchange). */
export { toMsg as statusToMsg, fromMsg as statusFromMsg, syncToMsg, syncFromMsg, type StatusMsg, type SyncMsg };
