/**
 * The agreement API over gRPC (qosbroker/v1/agreement.proto): a
 * `RemoteParticipant` is another provider's AgreementParticipant reached over
 * the peer's mutually authenticated channel (the one peering dialed, with its
 * identity pin), with a deadline on every call; `agreementHandlers` serves our
 * own domain's participant, one line per RPC.
 *
 * Errors are QosBrokerErrors everywhere except on the wire: the handlers map
 * them to a gRPC status plus `qb-code`/`qb-domain` metadata, and the remote
 * side turns that back into the same typed error (SegmentRejectedError keeps
 * its domain), so the coordinator cannot tell a remote refusal from a local one.
 */
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { InvalidArgumentError, QosBrokerError, TimeoutError, TransportError } from '../../drivers/errors.js';
import { protoDir } from '../peering/proto.js';
import { checkPeerCertificate, type PeerPin } from '../peering/tls.js';
import type { PathHop } from '../topology/types.js';
import type { ContractBody, ContractSignature } from './contract.js';
import { SegmentRejectedError, type AgreementParticipant, type SegmentOrder, type SegmentQuote } from './participant.js';

// ------------------------------------------------------------------ wire shapes

/** Mirrors qosbroker.v1.PathHop as proto-loader delivers it (keepCase). */
export interface PathHopMsg {
  from: string;
  to: string;
  kind: string;
  metrics?: { available_mbps: number; capacity_mbps: number; latency_ms: number; jitter_ms: number; loss: number };
}
/** Mirrors qosbroker.v1.SegmentOrder. */
export interface SegmentOrderMsg {
  agreement_id: string;
  alternative: number;
  index: number;
  domain: string;
  ingress: string;
  egress: string;
  hops: PathHopMsg[];
  qos_class: string;
  rate_mbps: number;
  start_ms: number;
  end_ms: number;
}
/** Mirrors qosbroker.v1.SegmentQuote. */
export interface SegmentQuoteMsg {
  domain: string;
  index: number;
  price_minor: number;
  currency: string;
  valid_until_ms: number;
}
/** Mirrors qosbroker.v1.ContractSignature. */
export interface ContractSignatureMsg {
  domain: string;
  manifest: Record<string, string>;
  signature: string;
}

let cached: grpc.ServiceClientConstructor | undefined;

/** The Agreement service, loaded once from daemon/proto (like peering.proto). */
export function loadAgreementProto(): grpc.ServiceClientConstructor {
  if (cached) return cached;
  const def = protoLoader.loadSync(['qosbroker/v1/agreement.proto'], { includeDirs: [protoDir()], keepCase: true, longs: Number, enums: String, defaults: true, oneofs: true });
  cached = (grpc.loadPackageDefinition(def) as unknown as { qosbroker: { v1: { Agreement: grpc.ServiceClientConstructor } } }).qosbroker.v1.Agreement;
  return cached;
}

export function orderToMsg(o: SegmentOrder): SegmentOrderMsg {
  return {
    agreement_id: o.agreementId,
    alternative: o.alternative,
    index: o.index,
    domain: o.domain,
    ingress: o.ingress,
    egress: o.egress,
    hops: o.hops.map((h) => ({
      from: h.from,
      to: h.to,
      kind: h.kind,
      metrics: { available_mbps: h.metrics.availableMbps, capacity_mbps: h.metrics.capacityMbps ?? 0, latency_ms: h.metrics.latencyMs, jitter_ms: h.metrics.jitterMs, loss: h.metrics.loss },
    })),
    qos_class: o.qosClass,
    rate_mbps: o.rateMbps,
    start_ms: o.start,
    end_ms: o.end,
  };
}

/** Decode and check an order from the wire; InvalidArgumentError names the field. */
export function orderFromMsg(m: SegmentOrderMsg): SegmentOrder {
  const bad = (field: string, why: string): never => {
    throw new InvalidArgumentError(`SegmentOrder.${field} ${why}`);
  };
  if (!m.agreement_id) bad('agreement_id', 'is empty');
  if (!m.domain) bad('domain', 'is empty');
  if (!m.qos_class) bad('qos_class', 'is empty');
  if (!(Number.isFinite(m.rate_mbps) && m.rate_mbps > 0)) bad('rate_mbps', `must be > 0, got ${m.rate_mbps}`);
  if (!(Number.isSafeInteger(m.start_ms) && Number.isSafeInteger(m.end_ms) && m.end_ms > m.start_ms)) bad('end_ms', `must be after start_ms (got ${m.start_ms}..${m.end_ms})`);
  // empty when the path enters and leaves the domain at one border (a site on the border that enters it)
  if (!Array.isArray(m.hops)) bad('hops', 'must be a list of edges');
  const hops: PathHop[] = m.hops.map((h, i) => {
    if (h.kind !== 'transit' && h.kind !== 'link') bad(`hops[${i}].kind`, `must be "transit" or "link", got ${JSON.stringify(h.kind)}`);
    if (!h.from || !h.to) bad(`hops[${i}]`, 'needs from and to');
    const x = h.metrics ?? { available_mbps: 0, capacity_mbps: 0, latency_ms: 0, jitter_ms: 0, loss: 0 };
    const metrics: PathHop['metrics'] = { availableMbps: x.available_mbps, latencyMs: x.latency_ms, jitterMs: x.jitter_ms, loss: x.loss };
    if (x.capacity_mbps > 0) metrics.capacityMbps = x.capacity_mbps;
    return { from: h.from, to: h.to, kind: h.kind as PathHop['kind'], metrics };
  });
  return {
    agreementId: m.agreement_id,
    alternative: m.alternative,
    index: m.index,
    domain: m.domain,
    ingress: m.ingress,
    egress: m.egress,
    hops,
    qosClass: m.qos_class,
    rateMbps: m.rate_mbps,
    start: m.start_ms,
    end: m.end_ms,
  };
}

// ------------------------------------------------------------------ errors at the edge

const STATUS_BY_CODE: Record<string, grpc.status> = {
  QB_AGREEMENT_SEGMENT_REJECTED: grpc.status.RESOURCE_EXHAUSTED,
  QB_INVALID_ARGUMENT: grpc.status.INVALID_ARGUMENT,
  QB_AGREEMENT_WRONG_DOMAIN: grpc.status.INVALID_ARGUMENT,
  QB_AGREEMENT_NOTHING_HELD: grpc.status.FAILED_PRECONDITION,
  QB_AGREEMENT_BODY_MISMATCH: grpc.status.FAILED_PRECONDITION,
  QB_STATE_HOLD_EXPIRED: grpc.status.FAILED_PRECONDITION,
  QB_AGREEMENT_NOT_A_PEER: grpc.status.PERMISSION_DENIED,
  QB_AGREEMENT_NOT_OWNER: grpc.status.PERMISSION_DENIED,
};

/** A thrown error as a gRPC status with the stable code and domain in metadata. */
export function toGrpcError(err: unknown, domain: string): Partial<grpc.StatusObject> {
  const metadata = new grpc.Metadata();
  metadata.set('qb-domain', err instanceof SegmentRejectedError ? err.domain : domain);
  if (err instanceof QosBrokerError) {
    metadata.set('qb-code', err.code);
    return { code: STATUS_BY_CODE[err.code] ?? (err.code.startsWith('QB_CONTRACT_') ? grpc.status.INVALID_ARGUMENT : grpc.status.INTERNAL), details: err.message, metadata };
  }
  return { code: grpc.status.INTERNAL, details: `${domain}: ${err instanceof Error ? err.message : String(err)}`, metadata };
}

/** A gRPC failure of a call to `domain` as the typed error it stood for. */
export function fromGrpcError(err: grpc.ServiceError, domain: string, what: string): QosBrokerError {
  const code = err.metadata?.get('qb-code')[0]?.toString();
  const from = err.metadata?.get('qb-domain')[0]?.toString() || domain;
  if (code === 'QB_AGREEMENT_SEGMENT_REJECTED') return new SegmentRejectedError(from, err.details);
  if (code === 'QB_INVALID_ARGUMENT') return new InvalidArgumentError(err.details);
  if (code) return new QosBrokerError(code, err.details, { cause: err });
  switch (err.code) {
    case grpc.status.DEADLINE_EXCEEDED:
      return new TimeoutError('QB_AGREEMENT_TIMEOUT', `${what} at ${domain} did not answer before its deadline`, { cause: err });
    case grpc.status.UNAVAILABLE:
      return new TransportError('QB_AGREEMENT_UNREACHABLE', `${what} at ${domain}: the broker cannot be reached (${err.details})`, { cause: err });
    case grpc.status.UNIMPLEMENTED:
      return new QosBrokerError('QB_AGREEMENT_UNSUPPORTED', `${domain} does not serve qosbroker.v1.Agreement (is it a provider running this version?)`, { cause: err });
    default:
      return new QosBrokerError('QB_AGREEMENT_REMOTE_ERROR', `${what} at ${domain} failed: ${grpc.status[err.code] ?? err.code}: ${err.details}`, { cause: err });
  }
}

// ------------------------------------------------------------------ client

export interface RemoteParticipantOptions {
  /** Deadline of each call, ms. @default 5000 */
  callTimeoutMs?: number;
  /** Extra attempts of an idempotent call (Reserve, Commit, Abort) whose broker was unreachable. @default 1 */
  retries?: number;
}

/** A client channel (the interface, as Client.getChannel returns it). */
export type Channel = ReturnType<grpc.Client['getChannel']>;

const clientsByChannel = new WeakMap<Channel, grpc.Client>();

/** An Agreement client on an existing channel (the peer's mTLS channel from peering), shared per channel. */
export function agreementClientOn(channel: Channel): grpc.Client {
  let c = clientsByChannel.get(channel);
  if (!c) {
    const Agreement = loadAgreementProto();
    // With channelOverride the client uses that channel (its credentials and identity pin); these credentials are never used.
    c = new Agreement(channel.getTarget(), grpc.credentials.createInsecure(), { channelOverride: channel });
    clientsByChannel.set(channel, c);
  }
  return c;
}

type Unary = (req: unknown, md: grpc.Metadata, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res: unknown) => void) => void;

/** Another provider's participant, over gRPC. */
export class RemoteParticipant implements AgreementParticipant {
  private readonly callTimeoutMs: number;
  private readonly retries: number;

  constructor(
    readonly domain: string,
    /** The domain's Ed25519 advertisement key (raw base64) as peering verified it; its contract signature must verify with it. */
    readonly publicKey: string,
    private readonly client: grpc.Client,
    options: RemoteParticipantOptions = {},
  ) {
    this.callTimeoutMs = options.callTimeoutMs ?? 5000;
    this.retries = options.retries ?? 1;
  }

  private async call<T>(rpc: 'Quote' | 'Reserve' | 'Commit' | 'Abort', req: unknown, retries: number): Promise<T> {
    const fn = (this.client as unknown as Record<string, Unary>)[rpc]!.bind(this.client);
    for (let attempt = 0; ; attempt++) {
      try {
        return await new Promise<T>((res, rej) =>
          fn(req, new grpc.Metadata(), { deadline: Date.now() + this.callTimeoutMs }, (err, out) => (err ? rej(err) : res(out as T))),
        );
      } catch (err) {
        const e = err as grpc.ServiceError;
        if (e.code === grpc.status.UNAVAILABLE && attempt < retries) continue;
        throw fromGrpcError(e, this.domain, rpc);
      }
    }
  }

  async quote(order: SegmentOrder): Promise<SegmentQuote> {
    const q = await this.call<SegmentQuoteMsg>('Quote', orderToMsg(order), 0);
    return { domain: q.domain, index: q.index, priceMinor: q.price_minor, currency: q.currency, validUntil: q.valid_until_ms };
  }

  async reserve(order: SegmentOrder, holdTtlMs: number): Promise<void> {
    await this.call('Reserve', { order: orderToMsg(order), hold_ttl_ms: holdTtlMs }, this.retries);
  }

  async commit(agreementId: string, body: ContractBody): Promise<ContractSignature> {
    const s = await this.call<ContractSignatureMsg>('Commit', { agreement_id: agreementId, body_json: JSON.stringify(body) }, this.retries);
    if (s.domain !== this.domain) throw new QosBrokerError('QB_AGREEMENT_REMOTE_ERROR', `commit at ${this.domain} returned a signature of ${s.domain}`);
    return { domain: s.domain, manifest: { ...s.manifest }, signature: s.signature };
  }

  async abort(agreementId: string): Promise<void> {
    await this.call('Abort', { agreement_id: agreementId }, this.retries);
  }
}

// ------------------------------------------------------------------ server

/** Who may call: the pinned identities of our configured peers. */
export type PinSource = () => PeerPin[];

/** Certificates already matched (DER, base64) -> the pin they matched; parsing and checking X.509 on every call was most of a call's cost. */
const matched = new Map<string, PeerPin>();

/**
 * The caller's domain if its certificate is the pinned identity of one of our
 * peers. A match is remembered only while that same pin object is configured
 * (a reload that changes or removes the peer makes a new one); validity dates
 * and the chain were checked by the TLS handshake.
 */
export function callerDomain(certRaw: Buffer | undefined, pins: PeerPin[]): string | undefined {
  if (!certRaw || certRaw.length === 0) return undefined;
  const k = certRaw.toString('base64');
  const hit = matched.get(k);
  if (hit && pins.includes(hit)) return hit.domain;
  const pin = pins.find((p) => checkPeerCertificate(certRaw, p) === undefined);
  if (pin) {
    if (matched.size >= 1024) matched.clear();
    matched.set(k, pin);
  }
  return pin?.domain;
}

/** What the server side adapts: our participant, told who is calling. */
export interface ServedParticipant {
  readonly domain: string;
  quote(order: SegmentOrder, caller: string): Promise<SegmentQuote>;
  reserve(order: SegmentOrder, holdTtlMs: number, caller: string): Promise<void>;
  commit(agreementId: string, body: ContractBody, caller: string): Promise<ContractSignature>;
  abort(agreementId: string, caller: string): Promise<void>;
}

/** Observer of RPC durations (metrics), as in peering/server.ts. */
export type AgreementRpcObserver = (rpc: string, code: string, seconds: number) => void;

function parseBody(json: string): ContractBody {
  try {
    return JSON.parse(json) as ContractBody;
  } catch (err) {
    throw new InvalidArgumentError(`CommitRequest.body_json is not JSON: ${(err as Error).message}`);
  }
}

/** Add the Agreement service for `target` to a gRPC server. */
export function addAgreementService(server: grpc.Server, target: ServedParticipant, pins: PinSource, observe: AgreementRpcObserver = () => {}): void {
  const Agreement = loadAgreementProto();
  const unary =
    <Req, Res>(rpc: string, run: (req: Req, caller: string) => Promise<Res>) =>
    (call: grpc.ServerUnaryCall<Req, Res>, cb: grpc.sendUnaryData<Res>) => {
      const t0 = performance.now();
      const done = (err: Partial<grpc.StatusObject> | null, res?: Res) => {
        observe(`Agreement.${rpc}`, err ? grpc.status[err.code!] : 'OK', (performance.now() - t0) / 1000);
        cb(err, res);
      };
      const caller = callerDomain(call.getAuthContext()?.sslPeerCertificate?.raw, pins());
      if (!caller) return done(toGrpcError(new QosBrokerError('QB_AGREEMENT_NOT_A_PEER', `${target.domain} agrees only with its configured peers; the caller's certificate is none of their pinned identities`), target.domain));
      Promise.resolve()
        .then(() => run(call.request, caller))
        .then(
          (res) => done(null, res),
          (err: unknown) => done(toGrpcError(err, target.domain)),
        );
    };
  server.addService(Agreement.service, {
    Quote: unary<SegmentOrderMsg, SegmentQuoteMsg>('Quote', async (m, caller) => quoteToMsg(await target.quote(orderFromMsg(m), caller))),
    Reserve: unary<{ order?: SegmentOrderMsg; hold_ttl_ms: number }, object>('Reserve', async (m, caller) => (await target.reserve(orderFromMsg(m.order ?? ({} as SegmentOrderMsg)), holdTtl(m.hold_ttl_ms), caller), {})),
    Commit: unary<{ agreement_id: string; body_json: string }, ContractSignatureMsg>('Commit', (m, caller) => target.commit(m.agreement_id, parseBody(m.body_json), caller)),
    Abort: unary<{ agreement_id: string }, object>('Abort', async (m, caller) => (await target.abort(m.agreement_id, caller), {})),
  });
}

function quoteToMsg(q: SegmentQuote): SegmentQuoteMsg {
  return { domain: q.domain, index: q.index, price_minor: q.priceMinor, currency: q.currency, valid_until_ms: q.validUntil };
}

function holdTtl(ms: number): number {
  if (!(Number.isInteger(ms) && ms >= 1)) throw new InvalidArgumentError(`ReserveRequest.hold_ttl_ms must be >= 1, got ${ms}`);
  return ms;
}
