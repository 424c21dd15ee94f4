/**
 * The options and shared state of the peering core (daemon/peering/peering-core.ts)
 * and the types its parts and transports use.
 */
import type { KeyObject } from 'node:crypto';
import { ADVERT_REJECT_REASONS, AdvertTable, type AdvertRejectReason, type SignedAdvert } from './advert.js';
import { PEERING_DEFAULTS } from './defaults.js';
import { validateAdvertBody, type AdvertBody, type Inventory } from './origin.js';
import type { RegistrationMsg } from './proto.js';
import type { BackoffOptions, FrameStream, PeerSession, PeerState } from './session.js';
import type { PeerPin } from './tls.js';
import { rawPublicKey, toPublicKey } from '../crypto/keys.js';
import type { Logger } from '../logger.js';
import type { ResourceStore } from '../state/store.js';

/** One configured peer. */
export interface PeerSpec extends PeerPin {
  /** host:port to dial; without it the peer is passive (we only accept its sessions). */
  address?: string;
  /** The peer's Ed25519 advertisement key (raw base64); when set, its Open and adverts must use it. */
  publicKey?: string;
  /** The peer is an exchange: register with it (Registry.Register). @default false */
  register?: boolean;
}

/** A stream of registrations from an exchange, as the transport delivers it. */
export interface RegistrationStream {
  on(event: 'data', cb: (r: RegistrationMsg) => void): unknown;
  on(event: 'end' | 'close', cb: () => void): unknown;
  on(event: 'error', cb: (err: Error) => void): unknown;
  cancel(): void;
}

/** How the core reaches other brokers (gRPC in the daemon, in-memory in the bench). */
export interface PeeringTransport {
  /**
   * Connect to the peer (state `connecting`: TCP, TLS and the identity pin)
   * and open a session stream; rejects if the peer cannot be reached or is not who it should be.
   */
  dialSession(peer: PeerSpec): Promise<FrameStream>;
  dialRegistry(peer: PeerSpec, registration: RegistrationMsg): RegistrationStream;
  /** Forget connections to a removed peer. */
  dropPeer(peer: PeerSpec): void;
}

/** Optional observers (metrics). */
export interface PeeringHooks {
  /** An advertisement was accepted `seconds` after its origin issued it. */
  convergence?(seconds: number): void;
  /** A frame received on a session was handled in `seconds`. */
  frame?(kind: string, seconds: number): void;
  /** We signed an advertisement of our own (or its withdrawal): the exchanges we register with are given it too. */
  originated?(advert: SignedAdvert<AdvertBody>): void;
}

/** Options of PeeringCore; see PEERING_DEFAULTS. */
export interface PeeringOptions {
  role: 'provider' | 'exchange';
  domain: string;
  brokerId: string;
  /** Ed25519 key that signs this domain's advertisements. Secret. */
  signingKey: KeyObject;
  peers: PeerSpec[];
  /** Keys of origins that are not direct peers (raw base64 or PEM), by domain id. @default {} */
  originKeys?: Record<string, string>;
  /** Where this broker accepts peering sessions, told to exchanges. @default "" */
  peeringAddress?: string;
  /** Proposed hold time, s. @default 90 */
  holdTimeS?: number;
  /** Lifetime of our advertisements, s; they are refreshed after a third of it. @default 3 * holdTimeS */
  advertLifetimeS?: number;
  /** Re-advertise when available bandwidth of a class moved by this fraction of its capacity. @default 0.1 */
  readvertiseThreshold?: number;
  /** At most one re-advertisement per this many ms. @default 1000 */
  readvertiseMinIntervalMs?: number;
  /** How often live state is read from the store, ms. @default 1000 */
  pollIntervalMs?: number;
  /** How long an exchange keeps a registration after its stream closed, ms. @default 300000 */
  registrationTtlMs?: number;
  backoff?: Partial<BackoffOptions>;
  inventory?: Inventory;
  store?: ResourceStore;
  transport: PeeringTransport;
  log?: Logger;
  hooks?: PeeringHooks;
  now?: () => number;
}

/** Runtime record of a configured peer. */
export interface PeerRecord {
  spec: PeerSpec;
  state: PeerState;
  session: PeerSession | undefined;
  pending: Set<PeerSession>;
  attempts: number;
  retryTimer: NodeJS.Timeout | undefined;
  lastError: string | undefined;
  since: number;
  registry: RegistrationStream | undefined;
  registryTimer: NodeJS.Timeout | undefined;
  registryAttempts: number;
  removed: boolean;
  /** A dial is in progress (state connecting). */
  dialing: boolean;
}

/**
 * What the parts of the peering core share: the options, the advertisement
 * table, the configured peers, the counters, the keys known per domain.
 */
export class PeeringContext {
  readonly table: AdvertTable<AdvertBody>;
  readonly peers = new Map<string, PeerRecord>();
  /** Counters read at scrape time. */
  readonly stats = {
    advertsSent: { advertisement: 0, withdrawal: 0 } as Record<string, number>,
    advertsReceived: 0,
    advertsDuplicate: 0,
    advertsAccepted: 0,
    rejected: Object.fromEntries(ADVERT_REJECT_REASONS.map((r) => [r, 0])) as Record<AdvertRejectReason, number>,
    originated: 0,
    agedOut: 0,
    sessionsRefused: {} as Record<string, number>,
  };
  /** Where each domain's key came from: self, config, peer-open, registration. */
  readonly keySource = new Map<string, string>();
  private readonly knownKeys = new Map<string, string>();
  opts: PeeringOptions;
  readonly log: Logger;
  readonly now: () => number;
  /** Interval timers of the running core; empty until start(). */
  readonly timers: NodeJS.Timeout[] = [];
  stopped = false;

  constructor(opts: PeeringOptions) {
    this.opts = opts;
    this.log = opts.log ?? (() => {});
    this.now = opts.now ?? Date.now;
    this.table = new AdvertTable<AdvertBody>({ now: this.now, validateBody: validateAdvertBody });
  }

  get holdTimeS(): number {
    return this.opts.holdTimeS ?? PEERING_DEFAULTS.holdTimeS;
  }

  get lifetimeMs(): number {
    return (this.opts.advertLifetimeS ?? 3 * this.holdTimeS) * 1000;
  }

  get publicKeyRaw(): string {
    return rawPublicKey(this.opts.signingKey);
  }

  setKey(domain: string, key: string, source: string): void {
    this.table.setOriginKey(domain, key);
    this.keySource.set(domain, source);
    this.knownKeys.set(domain, rawPublicKey(toPublicKey(key)));
  }

  knownKey(domain: string): string | undefined {
    return this.knownKeys.get(domain);
  }

  setState(rec: PeerRecord, state: PeerState): void {
    if (rec.state === state) return;
    this.log('info', 'peer state', { peer: rec.spec.domain, from: rec.state, to: state });
    rec.state = state;
    rec.since = this.now();
  }
}
