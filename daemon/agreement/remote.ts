/**
 * The agreement API over gRPC (qosbroker/v1/agreement.proto): a
 * `RemoteParticipant` is another provider's AgreementParticipant reached over
 * the peer's mutually authenticated channel (the one peering dialed, with its
 * identity pin), with a deadline on every call; `addAgreementService` serves
 * our own domain's participant.
 *
 * Every call between two brokers travels on one long-lived Exchange stream
 * (`AgreementStream`), tagged with an id; replies come back in any order (the
 * ids, deadlines and draining are daemon/rpc/mux.ts, generic). A
 * unary RPC per call cost several times the CPU of a message on an open
 * stream (a new HTTP/2 stream, headers, a TLS identity check each time;
 * figures in bench/README.md).
 *
 * Errors are QosBrokerErrors everywhere except on the wire: a refused call is
 * an AgreementError reply (stable code and refusing domain) and the remote
 * side turns it back into the same typed error (SegmentRejectedError keeps its
 * domain), so the coordinator cannot tell a remote refusal from a local one.
 */
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { InvalidArgumentError, QosBrokerError } from '../../drivers/errors.js';
import { AgreementError, AgreementTimeoutError, AgreementUnreachableError, errorFromWire, grpcStatusOf, SegmentRejectedError } from '../errors.js';
import { protoDir } from '../peering/proto.js';
import { MuxClient, MuxServer } from '../rpc/mux.js';
import { checkPeerCertificate, type PeerPin } from '../peering/tls.js';
import type { PathHop } from '../topology/types.js';
import { AGREEMENT_DEFAULTS } from './defaults.js';
import { contractPayloadText, parseContractPayload, signatureDomain, type ContractBody, type ContractSignature } from './contract.js';
import { checkChainHop, nextHopToward, signChainHeader, verifyChainHeader, type ChainHeaderMsg } from './chain.js';
import { failpoint, failpointArmed } from '../failpoints.js';
import type { KeyInput } from '../crypto/keys.js';
import { type AgreementParticipant, type SegmentOrder, type SegmentQuote } from './participant.js';

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
/** Mirrors qosbroker.v1.CommitReply. */
export interface CommitReplyMsg {
  domain: string;
  /** The JWS signature (base64url) and its protected header (base64url). */
  signature: string;
  protected_header: string;
}

/** Mirrors qosbroker.v1.AgreementError. */
export interface AgreementErrorMsg {
  code: string;
  domain: string;
  message: string;
}
/** Mirrors qosbroker.v1.AgreementCall (proto-loader sets `op` to the name of the field present). */
export interface AgreementCallMsg {
  id: number;
  op?: Op | 'relay' | 'chain';
  quote?: SegmentOrderMsg;
  reserve?: { order?: SegmentOrderMsg; hold_ttl_ms: number; quote?: boolean };
  commit?: { agreement_id: string; body_json: string };
  abort?: { agreement_id: string };
  relay?: RelayRequestMsg;
  chain?: { calls: AgreementCallMsg[] };
}
/** Mirrors qosbroker.v1.RelayRequest. */
export interface RelayRequestMsg {
  header?: ChainHeaderMsg;
  call_json: string;
}
/** Mirrors qosbroker.v1.AgreementReply. */
export interface AgreementReplyMsg {
  id: number;
  result?: Op | 'error' | 'relay' | 'chain';
  quote?: SegmentQuoteMsg;
  reserve?: { quote?: SegmentQuoteMsg | null };
  commit?: CommitReplyMsg;
  abort?: object;
  error?: AgreementErrorMsg;
  relay?: { reply?: AgreementReplyMsg | null };
  chain?: { replies: AgreementReplyMsg[] };
}
/** The four calls of the agreement protocol, as named on the wire. */
export type Op = 'quote' | 'reserve' | 'commit' | 'abort';
const OP_NAMES: Record<Op | 'relay' | 'chain', string> = { quote: 'Quote', reserve: 'Reserve', commit: 'Commit', abort: 'Abort', relay: 'Relay', chain: 'Chain' };
const OPS: readonly Op[] = ['quote', 'reserve', 'commit', 'abort'];

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

/** The gRPC status an error stands for (the table's, daemon/errors.ts). */
function statusOf(err: unknown): grpc.status {
  return grpc.status[grpcStatusOf(err)];
}

/** A thrown error as a gRPC status with the stable code and domain in metadata. */
export function toGrpcError(err: unknown, domain: string): Partial<grpc.StatusObject> {
  const metadata = new grpc.Metadata();
  metadata.set('qb-domain', err instanceof SegmentRejectedError ? err.domain : domain);
  if (err instanceof QosBrokerError) {
    metadata.set('qb-code', err.code);
    return { code: statusOf(err), details: err.message, metadata };
  }
  return { code: grpc.status.INTERNAL, details: `${domain}: ${err instanceof Error ? err.message : String(err)}`, metadata };
}

/** A thrown error as the AgreementError reply that carries it. */
function toErrorMsg(err: unknown, domain: string): AgreementErrorMsg {
  if (err instanceof SegmentRejectedError) return { code: err.code, domain: err.domain, message: err.message };
  if (err instanceof QosBrokerError) return { code: err.code, domain, message: err.message };
  return { code: 'QB_AGREEMENT_INTERNAL', domain, message: `${domain}: ${err instanceof Error ? err.message : String(err)}` };
}

/** An AgreementError reply from `domain` as the typed error it stands for. */
function fromErrorMsg(e: AgreementErrorMsg, domain: string): QosBrokerError {
  const from = e.domain || domain;
  return errorFromWire(e.code, e.message || `${from} refused without saying why`, { domain: from, fallback: 'QB_AGREEMENT_REMOTE_ERROR' });
}

/** A gRPC failure of a call to `domain` as the typed error it stood for. */
export function fromGrpcError(err: grpc.ServiceError, domain: string, what: string): QosBrokerError {
  const code = err.metadata?.get('qb-code')[0]?.toString();
  const from = err.metadata?.get('qb-domain')[0]?.toString() || domain;
  if (code) return errorFromWire(code, err.details, { domain: from, cause: err, fallback: 'QB_AGREEMENT_REMOTE_ERROR' });
  switch (err.code) {
    case grpc.status.DEADLINE_EXCEEDED:
      return new AgreementTimeoutError(`${what} at ${domain} did not answer before its deadline`, { cause: err });
    case grpc.status.UNAVAILABLE:
      return new AgreementUnreachableError(`${what} at ${domain}: the broker cannot be reached (${err.details})`, { cause: err });
    case grpc.status.UNIMPLEMENTED:
      return new AgreementError('QB_AGREEMENT_UNSUPPORTED', `${domain} does not serve qosbroker.v1.Agreement (is it a provider running this version?)`, { cause: err });
    default:
      return new AgreementError('QB_AGREEMENT_REMOTE_ERROR', `${what} at ${domain} failed: ${grpc.status[err.code] ?? err.code}: ${err.details}`, { cause: err });
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

/** Open a bidirectional Exchange stream on an Agreement client. */
type OpenExchange = (md: grpc.Metadata, opts: grpc.CallOptions) => grpc.ClientDuplexStream<AgreementCallMsg, AgreementReplyMsg>;

/**
 * What a RemoteParticipant sends its calls through: the Exchange stream to
 * the domain itself, or a chain through a neighbour (ChainedCaller).
 */
export interface AgreementCaller {
  /** The domain the calls are answered by. */
  readonly domain: string;
  /**
   * One call; resolves with its checked reply, rejects with the typed error
   * of a refusal. Calls made at once (in one turn of the event loop) with the
   * same `batch` key on one stream travel in one chain message.
   */
  request(op: Op, payload: object, timeoutMs: number, batch?: unknown): Promise<AgreementReplyMsg>;
}

/** A call waiting for the rest of its batch. */
interface Queued {
  call: Omit<AgreementCallMsg, 'id'>;
  timeoutMs: number;
  what: string;
  resolve(r: AgreementReplyMsg): void;
  reject(err: unknown): void;
}

/**
 * The Exchange stream to one provider, shared by every call to it (a
 * MuxClient, daemon/rpc/mux.ts): each reply checked here, an AgreementError
 * reply turned back into the typed error it stands for.
 */
class AgreementStream implements AgreementCaller {
  private readonly mux: MuxClient<AgreementCallMsg, AgreementReplyMsg>;
  /** Calls made in this turn of the event loop, by batch key: sent together when it ends. */
  private readonly batches = new Map<unknown, Queued[]>();

  constructor(
    private readonly client: grpc.Client,
    readonly domain: string,
  ) {
    const exchange = (client as unknown as { Exchange: OpenExchange }).Exchange.bind(client);
    this.mux = new MuxClient(() => exchange(new grpc.Metadata(), {}), {
      timeout: (what, ms) => new AgreementTimeoutError(`${what} at ${domain} did not answer before its deadline (${ms} ms)`),
      wedged: (ms) => new AgreementUnreachableError(`the stream to ${domain} answered nothing for ${ms} ms; it is reopened`),
      broken: (err) => fromGrpcError(err, domain, 'the agreement stream'),
      ended: () => new AgreementUnreachableError(`${domain} ended the agreement stream`),
    });
  }

  async request(op: Op, payload: object, timeoutMs: number, batch?: unknown): Promise<AgreementReplyMsg> {
    return checkedReply(await this.send({ [op]: payload } as Omit<AgreementCallMsg, 'id'>, timeoutMs, OP_NAMES[op], batch), op, this.domain);
  }

  /** A call alone, or queued with the others of its batch made in this turn of the event loop. */
  private send(call: Omit<AgreementCallMsg, 'id'>, timeoutMs: number, what: string, batch: unknown): Promise<AgreementReplyMsg> {
    if (batch === undefined) return this.mux.request(call, timeoutMs, what);
    let q = this.batches.get(batch);
    if (!q) {
      q = [];
      this.batches.set(batch, q);
      queueMicrotask(() => this.flush(batch));
    }
    const queue = q;
    return new Promise((resolve, reject) => queue.push({ call, timeoutMs, what, resolve, reject }));
  }

  /** One message for the batch (a lone call as it is); each call gets its own reply, as if it had gone alone. */
  private flush(batch: unknown): void {
    const all = this.batches.get(batch)!;
    this.batches.delete(batch);
    for (let i = 0; i < all.length; i += MAX_CHAIN_CALLS) this.sendBatch(all.slice(i, i + MAX_CHAIN_CALLS));
  }

  private sendBatch(q: Queued[]): void {
    if (q.length === 1) {
      const c = q[0]!;
      this.mux.request(c.call, c.timeoutMs, c.what).then(c.resolve, c.reject);
      return;
    }
    const timeoutMs = Math.max(...q.map((c) => c.timeoutMs));
    this.mux.request({ chain: { calls: q.map((c) => ({ ...c.call, id: 0 })) } }, timeoutMs, `${q.map((c) => c.what).join(', ')} (one chain message)`).then(
      (r) => {
        // the message refused as a whole (busy, not a peer, shutting down): each call refused the same way
        if (r.result === 'error' || r.error) return q.forEach((c) => c.resolve({ id: 0, error: r.error ?? { code: '', domain: '', message: '' } }));
        const replies = r.chain?.replies;
        if (!replies || replies.length !== q.length) {
          const err = new AgreementError('QB_AGREEMENT_REMOTE_ERROR', `${this.domain} answered a chain message of ${q.length} calls with ${replies?.length ?? 'no'} replies`);
          return q.forEach((c) => c.reject(err));
        }
        q.forEach((c, i) => c.resolve(replies[i]!));
      },
      (err: unknown) => q.forEach((c) => c.reject(err)),
    );
  }

  /**
   * A relayed call as it is: its reply unread (a relay passes it back
   * unchanged). The neighbour has an established session with us, so a
   * channel of ours that is not connected (e.g. in its reconnect backoff
   * after the neighbour restarted, while the session came up on the
   * neighbour's own dial) is waited for, within the call's time.
   */
  async relay(req: RelayRequestMsg, timeoutMs: number, batch?: unknown): Promise<AgreementReplyMsg> {
    const until = Date.now() + timeoutMs;
    if (this.client.getChannel().getConnectivityState(true) !== grpc.connectivityState.READY) {
      await new Promise<void>((res) => this.client.waitForReady(until, () => res()));
    }
    return this.send({ relay: req }, Math.max(1, until - Date.now()), `${OP_NAMES[relayedOp(req.call_json) ?? 'relay']} for ${req.header?.target ?? '?'} (relayed)`, batch);
  }
}

/** A reply to `op` from `domain`, or the typed error it carries. */
function checkedReply(r: AgreementReplyMsg, op: Op, domain: string): AgreementReplyMsg {
  if (r.result === 'error' || r.error) throw fromErrorMsg(r.error ?? { code: '', domain: '', message: '' }, domain);
  if (r.result !== op) throw new AgreementError('QB_AGREEMENT_REMOTE_ERROR', `${domain} answered ${OP_NAMES[op]} with ${r.result ?? 'nothing'}`);
  return r;
}

/** The operation of a relayed call's JSON (`{"commit":...}`), without parsing it. */
function relayedOp(callJson: string): Op | undefined {
  const m = /^\{"(quote|reserve|commit|abort)"/.exec(callJson);
  return m ? (m[1] as Op) : undefined;
}

/** How our relayed calls are made: who we are and the key that signs them. */
export interface ChainOrigin {
  /** Our domain (the origin of the calls). */
  origin: string;
  /** Our advertisement key: the target checks the calls with the advertised one. */
  signingKey: KeyInput;
  /** Time each hop keeps for the reply to travel back, ms. @default AGREEMENT_DEFAULTS.chainHopMarginMs */
  hopMarginMs?: number;
}

/**
 * Calls for a domain we have no session with, made through a neighbour on
 * the path (daemon/agreement/chain.ts): signed by us, answered by the target
 * and passed back by every relay.
 */
export class ChainedCaller implements AgreementCaller {
  private readonly first: AgreementStream;

  constructor(
    readonly domain: string,
    /** The agreement's path (domains in order). */
    private readonly path: string[],
    /** The Agreement client of the neighbour on the path the calls go to. */
    firstHop: grpc.Client,
    firstHopDomain: string,
    private readonly origin: ChainOrigin,
  ) {
    this.first = agreementStreamOf(firstHop, firstHopDomain);
  }

  async request(op: Op, payload: object, timeoutMs: number, batch?: unknown): Promise<AgreementReplyMsg> {
    const callJson = JSON.stringify({ [op]: payload });
    const header = signChainHeader('agreement', { origin: this.origin.origin, target: this.domain, path: this.path, deadline_ms: Date.now() + timeoutMs }, callJson, this.origin.signingKey);
    const r = await this.first.relay({ header, call_json: callJson }, timeoutMs, batch);
    if (r.result === 'error' || r.error) throw fromErrorMsg(r.error ?? { code: '', domain: '', message: '' }, this.first.domain);
    if (!r.relay?.reply) throw new AgreementError('QB_AGREEMENT_REMOTE_ERROR', `${this.first.domain} answered a relayed ${OP_NAMES[op]} for ${this.domain} with ${r.result ?? 'nothing'}`);
    return checkedReply(r.relay.reply, op, this.domain);
  }
}

const streamsByClient = new WeakMap<grpc.Client, AgreementStream>();

/** The one Exchange stream of a client (a client per peer channel, see agreementClientOn). */
function agreementStreamOf(client: grpc.Client, domain: string): AgreementStream {
  let s = streamsByClient.get(client);
  if (!s) {
    s = new AgreementStream(client, domain);
    streamsByClient.set(client, s);
  }
  return s;
}

/** Another provider's participant, over gRPC. */
export class RemoteParticipant implements AgreementParticipant {
  private readonly callTimeoutMs: number;
  private readonly retries: number;
  private readonly stream: AgreementCaller;

  constructor(
    readonly domain: string,
    /** The domain's Ed25519 advertisement key (raw base64) as peering verified it; its contract signature must verify with it. */
    readonly publicKey: string,
    /** The domain's Agreement client (its peer channel), or a chain to it through a neighbour. */
    client: grpc.Client | AgreementCaller,
    options: RemoteParticipantOptions = {},
  ) {
    this.callTimeoutMs = options.callTimeoutMs ?? AGREEMENT_DEFAULTS.callTimeoutMs;
    this.retries = options.retries ?? AGREEMENT_DEFAULTS.retries;
    this.stream = client instanceof grpc.Client ? agreementStreamOf(client, domain) : client;
  }

  /** One call; the calls of one agreement made at once (its phase, to every domain) share a batch: one message per hop. */
  private async call(op: Op, req: object, retries: number, agreementId: string): Promise<AgreementReplyMsg> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.stream.request(op, req, this.callTimeoutMs, agreementId);
      } catch (err) {
        if ((err as QosBrokerError).code === 'QB_AGREEMENT_UNREACHABLE' && attempt < retries) continue;
        throw err;
      }
    }
  }

  async quote(order: SegmentOrder): Promise<SegmentQuote> {
    return quoteFromMsg((await this.call('quote', orderToMsg(order), 0, order.agreementId)).quote!);
  }

  async reserve(order: SegmentOrder, holdTtlMs: number): Promise<void> {
    await this.call('reserve', { order: orderToMsg(order), hold_ttl_ms: holdTtlMs }, this.retries, order.agreementId);
  }

  async prepare(order: SegmentOrder, holdTtlMs: number): Promise<SegmentQuote> {
    // a retry after a lost reply quotes again and finds the hold made (Reserve is idempotent)
    const q = (await this.call('reserve', { order: orderToMsg(order), hold_ttl_ms: holdTtlMs, quote: true }, this.retries, order.agreementId)).reserve?.quote;
    if (!q) throw new AgreementError('QB_AGREEMENT_REMOTE_ERROR', `${this.domain} answered Reserve with a quote requested but sent no quote (a broker that does not know ReserveRequest.quote?)`);
    return quoteFromMsg(q);
  }

  async commit(agreementId: string, body: ContractBody): Promise<ContractSignature> {
    // the body as the payload's canonical JSON (made once for a sealed body): the provider signs exactly these bytes
    const s = (await this.call('commit', { agreement_id: agreementId, body_json: contractPayloadText(body) }, this.retries, agreementId)).commit!;
    const sig: ContractSignature = { protected: s.protected_header ?? '', signature: s.signature };
    const named = signatureDomain(sig);
    if (s.domain !== this.domain || named !== this.domain) {
      throw new AgreementError('QB_AGREEMENT_REMOTE_ERROR', `commit at ${this.domain} returned a signature of ${named ?? (s.protected_header ? 'a header that is not a contract signature header' : 'no protected header (a broker older than JWS contracts?)')}`);
    }
    return sig;
  }

  async abort(agreementId: string): Promise<void> {
    await this.call('abort', { agreement_id: agreementId }, this.retries, agreementId);
  }
}

// ------------------------------------------------------------------ server

/** Who may call: the pinned identities of our configured peers. */
export type PinSource = () => PeerPin[];

/** Certificates already matched (DER, base64) -> the pin they matched; parsing and checking X.509 on every call was most of a call's cost. */
const matched = new Map<string, PeerPin>();

/**
 * The pin of our peer whose identity the caller's certificate is, if any. A
 * match is remembered only while that same pin object is configured (a reload
 * that changes or removes the peer makes a new one); validity dates and the
 * chain were checked by the TLS handshake.
 */
export function callerPin(certRaw: Buffer | undefined, pins: PeerPin[]): PeerPin | undefined {
  if (!certRaw || certRaw.length === 0) return undefined;
  const k = certRaw.toString('base64');
  const hit = matched.get(k);
  if (hit && pins.includes(hit)) return hit;
  const pin = pins.find((p) => checkPeerCertificate(certRaw, p) === undefined);
  if (pin) {
    if (matched.size >= 1024) matched.clear();
    matched.set(k, pin);
  }
  return pin;
}

/** What the server side adapts: our participant, told who is calling. */
export interface ServedParticipant {
  readonly domain: string;
  quote(order: SegmentOrder, caller: string): Promise<SegmentQuote>;
  reserve(order: SegmentOrder, holdTtlMs: number, caller: string): Promise<void>;
  prepare(order: SegmentOrder, holdTtlMs: number, caller: string): Promise<SegmentQuote>;
  commit(agreementId: string, body: ContractBody, caller: string): Promise<ContractSignature>;
  abort(agreementId: string, caller: string): Promise<void>;
}

/** Observer of RPC durations (metrics), as in peering/server.ts. */
export type AgreementRpcObserver = (rpc: string, code: string, seconds: number) => void;

/** What a provider needs to relay calls (agreement.proto, Chaining). */
export interface ChainServing {
  /** The advertisement key (raw base64) of an origin, as peering verified it; undefined if unknown. */
  originKey(domain: string): string | undefined;
  /** The Exchange stream to a neighbour we can dial, to hand a call on; undefined without one. */
  neighbour(domain: string): RelayStream | undefined;
  /** Time each hop keeps for the reply to travel back, ms. @default AGREEMENT_DEFAULTS.chainHopMarginMs */
  hopMarginMs?: number;
}

/** Where a relay hands calls on: the calls handed on at once with one batch key go in one chain message. */
export interface RelayStream {
  relay(req: RelayRequestMsg, timeoutMs: number, batch?: unknown): Promise<AgreementReplyMsg>;
}

/** The Exchange stream to a neighbour, for ChainServing.neighbour (one per client, shared with its participant). */
export function relayStreamOf(client: grpc.Client, domain: string): RelayStream {
  return agreementStreamOf(client, domain);
}

/** The call inside a relay: exactly one of the four operations, as JSON. */
function parseRelayedCall(json: string): AgreementCallMsg {
  let m: Record<string, unknown>;
  try {
    m = JSON.parse(json) as Record<string, unknown>;
  } catch (err) {
    throw new InvalidArgumentError(`RelayRequest.call_json is not JSON: ${(err as Error).message}`);
  }
  const ops = OPS.filter((o) => m && typeof m === 'object' && m[o] !== undefined);
  if (ops.length !== 1) throw new InvalidArgumentError(`RelayRequest.call_json must hold exactly one of ${OPS.join(', ')}; it has ${ops.length ? ops.join(', ') : 'none'}`);
  return { ...(m as Omit<AgreementCallMsg, 'id'>), id: 0, op: ops[0] };
}

/**
 * Test-only relays that alter what they pass back (failpoints, armed by
 * QOS_BROKER_FAILPOINTS): `agreement:relay-tamper-quote` lowers a forwarded
 * quote's price, `agreement:relay-tamper-signature` replaces a forwarded
 * commit signature with another one. The agreement must fail either way.
 */
function tamper(r: AgreementReplyMsg): void {
  const inner = r.relay?.reply;
  if (!inner) return;
  const q = inner.reserve?.quote ?? inner.quote;
  if (q && failpointArmed('agreement:relay-tamper-quote')) q.price_minor = Math.max(0, q.price_minor - 100);
  if (inner.commit && failpointArmed('agreement:relay-tamper-signature')) {
    const b = Buffer.from(inner.commit.signature, 'base64');
    b[0] = b[0]! ^ 0xff;
    inner.commit.signature = b.toString('base64');
  }
}

/** Calls one caller may have in flight on its stream; more are refused with QB_AGREEMENT_BUSY. */
const MAX_CALLS_IN_FLIGHT = 1024;

/** Calls one chain message may hold (a path of this many domains is far beyond any real one). */
const MAX_CHAIN_CALLS = 64;

function parseBody(json: string): ContractBody {
  // canonical JSON of a valid body with its own field digests, or a typed error naming the field
  return parseContractPayload(json, 'CommitRequest.body_json');
}

/** The served side's handle: `close()` ends every open Exchange stream once its calls in flight have answered (shutdown). */
export interface AgreementServiceHandle {
  close(): void;
}

/** Add the Agreement service for `target` to a gRPC server. */
export function addAgreementService(server: grpc.Server, target: ServedParticipant, pins: PinSource, observe: AgreementRpcObserver = () => {}, chain?: ChainServing): AgreementServiceHandle {
  const Agreement = loadAgreementProto();
  const mux = new MuxServer(MAX_CALLS_IN_FLIGHT);
  const notAPeer = () => new AgreementError('QB_AGREEMENT_NOT_A_PEER', `${target.domain} agrees only with its configured peers; the caller's certificate is none of their pinned identities`);
  const rpcOf = (m: AgreementCallMsg) => `Agreement.${m.op && Object.hasOwn(OP_NAMES, m.op) ? OP_NAMES[m.op] : 'Unknown'}`;
  const run = async (m: AgreementCallMsg, caller: string, batch?: unknown): Promise<AgreementReplyMsg> => {
    switch (m.op) {
      case 'quote':
        return { id: m.id, quote: quoteToMsg(await target.quote(orderFromMsg(m.quote!), caller)) };
      case 'reserve': {
        const order = orderFromMsg(m.reserve!.order ?? ({} as SegmentOrderMsg));
        const ttl = holdTtl(m.reserve!.hold_ttl_ms);
        if (m.reserve!.quote) return { id: m.id, reserve: { quote: quoteToMsg(await target.prepare(order, ttl, caller)) } };
        await target.reserve(order, ttl, caller);
        return { id: m.id, reserve: {} };
      }
      case 'commit': {
        const sig = await target.commit(m.commit!.agreement_id, parseBody(m.commit!.body_json), caller);
        return { id: m.id, commit: { domain: target.domain, signature: sig.signature, protected_header: sig.protected } };
      }
      case 'abort':
        await target.abort(m.abort!.agreement_id, caller);
        return { id: m.id, abort: {} };
      case 'relay':
        return { ...(await relay(m.relay!, caller, batch)), id: m.id };
      case 'chain':
        return { id: m.id, chain: { replies: await chained(m.chain?.calls, caller) } };
      default:
        throw new InvalidArgumentError('AgreementCall names no operation (quote, reserve, commit, abort, relay or chain)');
    }
  };
  /**
   * The calls of a chain message, each answered as if it had come alone (and
   * counted under its own name): ours here, the relayed ones handed on
   * together, one chain message per next hop.
   */
  const chained = async (calls: AgreementCallMsg[] | undefined, caller: string): Promise<AgreementReplyMsg[]> => {
    if (!Array.isArray(calls) || calls.length === 0 || calls.length > MAX_CHAIN_CALLS) throw new InvalidArgumentError(`ChainRequest.calls must hold 1 to ${MAX_CHAIN_CALLS} calls, got ${Array.isArray(calls) ? calls.length : 'none'}`);
    const batch = {};
    return Promise.all(
      calls.map(async (c, i): Promise<AgreementReplyMsg> => {
        const t0 = performance.now();
        try {
          if (c.op === 'chain') throw new InvalidArgumentError(`ChainRequest.calls[${i}] is a chain: a chain message holds no chain`);
          const r = await run({ ...c, id: 0 }, caller, batch);
          observe(rpcOf(c), 'OK', (performance.now() - t0) / 1000);
          return r;
        } catch (err) {
          observe(rpcOf(c), grpcStatusOf(err), (performance.now() - t0) / 1000);
          return { id: 0, error: toErrorMsg(err, target.domain) };
        }
      }),
    );
  };
  const margin = chain?.hopMarginMs ?? AGREEMENT_DEFAULTS.chainHopMarginMs;
  /** A relayed call: answered here if we are its target, else handed on toward it (agreement.proto, Chaining). */
  const relay = async (req: RelayRequestMsg, caller: string, batch?: unknown): Promise<Omit<AgreementReplyMsg, 'id'>> => {
    const h = req.header;
    const { dueAt } = checkChainHop(h, target.domain, caller, Date.now(), margin);
    if (h!.target === target.domain) {
      verifyChainHeader('agreement', h!, req.call_json, chain?.originKey(h!.origin), target.domain);
      const inner = parseRelayedCall(req.call_json);
      // the target answers as if the origin had called: its holds are the origin's
      let reply: AgreementReplyMsg;
      try {
        reply = await run(inner, h!.origin);
      } catch (err) {
        reply = { id: 0, error: toErrorMsg(err, target.domain) };
      }
      return { relay: { reply } };
    }
    const next = chain ? nextHopToward(h!.path, target.domain, h!.target, (d) => chain.neighbour(d) !== undefined) : undefined;
    if (!next) throw new AgreementError('QB_AGREEMENT_NO_ROUTE', `${target.domain} cannot hand the call for ${h!.target} on: it has no session it can dial with a domain between it and ${h!.target} on the path ${h!.path.join(' > ')}`);
    const op = relayedOp(req.call_json);
    if (op === 'commit') failpoint('agreement:relay-commit');
    const r = await chain!.neighbour(next)!.relay(req, Math.max(1, dueAt - Date.now()), batch);
    tamper(r);
    if (r.result === 'error' || r.error) return { error: r.error };
    return { relay: r.relay };
  };
  const exchange = (call: grpc.ServerDuplexStream<AgreementCallMsg, AgreementReplyMsg>) => {
    const certRaw = call.getAuthContext()?.sslPeerCertificate?.raw;
    let pin = callerPin(certRaw, pins());
    /** The caller is (still) one of our peers: a reload that removed or changed it takes effect on its open stream too. */
    const stillPeer = (): boolean => {
      const now = pins();
      if (pin && now.includes(pin)) return true;
      pin = callerPin(certRaw, now);
      return pin !== undefined;
    };
    if (!pin) {
      const err = toGrpcError(notAPeer(), target.domain);
      call.emit('error', err);
      return;
    }
    const refuse = (m: AgreementCallMsg, err: unknown, t0: number): AgreementReplyMsg => {
      observe(rpcOf(m), grpcStatusOf(err), (performance.now() - t0) / 1000);
      return { id: m.id, error: toErrorMsg(err, target.domain) };
    };
    mux.serve(call, {
      admit: (m, { shuttingDown, inFlight, busy }) => {
        const t0 = performance.now();
        if (shuttingDown) return refuse(m, new AgreementUnreachableError(`${target.domain} is shutting down`), t0);
        if (!stillPeer()) return refuse(m, notAPeer(), t0);
        if (!(Number.isSafeInteger(m.id) && m.id > 0)) return refuse(m, new InvalidArgumentError(`AgreementCall.id must be > 0, got ${m.id}`), t0);
        if (busy) return refuse(m, new AgreementError('QB_AGREEMENT_BUSY', `${target.domain} has ${inFlight} calls of ${pin!.domain} in flight; retry when some have answered`), t0);
        return undefined;
      },
      handle: async (m) => {
        const t0 = performance.now();
        try {
          const r = await run(m, pin!.domain);
          observe(rpcOf(m), 'OK', (performance.now() - t0) / 1000);
          return r;
        } catch (err) {
          return refuse(m, err, t0);
        }
      },
    });
  };
  server.addService(Agreement.service, { Exchange: exchange });
  return { close: () => mux.close() };
}

function quoteFromMsg(q: SegmentQuoteMsg): SegmentQuote {
  return { domain: q.domain, index: q.index, priceMinor: q.price_minor, currency: q.currency, validUntil: q.valid_until_ms };
}

function quoteToMsg(q: SegmentQuote): SegmentQuoteMsg {
  return { domain: q.domain, index: q.index, price_minor: q.priceMinor, currency: q.currency, valid_until_ms: q.validUntil };
}

function holdTtl(ms: number): number {
  if (!(Number.isInteger(ms) && ms >= 1)) throw new InvalidArgumentError(`ReserveRequest.hold_ttl_ms must be >= 1, got ${ms}`);
  return ms;
}
