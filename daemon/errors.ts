/**
 * The broker's errors and the one table of error codes. `ERRORS` is every
 * code qos-broker raises: the drivers' rows (drivers/errors.ts), the lab's
 * (lab/errors.ts) and the broker's below, each one line: class, gRPC status,
 * HTTP status, CLI exit code, what to do. The edges read only this table:
 * the admin HTTP answers (`httpStatusOf`), the gRPC services (`grpcStatusOf`),
 * the CLI's exit code (`exitCodeOf`), and a code received from another broker
 * or from the admin endpoint becomes the same class again (`errorFromWire`).
 */
import {
  AbortedError,
  CapabilityNotSupportedError,
  CodedError,
  DRIVER_ERRORS,
  HostKeyError,
  InternalError,
  InvalidArgumentError,
  NetconfRpcError,
  PartitionViolationError,
  PolicyInvalidError,
  ProtocolError,
  ProvisioningError,
  QosBrokerError,
  SessionClosedError,
  TimeoutError,
  TransportError,
  row,
  type CodesOf,
  type ErrorOptions,
  type ErrorRow,
  type GrpcStatusName,
  type LayerCode,
} from '../drivers/errors.js';
import { LAB_ERRORS, LabError, LabTopologyError, SchemaError } from '../lab/errors.js';
import type { AdvertRejectReason } from './peering/advert.js';

/** The broker's rows: state, peering, config, topology, pricing, contracts, agreement, admin. */
export const BROKER_ERRORS = {
  QB_STATE_REDIS_FAILED: row('ResourceStoreError', 'INTERNAL', 500, 1, 'Redis failed or cannot be reached: check redis.url and that redis-server runs'),
  QB_STATE_REDIS_NOT_INSTALLED: row('ResourceStoreError', 'INTERNAL', 500, 1, 'install redis-server (apt-get install -y redis-server) or set redis.url'),
  QB_STATE_REDIS_START_FAILED: row('ResourceStoreError', 'INTERNAL', 500, 1, 'the embedded redis-server did not start: its log is in the message'),
  QB_STATE_SOCKET_PATH_TOO_LONG: row('ResourceStoreError', 'INTERNAL', 500, 1, 'choose a shorter state directory: a unix socket path has at most 107 bytes'),
  QB_STATE_NO_VIEW: row('ResourceStoreError', 'INTERNAL', 500, 1, 'a page of stored views was asked of a record kind without one: give the kind a view in RecordStoreOptions.views (a bug)'),
  QB_STATE_PROTOCOL: row('ResourceStoreError', 'INTERNAL', 500, 1, 'a Lua script answered what this version does not expect: a bug or a mixed deployment'),
  QB_STATE_UNKNOWN_LINK: row('ResourceStoreError', 'INTERNAL', 500, 1, 'the link is not in the inventory: reload the config or fix the request'),
  QB_STATE_UNKNOWN_CLASS: row('ResourceStoreError', 'INTERNAL', 500, 1, 'the link does not carry the QoS class: use a class the inventory lists'),
  QB_STATE_RESERVATION_UNKNOWN: row('ResourceStoreError', 'INTERNAL', 500, 1, 'no such reservation: it was never made or was already released'),
  QB_STATE_RESERVATION_CLOSED: row('ResourceStoreError', 'INTERNAL', 500, 1, 'the reservation is released or expired: reserve again'),
  QB_STATE_RESERVATION_COMMITTED: row('ResourceStoreError', 'INTERNAL', 500, 1, 'the reservation is already booked: release it instead'),
  QB_STATE_RESERVATION_CONFLICT: row('ResourceStoreError', 'INTERNAL', 500, 1, 'the reservation id is in use with other terms: use a new id'),
  QB_STATE_HOLD_EXPIRED: row('ResourceStoreError', 'FAILED_PRECONDITION', 500, 1, 'the hold expired before the commit: reserve again, or raise the hold TTL'),
  QB_STATE_WINDOW_OVER: row('ResourceStoreError', 'INTERNAL', 500, 1, 'the service window has ended: choose a window in the future'),
  QB_STATE_ADMISSION_REJECTED: row('AdmissionRejectedError', 'INTERNAL', 500, 1, 'a link lacks capacity in a slot: lower the rate, move the window or take another path'),

  QB_ADVERT_MALFORMED: row('AdvertRejectedError', 'INVALID_ARGUMENT', 400, 1, 'the advertisement does not parse: the origin runs another version or is broken'),
  QB_ADVERT_UNKNOWN_ORIGIN: row('AdvertRejectedError', 'PERMISSION_DENIED', 403, 1, 'configure the origin domain and its key under peers or origins'),
  QB_ADVERT_ORIGIN_KEY_MISMATCH: row('AdvertRejectedError', 'PERMISSION_DENIED', 403, 1, 'the origin signs with another key than configured: check its key'),
  QB_ADVERT_BAD_SIGNATURE: row('AdvertRejectedError', 'PERMISSION_DENIED', 403, 1, 'the signature does not verify: forged or altered on the way'),
  QB_ADVERT_EXPIRED: row('AdvertRejectedError', 'FAILED_PRECONDITION', 409, 1, 'the advertisement expired: check the origin re-advertises and the clocks agree'),
  QB_ADVERT_NOT_YET_VALID: row('AdvertRejectedError', 'FAILED_PRECONDITION', 409, 1, 'issued in the future: check the clocks of origin and receiver'),
  QB_ADVERT_OLDER_SEQUENCE: row('AdvertRejectedError', 'FAILED_PRECONDITION', 409, 1, 'a newer advertisement of the origin is held already: nothing to do'),
  QB_ADVERT_REPLAYED: row('AdvertRejectedError', 'FAILED_PRECONDITION', 409, 1, 'the same sequence with other content: the origin reused a sequence number'),

  QB_CONFIG_INVALID: row('ConfigError', 'INVALID_ARGUMENT', 400, 1, 'fix the config key the message names (daemon/config/examples/ has documented examples)'),
  QB_TOPOLOGY_INVALID_ADVERTISEMENT: row('TopologyError', 'INTERNAL', 500, 1, 'an advertisement contradicts itself or another: fix the origin inventory'),

  QB_PATH_NO_ROUTE: row('PathInfeasibleError', 'INTERNAL', 422, 1, 'no domain carries the class between the endpoints: choose another class or endpoints'),
  QB_PATH_POLICY: row('PathInfeasibleError', 'INTERNAL', 422, 1, 'the exclude/allowed domains cut every route: relax them'),
  QB_PATH_NO_BANDWIDTH: row('PathInfeasibleError', 'INTERNAL', 422, 1, 'not enough bandwidth: lower the rate (the message gives the best) or wait'),
  QB_PATH_INCLUDE_UNREACHABLE: row('PathInfeasibleError', 'INTERNAL', 422, 1, 'no path with the rate crosses the included domains: drop one'),
  QB_PATH_LATENCY_BOUND: row('PathInfeasibleError', 'INTERNAL', 422, 1, 'the latency bound is below the best path: raise it to at least the best'),
  QB_PATH_JITTER_BOUND: row('PathInfeasibleError', 'INTERNAL', 422, 1, 'the jitter bound is below the best path: raise it to at least the best'),
  QB_PATH_LOSS_BOUND: row('PathInfeasibleError', 'INTERNAL', 422, 1, 'the loss bound is below the best path: raise it to at least the best'),
  QB_PATH_BOUNDS_JOINTLY: row('PathInfeasibleError', 'INTERNAL', 422, 1, 'each bound is met alone but no path meets all: relax one'),
  QB_PATH_SEARCH_LIMIT: row('PathInfeasibleError', 'INTERNAL', 422, 1, 'the search hit its label cap: relax the bounds or raise the limit'),

  QB_PRICING_NOT_SOLD: row('PricingError', 'INTERNAL', 500, 1, 'a domain on the path does not sell the class: exclude it or choose another class'),
  QB_PRICING_CURRENCY_MISMATCH: row('PricingError', 'INTERNAL', 500, 1, 'domains on the path price in different currencies: exclude one'),
  QB_PRICING_BELOW_TARGET: row('PricingError', 'INTERNAL', 500, 1, 'no option meets the target margin: lower it or change the terms'),

  QB_CONTRACT_MALFORMED: row('ContractError', 'INVALID_ARGUMENT', 500, 1, 'the contract is not a JWS General Serialization of a contract body'),
  QB_CONTRACT_UNSIGNED: row('ContractError', 'INVALID_ARGUMENT', 500, 1, 'a party on the path has not signed'),
  QB_CONTRACT_BAD_SIGNATURE: row('ContractError', 'INVALID_ARGUMENT', 500, 1, 'a signature does not verify: the copy was altered or signed with another key'),
  QB_CONTRACT_TAMPERED: row('ContractError', 'INVALID_ARGUMENT', 500, 1, 'the body differs from what was signed: the message names the field'),
  QB_CONTRACT_UNTRUSTED_KEY: row('ContractError', 'INVALID_ARGUMENT', 500, 1, 'the signing key is not the configured key of that domain'),
  QB_CONTRACT_WRONG_KEY: row('ContractError', 'INVALID_ARGUMENT', 500, 1, 'the signature header names another key than the domain holds'),
  QB_CONTRACT_NOT_A_PARTY: row('ContractError', 'INVALID_ARGUMENT', 500, 1, 'a signer is not a domain of the contract path'),
  QB_CONTRACT_ROLE_MISMATCH: row('ContractError', 'INVALID_ARGUMENT', 500, 1, 'a signature header names another role than the contract lists for that party'),
  QB_CONTRACT_AMENDMENT_MISMATCH: row('ContractError', 'INVALID_ARGUMENT', 500, 1, 'the amendment does not reference this contract (its agreement id and payload digest)'),

  QB_AGREEMENT_FAILED: row('AgreementFailedError', 'INTERNAL', 409, 1, 'every alternative was refused: `refused` says why each failed'),
  QB_AGREEMENT_SEGMENT_REJECTED: row('SegmentRejectedError', 'RESOURCE_EXHAUSTED', 500, 1, 'the domain cannot hold its segment: lower the rate or take another path'),
  QB_AGREEMENT_TIMEOUT: row('AgreementTimeoutError', 'INTERNAL', 500, 1, 'a domain did not answer in time: check it is up, or raise the call timeout'),
  QB_AGREEMENT_UNREACHABLE: row('AgreementUnreachableError', 'INTERNAL', 500, 1, 'the broker of that domain cannot be reached: check its address and that it runs'),
  QB_AGREEMENT_WRONG_DOMAIN: row('AgreementError', 'INVALID_ARGUMENT', 500, 1, 'the segment was sent to another domain than it names'),
  QB_AGREEMENT_NOTHING_HELD: row('AgreementError', 'FAILED_PRECONDITION', 500, 1, 'nothing is held for the agreement: reserve before commit'),
  QB_AGREEMENT_BODY_MISMATCH: row('AgreementError', 'FAILED_PRECONDITION', 500, 1, 'the contract body differs from what the domain reserved'),
  QB_AGREEMENT_NOT_A_PEER: row('AgreementError', 'PERMISSION_DENIED', 500, 1, 'the caller is not a configured peer: add it under peers'),
  QB_AGREEMENT_NOT_OWNER: row('AgreementError', 'PERMISSION_DENIED', 500, 1, 'another broker reserved this agreement; only it may act on it'),
  QB_AGREEMENT_BUSY: row('AgreementError', 'RESOURCE_EXHAUSTED', 500, 1, 'too many calls in flight from one peer: retry when some have finished'),
  QB_AGREEMENT_CURRENCY_MISMATCH: row('AgreementError', 'INTERNAL', 500, 1, 'the domains quote in different currencies: exclude one'),
  QB_AGREEMENT_ABORT_FAILED: row('AgreementError', 'INTERNAL', 500, 1, 'some reservations could not be released: they expire with their hold'),
  QB_AGREEMENT_UNKNOWN_EDGE: row('AgreementError', 'INTERNAL', 500, 1, 'the segment uses a link the domain does not have: its advertisement is stale'),
  QB_AGREEMENT_UNSUPPORTED: row('AgreementError', 'INTERNAL', 500, 1, 'the domain does not serve qosbroker.v1.Agreement: is it a provider of this version?'),
  QB_AGREEMENT_REMOTE_ERROR: row('AgreementError', 'INTERNAL', 500, 1, 'the other broker failed in a way it did not name: see its log'),
  QB_AGREEMENT_INTERNAL: row('AgreementError', 'INTERNAL', 500, 1, 'the other broker hit a bug: see its log'),
  QB_AGREEMENT_NOT_ON_PATH: row('AgreementError', 'PERMISSION_DENIED', 403, 1, 'a relayed call names a target, relay or forwarding neighbour that is not on its path: only domains of the path relay for it'),
  QB_AGREEMENT_DEADLINE_PASSED: row('AgreementError', 'DEADLINE_EXCEEDED', 504, 1, 'the chained call arrived after its deadline (less the margin of each hop): raise agreement.call-timeout-ms or check the clocks'),
  QB_AGREEMENT_RELAY_SIGNATURE: row('AgreementError', 'PERMISSION_DENIED', 403, 1, "the relayed call does not carry a valid signature of its origin: altered on the way, or the origin's advertisement is not known here"),
  QB_AGREEMENT_NO_ROUTE: row('AgreementError', 'UNAVAILABLE', 502, 1, 'no neighbour toward the domain can be dialed: give a peer on the path an address (config or an exchange registration)'),

  QB_STATE_OWNER_CONFLICT: row('ResourceStoreError', 'PERMISSION_DENIED', 500, 1, 'another broker holds this agreement: only its owner may act on it'),
  QB_STATE_AGREEMENT_CHANGED: row('ResourceStoreError', 'ABORTED', 500, 1, 'the agreement changed while it was committed (another replica?): commit again'),
  QB_STATE_CONFLICT: row('ResourceStoreError', 'ABORTED', 409, 1, 'the record changed since it was read (another replica of the domain?): retry'),

  QB_ORDER_NOT_FOUND: row('OrderError', 'NOT_FOUND', 404, 1, 'no such order (or it belongs to another customer): list the orders'),
  QB_ORDER_NOT_ACTIVE: row('OrderError', 'FAILED_PRECONDITION', 409, 1, 'the order or its service is not in a state that allows this: get the order'),
  QB_ORDER_BUSY: row('OrderError', 'FAILED_PRECONDITION', 409, 1, 'the order is still being agreed or changed: retry once it settles'),
  QB_ORDER_MODIFY_REFUSED: row('OrderError', 'FAILED_PRECONDITION', 409, 1, 'a domain on the path cannot carry the change: the message says which and why; the service keeps its rate'),
  QB_WORKFLOW_INTERRUPTED: row('OrderError', 'ABORTED', 409, 1, 'a restart interrupted the agreement and every hold was released: order again'),
  QB_WORKFLOW_DOMAIN_UNREACHABLE: row('OrderError', 'UNAVAILABLE', 503, 1, 'no session with a domain of the order now: the step is retried; check that peer'),

  QB_PROVISION_NO_INTERFACE: row('ServiceProvisioningError', 'FAILED_PRECONDITION', 502, 1, 'add the interface (with its role) to the device entry in devices'),
  QB_PROVISION_NOT_A_PARTY: row('ServiceProvisioningError', 'FAILED_PRECONDITION', 409, 1, 'this domain carries no segment of the contract: check the path'),
  QB_PROVISION_NOT_ORIGINATOR: row('ServiceProvisioningError', 'PERMISSION_DENIED', 403, 1, 'only the domain that ordered the service may provision or remove it'),
  QB_PROVISION_NOT_A_PEER: row('ServiceProvisioningError', 'PERMISSION_DENIED', 403, 1, 'the caller is not a configured peer: add it under peers'),
  QB_PROVISION_UNKNOWN: row('ServiceProvisioningError', 'NOT_FOUND', 404, 1, 'nothing was provisioned here for that agreement'),
  QB_PROVISION_NOT_ACTIVE: row('ServiceProvisioningError', 'FAILED_PRECONDITION', 409, 1, 'the segment is not active here: nothing to redeploy'),
  QB_PROVISION_RATE_NOT_AGREED: row('ServiceProvisioningError', 'PERMISSION_DENIED', 403, 1, 'a rate other than the contract\'s needs a signed amendment of it'),
  QB_PROVISION_REMOTE_ERROR: row('ServiceProvisioningError', 'INTERNAL', 502, 1, 'the other broker answered what this version does not expect: see its log'),

  QB_DEMO_TIMEOUT: row('DemoError', 'DEADLINE_EXCEEDED', 504, 1, 'a step of the demo did not happen in time: the message names it, the daemons\' logs say why'),
  QB_DEMO_DAEMON_EXITED: row('DemoError', 'INTERNAL', 500, 1, 'a demo daemon exited: its log file is named in the message'),
  QB_DEMO_ORDER_FAILED: row('DemoError', 'INTERNAL', 500, 1, 'a demo order failed: the message gives the domain and error'),
  QB_DEMO_CHECK_FAILED: row('DemoError', 'INTERNAL', 500, 1, 'what the demo read back is not what it should be: a bug, see the message'),
  QB_DEMO_INTERRUPTED: row('DemoError', 'CANCELLED', 499, 1, 'the demo got SIGINT or SIGTERM and stopped everything it started (the process exits 130 or 143); run it again'),
  QB_DEMO_LAB_BUSY: row('DemoError', 'FAILED_PRECONDITION', 409, 1, "the demo's lab is already up (a demo --keep left it): take it down with qos-broker lab down FILE, or run the demo with --loopback"),

  QB_APIKEY_NOT_FOUND: row('ApiKeyError', 'NOT_FOUND', 404, 1, 'no such API key: qos-broker apikey list shows them'),
  QB_NORTHBOUND_NOT_FOUND: row('NorthboundError', 'NOT_FOUND', 404, 1, 'no such resource (or it is another customer\'s): list them'),
  QB_NORTHBOUND_UNAUTHENTICATED: row('NorthboundError', 'PERMISSION_DENIED', 401, 1, 'send Authorization: Bearer with a key of qos-broker apikey create that is not revoked'),
  QB_NORTHBOUND_RATE_LIMITED: row('NorthboundError', 'RESOURCE_EXHAUSTED', 429, 1, 'the API key made too many requests: wait Retry-After seconds, or raise northbound.rate-limit'),
  QB_NORTHBOUND_BODY_TOO_LARGE: row('NorthboundError', 'INVALID_ARGUMENT', 413, 1, 'send a smaller body, or raise northbound.body-limit-bytes'),
  QB_NORTHBOUND_MEDIA_TYPE: row('NorthboundError', 'INVALID_ARGUMENT', 415, 1, 'send the body as application/json'),
  QB_NORTHBOUND_CALLBACK_NOT_ALLOWED: row('NorthboundError', 'PERMISSION_DENIED', 403, 1, 'a hub callback goes to loopback or to a host listed in northbound.hub-allow-hosts: ask the operator to list it'),
  QB_NORTHBOUND_BAD_REQUEST: row('NorthboundError', 'INVALID_ARGUMENT', 400, 1, 'the request is not well-formed (e.g. JSON that does not parse): the message says where'),
  QB_IDEMPOTENCY_IN_PROGRESS: row('NorthboundError', 'ABORTED', 409, 1, 'the first request with this Idempotency-Key is still being answered: retry later'),
  QB_IDEMPOTENCY_KEY_REUSED: row('NorthboundError', 'FAILED_PRECONDITION', 422, 1, 'the Idempotency-Key was used for another body: use a new key for a new request'),
  QB_NORTHBOUND_FORBIDDEN: row('NorthboundError', 'PERMISSION_DENIED', 403, 1, 'the operation is for operator keys or tokens: ask the provider\'s operator'),
  QB_NORTHBOUND_JWKS_UNAVAILABLE: row('NorthboundError', 'UNAVAILABLE', 503, 1, 'the identity provider\'s JWKS (northbound.jwt.jwks-url) could not be read: check that it answers, then retry'),

  QB_EXCHANGE_NOT_ALLOWED: row('ExchangeError', 'PERMISSION_DENIED', 403, 1, 'this provider may not use the exchange: its operator lists the providers it brokers for under exchange.allow-providers'),
  QB_EXCHANGE_CONTACT_NOT_ALLOWED: row('ExchangeError', 'PERMISSION_DENIED', 403, 1, 'the path needs a provider the exchange may not contact: its operator lists them under exchange.may-contact, or exclude that domain'),
  QB_EXCHANGE_UNKNOWN: row('ExchangeError', 'FAILED_PRECONDITION', 400, 1, 'no exchange of that name is configured: add it under peers with exchange: true, or drop --via-exchange'),
  QB_EXCHANGE_NOT_BROKERED: row('ExchangeError', 'PERMISSION_DENIED', 403, 1, 'the exchange relays provisioning only for contracts it brokered for the caller: use the contract the exchange returned'),
  QB_EXCHANGE_BAD_CONTRACT: row('ExchangeError', 'INTERNAL', 502, 1, 'the exchange returned a contract that does not state what was asked or is not signed as it must be: see the message'),

  QB_MANAGEMENT_UNREACHABLE: row('AdminError', 'UNAVAILABLE', 502, 1, 'start qos-brokerd (management.listen is logged at start) or pass --management unix:PATH|HOST:PORT'),
  QB_ADMIN_UNREACHABLE: row('AdminError', 'UNAVAILABLE', 502, 1, 'start qos-brokerd with admin.listen at that address, or pass --admin HOST:PORT'),
  QB_ADMIN_ERROR: row('AdminError', 'INTERNAL', 500, 1, 'the admin endpoint refused the request: its answer is in the message'),
} as const;

/** The one table: every code, its class and what each edge makes of it. */
export const ERRORS = { ...DRIVER_ERRORS, ...LAB_ERRORS, ...BROKER_ERRORS } as const satisfies Record<string, ErrorRow>;
/** Every error code of qos-broker. */
export type ErrorCode = keyof typeof ERRORS;
type Codes<K extends string> = CodesOf<typeof BROKER_ERRORS, K>;

// ------------------------------------------------------------------ state

/** The live resource store failed or refused an operation: Redis unreachable or missing, an unknown link or class, an unknown or closed reservation, an expired hold. */
export class ResourceStoreError extends CodedError<Codes<'ResourceStoreError' | 'AdmissionRejectedError'>> {}

/** One link and time slot that lacked room for a reservation. */
export interface CapacityShortfall {
  link: string;
  /** QoS class of the request. */
  cls: string;
  /** Slot start and end, ms since the epoch; the slot is [slotStart, slotEnd). */
  slotStart: number;
  slotEnd: number;
  /** Capacity of the link for the class, bit/s. */
  capacityBps: number;
  /** Already held or booked in that slot, bit/s. */
  usedBps: number;
  /** Requested rate, bit/s. */
  requestedBps: number;
  /** How much is missing: usedBps + requestedBps - capacityBps. */
  shortfallBps: number;
}

/** Admission refused a reservation: some slot of some link has no room. Nothing was changed. */
export class AdmissionRejectedError extends ResourceStoreError {
  declare readonly code: 'QB_STATE_ADMISSION_REJECTED';
  readonly shortfalls: CapacityShortfall[];
  constructor(reservationId: string, shortfalls: CapacityShortfall[]) {
    const s = shortfalls[0];
    const where = s
      ? `: link ${s.link} class ${s.cls} lacks ${s.shortfallBps} bit/s in the slot starting ${new Date(s.slotStart).toISOString()}` +
        (shortfalls.length > 1 ? ` (and ${shortfalls.length - 1} more links)` : '')
      : '';
    super('QB_STATE_ADMISSION_REJECTED', `reservation ${reservationId} was not admitted${where}`);
    this.shortfalls = shortfalls;
  }
}

// ------------------------------------------------------------------ peering, config, topology

const ADVERT_CODES: Record<AdvertRejectReason, Codes<'AdvertRejectedError'>> = {
  malformed: 'QB_ADVERT_MALFORMED',
  'unknown-origin': 'QB_ADVERT_UNKNOWN_ORIGIN',
  'origin-key-mismatch': 'QB_ADVERT_ORIGIN_KEY_MISMATCH',
  'bad-signature': 'QB_ADVERT_BAD_SIGNATURE',
  expired: 'QB_ADVERT_EXPIRED',
  'not-yet-valid': 'QB_ADVERT_NOT_YET_VALID',
  'older-sequence': 'QB_ADVERT_OLDER_SEQUENCE',
  replayed: 'QB_ADVERT_REPLAYED',
};

/** A domain advertisement was rejected; `reason` is one of daemon/peering/advert.ts's, the code `QB_ADVERT_` plus the reason. */
export class AdvertRejectedError extends QosBrokerError {
  declare readonly code: Codes<'AdvertRejectedError'>;
  readonly reason: AdvertRejectReason;
  readonly origin: string | undefined;
  constructor(reason: AdvertRejectReason, message: string, origin?: string) {
    super(ADVERT_CODES[reason], message);
    this.reason = reason;
    this.origin = origin;
  }
}

/** A config file is invalid: `key` is the path of the bad key, e.g. `peers[0].address`. */
export class ConfigError extends QosBrokerError {
  declare readonly code: 'QB_CONFIG_INVALID';
  readonly key: string;
  constructor(key: string, message: string, options?: ErrorOptions) {
    super('QB_CONFIG_INVALID', `${key ? `${key}: ` : ''}${message}`, options);
    this.key = key;
  }
}

/** An advertisement is malformed or contradicts another one. */
export class TopologyError extends QosBrokerError {
  declare readonly code: 'QB_TOPOLOGY_INVALID_ADVERTISEMENT';
  /** Origin of the offending advertisement, when known. */
  readonly origin: string | undefined;
  /** Dotted path of the offending field, e.g. `transits[2].classes.EF.loss`. */
  readonly field: string;
  constructor(origin: string | undefined, field: string, message: string) {
    super('QB_TOPOLOGY_INVALID_ADVERTISEMENT', `advertisement${origin ? ` of ${origin}` : ''}: ${field}: ${message}`);
    this.origin = origin;
    this.field = field;
  }
}

/** Why no path satisfies a request. `kind` mirrors the error code. */
export type InfeasibleReason =
  | {
      /** The class is not carried between the endpoints at all (whatever the rate and policy). */
      kind: 'no-route';
      qosClass: string;
    }
  | {
      /** Exclude/allowed-domains policy cuts every route; `blocking` are the domains that would be needed. */
      kind: 'policy';
      blocking: string[];
    }
  | {
      /** Not enough bandwidth: traffic cannot get past `pastDomain`. */
      kind: 'bandwidth';
      qosClass: string;
      rateMbps: number;
      /** Best achievable bottleneck (widest path) under the policy, Mbit/s. */
      bestMbps: number;
      /** Last domain reachable with enough bandwidth on the way to the destination. */
      pastDomain: string;
      /** The too-thin edges leaving the reachable part towards the destination (`a/b -> c/d`). */
      thinEdges: string[];
    }
  | {
      /** Included domains that no path with enough bandwidth can cross (alone, or all together). */
      kind: 'include';
      domains: string[];
    }
  | { kind: 'latency'; bestMs: number; boundMs: number }
  | { kind: 'jitter'; bestMs: number; boundMs: number }
  | { kind: 'loss'; best: number; bound: number }
  | {
      /** Each bound (and include) is achievable alone, but no single path meets all of them. */
      kind: 'bounds-jointly';
      best: { latencyMs: number; jitterMs: number; loss: number };
    }
  | {
      /** The search stopped at its label cap before finding any feasible path. */
      kind: 'search-limit';
      maxLabels: number;
    };

const PATH_CODES: Record<InfeasibleReason['kind'], Codes<'PathInfeasibleError'>> = {
  'no-route': 'QB_PATH_NO_ROUTE',
  policy: 'QB_PATH_POLICY',
  bandwidth: 'QB_PATH_NO_BANDWIDTH',
  include: 'QB_PATH_INCLUDE_UNREACHABLE',
  latency: 'QB_PATH_LATENCY_BOUND',
  jitter: 'QB_PATH_JITTER_BOUND',
  loss: 'QB_PATH_LOSS_BOUND',
  'bounds-jointly': 'QB_PATH_BOUNDS_JOINTLY',
  'search-limit': 'QB_PATH_SEARCH_LIMIT',
};

/** No path satisfies the request; `reason` says which bound failed and where. */
export class PathInfeasibleError extends QosBrokerError {
  declare readonly code: Codes<'PathInfeasibleError'>;
  readonly reason: InfeasibleReason;
  constructor(reason: InfeasibleReason, message: string) {
    super(PATH_CODES[reason.kind], message);
    this.reason = reason;
  }
}

// ------------------------------------------------------------------ agreement

/** A path cannot be priced or no option meets the provider's objectives. */
export class PricingError extends CodedError<Codes<'PricingError'>> {}

/** A contract failed verification or is malformed; `field` names the JSON pointer at fault, when there is one. */
export class ContractError extends QosBrokerError {
  declare readonly code: Codes<'ContractError'>;
  readonly field?: string;
  readonly domain?: string;
  constructor(code: Codes<'ContractError'>, message: string, where: { field?: string; domain?: string } = {}) {
    super(code, message);
    this.field = where.field;
    this.domain = where.domain;
  }
}

/** A domain refused to hold its segment; says which edge lacks how much. */
export class SegmentRejectedError extends QosBrokerError {
  declare readonly code: 'QB_AGREEMENT_SEGMENT_REJECTED';
  readonly domain: string;
  constructor(domain: string, message: string) {
    super('QB_AGREEMENT_SEGMENT_REJECTED', message);
    this.domain = domain;
  }
}

/** No alternative could be agreed; `refused` says why each failed. */
export class AgreementFailedError extends QosBrokerError {
  declare readonly code: 'QB_AGREEMENT_FAILED';
  readonly refused: Array<{ domains: string[]; reason: string }>;
  constructor(agreementId: string, refused: Array<{ domains: string[]; reason: string }>) {
    super(
      'QB_AGREEMENT_FAILED',
      `agreement ${agreementId} failed on every alternative: ` + refused.map((r) => `[${r.domains.join(' > ')}] ${r.reason}`).join('; '),
    );
    this.refused = refused;
  }
}

/** A domain of the agreement did not answer before the deadline (the hold TTL, or the call's own). */
export class AgreementTimeoutError extends TimeoutError {
  declare readonly code: 'QB_AGREEMENT_TIMEOUT';
  constructor(message: string, options?: ErrorOptions) {
    super('QB_AGREEMENT_TIMEOUT' as LayerCode, message, options);
  }
}

/** The broker of a domain cannot be reached, or its stream ended. */
export class AgreementUnreachableError extends TransportError {
  declare readonly code: 'QB_AGREEMENT_UNREACHABLE';
  constructor(message: string, options?: ErrorOptions) {
    super('QB_AGREEMENT_UNREACHABLE' as LayerCode, message, options);
  }
}

/** A step of the agreement protocol was refused: wrong domain, nothing held, not a peer, busy, ... */
export class AgreementError extends CodedError<Codes<'AgreementError'>> {}

/** The CLI could not reach qos-brokerd's admin endpoint or Management service, or the endpoint answered with an error it did not name. */
export class AdminError extends CodedError<Codes<'AdminError'>> {}

/** An order cannot be found or cannot do what was asked in its state (workflow). */
export class OrderError extends CodedError<Codes<'OrderError'>> {}

/** A domain's provisioning of a service refused a call: not a party, not the originator, unknown, a rate not agreed. */
export class ServiceProvisioningError extends CodedError<Codes<'ServiceProvisioningError'>> {}

/** `qos-broker demo` found something it runs or reads back not as it should be. */
export class DemoError extends CodedError<Codes<'DemoError'>> {}

/** An API key of the northbound REST API that does not exist. */
export class ApiKeyError extends CodedError<Codes<'ApiKeyError'>> {}

/** A refusal of the exchange's brokerage (seed 000's service broker device): a provider not allowed, a provider it may not contact, an unknown exchange. */
export class ExchangeError extends CodedError<Codes<'ExchangeError'>> {}

/** A refusal of the northbound REST API (not found, unauthenticated, rate limited, ...); `headers` go on the answer (Retry-After). */
export class NorthboundError extends CodedError<Codes<'NorthboundError'>> {
  constructor(
    code: Codes<'NorthboundError'>,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(code, message);
  }
}

// ------------------------------------------------------------------ the edges

/** Every class the table names, by name (a name without a class here does not compile). */
const CLASSES: Record<(typeof ERRORS)[ErrorCode]['cls'], abstract new (...args: never[]) => QosBrokerError> = {
  InvalidArgumentError,
  AbortedError,
  InternalError,
  TransportError,
  HostKeyError,
  TimeoutError,
  ProtocolError,
  SessionClosedError,
  CapabilityNotSupportedError,
  NetconfRpcError,
  PolicyInvalidError,
  PartitionViolationError,
  ProvisioningError,
  LabError,
  LabTopologyError,
  SchemaError,
  ResourceStoreError,
  AdmissionRejectedError,
  AdvertRejectedError,
  ConfigError,
  TopologyError,
  PathInfeasibleError,
  PricingError,
  ContractError,
  SegmentRejectedError,
  AgreementFailedError,
  AgreementTimeoutError,
  AgreementUnreachableError,
  AgreementError,
  AdminError,
  OrderError,
  ServiceProvisioningError,
  DemoError,
  ApiKeyError,
  NorthboundError,
  ExchangeError,
};

/** Whether a string is a code of the table. */
export function isErrorCode(code: string): code is ErrorCode {
  return Object.hasOwn(ERRORS, code);
}

/** The row of an error (an error that is not a QosBrokerError, or has a code of no row, is a QB_INTERNAL). */
export function errorRowOf(err: unknown): ErrorRow {
  return err instanceof QosBrokerError && isErrorCode(err.code) ? ERRORS[err.code] : ERRORS.QB_INTERNAL;
}

/** The gRPC status (as its name, a key of grpc.status) an error stands for. */
export function grpcStatusOf(err: unknown): GrpcStatusName {
  return errorRowOf(err).grpc;
}

/** The HTTP status an error stands for. */
export function httpStatusOf(err: unknown): number {
  return errorRowOf(err).http;
}

/** The CLI's exit code for an error. */
export function exitCodeOf(err: unknown): number {
  return errorRowOf(err).exit;
}

/**
 * A code and message received from another broker or from the admin endpoint
 * as the class the table gives for the code, so a remote error is the same
 * class as the local one (`instanceof` holds, `code` and `message` are the
 * sender's). Fields beyond those are not on the wire: `domain` is set for the
 * classes that carry the refusing domain. A code of no row (a newer peer)
 * becomes `fallback`, with the code kept in the message.
 */
export function errorFromWire(
  code: string,
  message: string,
  opts: { domain?: string; cause?: unknown; fallback: Codes<'AgreementError'> | Codes<'AdminError'> },
): QosBrokerError {
  if (!isErrorCode(code)) return revive(opts.fallback, code ? `${code}: ${message}` : message, opts);
  return revive(code, message, opts);
}

/** An instance of the code's class without running its constructor (whose other arguments are not on the wire). */
function revive(code: ErrorCode, message: string, opts: { domain?: string; cause?: unknown }): QosBrokerError {
  const cls = CLASSES[ERRORS[code].cls];
  const e = Object.create(cls.prototype) as QosBrokerError & { domain?: string };
  Object.defineProperty(e, 'message', { value: message, writable: true, configurable: true });
  if (opts.cause !== undefined) Object.defineProperty(e, 'cause', { value: opts.cause, writable: true, configurable: true });
  Object.assign(e, { name: cls.name, code });
  if (cls === SegmentRejectedError) e.domain = opts.domain ?? '';
  Error.captureStackTrace(e, errorFromWire);
  return e;
}
