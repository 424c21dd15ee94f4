/**
 * ResourceStore on Redis (ioredis). Every operation is one Lua script
 * (daemon/state/lua.ts) run by EVALSHA; scripts are loaded once per client
 * and reloaded when Redis answers NOSCRIPT (after a restart or SCRIPT FLUSH).
 */
import { createHash } from 'node:crypto';
import { Redis, type RedisOptions } from 'ioredis';
import { InvalidArgumentError } from '../../drivers/errors.js';
import { ResourceStoreError, type CapacityShortfall } from '../errors.js';
import { STORE_DEFAULTS } from './store.js';
import * as lua from './lua.js';
import type {
  AbandonedAgreement,
  CloseResult,
  CommitOptions,
  LinkCapacity,
  LinkUtilisation,
  Reservation,
  ReservationMetadata,
  ReservationRequest,
  ReservationState,
  ReserveResult,
  ResourceStore,
  SlotUsage,
} from './store.js';

/** Options of RedisResourceStore; see STORE_DEFAULTS for defaults. */
export interface RedisStoreOptions {
  /** Domain id; all its keys share the hash tag `{domain}`. Must not contain `{` or `}`. */
  domain: string;
  /**
   * An ioredis client to use (the caller keeps ownership and closes it), or
   * options for one the store creates and closes in close().
   */
  redis: Redis | RedisOptions;
  /** Slot length in ms; every replica of a domain must use the same value. @default 60000 */
  slotMs?: number;
  /** Default hold lifetime in ms. @default 30000 */
  holdTtlMs?: number;
  /** How long released/aborted/expired ids (and finished bookings) are remembered, ms. @default 86400000 */
  tombstoneMs?: number;
  /** Most slots one reservation may span (bounds the work of one script call). @default 10080 */
  maxSlots?: number;
  /** Key prefix before the hash tag. @default "qb" */
  keyPrefix?: string;
}

export { STORE_DEFAULTS };

/** Largest rate or capacity, bit/s (10 Tbit/s): keeps every number exact through Lua. */
export const MAX_BPS = 10_000_000_000_000;

const ID_RE = /^[A-Za-z0-9][A-Za-z0-9._:/@-]{0,127}$/;
const MAX_LINKS = 64;

/** Longest metadata JSON a reservation may carry, characters (bounds what one hold costs in Redis). */
const MAX_META = 4096;

type ScriptName = 'reserve' | 'commit' | 'close' | 'usage' | 'utilisation' | 'sweep' | 'agreement' | 'abandoned';
const SOURCES: Record<ScriptName, string> = {
  reserve: lua.RESERVE,
  commit: lua.COMMIT,
  close: lua.CLOSE,
  usage: lua.USAGE,
  utilisation: lua.UTILISATION,
  sweep: lua.SWEEP,
  agreement: lua.AGREEMENT,
  abandoned: lua.TAKE_ABANDONED,
};
const SHAS = Object.fromEntries(
  Object.entries(SOURCES).map(([k, src]) => [k, createHash('sha1').update(src).digest('hex')]),
) as Record<ScriptName, string>;

function checkId(what: string, v: unknown): string {
  if (typeof v !== 'string' || !ID_RE.test(v)) {
    throw new InvalidArgumentError(
      `${what} must be 1-128 characters of letters, digits and ._:/@- starting with a letter or digit, got ${JSON.stringify(v)}`,
    );
  }
  return v;
}

function checkBps(what: string, v: unknown, allowZero: boolean): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < (allowZero ? 0 : 1) || v > MAX_BPS) {
    throw new InvalidArgumentError(
      `${what} must be an integer number of bit/s from ${allowZero ? 0 : 1} to ${MAX_BPS}, got ${String(v)}`,
    );
  }
  return v;
}

function toMs(what: string, v: unknown): number {
  const n = v instanceof Date ? v.getTime() : v;
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0) {
    throw new InvalidArgumentError(`${what} must be a Date or integer ms since the epoch, got ${String(v)}`);
  }
  return n;
}

function positiveInt(what: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v <= 0) {
    throw new InvalidArgumentError(`${what} must be a positive integer, got ${String(v)}`);
  }
  return v;
}

export class RedisResourceStore implements ResourceStore {
  readonly domain: string;
  readonly slotMs: number;
  readonly holdTtlMs: number;
  readonly tombstoneMs: number;
  readonly maxSlots: number;
  /** Prefix of every key of this domain, ending in `:` (includes the hash tag). */
  readonly base: string;
  private readonly client: Redis;
  private readonly ownsClient: boolean;
  private readonly loading = new Map<ScriptName, Promise<unknown>>();

  constructor(options: RedisStoreOptions) {
    const domain = options.domain;
    if (typeof domain !== 'string' || domain.length === 0 || domain.length > 128 || /[{}\s]/.test(domain)) {
      throw new InvalidArgumentError(`domain must be 1-128 characters without braces or spaces, got ${JSON.stringify(domain)}`);
    }
    this.domain = domain;
    this.slotMs = positiveInt('slotMs', options.slotMs ?? STORE_DEFAULTS.slotMs);
    this.holdTtlMs = positiveInt('holdTtlMs', options.holdTtlMs ?? STORE_DEFAULTS.holdTtlMs);
    this.tombstoneMs = positiveInt('tombstoneMs', options.tombstoneMs ?? STORE_DEFAULTS.tombstoneMs);
    this.maxSlots = positiveInt('maxSlots', options.maxSlots ?? STORE_DEFAULTS.maxSlots);
    const prefix = options.keyPrefix ?? STORE_DEFAULTS.keyPrefix;
    if (/[{}]/.test(prefix)) throw new InvalidArgumentError(`keyPrefix must not contain braces, got ${JSON.stringify(prefix)}`);
    this.base = `${prefix}:{${domain}}:`;
    if (options.redis instanceof Redis) {
      this.client = options.redis;
      this.ownsClient = false;
    } else {
      this.client = new Redis({ maxRetriesPerRequest: 2, ...options.redis });
      this.ownsClient = true;
    }
  }

  private key(...parts: string[]): string {
    return this.base + parts.join('');
  }

  /** Run a script by EVALSHA; load it first if this client has not yet, and again on NOSCRIPT. */
  private async run(name: ScriptName, keys: string[], args: (string | number)[]): Promise<unknown> {
    const sha = SHAS[name];
    try {
      let load = this.loading.get(name);
      if (!load) {
        load = this.client.script('LOAD', SOURCES[name]);
        this.loading.set(name, load);
        load.catch(() => this.loading.delete(name));
      }
      await load;
      try {
        return await this.client.evalsha(sha, keys.length, ...keys, ...args);
      } catch (err) {
        if (!(err instanceof Error) || !err.message.includes('NOSCRIPT')) throw err;
        await this.client.script('LOAD', SOURCES[name]);
        return await this.client.evalsha(sha, keys.length, ...keys, ...args);
      }
    } catch (err) {
      if (err instanceof ResourceStoreError) throw err;
      const msg = err instanceof Error ? err.message : String(err);
      throw new ResourceStoreError(
        'QB_STATE_REDIS_FAILED',
        `Redis ${name} for domain ${this.domain} failed: ${msg}; check that Redis is running and reachable (state.redis in the config)`,
        { cause: err },
      );
    }
  }

  private async runJson(name: ScriptName, keys: string[], args: (string | number)[]): Promise<unknown[]> {
    const out = await this.run(name, keys, args);
    return JSON.parse(String(out)) as unknown[];
  }

  async setCapacity(link: string, cls: string, capacityBps: number): Promise<void> {
    checkId('link', link);
    checkId('cls', cls);
    checkBps('capacityBps', capacityBps, true);
    try {
      await this.client
        .multi()
        .sadd(this.key('links'), link)
        .hset(this.key('cap:', link), cls, capacityBps)
        .exec();
    } catch (err) {
      throw new ResourceStoreError('QB_STATE_REDIS_FAILED', `Redis setCapacity for domain ${this.domain} failed: ${String(err)}`, {
        cause: err,
      });
    }
  }

  async capacities(): Promise<LinkCapacity[]> {
    const links = (await this.client.smembers(this.key('links'))).sort();
    const out: LinkCapacity[] = [];
    for (const link of links) {
      const caps = await this.client.hgetall(this.key('cap:', link));
      for (const cls of Object.keys(caps).sort()) out.push({ link, cls, capacityBps: Number(caps[cls]) });
    }
    return out;
  }

  /** Validate a request and compute its slot window. */
  private normalise(req: ReservationRequest) {
    if (req === null || typeof req !== 'object') throw new InvalidArgumentError('reservation request must be an object');
    const id = checkId('reservation id', req.id);
    const meta = req.meta === undefined ? undefined : this.normaliseMeta(id, req.meta);
    const fewest = meta ? 0 : 1;
    if (!Array.isArray(req.links) || req.links.length < fewest || req.links.length > MAX_LINKS) {
      throw new InvalidArgumentError(`links must be a list of ${fewest}-${MAX_LINKS} link ids (reservation ${id})`);
    }
    const links = req.links.map((l) => checkId('link', l));
    if (new Set(links).size !== links.length) throw new InvalidArgumentError(`links of reservation ${id} must not repeat a link`);
    const cls = checkId('cls', req.cls);
    const rate = checkBps('rateBps', req.rateBps, false);
    const start = toMs('start', req.start);
    const end = toMs('end', req.end);
    if (end <= start) {
      throw new InvalidArgumentError(
        `end must be after start (reservation ${id}: start ${new Date(start).toISOString()}, end ${new Date(end).toISOString()})`,
      );
    }
    const s0 = Math.floor(start / this.slotMs);
    const s1 = Math.ceil(end / this.slotMs);
    if (s1 - s0 > this.maxSlots) {
      throw new InvalidArgumentError(
        `reservation ${id} spans ${s1 - s0} slots of ${this.slotMs} ms, more than maxSlots ${this.maxSlots}: shorten the window`,
      );
    }
    const holdTtlMs = positiveInt('holdTtlMs', req.holdTtlMs ?? this.holdTtlMs);
    return { id, links, cls, rate, start, end, s0, s1, holdTtlMs, meta };
  }

  /** Check the metadata's ids and size; returns its owner, agreement id and JSON. */
  private normaliseMeta(id: string, meta: ReservationMetadata) {
    if (meta === null || typeof meta !== 'object' || meta.order === null || typeof meta.order !== 'object') {
      throw new InvalidArgumentError(`meta of reservation ${id} must be an object with owner and order`);
    }
    const owner = checkId(`meta.owner of reservation ${id}`, meta.owner);
    const agreementId = checkId(`meta.order.agreementId of reservation ${id}`, meta.order.agreementId);
    const json = JSON.stringify(meta);
    if (json.length > MAX_META) throw new InvalidArgumentError(`meta of reservation ${id} is ${json.length} characters as JSON, more than ${MAX_META}`);
    return { owner, agreementId, json };
  }

  async reserve(request: ReservationRequest): Promise<ReserveResult> {
    const r = this.normalise(request);
    // the stored request; also what a retry must match to count as the same reservation
    const req = `${r.s0} ${r.s1} ${r.rate} ${r.cls} ${r.links.join(',') || '-'} ${r.start} ${r.end}`;
    const keys = [this.key('holds'), this.key('res:', r.id)];
    for (const link of r.links) keys.push(this.key('cap:', link), this.key('use:', link, '|', r.cls));
    if (r.meta) keys.push(this.key('agr:', r.meta.agreementId));
    const out = (await this.run('reserve', keys, [
      this.base,
      r.id,
      r.cls,
      r.rate,
      r.s0,
      r.s1,
      r.holdTtlMs,
      this.tombstoneMs,
      req,
      r.end,
      r.meta?.owner ?? '',
      r.meta?.agreementId ?? '',
      r.meta?.json ?? '',
      ...r.links,
    ])) as unknown[];
    const reservation = (state: ReservationState, exp: number): Reservation => ({
      id: r.id,
      state,
      links: r.links,
      cls: r.cls,
      rateBps: r.rate,
      start: r.start,
      end: r.end,
      slotStart: r.s0 * this.slotMs,
      slotEnd: r.s1 * this.slotMs,
      ...(state === 'held' ? { holdExpiresAt: exp } : {}),
      ...(request.meta ? { meta: request.meta } : {}),
    });
    switch (out[0]) {
      case 'ok':
        return { admitted: true, reservation: reservation('held', Number(out[1])), duplicate: false };
      case 'dup':
        return { admitted: true, reservation: reservation(out[1] as ReservationState, Number(out[2])), duplicate: true };
      case 'short':
        return {
          admitted: false,
          shortfalls: (out.slice(1) as [string, number, number, number][]).map(
            ([link, slot, cap, used]): CapacityShortfall => ({
              link,
              cls: r.cls,
              slotStart: slot * this.slotMs,
              slotEnd: (slot + 1) * this.slotMs,
              capacityBps: cap,
              usedBps: used,
              requestedBps: r.rate,
              shortfallBps: used + r.rate - cap,
            }),
          ),
        };
      case 'conflict':
        throw new ResourceStoreError(
          'QB_STATE_RESERVATION_CONFLICT',
          `reservation id ${r.id} is already ${String(out[1])} with a different request: use a new id for a different request`,
        );
      case 'closed':
        throw new ResourceStoreError(
          'QB_STATE_RESERVATION_CLOSED',
          `reservation id ${r.id} was ${String(out[1])} and cannot be booked again: use a new id`,
        );
      case 'nolink':
        throw new ResourceStoreError(
          'QB_STATE_UNKNOWN_LINK',
          `link ${String(out[1])} is not known in domain ${this.domain}: configure its capacity first (setCapacity)`,
        );
      case 'noclass':
        throw new ResourceStoreError(
          'QB_STATE_UNKNOWN_CLASS',
          `link ${String(out[1])} of domain ${this.domain} has no capacity for class ${r.cls}: configure it first (setCapacity)`,
        );
      case 'owner':
        throw new ResourceStoreError(
          'QB_STATE_OWNER_CONFLICT',
          `agreement ${r.meta?.agreementId ?? '?'} of domain ${this.domain} is held by ${String(out[1])}; ${r.meta?.owner ?? '?'} may not reserve into it`,
        );
      case 'past':
        throw new ResourceStoreError(
          'QB_STATE_WINDOW_OVER',
          `reservation ${r.id} ends at ${new Date(r.end).toISOString()}, which is already over (store time ${new Date(Number(out[1])).toISOString()}): choose a window in the future`,
        );
      default:
        throw new ResourceStoreError('QB_STATE_PROTOCOL', `unexpected reply of the reserve script: ${JSON.stringify(out)}`);
    }
  }

  async commit(id: string, options: CommitOptions = {}): Promise<Reservation> {
    checkId('reservation id', id);
    const size = options.expectAgreementSize === undefined ? '' : positiveInt('expectAgreementSize', options.expectAgreementSize);
    const ttl = options.agreementTtlMs === undefined ? '' : positiveInt('agreementTtlMs', options.agreementTtlMs);
    const out = await this.runJson('commit', [this.key('holds'), this.key('res:', id)], [this.base, id, this.tombstoneMs, this.slotMs, size, ttl]);
    switch (out[0]) {
      case 'ok':
      case 'dup':
        return this.record(id, 'committed', String(out[1]), undefined, out[2]);
      case 'changed':
        throw new ResourceStoreError(
          'QB_STATE_AGREEMENT_CHANGED',
          `the agreement of reservation ${id} has ${String(out[1])} reservations, not ${String(size)}: read it again (agreement()) before committing`,
        );
      case 'unknown':
        throw new ResourceStoreError('QB_STATE_RESERVATION_UNKNOWN', `reservation ${id} is not known in domain ${this.domain}: reserve it first`);
      case 'closed':
        if (out[1] === 'expired') {
          throw new ResourceStoreError('QB_STATE_HOLD_EXPIRED', `the hold of reservation ${id} expired before commit: reserve again with a new id`);
        }
        throw new ResourceStoreError('QB_STATE_RESERVATION_CLOSED', `reservation ${id} was ${String(out[1])} and cannot be committed`);
      default:
        throw new ResourceStoreError('QB_STATE_PROTOCOL', `unexpected reply of the commit script: ${JSON.stringify(out)}`);
    }
  }

  private async close1(id: string, mode: 'release' | 'abort'): Promise<CloseResult> {
    checkId('reservation id', id);
    const out = await this.runJson('close', [this.key('holds'), this.key('res:', id)], [this.base, id, this.tombstoneMs, mode]);
    switch (out[0]) {
      case 'changed':
        return { id, previous: out[1] as ReservationState, changed: true };
      case 'same':
        return { id, previous: out[1] as ReservationState, changed: false };
      case 'unknown':
        if (mode === 'abort') return { id, previous: 'unknown', changed: false };
        throw new ResourceStoreError('QB_STATE_RESERVATION_UNKNOWN', `reservation ${id} is not known in domain ${this.domain}`);
      case 'committed':
        throw new ResourceStoreError('QB_STATE_RESERVATION_COMMITTED', `reservation ${id} is committed: release it instead of aborting`);
      default:
        throw new ResourceStoreError('QB_STATE_PROTOCOL', `unexpected reply of the ${mode} script: ${JSON.stringify(out)}`);
    }
  }

  release(id: string): Promise<CloseResult> {
    return this.close1(id, 'release');
  }

  abort(id: string): Promise<CloseResult> {
    return this.close1(id, 'abort');
  }

  async get(id: string): Promise<Reservation | undefined> {
    checkId('reservation id', id);
    const h = await this.client.hgetall(this.key('res:', id));
    if (!h.state) return undefined;
    return this.record(id, h.state as ReservationState, h.req, h.exp, h.meta);
  }

  async agreement(agreementId: string): Promise<Reservation[]> {
    checkId('agreement id', agreementId);
    const out = await this.runJson('agreement', [this.key('holds'), this.key('agr:', agreementId)], [this.base, this.tombstoneMs]);
    return this.records(out);
  }

  async takeAbandoned(max = 128): Promise<{ expired: number; agreements: AbandonedAgreement[] }> {
    const out = await this.runJson('abandoned', [this.key('holds'), this.key('abandoned')], [this.base, this.tombstoneMs, positiveInt('max', max)]);
    const rows = Array.isArray(out[1]) ? (out[1] as [string, unknown][]) : [];
    return { expired: Number(out[0]), agreements: rows.map(([agreementId, rs]) => ({ agreementId, reservations: this.records(rs) })) };
  }

  /** Reservations from the scripts' `[id, state, req, exp, meta]` rows, by id (an empty Lua table arrives as `{}`). */
  private records(rows: unknown): Reservation[] {
    if (!Array.isArray(rows)) return [];
    return (rows as [string, ReservationState, string | false, string | false, string | false][])
      .map(([id, state, req, exp, meta]) => this.record(id, state, req || undefined, exp || undefined, meta))
      .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  /** A reservation from its stored fields (`req` as the reserve script stores it: "s0 s1 rate cls links start end"). */
  private record(id: string, state: ReservationState, req: string | undefined, exp?: string, meta?: unknown): Reservation {
    const [s0, s1, rate, cls, links, start, end] = (req ?? '0 0 0  - 0 0').split(' ');
    return {
      id,
      state,
      links: links && links !== '-' ? links.split(',') : [],
      cls: cls ?? '',
      rateBps: Number(rate),
      start: Number(start),
      end: Number(end),
      slotStart: Number(s0) * this.slotMs,
      slotEnd: Number(s1) * this.slotMs,
      ...((state === 'held' || state === 'expired') && exp ? { holdExpiresAt: Number(exp) } : {}),
      ...(typeof meta === 'string' && meta ? { meta: JSON.parse(meta) as ReservationMetadata } : {}),
    };
  }

  async usage(link: string, cls: string, start: number | Date, end: number | Date): Promise<SlotUsage[]> {
    checkId('link', link);
    checkId('cls', cls);
    const s = toMs('start', start);
    const e = toMs('end', end);
    if (e <= s) throw new InvalidArgumentError('end must be after start');
    const s0 = Math.floor(s / this.slotMs);
    const s1 = Math.ceil(e / this.slotMs);
    if (s1 - s0 > this.maxSlots) throw new InvalidArgumentError(`usage window spans more than maxSlots ${this.maxSlots} slots`);
    const out = await this.runJson(
      'usage',
      [this.key('holds'), this.key('cap:', link), this.key('use:', link, '|', cls)],
      [this.base, this.tombstoneMs, cls, s0, s1],
    );
    if (out[0] === false) {
      const known = await this.client.exists(this.key('cap:', link));
      throw known
        ? new ResourceStoreError('QB_STATE_UNKNOWN_CLASS', `link ${link} of domain ${this.domain} has no capacity for class ${cls}`)
        : new ResourceStoreError('QB_STATE_UNKNOWN_LINK', `link ${link} is not known in domain ${this.domain}`);
    }
    const used = Array.isArray(out[1]) ? (out[1] as number[]) : [];
    return used.map((u, i) => ({ slotStart: (s0 + i) * this.slotMs, slotEnd: (s0 + i + 1) * this.slotMs, usedBps: u }));
  }

  async utilisation(at?: number | Date): Promise<LinkUtilisation[]> {
    const slot = at === undefined ? '' : Math.floor(toMs('at', at) / this.slotMs);
    const out = await this.runJson('utilisation', [this.key('holds'), this.key('links')], [this.base, this.tombstoneMs, this.slotMs, slot]);
    const slotStart = Number(out[0]) * this.slotMs;
    const rows = Array.isArray(out[1]) ? (out[1] as [string, string, number, number][]) : [];
    return rows
      .map(([link, cls, cap, used]) => ({
        link,
        cls,
        capacityBps: cap,
        slotStart,
        usedBps: used,
        utilisation: cap > 0 ? used / cap : used > 0 ? Infinity : 0,
      }))
      .sort((a, b) => (a.link === b.link ? a.cls.localeCompare(b.cls) : a.link.localeCompare(b.link)));
  }

  async sweepExpired(): Promise<number> {
    return Number(await this.run('sweep', [this.key('holds')], [this.base, this.tombstoneMs]));
  }

  async close(): Promise<void> {
    if (this.ownsClient) {
      try {
        await this.client.quit();
      } catch {
        this.client.disconnect();
      }
    }
  }
}
