/**
 * The configuration of qos-brokerd: YAML with kebab-case keys, checked here
 * into typed values. Every error names the key (e.g. `peers[1].ca-file`) and
 * says what is expected. Relative file paths are relative to the config file.
 * See daemon/config/examples/ for documented examples.
 */
import { ConfigError } from '../errors.js';
import { checkPrefix } from '../../drivers/policy/index.js';
import { AGREEMENT_DEFAULTS } from '../agreement/defaults.js';
import { NORTHBOUND_DEFAULTS } from '../northbound/defaults.js';
import { PEERING_DEFAULTS } from '../peering/defaults.js';
import type { Inventory, InventoryClass } from '../peering/origin.js';
import { parseDevices, type DeviceConfig } from './devices.js';
import { BACKOFF_DEFAULTS } from '../peering/session.js';
import { STORE_DEFAULTS } from '../state/store.js';
import { PROVISIONING_DEFAULTS } from '../provisioning/measure.js';

/** One configured peer. */
export interface PeerConfig {
  domainId: string;
  /** host:port to dial; absent: passive (the peer dials us). */
  address?: string;
  /** CA that issued the peer's TLS certificate (or the certificate itself). */
  caFile: string;
  /** SHA-256 fingerprint of the peer's certificate (hex, colons allowed, optional `sha256:`). */
  certSha256?: string;
  /** The peer's Ed25519 advertisement public key: raw 32 bytes base64, or a PEM file. */
  advertPublicKey?: string;
  advertPublicKeyFile?: string;
  /** The peer is an exchange: register with it. @default false */
  exchange: boolean;
}

/** The whole configuration, typed. */
export interface BrokerConfig {
  role: 'provider' | 'exchange';
  domainId: string;
  brokerId: string;
  /** gRPC peering listener, host:port. */
  listen: string;
  /** Address told to exchanges. @default listen */
  advertiseAddress: string;
  /** Data directory (embedded Redis lives under it). @default `<config dir>/qos-brokerd-data` */
  dataDir: string;
  keys: { advertKey: string; tlsCert: string; tlsKey: string };
  peering: {
    holdTimeS: number;
    advertLifetimeS: number;
    readvertiseThreshold: number;
    readvertiseMinIntervalMs: number;
    pollIntervalMs: number;
    backoffInitialMs: number;
    backoffMaxMs: number;
    registrationTtlS: number;
  };
  peers: PeerConfig[];
  /**
   * What an exchange brokers (role exchange): the providers that may hand it
   * orders, and those it may call to agree and provision. Each is a domain id
   * of `peers`, whose entry pins its mTLS identity. @default nobody
   */
  exchange: ExchangePolicyConfig;
  /** Keys of origins that are not direct peers: raw base64 or PEM file, by domain id. */
  originKeys: { domainId: string; publicKey?: string; publicKeyFile?: string }[];
  redis: { url?: string; embedded: boolean; keyPrefix: string; slotMs: number };
  inventory?: Inventory;
  metrics?: { listen: string };
  admin?: { listen: string };
  log: { level: 'debug' | 'info' | 'warn' | 'error' };
  /** Agreements (provider role): quote, reserve, commit with peers. */
  agreement: {
    /** How long our holds, and the holds we ask peers for, live before Commit, ms. @default 30000 */
    holdTtlMs: number;
    /** Deadline of each Agreement RPC to a peer, ms. @default 5000 */
    callTimeoutMs: number;
    /** How often expired holds are swept and logged as abandoned agreements, ms. @default 1000 */
    sweepIntervalMs: number;
  };
  /** Routers of the domain the daemon provisions (provider role), with those of `devicesFrom`. @default [] */
  devices: DeviceConfig[];
  /** A running lab's inventory.json: its routers of our domain are added to `devices` (labDeviceEntries). */
  devicesFrom?: string;
  /** The Management gRPC service (qosbroker.v1.Management; the CLI's). */
  management: {
    /** `unix:PATH` or a loopback host:port (no authentication: loopback or a socket only). @default `unix:<data-dir>/management.sock` */
    listen: string;
  };
  /** The northbound REST API (provider role): TMF641/TMF638 for customers and operators. Absent: not served. */
  northbound?: NorthboundConfig;
  /** The order workflow (provider role). */
  workflow: {
    /** Deadline of one domain's provisioning call (apply and verify on its devices), ms. @default 120000 */
    provisionTimeoutMs: number;
    /** How long a signed contract is kept after its service ended, ms. @default 31536000000 (a year) */
    contractRetentionMs: number;
    /** How long quotes and qualifications are kept after they were made, and alarms after they were cleared, ms. @default 7776000000 (90 days) */
    recordRetentionMs: number;
  };
  /** Provisioning (provider role): what the domain does with its devices besides applying. */
  provisioning: {
    /** How often the counters of the active services we originated are sampled for their measured rate, ms; 0: not measured. @default 5000 */
    measureIntervalMs: number;
  };
}

/** Who may use an exchange and whom it may contact (domain ids of configured peers). */
export interface ExchangePolicyConfig {
  /** Providers that may hand the exchange an order (Brokerage.Broker and Relay). @default [] */
  allowProviders: string[];
  /** Providers the exchange may call (Agreement, Provisioning) at the address they registered. @default [] */
  mayContact: string[];
}

/** The northbound REST API's listener and limits. */
export interface NorthboundConfig {
  /** host:port; plain HTTP only on a loopback address, anything else needs tls-cert and tls-key. */
  listen: string;
  /** TLS certificate and key (PEM paths) of the listener; both or neither. */
  tlsCert?: string;
  tlsKey?: string;
  /** Largest request body accepted, bytes (larger: 413). @default 65536 */
  bodyLimitBytes: number;
  /** Requests per second each API key may make on average (token bucket refill). @default 50 */
  rateLimitPerS: number;
  /** Requests an API key may make at once before the refill rate applies (bucket size). @default 100 */
  rateLimitBurst: number;
  /** How long an Idempotency-Key of a POST is remembered, s. @default 86400 */
  idempotencyTtlS: number;
  /** Deadline of one hub callback delivery, ms. @default 5000 */
  hubTimeoutMs: number;
  /** Hosts a hub callback may go to besides loopback (the daemon POSTs there). @default [] */
  hubAllowHosts: string[];
  /** Bearer JWTs of the provider's identity provider, besides API keys. Absent: API keys only. */
  jwt?: NorthboundJwtConfig;
}

/** How the northbound API checks bearer JWTs (with the jose library). */
export interface NorthboundJwtConfig {
  /** A JWKS file (read at start), or */
  jwksFile?: string;
  /** the identity provider's JWKS URL: loopback, or https to a host in jwksAllowHosts. */
  jwksUrl?: string;
  /** Hosts jwks-url may name besides loopback. @default [] */
  jwksAllowHosts: string[];
  /** Required `iss`. */
  issuer: string;
  /** Required `aud`. */
  audience: string;
  /** Claim holding the role. @default "role" */
  roleClaim: string;
  /** Claim holding the customer id (role customer). @default "customer" */
  customerClaim: string;
  /** Role claim value -> role. @default { customer: customer, operator: operator } */
  roles: Record<string, 'customer' | 'operator'>;
  /** Accepted JWS algorithms. @default [EdDSA, ES256, RS256] */
  algorithms: string[];
}

const DOMAIN_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const ID_RE = /^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$/;

type Obj = Record<string, unknown>;

function typeName(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  return typeof v === 'object' ? 'a mapping' : `${typeof v} ${JSON.stringify(v)}`;
}

/** Reads one mapping, remembering its path and refusing unknown keys. */
export class Section {
  private readonly seen = new Set<string>();
  constructor(
    readonly path: string,
    private readonly obj: Obj,
  ) {}

  static of(path: string, v: unknown): Section {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new ConfigError(path, `expected a mapping, got ${typeName(v)}`);
    return new Section(path, v as Obj);
  }

  key(k: string): string {
    return this.path ? `${this.path}.${k}` : k;
  }

  raw(k: string): unknown {
    this.seen.add(k);
    return this.obj[k];
  }

  has(k: string): boolean {
    return this.obj[k] !== undefined && this.obj[k] !== null;
  }

  str(k: string, opts: { re?: RegExp; what?: string; optional?: boolean; def?: string } = {}): string {
    const v = this.raw(k);
    if (v === undefined || v === null) {
      if (opts.def !== undefined) return opts.def;
      if (opts.optional) return undefined as unknown as string;
      throw new ConfigError(this.key(k), `is required: ${opts.what ?? 'a string'}`);
    }
    if (typeof v !== 'string' || v === '') throw new ConfigError(this.key(k), `expected ${opts.what ?? 'a non-empty string'}, got ${typeName(v)}`);
    if (opts.re && !opts.re.test(v)) throw new ConfigError(this.key(k), `expected ${opts.what ?? `a value matching ${opts.re}`}, got ${JSON.stringify(v)}`);
    return v;
  }

  num(k: string, opts: { min?: number; max?: number; int?: boolean; def?: number; what?: string }): number {
    const v = this.raw(k);
    if (v === undefined || v === null) {
      if (opts.def !== undefined) return opts.def;
      throw new ConfigError(this.key(k), `is required: ${opts.what ?? 'a number'}`);
    }
    const ok = typeof v === 'number' && Number.isFinite(v) && (!opts.int || Number.isInteger(v)) && (opts.min === undefined || v >= opts.min) && (opts.max === undefined || v <= opts.max);
    if (!ok) {
      const range = [opts.min !== undefined ? `>= ${opts.min}` : '', opts.max !== undefined ? `<= ${opts.max}` : ''].filter(Boolean).join(' and ');
      throw new ConfigError(this.key(k), `expected ${opts.what ?? `${opts.int ? 'an integer' : 'a number'}${range ? ` ${range}` : ''}`}, got ${typeName(v)}`);
    }
    return v as number;
  }

  bool(k: string, def: boolean): boolean {
    const v = this.raw(k);
    if (v === undefined || v === null) return def;
    if (typeof v !== 'boolean') throw new ConfigError(this.key(k), `expected true or false, got ${typeName(v)}`);
    return v;
  }

  section(k: string, optional = false): Section | undefined {
    const v = this.raw(k);
    if ((v === undefined || v === null) && optional) return undefined;
    if (v === undefined || v === null) throw new ConfigError(this.key(k), 'is required: a mapping');
    return Section.of(this.key(k), v);
  }

  list(k: string, optional = true): unknown[] {
    const v = this.raw(k);
    if (v === undefined || v === null) {
      if (optional) return [];
      throw new ConfigError(this.key(k), 'is required: a list');
    }
    if (!Array.isArray(v)) throw new ConfigError(this.key(k), `expected a list, got ${typeName(v)}`);
    return v;
  }

  entries(): [string, unknown][] {
    for (const k of Object.keys(this.obj)) this.seen.add(k);
    return Object.entries(this.obj);
  }

  /** Refuse keys nobody read. */
  done(): void {
    for (const k of Object.keys(this.obj)) {
      if (!this.seen.has(k)) {
        const known = [...this.seen].sort().join(', ');
        throw new ConfigError(this.key(k), `unknown key; expected one of: ${known}`);
      }
    }
  }
}

/** host:port with a port 0..65535. */
function hostPort(s: Section, k: string, opts: { loopback?: boolean; optional?: boolean } = {}): string {
  const v = s.str(k, { what: 'host:port, e.g. 127.0.0.1:50051', optional: opts.optional });
  if (v === undefined) return v;
  const m = /^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(v);
  if (!m || Number(m[2]) > 65535) throw new ConfigError(s.key(k), `expected host:port (port 0-65535), got ${JSON.stringify(v)}`);
  if (opts.loopback && !/^(127\.\d+\.\d+\.\d+|localhost|\[::1\])$/.test(m[1]!)) {
    throw new ConfigError(s.key(k), `must be a loopback address (127.0.0.0/8, localhost or [::1]): the admin endpoint has no authentication; got ${JSON.stringify(v)}`);
  }
  return v;
}

function classes(s: Section): Record<string, InventoryClass> {
  const out: Record<string, InventoryClass> = {};
  const entries = s.entries();
  if (entries.length === 0) throw new ConfigError(s.path, 'expected at least one QoS class, e.g. EF: {capacity-mbps: 100, latency-ms: 2, jitter-ms: 0.5, loss: 0}');
  for (const [cls, v] of entries) {
    if (!/^[A-Za-z0-9_-]{1,32}$/.test(cls)) throw new ConfigError(s.key(cls), 'a QoS class name is 1-32 letters, digits, _ or -');
    const c = Section.of(s.key(cls), v);
    out[cls] = {
      capacityMbps: c.num('capacity-mbps', { min: 0, max: 10_000_000 }),
      latencyMs: c.num('latency-ms', { min: 0 }),
      jitterMs: c.num('jitter-ms', { min: 0, def: 0 }),
      loss: c.num('loss', { min: 0, max: 0.999999, def: 0, what: 'a fraction in [0, 1)' }),
    };
    c.done();
  }
  return out;
}

function inventory(s: Section): Inventory {
  const borders = s.list('borders', false).map((b, i) => {
    if (typeof b !== 'string' || !/^[A-Za-z0-9._-]{1,64}$/.test(b)) throw new ConfigError(`${s.key('borders')}[${i}]`, `expected a border id (letters, digits, ._-), got ${typeName(b)}`);
    return b;
  });
  if (borders.length === 0) throw new ConfigError(s.key('borders'), 'expected at least one border router id');
  const border = (sec: Section, k: string): string => {
    const b = sec.str(k, { what: 'a border id listed in inventory.borders' });
    if (!borders.includes(b)) throw new ConfigError(sec.key(k), `${JSON.stringify(b)} is not in inventory.borders (${borders.join(', ')})`);
    return b;
  };
  const ids = new Set<string>();
  const linkId = (sec: Section): string => {
    const id = sec.str('id', { re: /^[A-Za-z0-9][A-Za-z0-9._:/@-]{0,127}$/, what: 'a link id (letters, digits, ._:/@-)' });
    if (ids.has(id)) throw new ConfigError(sec.key('id'), `link id ${id} is used twice`);
    ids.add(id);
    return id;
  };
  const sites = s.list('sites').map((v, i) => {
    const x = Section.of(`${s.key('sites')}[${i}]`, v);
    const site = { id: x.str('id', { re: /^[A-Za-z0-9._-]{1,64}$/, what: 'a site id' }), borders: x.list('borders', false).map((b, j) => {
        if (typeof b !== 'string' || !borders.includes(b)) throw new ConfigError(`${x.key('borders')}[${j}]`, `expected a border listed in inventory.borders (${borders.join(', ')}), got ${typeName(b)}`);
        return b;
      }) } as Inventory['sites'][number];
    if (x.has('prefixes')) {
      site.prefixes = x.list('prefixes', false).map((p, j) => {
        try {
          checkPrefix(p, 'prefix');
        } catch (err) {
          throw new ConfigError(`${x.key('prefixes')}[${j}]`, (err as Error).message);
        }
        return p as string;
      });
    }
    x.done();
    return site;
  });
  const transits = s.list('transits').map((v, i) => {
    const x = Section.of(`${s.key('transits')}[${i}]`, v);
    const t = { id: linkId(x), from: border(x, 'from'), to: border(x, 'to'), bidirectional: x.bool('bidirectional', false), classes: classes(x.section('classes')!) };
    x.done();
    return t;
  });
  const links = s.list('links').map((v, i) => {
    const x = Section.of(`${s.key('links')}[${i}]`, v);
    const l = {
      id: linkId(x),
      border: border(x, 'border'),
      peerDomain: x.str('peer-domain', { re: DOMAIN_RE, what: 'a domain id' }),
      peerBorder: x.str('peer-border', { re: /^[A-Za-z0-9._-]{1,64}$/, what: 'a border id of the peer domain' }),
      classes: classes(x.section('classes')!),
    };
    x.done();
    return l;
  });
  const p = s.section('prices')!;
  const perMbpsHour: Record<string, number> = {};
  const per = p.section('per-mbps-hour')!;
  for (const [cls, v] of per.entries()) {
    if (typeof v !== 'number' || !(v >= 0)) throw new ConfigError(per.key(cls), `expected a price >= 0 per Mbit/s per hour, got ${typeName(v)}`);
    perMbpsHour[cls] = v;
  }
  const prices = { currency: p.str('currency', { re: /^[A-Z]{3}$/, what: 'an ISO 4217 currency code, e.g. EUR' }), perMbpsHour };
  p.done();
  s.done();
  return { borders, sites, transits, links, prices };
}

function northboundConfig(s: Section): NorthboundConfig {
  const listen = hostPort(s, 'listen');
  const tlsCert = s.str('tls-cert', { optional: true, what: 'path of the listener\'s TLS certificate (PEM)' });
  const tlsKey = s.str('tls-key', { optional: true, what: 'path of the listener\'s TLS private key (PEM)' });
  if (!tlsCert !== !tlsKey) throw new ConfigError(s.key(tlsCert ? 'tls-key' : 'tls-cert'), 'give both tls-cert and tls-key, or neither (plain HTTP on loopback)');
  const host = listen.slice(0, listen.lastIndexOf(':'));
  if (!tlsCert && !/^(127\.\d+\.\d+\.\d+|localhost|\[::1\])$/.test(host)) {
    throw new ConfigError(s.key('listen'), `plain HTTP is allowed on a loopback address only (127.0.0.0/8, localhost or [::1]); set tls-cert and tls-key to listen on ${JSON.stringify(listen)}`);
  }
  const rl = s.section('rate-limit', true) ?? Section.of(s.key('rate-limit'), {});
  const cfg: NorthboundConfig = {
    listen,
    ...(tlsCert ? { tlsCert, tlsKey } : {}),
    bodyLimitBytes: s.num('body-limit-bytes', { min: 1024, max: 16 * 1024 * 1024, int: true, def: NORTHBOUND_DEFAULTS.bodyLimitBytes }),
    rateLimitPerS: rl.num('per-s', { min: 0.01, max: 1_000_000, def: NORTHBOUND_DEFAULTS.rateLimitPerS, what: 'requests per second per API key (0.01..1000000)' }),
    rateLimitBurst: rl.num('burst', { min: 1, max: 1_000_000, int: true, def: NORTHBOUND_DEFAULTS.rateLimitBurst, what: 'requests an API key may make at once (1..1000000)' }),
    idempotencyTtlS: s.num('idempotency-ttl-s', { min: 1, max: 30 * 86_400, int: true, def: NORTHBOUND_DEFAULTS.idempotencyTtlS }),
    hubTimeoutMs: s.num('hub-timeout-ms', { min: 10, max: 60_000, int: true, def: NORTHBOUND_DEFAULTS.hubTimeoutMs }),
    hubAllowHosts: s.list('hub-allow-hosts').map((h, i) => {
      if (typeof h !== 'string' || !/^[A-Za-z0-9.:\[\]-]{1,255}$/.test(h)) throw new ConfigError(`${s.key('hub-allow-hosts')}[${i}]`, `expected a host name or address, got ${JSON.stringify(h)}`);
      return h.toLowerCase();
    }),
  };
  const jwt = s.section('jwt', true);
  if (jwt) cfg.jwt = jwtConfig(jwt);
  rl.done();
  s.done();
  return cfg;
}

const LOOPBACK_HOST = /^(127\.\d+\.\d+\.\d+|localhost|\[::1\])$/;

function jwtConfig(s: Section): NorthboundJwtConfig {
  const jwksFile = s.str('jwks-file', { optional: true, what: 'path of a JWKS file (JSON)' });
  const jwksUrl = s.str('jwks-url', { optional: true, what: 'the identity provider\'s JWKS URL' });
  if (!jwksFile === !jwksUrl) throw new ConfigError(s.key('jwks-file'), 'give exactly one of jwks-file and jwks-url');
  const jwksAllowHosts = s.list('jwks-allow-hosts').map((h, i) => {
    if (typeof h !== 'string' || !/^[A-Za-z0-9.:\[\]-]{1,255}$/.test(h)) throw new ConfigError(`${s.key('jwks-allow-hosts')}[${i}]`, `expected a host name or address, got ${JSON.stringify(h)}`);
    return h.toLowerCase();
  });
  if (jwksUrl) {
    let u: URL;
    try {
      u = new URL(jwksUrl);
    } catch {
      throw new ConfigError(s.key('jwks-url'), `expected a URL, got ${JSON.stringify(jwksUrl)}`);
    }
    const host = u.hostname.toLowerCase();
    const loopback = LOOPBACK_HOST.test(host);
    if (!loopback && !jwksAllowHosts.includes(host)) throw new ConfigError(s.key('jwks-url'), `host ${host} is neither loopback nor in ${s.key('jwks-allow-hosts')} (the daemon fetches keys there)`);
    if (u.protocol !== 'https:' && !(loopback && u.protocol === 'http:')) throw new ConfigError(s.key('jwks-url'), `must be https (http only on loopback), got ${JSON.stringify(jwksUrl)}`);
  }
  const rolesSec = s.section('roles', true);
  const roles: Record<string, 'customer' | 'operator'> = rolesSec ? {} : { customer: 'customer', operator: 'operator' };
  for (const [k, v] of rolesSec?.entries() ?? []) {
    if (v !== 'customer' && v !== 'operator') throw new ConfigError(`${s.key('roles')}.${k}`, `expected customer or operator, got ${JSON.stringify(v)}`);
    roles[k] = v;
  }
  const algorithms = s.list('algorithms').map((a, i) => {
    if (typeof a !== 'string' || !['EdDSA', 'Ed25519', 'ES256', 'ES384', 'ES512', 'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512'].includes(a)) throw new ConfigError(`${s.key('algorithms')}[${i}]`, `expected an asymmetric JWS algorithm (EdDSA, ES256, RS256, ...), got ${JSON.stringify(a)}`);
    return a;
  });
  const cfg: NorthboundJwtConfig = {
    ...(jwksFile ? { jwksFile } : { jwksUrl }),
    jwksAllowHosts,
    issuer: s.str('issuer', { what: 'the identity provider\'s issuer (iss), e.g. https://idp.example.net/' }),
    audience: s.str('audience', { what: 'the audience (aud) tokens for this API carry' }),
    roleClaim: s.str('role-claim', { def: 'role' }),
    customerClaim: s.str('customer-claim', { def: 'customer' }),
    roles,
    algorithms: algorithms.length ? algorithms : ['EdDSA', 'ES256', 'RS256'],
  };
  s.done();
  return cfg;
}

/**
 * Check a parsed YAML document. Paths stay as written (relative ones are
 * resolved by the loader). Throws ConfigError naming the first bad key.
 */
export function parseConfig(doc: unknown): BrokerConfig {
  const root = Section.of('', doc);
  const role = root.str('role', { what: 'provider or exchange' });
  if (role !== 'provider' && role !== 'exchange') throw new ConfigError('role', `expected provider or exchange, got ${JSON.stringify(role)}`);
  const domainId = root.str('domain-id', { re: DOMAIN_RE, what: 'a domain id: letters, digits and ._- (at most 64), e.g. dom-a' });
  const brokerId = root.str('broker-id', { re: ID_RE, what: 'a broker id: letters, digits and ._:@-', def: `${domainId}-1` });
  const listen = hostPort(root, 'listen');
  const advertiseAddress = root.has('advertise-address') ? hostPort(root, 'advertise-address') : (root.raw('advertise-address'), listen);
  const dataDir = root.str('data-dir', { def: 'qos-brokerd-data', what: 'a directory path' });
  const k = root.section('keys')!;
  const keys = {
    advertKey: k.str('advert-key', { what: 'path of the Ed25519 private key (PEM) that signs advertisements' }),
    tlsCert: k.str('tls-cert', { what: 'path of this broker\'s TLS certificate (PEM)' }),
    tlsKey: k.str('tls-key', { what: 'path of this broker\'s TLS private key (PEM)' }),
  };
  k.done();
  const ps = root.section('peering', true) ?? Section.of('peering', {});
  const holdTimeS = ps.num('hold-time-s', { min: 3, max: 65535, int: true, def: PEERING_DEFAULTS.holdTimeS });
  const peering = {
    holdTimeS,
    advertLifetimeS: ps.num('advert-lifetime-s', { min: 3, max: 86400, int: true, def: 3 * holdTimeS }),
    readvertiseThreshold: ps.num('readvertise-threshold', { min: 0, max: 1, def: PEERING_DEFAULTS.readvertiseThreshold, what: 'a fraction of capacity in [0, 1]' }),
    readvertiseMinIntervalMs: ps.num('readvertise-min-interval-ms', { min: 0, int: true, def: PEERING_DEFAULTS.readvertiseMinIntervalMs }),
    pollIntervalMs: ps.num('poll-interval-ms', { min: 50, int: true, def: PEERING_DEFAULTS.pollIntervalMs }),
    backoffInitialMs: ps.num('backoff-initial-ms', { min: 10, int: true, def: BACKOFF_DEFAULTS.initialMs }),
    backoffMaxMs: ps.num('backoff-max-ms', { min: 10, int: true, def: BACKOFF_DEFAULTS.maxMs }),
    registrationTtlS: ps.num('registration-ttl-s', { min: 1, int: true, def: PEERING_DEFAULTS.registrationTtlMs / 1000 }),
  };
  if (peering.backoffMaxMs < peering.backoffInitialMs) throw new ConfigError('peering.backoff-max-ms', 'must be at least peering.backoff-initial-ms');
  ps.done();
  const seenPeers = new Set<string>();
  const peers = root.list('peers').map((v, i): PeerConfig => {
    const x = Section.of(`peers[${i}]`, v);
    const p: PeerConfig = {
      domainId: x.str('domain-id', { re: DOMAIN_RE, what: 'the peer\'s domain id' }),
      address: x.has('address') ? hostPort(x, 'address') : (x.raw('address'), undefined),
      caFile: x.str('ca-file', { what: 'path of the CA (PEM) that issued the peer\'s certificate, or its self-signed certificate' }),
      certSha256: x.has('cert-sha256') ? x.str('cert-sha256', { re: /^(sha256:)?([0-9A-Fa-f]{2}:?){31}[0-9A-Fa-f]{2}$/i, what: 'the SHA-256 fingerprint of the peer\'s certificate (64 hex digits, colons allowed)' }) : (x.raw('cert-sha256'), undefined),
      advertPublicKey: x.str('advert-public-key', { optional: true, what: 'the peer\'s Ed25519 public key, 32 bytes base64' }),
      advertPublicKeyFile: x.str('advert-public-key-file', { optional: true, what: 'path of the peer\'s Ed25519 public key (PEM)' }),
      exchange: x.bool('exchange', false),
    };
    if (p.domainId === domainId) throw new ConfigError(x.key('domain-id'), `is this broker's own domain id; a peer must be another domain`);
    if (seenPeers.has(p.domainId)) throw new ConfigError(x.key('domain-id'), `peer ${p.domainId} is configured twice`);
    seenPeers.add(p.domainId);
    if (p.exchange && !p.address) throw new ConfigError(x.key('address'), 'is required for an exchange (exchange: true): the address to register with');
    if (p.exchange && role === 'exchange') throw new ConfigError(x.key('exchange'), 'an exchange does not register with another exchange');
    x.done();
    return p;
  });
  const xs = root.section('exchange', true);
  if (xs && role !== 'exchange') throw new ConfigError('exchange', 'is for role exchange (who may use it and whom it may contact); a provider names its exchanges under peers with exchange: true');
  const xsx = xs ?? Section.of('exchange', {});
  const peerList = (k: string): string[] =>
    xsx.list(k).map((d, i) => {
      if (typeof d !== 'string' || !seenPeers.has(d)) throw new ConfigError(`${xsx.key(k)}[${i}]`, `expected the domain id of a provider under peers (its entry pins its mTLS identity), got ${JSON.stringify(d)}`);
      return d;
    });
  const exchange: ExchangePolicyConfig = { allowProviders: peerList('allow-providers'), mayContact: peerList('may-contact') };
  xsx.done();
  const originKeys = root.list('origin-keys').map((v, i) => {
    const x = Section.of(`origin-keys[${i}]`, v);
    const o = {
      domainId: x.str('domain-id', { re: DOMAIN_RE, what: 'a domain id' }),
      publicKey: x.str('public-key', { optional: true, what: 'an Ed25519 public key, 32 bytes base64' }),
      publicKeyFile: x.str('public-key-file', { optional: true, what: 'path of an Ed25519 public key (PEM)' }),
    };
    if (!o.publicKey === !o.publicKeyFile) throw new ConfigError(x.key('public-key'), 'give exactly one of public-key and public-key-file');
    x.done();
    return o;
  });
  const rs = root.section('redis', true) ?? Section.of('redis', {});
  const url = rs.str('url', { optional: true, re: /^(rediss?:\/\/|unix:\/\/?)/, what: 'a Redis URL (redis://host:port/db, rediss://..., or unix:///path)' });
  const redis = { url, embedded: rs.bool('embedded', url === undefined), keyPrefix: rs.str('key-prefix', { def: STORE_DEFAULTS.keyPrefix, re: /^[A-Za-z0-9_:-]{1,32}$/ }), slotMs: rs.num('slot-ms', { min: 1000, int: true, def: STORE_DEFAULTS.slotMs }) };
  if (redis.embedded && url) throw new ConfigError('redis.embedded', 'cannot be true together with redis.url: choose one');
  if (!redis.embedded && !url) throw new ConfigError('redis.url', 'is required when redis.embedded is false');
  rs.done();
  const inv = root.section('inventory', true);
  const inventoryCfg = inv ? inventory(inv) : undefined;
  if (role === 'provider' && !inventoryCfg) throw new ConfigError('inventory', 'is required for role provider: borders, transits, links and prices of the domain');
  const ms = root.section('metrics', true);
  const metrics = ms ? { listen: hostPort(ms, 'listen') } : undefined;
  ms?.done();
  const as = root.section('admin', true);
  const admin = as ? { listen: hostPort(as, 'listen', { loopback: true }) } : undefined;
  as?.done();
  const ls = root.section('log', true) ?? Section.of('log', {});
  const level = ls.str('level', { def: 'info', what: 'debug, info, warn or error' });
  if (!['debug', 'info', 'warn', 'error'].includes(level)) throw new ConfigError('log.level', `expected debug, info, warn or error, got ${JSON.stringify(level)}`);
  ls.done();
  const ag = root.section('agreement', true);
  // an exchange holds nothing, but coordinates: hold-ttl-ms and call-timeout-ms are those it asks providers for
  if (ag?.has('sweep-interval-ms') && role !== 'provider') throw new ConfigError('agreement.sweep-interval-ms', 'is for role provider (an exchange holds nothing to sweep); remove it');
  const agx = ag ?? Section.of('agreement', {});
  const agreement = {
    holdTtlMs: agx.num('hold-ttl-ms', { min: 100, max: 3_600_000, int: true, def: AGREEMENT_DEFAULTS.holdTtlMs, what: 'milliseconds a hold lives before Commit (100..3600000)' }),
    callTimeoutMs: agx.num('call-timeout-ms', { min: 10, max: 600_000, int: true, def: AGREEMENT_DEFAULTS.callTimeoutMs, what: 'milliseconds per Agreement RPC (10..600000)' }),
    sweepIntervalMs: agx.num('sweep-interval-ms', { min: 50, max: 600_000, int: true, def: AGREEMENT_DEFAULTS.sweepIntervalMs, what: 'milliseconds between sweeps of expired holds (50..600000)' }),
  };
  agx.done();
  const devicesFrom = root.str('devices-from', { optional: true, what: "the path of a lab's inventory.json (qos-broker lab up writes it)" });
  const devices = parseDevices(root.list('devices'), inventoryCfg);
  if (devices.length && role !== 'provider') throw new ConfigError('devices', 'is for role provider (an exchange has no routers); remove it');
  const mg = root.section('management', true) ?? Section.of('management', {});
  const mlisten = mg.str('listen', { optional: true, what: 'unix:PATH or a loopback host:port' });
  if (mlisten !== undefined && !mlisten.startsWith('unix:')) hostPort(mg, 'listen', { loopback: true });
  mg.done();
  const nb = root.section('northbound', true);
  if (nb && role !== 'provider') throw new ConfigError('northbound', 'is for role provider (an exchange takes no orders); remove it');
  const northbound = nb ? northboundConfig(nb) : undefined;
  const wf = root.section('workflow', true) ?? Section.of('workflow', {});
  const workflow = {
    provisionTimeoutMs: wf.num('provision-timeout-ms', { min: 100, max: 3_600_000, int: true, def: 120_000 }),
    contractRetentionMs: wf.num('contract-retention-ms', { min: 0, int: true, def: 365 * 24 * 3_600_000 }),
    recordRetentionMs: wf.num('record-retention-ms', { min: 1000, int: true, def: 90 * 24 * 3_600_000 }),
  };
  wf.done();
  const pv = root.section('provisioning', true);
  if (pv && role !== 'provider') throw new ConfigError('provisioning', 'is for role provider (an exchange has no devices); remove it');
  const pvx = pv ?? Section.of('provisioning', {});
  const measureIntervalMs = pvx.num('measure-interval-ms', { min: 0, max: 3_600_000, int: true, def: PROVISIONING_DEFAULTS.measureIntervalMs, what: 'milliseconds between samples of the services\' traffic counters (0 turns measuring off, else 100..3600000)' });
  if (measureIntervalMs > 0 && measureIntervalMs < 100) throw new ConfigError('provisioning.measure-interval-ms', `expected 0 (off) or 100..3600000 milliseconds, got ${measureIntervalMs}`);
  pvx.done();
  root.done();
  return {
    role,
    domainId,
    brokerId,
    listen,
    advertiseAddress,
    dataDir,
    keys,
    peering,
    peers,
    exchange,
    originKeys,
    redis,
    inventory: inventoryCfg,
    metrics,
    admin,
    log: { level: level as BrokerConfig['log']['level'] },
    agreement,
    devices,
    ...(devicesFrom ? { devicesFrom } : {}),
    management: { listen: mlisten ?? 'unix:management.sock' },
    ...(northbound ? { northbound } : {}),
    workflow,
    provisioning: { measureIntervalMs },
  };
}
