/**
 * The error tree of qos-broker and the drivers' part of its table of codes.
 * Every error the project raises is a `QosBrokerError` with a stable `code`
 * (safe to match on, never reworded) and the original `cause` kept. Each class
 * stands for one kind of failure; its codes are the rows of the table that
 * name it, and its constructor accepts only those. Edges (gRPC, HTTP, CLI exit
 * codes) read the table, nothing else maps errors: the whole table is
 * `ERRORS` in daemon/errors.ts, which adds the broker's and the lab's rows to
 * these.
 */

/** gRPC status names (grpc.status keys), as plain strings: drivers do not load gRPC. */
export type GrpcStatusName =
  | 'CANCELLED'
  | 'INVALID_ARGUMENT'
  | 'DEADLINE_EXCEEDED'
  | 'NOT_FOUND'
  | 'PERMISSION_DENIED'
  | 'RESOURCE_EXHAUSTED'
  | 'FAILED_PRECONDITION'
  | 'ABORTED'
  | 'UNIMPLEMENTED'
  | 'INTERNAL'
  | 'UNAVAILABLE';

/**
 * One row of the error table: the class thrown with the code, its gRPC status,
 * HTTP status and CLI exit code at the edges, and one line of what to do.
 */
export interface ErrorRow<K extends string = string> {
  readonly cls: K;
  readonly grpc: GrpcStatusName;
  readonly http: number;
  readonly exit: number;
  readonly fix: string;
}

/** One row, written as one line of a table. */
export function row<K extends string>(cls: K, grpc: GrpcStatusName, http: number, exit: number, fix: string): ErrorRow<K> {
  return { cls, grpc, http, exit, fix };
}

/** The codes of a table whose rows name one of the classes `K`. */
export type CodesOf<T extends Record<string, ErrorRow>, K extends string> = { [C in keyof T]: T[C]['cls'] extends K ? C : never }[keyof T] & string;

/** A subclass in another layer (daemon/errors.ts) passes its fixed code, a row of that layer's part of the table, through a driver class. */
export type LayerCode = string & { readonly layerCode: true };

/**
 * The drivers' rows. Adding a code is one line here (or in daemon/errors.ts
 * for a broker code); the class's constructor then accepts it.
 */
export const DRIVER_ERRORS = {
  QB_INVALID_ARGUMENT: row('InvalidArgumentError', 'INVALID_ARGUMENT', 400, 2, 'change the option, flag or field the message names'),
  QB_ABORTED: row('AbortedError', 'CANCELLED', 499, 1, 'the caller cancelled the operation (its AbortSignal fired); run it again if that was not meant'),
  QB_UNEXPECTED: row('InternalError', 'INTERNAL', 500, 1, 'a bug: report it with the message and the log around it'),
  QB_INTERNAL: row('InternalError', 'INTERNAL', 500, 1, 'a bug: report it with the message and the log around it'),

  QB_SSH_CONNECT_FAILED: row('TransportError', 'UNAVAILABLE', 502, 1, 'check the device address and port and that its sshd runs'),
  QB_SSH_CONNECTION_LOST: row('TransportError', 'UNAVAILABLE', 502, 1, 'the SSH connection broke: check the device and the network, then retry'),
  QB_SSH_AUTH_FAILED: row('TransportError', 'UNAVAILABLE', 502, 1, 'check the username and the key or password configured for the device'),
  QB_SSH_CHANNEL_FAILED: row('TransportError', 'UNAVAILABLE', 502, 1, 'the device refused a channel: check its sshd subsystem and session limits'),
  QB_SSH_HOST_KEY_UNKNOWN: row('HostKeyError', 'UNAVAILABLE', 502, 1, 'pin the fingerprint in the message (known_hosts or hostKeyFingerprint) after checking it out of band'),
  QB_SSH_HOST_KEY_CHANGED: row('HostKeyError', 'UNAVAILABLE', 502, 1, 'the device presents another key than known_hosts holds: find out why before replacing the entry'),
  QB_SSH_HOST_KEY_MISMATCH: row('HostKeyError', 'UNAVAILABLE', 502, 1, 'the device key differs from the pinned fingerprint: check the device before changing the pin'),
  QB_SSH_HOST_KEY_UNVERIFIED: row('HostKeyError', 'UNAVAILABLE', 502, 1, 'give a known_hosts file or a fingerprint to check the device key against'),
  QB_SSH_HOST_KEY_REVOKED: row('HostKeyError', 'UNAVAILABLE', 502, 1, 'the key is marked @revoked in known_hosts: the device must get a new key'),
  QB_SSH_HOST_KEY_CHECK_FAILED: row('HostKeyError', 'UNAVAILABLE', 502, 1, 'the host key check itself failed: see the cause'),
  QB_SSH_KNOWN_HOSTS_UNREADABLE: row('HostKeyError', 'UNAVAILABLE', 502, 1, 'make the known_hosts file readable or point to another one'),
  QB_SSH_KNOWN_HOSTS_UNWRITABLE: row('HostKeyError', 'UNAVAILABLE', 502, 1, 'make the known_hosts file writable or pin the fingerprint instead'),

  QB_SSH_CONNECT_TIMEOUT: row('TimeoutError', 'DEADLINE_EXCEEDED', 504, 1, 'the device did not answer in time: check it is reachable or raise connectTimeoutMs'),
  QB_SSH_EXEC_TIMEOUT: row('TimeoutError', 'DEADLINE_EXCEEDED', 504, 1, 'the command did not finish in time: raise its timeout or check the device'),
  QB_SSH_CHANNEL_TIMEOUT: row('TimeoutError', 'DEADLINE_EXCEEDED', 504, 1, 'the device did not open a channel in time: check its load or raise channelTimeoutMs'),
  QB_NETCONF_HELLO_TIMEOUT: row('TimeoutError', 'DEADLINE_EXCEEDED', 504, 1, 'the device sent no <hello>: check its NETCONF subsystem or raise helloTimeoutMs'),
  QB_NETCONF_RPC_TIMEOUT: row('TimeoutError', 'DEADLINE_EXCEEDED', 504, 1, 'the RPC got no reply in time: check the device or raise the RPC timeout'),
  QB_NETCONF_NOTIFICATION_TIMEOUT: row('TimeoutError', 'DEADLINE_EXCEEDED', 504, 1, 'fewer notifications arrived than awaited: wait longer or check the subscription'),

  QB_NETCONF_BAD_FRAMING: row('ProtocolError', 'INTERNAL', 502, 1, 'the device broke NETCONF framing (RFC 6242): check its software'),
  QB_NETCONF_MESSAGE_TOO_LARGE: row('ProtocolError', 'INTERNAL', 502, 1, 'raise maxMessageBytes if the device really sends replies this large'),
  QB_NETCONF_CHUNK_TOO_LARGE: row('ProtocolError', 'INTERNAL', 502, 1, 'raise maxChunkBytes if the device really sends chunks this large'),
  QB_NETCONF_BAD_HELLO: row('ProtocolError', 'INTERNAL', 502, 1, 'the device <hello> is unusable: check it offers base:1.0 or base:1.1 and a session-id'),
  QB_NETCONF_BAD_XML: row('ProtocolError', 'INTERNAL', 502, 1, 'the device sent malformed XML: check its software'),
  QB_NETCONF_FORBIDDEN_XML: row('ProtocolError', 'INTERNAL', 502, 1, 'the device sent a DTD or entity declaration, which is refused'),
  QB_NETCONF_UNEXPECTED_MESSAGE: row('ProtocolError', 'INTERNAL', 502, 1, 'the device sent something else than <rpc-reply> or <notification>'),
  QB_NETCONF_UNEXPECTED_REPLY: row('ProtocolError', 'INTERNAL', 502, 1, 'the device answered a message-id no RPC waits for'),
  QB_CLI_NO_STATUS: row('ProtocolError', 'INTERNAL', 502, 1, 'the device shell gave no exit status: check its login shell'),

  QB_NETCONF_SESSION_CLOSED: row('SessionClosedError', 'UNAVAILABLE', 502, 1, 'the session is closed: open a new one'),
  QB_NETCONF_CHANNEL_ERROR: row('SessionClosedError', 'UNAVAILABLE', 502, 1, 'the SSH channel under the session failed: see the cause, then reconnect'),
  QB_SSH_CLOSED: row('SessionClosedError', 'UNAVAILABLE', 502, 1, 'the SSH connection is closed: connect again'),

  QB_NETCONF_CAPABILITY_NOT_SUPPORTED: row('CapabilityNotSupportedError', 'FAILED_PRECONDITION', 501, 1, 'the device lacks the named capability: use another operation or platform'),
  QB_NETCONF_RPC_ERROR: row('NetconfRpcError', 'FAILED_PRECONDITION', 502, 1, 'the device refused the RPC: its rpc-error (tag, path, message) says why'),

  QB_POLICY_INVALID: row('PolicyInvalidError', 'INVALID_ARGUMENT', 400, 1, 'the policy is not an object of the abstract QoS policy: see yang/'),
  QB_POLICY_INVALID_NAME: row('PolicyInvalidError', 'INVALID_ARGUMENT', 400, 1, 'fix the name the message names'),
  QB_POLICY_INVALID_OWNER: row('PolicyInvalidError', 'INVALID_ARGUMENT', 400, 1, 'give the owning provider of the policy'),
  QB_POLICY_INVALID_CLASS: row('PolicyInvalidError', 'INVALID_ARGUMENT', 400, 1, 'use a QoS class the message lists'),
  QB_POLICY_INVALID_CLASSIFIER: row('PolicyInvalidError', 'INVALID_ARGUMENT', 400, 1, 'fix the classifier field the message names'),
  QB_POLICY_INVALID_PREFIX: row('PolicyInvalidError', 'INVALID_ARGUMENT', 400, 1, 'give the prefix as address/length'),
  QB_POLICY_INVALID_DSCP: row('PolicyInvalidError', 'INVALID_ARGUMENT', 400, 1, 'a DSCP is a whole number 0..63'),
  QB_POLICY_INVALID_VLAN: row('PolicyInvalidError', 'INVALID_ARGUMENT', 400, 1, 'a VLAN id is a whole number 1..4094'),
  QB_POLICY_INVALID_PRIORITY: row('PolicyInvalidError', 'INVALID_ARGUMENT', 400, 1, 'fix the priority to the range the message gives'),
  QB_POLICY_INVALID_RATE: row('PolicyInvalidError', 'INVALID_ARGUMENT', 400, 1, 'fix the rate to the range the message gives'),
  QB_POLICY_INVALID_BURST: row('PolicyInvalidError', 'INVALID_ARGUMENT', 400, 1, 'fix the burst size to the range the message gives'),
  QB_POLICY_INVALID_ACTION: row('PolicyInvalidError', 'INVALID_ARGUMENT', 400, 1, 'use an action the message lists'),
  QB_POLICY_INVALID_REMARK: row('PolicyInvalidError', 'INVALID_ARGUMENT', 400, 1, 'fix the remark value the message names'),
  QB_POLICY_INVALID_VALIDITY: row('PolicyInvalidError', 'INVALID_ARGUMENT', 400, 1, 'give a validity window that ends after it starts'),
  QB_POLICY_PEAK_BELOW_COMMITTED: row('PolicyInvalidError', 'INVALID_ARGUMENT', 400, 1, 'the peak rate must be at least the committed rate'),
  QB_POLICY_RATE_ABOVE_LINE_RATE: row('PolicyInvalidError', 'INVALID_ARGUMENT', 400, 1, 'lower the rate to the interface line rate or below'),
  QB_POLICY_UNKNOWN_INTERFACE: row('PolicyInvalidError', 'INVALID_ARGUMENT', 400, 1, 'use an interface of the device inventory'),
  QB_POLICY_WRONG_DEVICE: row('PolicyInvalidError', 'INVALID_ARGUMENT', 400, 1, 'send the policy to the device it names'),
  QB_PARTITION_INVALID: row('PolicyInvalidError', 'INVALID_ARGUMENT', 400, 1, 'fix the partitions of the device inventory as the message says'),
  QB_PLATFORM_UNSUPPORTED: row('PolicyInvalidError', 'INVALID_ARGUMENT', 400, 1, 'the platform cannot express this part of the policy: leave it out or split the policy'),

  QB_PARTITION_UNKNOWN: row('PartitionViolationError', 'PERMISSION_DENIED', 403, 1, 'name a partition the shared device declares'),
  QB_PARTITION_REQUIRED: row('PartitionViolationError', 'PERMISSION_DENIED', 403, 1, 'the device is shared: name the provider partition in the policy'),
  QB_PARTITION_NOT_OWNER: row('PartitionViolationError', 'PERMISSION_DENIED', 403, 1, 'the partition belongs to another provider'),
  QB_PARTITION_INTERFACE_OUTSIDE: row('PartitionViolationError', 'PERMISSION_DENIED', 403, 1, 'use only interfaces of your partition'),
  QB_PARTITION_NETWORK_INSTANCE_OUTSIDE: row('PartitionViolationError', 'PERMISSION_DENIED', 403, 1, 'use the network-instance of your partition'),
  QB_PARTITION_RATE_BUDGET_EXCEEDED: row('PartitionViolationError', 'PERMISSION_DENIED', 403, 1, 'lower the rate or raise the partition rate budget'),

  QB_PROVISION_NO_DEVICE: row('ProvisioningError', 'FAILED_PRECONDITION', 502, 1, 'add the device to the managed inventory or fix the policy device'),
  QB_PROVISION_TRANSPORT: row('ProvisioningError', 'FAILED_PRECONDITION', 502, 1, 'the platform renders only: provision it by hand or use a NETCONF platform'),
  QB_PROVISION_LOCK_FAILED: row('ProvisioningError', 'FAILED_PRECONDITION', 502, 1, 'another session holds the candidate lock: retry when it is released'),
  QB_PROVISION_APPLY_FAILED: row('ProvisioningError', 'FAILED_PRECONDITION', 502, 1, 'the device refused the change and it was rolled back: see the cause'),
  QB_PROVISION_VERIFY_FAILED: row('ProvisioningError', 'FAILED_PRECONDITION', 502, 1, 'the running config differs after apply: check the device for other writers'),
  QB_PROVISION_REMOVE_FAILED: row('ProvisioningError', 'FAILED_PRECONDITION', 502, 1, 'removal failed on the devices named: remove the policy by hand'),
  QB_PROVISION_FAILED: row('ProvisioningError', 'FAILED_PRECONDITION', 502, 1, 'provisioning failed and was rolled back: see the cause'),
  QB_PROVISION_CLI_LINE_FAILED: row('ProvisioningError', 'FAILED_PRECONDITION', 502, 1, 'the device refused a CLI line and was undone: see the line in the message'),
  QB_PROVISION_CLI_UNDO_FAILED: row('ProvisioningError', 'FAILED_PRECONDITION', 502, 1, 'undo lines failed: check the device and remove what is left by hand'),
  QB_PROVISION_COUNTERS_UNREADABLE: row('ProvisioningError', 'FAILED_PRECONDITION', 502, 1, 'the device printed its counters in a form the platform does not read: check its iproute2 release'),
} as const;

/** Codes of the drivers' rows. */
export type DriverErrorCode = keyof typeof DRIVER_ERRORS;
/** The drivers' codes of the classes K. */
type Codes<K extends string> = CodesOf<typeof DRIVER_ERRORS, K>;

/** `cause` and nothing else, as Error takes it. */
export interface ErrorOptions {
  cause?: unknown;
}

/** The root of every qos-broker error; construct one of its subclasses. */
export class QosBrokerError extends Error {
  /** Stable machine-readable code, e.g. `QB_SSH_HOST_KEY_UNKNOWN`: a row of the table. */
  readonly code: string;

  protected constructor(code: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/**
 * The base of a class whose codes are several rows of the table: its
 * constructor takes one of them (`C`, the union of its rows' codes).
 */
export abstract class CodedError<C extends string> extends QosBrokerError {
  declare readonly code: C;
  constructor(code: C, message: string, options?: ErrorOptions) {
    super(code, message, options);
  }
}

/** The caller gave a bad argument (option, config value, CLI flag). */
export class InvalidArgumentError extends QosBrokerError {
  declare readonly code: 'QB_INVALID_ARGUMENT';
  constructor(message: string, options?: ErrorOptions) {
    super('QB_INVALID_ARGUMENT', message, options);
  }
}

/** The caller cancelled the operation through its AbortSignal. */
export class AbortedError extends QosBrokerError {
  declare readonly code: 'QB_ABORTED';
  constructor(message: string, options?: ErrorOptions) {
    super('QB_ABORTED', message, options);
  }
}

/** Something that is not a QosBrokerError failed (a bug); carried under a code at an edge. */
export class InternalError extends CodedError<Codes<'InternalError'>> {}

/** Bytes could not be moved: TCP connect, SSH handshake, authentication, channel. */
export class TransportError extends QosBrokerError {
  constructor(code: Codes<'TransportError' | 'HostKeyError'> | LayerCode, message: string, options?: ErrorOptions) {
    super(code, message, options);
  }
}

/** The peer's host key is unknown, changed or not pinned. */
export class HostKeyError extends TransportError {
  declare readonly code: Codes<'HostKeyError'>;
  /** SHA256 fingerprint the server presented, as `SHA256:base64`. */
  readonly fingerprint: string;
  readonly host: string;
  constructor(code: Codes<'HostKeyError'>, message: string, host: string, fingerprint: string) {
    super(code, message);
    this.host = host;
    this.fingerprint = fingerprint;
  }
}

/** A timer ran out: connect, authentication, hello, an RPC, a prompt. */
export class TimeoutError extends QosBrokerError {
  constructor(code: Codes<'TimeoutError'> | LayerCode, message: string, options?: ErrorOptions) {
    super(code, message, options);
  }
}

/** The peer broke the protocol: framing, size limits, forbidden XML, bad hello. */
export class ProtocolError extends CodedError<Codes<'ProtocolError'>> {}

/** The session is closed or was never opened; the operation cannot run. */
export class SessionClosedError extends CodedError<Codes<'SessionClosedError'>> {}

/** The operation needs a capability the server did not advertise. */
export class CapabilityNotSupportedError extends QosBrokerError {
  declare readonly code: 'QB_NETCONF_CAPABILITY_NOT_SUPPORTED';
  readonly capability: string;
  constructor(operation: string, capability: string) {
    super(
      'QB_NETCONF_CAPABILITY_NOT_SUPPORTED',
      `${operation} needs the server capability ${capability}, which the server did not advertise in its <hello>`,
    );
    this.capability = capability;
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
  declare readonly code: 'QB_NETCONF_RPC_ERROR';
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
    super('QB_NETCONF_RPC_ERROR', `${operation}${where} failed with rpc-error ${summary}`);
    this.errors = errors;
    this.reply = reply;
    if (first) this.tag = first.tag;
  }
  /** Tag of the first error of severity error (not a warning), e.g. `lock-denied`. */
  tag = 'unknown';
}

/** An abstract QoS policy (or device inventory) is not valid; nothing was sent. */
export class PolicyInvalidError extends QosBrokerError {
  declare readonly code: Codes<'PolicyInvalidError'>;
  /** Path of the offending field in the policy, e.g. `rates.peakKbps`. */
  readonly field: string;
  constructor(code: Codes<'PolicyInvalidError'>, field: string, message: string) {
    super(code, message);
    this.field = field;
  }
}

/**
 * A policy reaches outside its provider's partition of a shared device, or
 * over the partition's rate budget (seed 002); refused before anything is sent.
 */
export class PartitionViolationError extends QosBrokerError {
  declare readonly code: Codes<'PartitionViolationError'>;
  /** The resource refused: an interface, `rate-budget`, a network-instance, a partition. */
  readonly resource: string;
  constructor(code: Codes<'PartitionViolationError'>, resource: string, message: string) {
    super(code, message);
    this.resource = resource;
  }
}

/** A platform's apply, verify or remove failed on the device; what was undone is said in the message. */
export class ProvisioningError extends CodedError<Codes<'ProvisioningError'>> {}
