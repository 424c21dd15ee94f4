/**
 * The error tree of qos-broker. Every error the project raises is a
 * `QosBrokerError` with a stable `code` (safe to match on, never reworded) and
 * the original `cause` kept. Subclasses mark the layer that failed; edges
 * (gRPC, HTTP, CLI exit codes) map them, nothing else does.
 */
export class QosBrokerError extends Error {
  /** Stable machine-readable code, e.g. `QB_SSH_HOST_KEY_UNKNOWN`. */
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** Bytes could not be moved: TCP connect, SSH handshake, authentication, channel. */
export class TransportError extends QosBrokerError {}

/** The peer's host key is unknown, changed or not pinned. */
export class HostKeyError extends TransportError {
  /** SHA256 fingerprint the server presented, as `SHA256:base64`. */
  readonly fingerprint: string;
  readonly host: string;
  constructor(code: string, message: string, host: string, fingerprint: string) {
    super(code, message);
    this.host = host;
    this.fingerprint = fingerprint;
  }
}

/** A timer ran out: connect, authentication, hello, an RPC, a prompt. */
export class TimeoutError extends QosBrokerError {}

/** The peer broke the protocol: framing, size limits, forbidden XML, bad hello. */
export class ProtocolError extends QosBrokerError {}

/** The session is closed or was never opened; the operation cannot run. */
export class SessionClosedError extends QosBrokerError {}

/** The operation needs a capability the server did not advertise. */
export class CapabilityNotSupportedError extends QosBrokerError {
  readonly capability: string;
  constructor(operation: string, capability: string) {
    super(
      'QB_NETCONF_CAPABILITY_NOT_SUPPORTED',
      `${operation} needs the server capability ${capability}, which the server did not advertise in its <hello>`,
    );
    this.capability = capability;
  }
}

/** The caller gave a bad argument (option, config value, CLI flag). */
export class InvalidArgumentError extends QosBrokerError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('QB_INVALID_ARGUMENT', message, options);
  }
}

/** One `<rpc-error>` element of a NETCONF reply (RFC 6241 section 4.3). */
export interface RpcErrorInfo {
  /** transport, rpc, protocol or application */
  type: string;
  /** e.g. `lock-denied`, `invalid-value`, `data-missing` */
  tag: string;
  /** error or warning */
  severity: string;
  appTag?: string;
  /** XPath of the node in error, if the server gave one. */
  path?: string;
  message?: string;
  /** Children of `<error-info>` by local name, e.g. `{ 'session-id': '4' }`. */
  info: Record<string, string>;
}

/** The server answered an RPC with one or more `<rpc-error>` elements. */
export class NetconfRpcError extends QosBrokerError {
  /** Every `<rpc-error>` of the reply, in order, warnings included (each with its severity). */
  readonly errors: RpcErrorInfo[];
  /** The raw reply, for logs. */
  readonly reply: string;
  constructor(operation: string, errors: RpcErrorInfo[], reply: string, device?: string) {
    const first = errors.find((e) => e.severity !== 'warning') ?? errors[0];
    const where = device ? ` on ${device}` : '';
    const summary = errors
      .map((e) => {
        const info = Object.entries(e.info)
          .map(([k, v]) => `${k} ${v}`)
          .join(', ');
        return `${e.severity === 'warning' ? 'warning ' : ''}${e.tag}${e.path ? ` at ${e.path}` : ''}${e.message ? `: ${e.message}` : ''}${info ? ` (${info})` : ''}`;
      })
      .join('; ');
    super(`QB_NETCONF_RPC_ERROR`, `${operation}${where} failed with rpc-error ${summary}`);
    this.errors = errors;
    this.reply = reply;
    if (first) this.tag = first.tag;
  }
  /** Tag of the first error of severity error (not a warning), e.g. `lock-denied`. */
  tag = 'unknown';
}

/** An abstract QoS policy (or device inventory) is not valid; nothing was sent. */
export class PolicyInvalidError extends QosBrokerError {
  /** Path of the offending field in the policy, e.g. `rates.peakKbps`. */
  readonly field: string;
  constructor(code: string, field: string, message: string) {
    super(code, message);
    this.field = field;
  }
}

/**
 * A policy reaches outside its provider's partition of a shared device, or
 * over the partition's rate budget (seed 002); refused before anything is sent.
 */
export class PartitionViolationError extends QosBrokerError {
  /** The resource refused: an interface, `rate-budget`, a network-instance, a partition. */
  readonly resource: string;
  constructor(code: string, resource: string, message: string) {
    super(code, message);
    this.resource = resource;
  }
}

/** A platform's apply, verify or remove failed on the device; what was undone is said in the message. */
export class ProvisioningError extends QosBrokerError {}

/**
 * The live resource store failed or refused an operation: Redis unreachable or
 * missing, an unknown link or class, an unknown or closed reservation, an
 * expired hold. Codes start with `QB_STATE_`.
 */
export class ResourceStoreError extends QosBrokerError {}

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

/**
 * A domain advertisement was rejected. `reason` is one of the stable reasons of
 * daemon/peering/advert.ts (bad-signature, origin-key-mismatch, ...); the code
 * is `QB_ADVERT_` plus the reason in upper snake case.
 */
export class AdvertRejectedError extends QosBrokerError {
  readonly reason: string;
  readonly origin: string | undefined;
  constructor(reason: string, message: string, origin?: string) {
    super(`QB_ADVERT_${reason.toUpperCase().replace(/-/g, '_')}`, message);
    this.reason = reason;
    this.origin = origin;
  }
}
