/**
 * qosbroker.v1.Brokerage (daemon/proto/qosbroker/v1/exchange.proto) as
 * TypeScript: the service loaded from daemon/proto, its messages as
 * proto-loader delivers them (keepCase), a client per peer channel, and the
 * request as the coordinator's ServiceRequest and back.
 */
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { InvalidArgumentError } from '../../drivers/errors.js';
import { parseEndpoint } from '../agreement/orders.js';
import type { ServiceRequest } from '../agreement/coordinator.js';
import type { Channel } from '../agreement/remote.js';
import { protoDir } from '../peering/proto.js';
import type { PathObjective } from '../topology/types.js';

/** Mirrors qosbroker.v1.AdvertiseRequest. */
export interface AdvertiseRequestMsg {
  signed_advert: Buffer;
  withdrawal: boolean;
}
/** Mirrors qosbroker.v1.AdvertiseReply. */
export interface AdvertiseReplyMsg {
  accepted: boolean;
  reason: string;
  message: string;
}
/** Mirrors qosbroker.v1.BrokerRequest. */
export interface BrokerRequestMsg {
  agreement_id: string;
  customer: string;
  from: string;
  to: string;
  qos_class: string;
  rate_mbps: number;
  max_latency_ms: number;
  max_jitter_ms: number;
  max_loss: number;
  objective: string;
  k: number;
  include_domains: string[];
  exclude_domains: string[];
  start_ms: number;
  end_ms: number;
  amends_agreement_id: string;
  amends_payload_digest: string;
}
/** Mirrors qosbroker.v1.BrokerReply. */
export interface BrokerReplyMsg {
  contract_json: string;
  domains: string[];
  refused: string[];
}
/** Mirrors qosbroker.v1.BrokeredRelay. */
export interface RelayRequestMsg {
  domain: string;
  op: string;
  contract_json: string;
  rate_mbps: number;
  amendment_json: string;
  agreement_id: string;
}

let cached: grpc.ServiceClientConstructor | undefined;

/** The Brokerage service, loaded once. */
export function loadBrokerageProto(): grpc.ServiceClientConstructor {
  if (cached) return cached;
  const def = protoLoader.loadSync(['qosbroker/v1/exchange.proto'], { includeDirs: [protoDir()], keepCase: true, longs: Number, enums: String, defaults: true, oneofs: true });
  cached = (grpc.loadPackageDefinition(def) as unknown as { qosbroker: { v1: { Brokerage: grpc.ServiceClientConstructor } } }).qosbroker.v1.Brokerage;
  return cached;
}

const clients = new WeakMap<Channel, grpc.Client>();

/** A Brokerage client on the exchange's mutually authenticated channel (the one registration uses), shared per channel. */
export function brokerageClientOn(channel: Channel): grpc.Client {
  let c = clients.get(channel);
  if (!c) {
    const B = loadBrokerageProto();
    // with channelOverride the client uses that channel (its credentials and identity pin); these are never used
    c = new B(channel.getTarget(), grpc.credentials.createInsecure(), { channelOverride: channel });
    clients.set(channel, c);
  }
  return c;
}

/** The request as it goes to the exchange. */
export function requestToMsg(r: ServiceRequest & { agreementId: string }): BrokerRequestMsg {
  const ep = (e: ServiceRequest['from']) => `${e.domain}/${e.site ?? e.border}`;
  return {
    agreement_id: r.agreementId,
    customer: r.customer,
    from: ep(r.from),
    to: ep(r.to),
    qos_class: r.qosClass,
    rate_mbps: r.rateMbps,
    max_latency_ms: r.maxLatencyMs ?? 0,
    max_jitter_ms: r.maxJitterMs ?? 0,
    max_loss: r.maxLoss ?? 0,
    objective: r.objective ?? '',
    k: r.k ?? 0,
    include_domains: r.includeDomains ?? [],
    exclude_domains: r.excludeDomains ?? [],
    start_ms: r.start,
    end_ms: r.end,
    amends_agreement_id: r.amends?.agreementId ?? '',
    amends_payload_digest: r.amends?.payloadDigest ?? '',
  };
}

const OBJECTIVES: readonly string[] = ['cheapest', 'lowest-latency', 'balanced'];

/** Decode and check a request from the wire; InvalidArgumentError names the field. */
export function requestFromMsg(m: BrokerRequestMsg): ServiceRequest & { agreementId: string } {
  const bad = (field: string, why: string): never => {
    throw new InvalidArgumentError(`BrokerRequest.${field} ${why}`);
  };
  if (!/^[A-Za-z0-9._@-]{1,96}$/.test(m.agreement_id ?? '')) bad('agreement_id', `must be 1-96 letters, digits or ._@-, got ${JSON.stringify(m.agreement_id)}`);
  if (!/^[A-Za-z0-9._@-]{1,64}$/.test(m.customer ?? '')) bad('customer', `must be 1-64 letters, digits or ._@-, got ${JSON.stringify(m.customer)}`);
  if (!/^[A-Za-z0-9_-]{1,32}$/.test(m.qos_class ?? '')) bad('qos_class', `must be a class name such as EF, got ${JSON.stringify(m.qos_class)}`);
  if (!(Number.isFinite(m.rate_mbps) && m.rate_mbps > 0)) bad('rate_mbps', `must be > 0, got ${m.rate_mbps}`);
  if (!(Number.isSafeInteger(m.start_ms) && Number.isSafeInteger(m.end_ms) && m.end_ms > m.start_ms && m.start_ms > 0)) bad('end_ms', `must be after start_ms (got ${m.start_ms}..${m.end_ms})`);
  if (m.objective && !OBJECTIVES.includes(m.objective)) bad('objective', `must be one of ${OBJECTIVES.join(', ')}, got ${JSON.stringify(m.objective)}`);
  if (!(m.max_loss >= 0 && m.max_loss < 1)) bad('max_loss', `must be a fraction in [0, 1), got ${m.max_loss}`);
  const r: ServiceRequest & { agreementId: string } = {
    agreementId: m.agreement_id,
    customer: m.customer,
    from: parseEndpoint(m.from, 'BrokerRequest.from'),
    to: parseEndpoint(m.to, 'BrokerRequest.to'),
    qosClass: m.qos_class,
    rateMbps: m.rate_mbps,
    start: m.start_ms,
    end: m.end_ms,
  };
  if (m.max_latency_ms > 0) r.maxLatencyMs = m.max_latency_ms;
  if (m.max_jitter_ms > 0) r.maxJitterMs = m.max_jitter_ms;
  if (m.max_loss > 0) r.maxLoss = m.max_loss;
  if (m.objective) r.objective = m.objective as PathObjective;
  if (m.k > 0) r.k = Math.min(m.k, 16);
  if (m.include_domains?.length) r.includeDomains = [...m.include_domains];
  if (m.exclude_domains?.length) r.excludeDomains = [...m.exclude_domains];
  if (m.amends_agreement_id || m.amends_payload_digest) {
    if (!/^[A-Za-z0-9._@-]{1,96}$/.test(m.amends_agreement_id ?? '')) bad('amends_agreement_id', `must be the amended contract's agreement id, got ${JSON.stringify(m.amends_agreement_id)}`);
    if (!/^[A-Za-z0-9_-]{43}$/.test(m.amends_payload_digest ?? '')) bad('amends_payload_digest', `must be the base64url SHA-256 of the amended contract's payload, got ${JSON.stringify(m.amends_payload_digest)}`);
    r.amends = { agreementId: m.amends_agreement_id, payloadDigest: m.amends_payload_digest };
  }
  return r;
}

/** Call a unary RPC of a client with a deadline; the gRPC error is given to `fail` to become a typed one. */
export function unary<T>(client: grpc.Client, rpc: string, req: object, timeoutMs: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const fn = (client as unknown as Record<string, (r: object, md: grpc.Metadata, o: grpc.CallOptions, cb: (e: grpc.ServiceError | null, m: T) => void) => void>)[rpc]!.bind(client);
    fn(req, new grpc.Metadata(), { deadline: Date.now() + timeoutMs }, (err, m) => (err ? reject(err) : resolve(m)));
  });
}
