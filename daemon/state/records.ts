/**
 * Durable records of one domain in Redis, beside its resource store and
 * under the same hash tag: orders, the segments the domain provisions, the
 * agreements it committed. A record is a JSON document with a version; every
 * write is one Lua script that checks the version it started from (a second
 * replica of the domain that changed it meanwhile makes the write fail with
 * QB_STATE_CONFLICT), stores the document, indexes it, sets or clears its
 * deadlines and appends its event (or events) to the domain's outbox (a Redis
 * Stream), all in the same atomic step: no state change without its event, no event
 * without its state change.
 *
 * A record written with a customer is also in that customer's index of its
 * kind (a sorted set by the same score, written by the same script), so a
 * customer's list reads that customer's records only; a lookup (e.g. an
 * order by its agreement id) is a hash field written by the same script too.
 *
 * Deadlines (start, end, boost revert, hold expiry) live in one sorted set per
 * domain, member `KIND:ID`, score the due time in ms; a daemon that was down
 * when one passed finds it there when it starts.
 *
 * A kind may have a view (RecordView: e.g. an order's TMF638 service, injected
 * by the daemon so this layer knows no API shapes): its JSON is rendered from
 * the document as stored and written by the same script, beside the document,
 * stamped `VERSION/REVISION`. A page of views (pageViews) is then the stored
 * strings, read by one Lua call and joined into one JSON array: nothing
 * parsed, nothing serialised again. A view whose stamp is not the record's version and the
 * reader's revision (written before views existed, by a daemon without the
 * view, or by an older revision of it) is rendered from the document on read
 * and written back if the record has not changed meanwhile and no newer
 * revision stamped it (so replicas of two revisions do not undo each other).
 */
import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import { ResourceStoreError } from '../errors.js';

/** A deadline of a record: `at` ms since the epoch, or null to clear it. */
export type DeadlineChange = Record<string, number | null>;

/** One stored record with its version. */
export interface Stored<T> {
  version: number;
  doc: T;
}

/** An event of the outbox. */
export interface OutboxEvent {
  /** Stream entry id. */
  id: string;
  type: string;
  kind: string;
  recordId: string;
  at: number;
  [k: string]: unknown;
}

const WRITE = `
local cur = redis.call('HGET', KEYS[1], 'v')
if ARGV[1] == '0' then
  if cur then return {err='QB_STATE_CONFLICT exists ' .. cur} end
elseif cur ~= ARGV[1] then
  return {err='QB_STATE_CONFLICT version ' .. tostring(cur)}
end
redis.call('HSET', KEYS[1], 'v', ARGV[2], 'doc', ARGV[3])
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[5])
local dl = cjson.decode(ARGV[6])
for kind, at in pairs(dl) do
  local m = kind .. ':' .. ARGV[5]
  if at == cjson.null then redis.call('ZREM', KEYS[3], m) else redis.call('ZADD', KEYS[3], at, m) end
end
for i = 13, 12 + tonumber(ARGV[7]) do redis.call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[8], '*', 'event', ARGV[i]) end
if ARGV[9] ~= '' then redis.call('ZADD', KEYS[5], ARGV[4], ARGV[5]) end
local lk = cjson.decode(ARGV[10])
for i, v in ipairs(lk) do redis.call('HSET', KEYS[5 + i], v, ARGV[5]) end
if ARGV[11] ~= '' then redis.call('HSET', KEYS[1], 'view', ARGV[11], 'sv', ARGV[2] .. '/' .. ARGV[12]) end
return ARGV[2]
`;
const WRITE_SHA = createHash('sha1').update(WRITE).digest('hex');

// One page of one kind's index in one round trip: [total, id, score, version, doc, ...].
// The records' keys are built from ARGV[3] (the kind's key prefix, same hash tag as the index).
const PAGE = `
local total = redis.call('ZCARD', KEYS[1])
local r = redis.call('ZRANGE', KEYS[1], ARGV[1], ARGV[2], 'WITHSCORES')
local out = {total}
for i = 1, #r, 2 do
  local h = redis.call('HMGET', ARGV[3] .. r[i], 'v', 'doc')
  if h[1] then
    out[#out + 1] = r[i]
    out[#out + 1] = r[i + 1]
    out[#out + 1] = h[1]
    out[#out + 1] = h[2]
  end
end
return out
`;

// One page of one kind's views: {total, 1, id, view, id, view, ...} when every view on
// the page is current (stamp `v/ARGV[4]`); else {total, 0, then per record id,
// version, current ('1'/'0'), the view or the document}. The views are not
// joined here: a 100 KB table.concat cost Redis ~4x the whole page read.
const PAGE_VIEWS = `
local total = redis.call('ZCARD', KEYS[1])
local ids = redis.call('ZRANGE', KEYS[1], ARGV[1], ARGV[2])
local out, hs, stale = {total, 1}, {}, false
for i, id in ipairs(ids) do
  local h = redis.call('HMGET', ARGV[3] .. id, 'v', 'sv', 'view')
  hs[i] = h
  if h[1] then
    if h[3] and h[2] == h[1] .. '/' .. ARGV[4] then
      out[#out + 1] = id
      out[#out + 1] = h[3]
    else stale = true end
  end
end
if not stale then return out end
out = {total, 0}
for i, id in ipairs(ids) do
  local h = hs[i]
  if h[1] then
    local cur = h[3] and h[2] == h[1] .. '/' .. ARGV[4]
    out[#out + 1] = id
    out[#out + 1] = h[1]
    out[#out + 1] = cur and '1' or '0'
    out[#out + 1] = cur and h[3] or redis.call('HGET', ARGV[3] .. id, 'doc')
  end
end
return out
`;
const PAGE_VIEWS_SHA = createHash('sha1').update(PAGE_VIEWS).digest('hex');

// Write back views rendered on read: per record (KEYS[i]) the version it was
// rendered from, the stamp and the view (ARGV, 3 each, then the revision);
// only if the record is still at that version and its view is not stamped by
// a newer revision.
const BACKFILL = `
local rev = tonumber(ARGV[#ARGV])
local n = 0
for i, k in ipairs(KEYS) do
  local h = redis.call('HMGET', k, 'v', 'sv')
  local at = h[2] and tonumber(string.match(h[2], '/(%d+)$'))
  if h[1] == ARGV[3 * i - 2] and (not at or at <= rev) then
    redis.call('HSET', k, 'sv', ARGV[3 * i - 1], 'view', ARGV[3 * i])
    n = n + 1
  end
end
return n
`;
const BACKFILL_SHA = createHash('sha1').update(BACKFILL).digest('hex');
const [OPEN, COMMA, CLOSE] = ['[', ',', ']'].map((c) => Buffer.from(c)) as [Buffer, Buffer, Buffer];

/** A view of a record kind, stored with each record (see the module comment). */
export interface RecordView {
  /** Bumped whenever `render` answers differently for the same document: older stamps are rendered again. */
  revision: number;
  /** The view of a document as stored (the parsed JSON); pure. */
  render(doc: unknown): unknown;
}

/** A page of views: the JSON array of `count` views (UTF-8) and how many records the index holds. */
export interface ViewPage {
  json: Buffer;
  count: number;
  total: number;
  /** Views on the page rendered from their document (no current view was stored). */
  rendered: number;
}

export interface RecordStoreOptions {
  redis: Redis;
  domain: string;
  /** Key prefix before the hash tag, as the resource store's. @default "qb" */
  keyPrefix?: string;
  /** Outbox entries kept (approximately). @default 100000 */
  outboxMaxLen?: number;
  /** Views stored with the records of a kind, by kind. @default {} */
  views?: Record<string, RecordView>;
}

/** The records of one kind (e.g. `order`) of one domain. */
export class RecordStore {
  /** Prefix of every key of this domain, ending in `:` (includes the hash tag), as the resource store's. */
  readonly base: string;
  private loaded: Promise<unknown> | undefined;

  constructor(private readonly opts: RecordStoreOptions) {
    this.base = `${opts.keyPrefix ?? 'qb'}:{${opts.domain}}:`;
  }

  /** Run a script by its SHA (loaded by Redis on first NOSCRIPT), answers as Buffers. */
  private async script(text: string, sha: string, keys: string[], args: Array<string | Buffer>): Promise<unknown> {
    const r = this.opts.redis;
    return r.callBuffer('EVALSHA', sha, keys.length, ...keys, ...args).catch((err: Error) => {
      if (!err.message.includes('NOSCRIPT')) throw err;
      return r.callBuffer('EVAL', text, keys.length, ...keys, ...args);
    });
  }

  /**
   * One page of the views of `kind` (every record, or one customer's), oldest
   * first, as one JSON array, with how many records the index holds. Views not
   * current are rendered from their documents and written back.
   */
  /**
   * One page of a kind's stored views, joined into one JSON array. `patch`
   * may replace a view by its record's id (e.g. with what only the reading
   * process knows, such as a measured rate).
   */
  async pageViews(kind: string, q: { customer?: string; offset: number; limit: number }, patch?: (id: string, view: Buffer) => Buffer): Promise<ViewPage> {
    const view = this.opts.views?.[kind];
    if (!view) throw new ResourceStoreError('QB_STATE_NO_VIEW', `records of kind ${kind} have no stored view (RecordStoreOptions.views)`);
    const stop = String(Math.min(q.offset + q.limit, Number.MAX_SAFE_INTEGER) - 1);
    const fail = (what: string) => (err: Error) => {
      throw new ResourceStoreError('QB_STATE_REDIS_FAILED', `${what} of ${kind} views in Redis failed: ${err.message}`, { cause: err });
    };
    const res = (await this.script(PAGE_VIEWS, PAGE_VIEWS_SHA, [this.indexKey(kind, q.customer)], [String(q.offset), stop, `${this.base}${kind}:`, String(view.revision)]).catch(fail('reading a page'))) as [number, number, ...Buffer[]];
    const total = res[0];
    const parts: Buffer[] = [];
    const keys: string[] = [];
    const back: string[] = [];
    if (res[1] === 1) for (let i = 2; i < res.length; i += 2) parts.push(patch ? patch(res[i]!.toString(), res[i + 1] as Buffer) : (res[i + 1] as Buffer));
    else {
      for (let i = 2; i < res.length; i += 4) {
        const [id, v, current, payload] = [res[i]!.toString(), res[i + 1]!.toString(), res[i + 2]!.toString(), res[i + 3] as Buffer];
        if (current === '1') {
          parts.push(patch ? patch(id, payload) : payload);
          continue;
        }
        const json = JSON.stringify(view.render(JSON.parse(payload.toString())));
        parts.push(patch ? patch(id, Buffer.from(json)) : Buffer.from(json));
        keys.push(`${this.base}${kind}:${id}`);
        back.push(v, `${v}/${view.revision}`, json);
      }
      if (keys.length) await this.script(BACKFILL, BACKFILL_SHA, keys, [...back, String(view.revision)]).catch(fail('writing back'));
    }
    const joined: Buffer[] = [OPEN];
    parts.forEach((p, i) => (i ? joined.push(COMMA, p) : joined.push(p)));
    joined.push(CLOSE);
    return { json: Buffer.concat(joined), count: parts.length, total, rendered: keys.length };
  }

  /** Key of the outbox stream (integrations read it). */
  get outboxKey(): string {
    return `${this.base}outbox`;
  }

  private keys(kind: string, id: string): string[] {
    return [`${this.base}${kind}:${id}`, `${this.base}${kind}s`, `${this.base}deadlines`, this.outboxKey];
  }

  /** Key of a kind's index: every record, or one customer's. */
  private indexKey(kind: string, customer?: string): string {
    return customer === undefined ? `${this.base}${kind}s` : `${this.base}${kind}s:customer:${customer}`;
  }

  private lookupKey(kind: string, field: string): string {
    return `${this.base}${kind}s:by-${field}`;
  }

  /** The id of the record of `kind` written with lookup `field` = `value`, if any. */
  async lookup(kind: string, field: string, value: string): Promise<string | undefined> {
    return (await this.opts.redis.hget(this.lookupKey(kind, field), value)) ?? undefined;
  }

  /**
   * Put a record written before customer indexes and lookups existed into
   * them (idempotent; the workflow does it for every order when it starts).
   */
  async reindex(kind: string, entries: ReadonlyArray<{ id: string; score: number; customer: string; lookup?: Record<string, string> }>): Promise<void> {
    if (!entries.length) return;
    const m = this.opts.redis.pipeline();
    for (const e of entries) {
      m.zadd(this.indexKey(kind, e.customer), String(e.score), e.id);
      for (const [f, v] of Object.entries(e.lookup ?? {})) m.hset(this.lookupKey(kind, f), v, e.id);
    }
    for (const [err] of (await m.exec()) ?? []) if (err) throw new ResourceStoreError('QB_STATE_REDIS_FAILED', `indexing ${kind} records in Redis failed: ${err.message}`, { cause: err });
  }

  /** Several records of a kind at once (one round trip); absent ones are left out. */
  async getMany<T>(kind: string, ids: readonly string[]): Promise<Array<Stored<T> & { id: string }>> {
    if (!ids.length) return [];
    const p = this.opts.redis.pipeline();
    for (const id of ids) p.hmget(`${this.base}${kind}:${id}`, 'v', 'doc');
    const rs = (await p.exec()) ?? [];
    const out: Array<Stored<T> & { id: string }> = [];
    rs.forEach(([err, r], i) => {
      if (err) throw new ResourceStoreError('QB_STATE_REDIS_FAILED', `reading ${kind} records from Redis failed: ${err.message}`, { cause: err });
      const [v, doc] = r as [string | null, string | null];
      if (v !== null && doc !== null) out.push({ id: ids[i]!, version: Number(v), doc: JSON.parse(doc) as T });
    });
    return out;
  }

  /**
   * One page of the records of some kinds (every record, or one customer's),
   * oldest first by score, merged across kinds, with how many there are.
   * Without `where` it reads only the page's records; with it, every record
   * of the index (one customer's, for a customer), in chunks.
   */
  async page<T>(kinds: readonly string[], q: { customer?: string; offset: number; limit: number; where?: (kind: string, doc: T) => boolean }): Promise<{ items: Array<{ kind: string; doc: T }>; total: number }> {
    const r = this.opts.redis;
    if (!q.where && kinds.length === 1) {
      const kind = kinds[0]!;
      const stop = String(Math.min(q.offset + q.limit, Number.MAX_SAFE_INTEGER) - 1);
      const res = (await r.eval(PAGE, 1, this.indexKey(kind, q.customer), String(q.offset), stop, `${this.base}${kind}:`).catch((err: Error) => {
        throw new ResourceStoreError('QB_STATE_REDIS_FAILED', `reading a page of ${kind} records from Redis failed: ${err.message}`, { cause: err });
      })) as Array<string | number>;
      const items: Array<{ kind: string; doc: T }> = [];
      for (let i = 1; i < res.length; i += 4) items.push({ kind, doc: JSON.parse(res[i + 3] as string) as T });
      return { items, total: Number(res[0]) };
    }
    if (!q.where) {
      const p = r.pipeline();
      for (const k of kinds) p.zrange(this.indexKey(k, q.customer), '0', String(Math.min(q.offset + q.limit, Number.MAX_SAFE_INTEGER) - 1), 'WITHSCORES').zcard(this.indexKey(k, q.customer));
      const rs = ((await p.exec()) ?? []).map(([err, x]) => {
        if (err) throw new ResourceStoreError('QB_STATE_REDIS_FAILED', `reading an index from Redis failed: ${err.message}`, { cause: err });
        return x;
      });
      const all: Array<{ kind: string; id: string; score: number }> = [];
      let total = 0;
      kinds.forEach((kind, i) => {
        const flat = rs[2 * i] as string[];
        for (let j = 0; j < flat.length; j += 2) all.push({ kind, id: flat[j]!, score: Number(flat[j + 1]) });
        total += Number(rs[2 * i + 1]);
      });
      const want = all.sort((a, b) => a.score - b.score).slice(q.offset, q.offset + q.limit);
      const docs = new Map<string, T>();
      for (const kind of kinds) for (const s of await this.getMany<T>(kind, want.filter((w) => w.kind === kind).map((w) => w.id))) docs.set(`${kind}:${s.id}`, s.doc);
      return { items: want.flatMap((w) => (docs.has(`${w.kind}:${w.id}`) ? [{ kind: w.kind, doc: docs.get(`${w.kind}:${w.id}`)! }] : [])), total };
    }
    const matched: Array<{ kind: string; score: number; doc: T }> = [];
    const CHUNK = 500;
    for (const kind of kinds) {
      for (let at = 0; ; at += CHUNK) {
        const flat = await r.zrange(this.indexKey(kind, q.customer), String(at), String(at + CHUNK - 1), 'WITHSCORES');
        const scores = new Map<string, number>();
        for (let j = 0; j < flat.length; j += 2) scores.set(flat[j]!, Number(flat[j + 1]));
        for (const s of await this.getMany<T>(kind, [...scores.keys()])) if (q.where(kind, s.doc)) matched.push({ kind, score: scores.get(s.id)!, doc: s.doc });
        if (flat.length < 2 * CHUNK) break;
      }
    }
    matched.sort((a, b) => a.score - b.score);
    return { items: matched.slice(q.offset, q.offset + q.limit).map(({ kind, doc }) => ({ kind, doc })), total: matched.length };
  }

  async get<T>(kind: string, id: string): Promise<Stored<T> | undefined> {
    const [v, doc] = await this.opts.redis.hmget(`${this.base}${kind}:${id}`, 'v', 'doc');
    if (v === null || doc === null) return undefined;
    return { version: Number(v), doc: JSON.parse(doc) as T };
  }

  /**
   * Write a record if it is still at `version` (0: must not exist yet), with
   * its deadlines and its event, atomically. Returns the new version.
   * `events` are appended to the outbox before `event`, in the same step: the
   * state changes a caller made in memory since its last write (each with the
   * time it was made, `at`), written with the one that follows them.
   */
  async put<T>(kind: string, id: string, version: number, doc: T, opts: { score: number; deadlines?: DeadlineChange; event?: Record<string, unknown>; events?: Array<Record<string, unknown>>; customer?: string; lookup?: Record<string, string> }): Promise<number> {
    const now = Date.now();
    const events = [...(opts.events ?? []), ...(opts.event ? [opts.event] : [])].map((e) => JSON.stringify({ kind, recordId: id, at: now, ...e }));
    const lookup = Object.entries(opts.lookup ?? {});
    const json = JSON.stringify(doc);
    // the view is rendered from the document as a reader parses it, so a stored view and one rendered on read agree
    const view = this.opts.views?.[kind];
    // ARGV[11], ARGV[12]: the view and its revision; the events from ARGV[13]
    const args = [String(version), String(version + 1), json, String(opts.score), id, JSON.stringify(opts.deadlines ?? {}), String(events.length), String(this.opts.outboxMaxLen ?? 100_000), opts.customer === undefined ? '' : '1', JSON.stringify(lookup.map(([, v]) => v)), view ? JSON.stringify(view.render(JSON.parse(json))) : '', view ? String(view.revision) : '', ...events];
    const keys = [...this.keys(kind, id), this.indexKey(kind, opts.customer ?? ''), ...lookup.map(([f]) => this.lookupKey(kind, f))];
    try {
      if (!this.loaded) this.loaded = this.opts.redis.script('LOAD', WRITE).catch((e: unknown) => ((this.loaded = undefined), Promise.reject(e)));
      await this.loaded;
      const r = await this.opts.redis.evalsha(WRITE_SHA, keys.length, ...keys, ...args).catch((err: Error) => {
        if (!err.message.includes('NOSCRIPT')) throw err;
        return this.opts.redis.eval(WRITE, keys.length, ...keys, ...args);
      });
      return Number(r);
    } catch (err) {
      const msg = (err as Error).message;
      if (msg.includes('QB_STATE_CONFLICT')) throw new ResourceStoreError('QB_STATE_CONFLICT', `${kind} ${id} changed since version ${version} (another replica?): ${msg}`);
      throw new ResourceStoreError('QB_STATE_REDIS_FAILED', `writing ${kind} ${id} to Redis failed: ${msg}`, { cause: err });
    }
  }

  /** Remove a record, its index entries (its customer's, its lookups) and the deadlines given (kinds), appending its event. */
  async delete(kind: string, id: string, deadlineKinds: string[], event?: Record<string, unknown>, indexed: { customer?: string; lookup?: Record<string, string> } = {}): Promise<void> {
    const [key, index, deadlines, outbox] = this.keys(kind, id);
    const m = this.opts.redis.multi().del(key!).zrem(index!, id);
    if (indexed.customer !== undefined) m.zrem(this.indexKey(kind, indexed.customer), id);
    for (const [f, v] of Object.entries(indexed.lookup ?? {})) m.hdel(this.lookupKey(kind, f), v);
    for (const k of deadlineKinds) m.zrem(deadlines!, `${k}:${id}`);
    if (event) m.xadd(outbox!, 'MAXLEN', '~', String(this.opts.outboxMaxLen ?? 100_000), '*', 'event', JSON.stringify({ kind, recordId: id, at: Date.now(), ...event }));
    await m.exec();
  }

  /** Ids of a kind whose score is at most `maxScore`, oldest first, `limit` from `offset`. */
  async idsUpTo(kind: string, maxScore: number, offset: number, limit: number): Promise<string[]> {
    return this.opts.redis.zrangebyscore(`${this.base}${kind}s`, '-inf', String(maxScore), 'LIMIT', String(offset), String(limit));
  }

  /** Ids of a kind, oldest first (by the score given at put). */
  async ids(kind: string, offset = 0, limit = -1): Promise<string[]> {
    return this.opts.redis.zrange(`${this.base}${kind}s`, String(offset), String(limit < 0 ? -1 : offset + limit - 1));
  }

  /** Deadlines due at `now` or before: [kind, id, at]. */
  async due(now: number): Promise<Array<{ kind: string; id: string; at: number }>> {
    const r = await this.opts.redis.zrangebyscore(`${this.base}deadlines`, '-inf', String(now), 'WITHSCORES', 'LIMIT', '0', '256');
    const out: Array<{ kind: string; id: string; at: number }> = [];
    for (let i = 0; i < r.length; i += 2) {
      const m = r[i]!;
      const c = m.indexOf(':');
      out.push({ kind: m.slice(0, c), id: m.slice(c + 1), at: Number(r[i + 1]) });
    }
    return out;
  }

  /** The earliest deadline, if any (ms since the epoch). */
  async nextDeadline(): Promise<number | undefined> {
    const r = await this.opts.redis.zrange(`${this.base}deadlines`, '0', '0', 'WITHSCORES');
    return r.length ? Number(r[1]) : undefined;
  }

  /** Outbox events after the stream id `after` (default: from the start). */
  async outbox(after = '0', count = 1000): Promise<OutboxEvent[]> {
    const r = (await this.opts.redis.xrange(this.outboxKey, after === '0' ? '-' : `(${after}`, '+', 'COUNT', count)) as Array<[string, string[]]>;
    return r.map(([id, fields]) => ({ ...(JSON.parse(fields[1]!) as Omit<OutboxEvent, 'id'>), id }) as OutboxEvent);
  }
}
