/**
 * Durable records of one domain in Redis, beside its resource store and
 * under the same hash tag: orders, the segments the domain provisions, the
 * agreements it committed. A record is a JSON document with a version; every
 * write is one Lua script that checks the version it started from (a second
 * replica of the domain that changed it meanwhile makes the write fail with
 * QB_STATE_CONFLICT), stores the document, indexes it, sets or clears its
 * deadlines and appends its event to the domain's outbox (a Redis Stream),
 * all in the same atomic step: no state change without its event, no event
 * without its state change.
 *
 * Deadlines (start, end, boost revert, hold expiry) live in one sorted set per
 * domain, member `KIND:ID`, score the due time in ms; a daemon that was down
 * when one passed finds it there when it starts.
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
if ARGV[7] ~= '' then redis.call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[8], '*', 'event', ARGV[7]) end
return ARGV[2]
`;
const WRITE_SHA = createHash('sha1').update(WRITE).digest('hex');

export interface RecordStoreOptions {
  redis: Redis;
  domain: string;
  /** Key prefix before the hash tag, as the resource store's. @default "qb" */
  keyPrefix?: string;
  /** Outbox entries kept (approximately). @default 100000 */
  outboxMaxLen?: number;
}

/** The records of one kind (e.g. `order`) of one domain. */
export class RecordStore {
  /** Prefix of every key of this domain, ending in `:` (includes the hash tag), as the resource store's. */
  readonly base: string;
  private loaded: Promise<unknown> | undefined;

  constructor(private readonly opts: RecordStoreOptions) {
    this.base = `${opts.keyPrefix ?? 'qb'}:{${opts.domain}}:`;
  }

  /** Key of the outbox stream (integrations read it). */
  get outboxKey(): string {
    return `${this.base}outbox`;
  }

  private keys(kind: string, id: string): string[] {
    return [`${this.base}${kind}:${id}`, `${this.base}${kind}s`, `${this.base}deadlines`, this.outboxKey];
  }

  async get<T>(kind: string, id: string): Promise<Stored<T> | undefined> {
    const [v, doc] = await this.opts.redis.hmget(`${this.base}${kind}:${id}`, 'v', 'doc');
    if (v === null || doc === null) return undefined;
    return { version: Number(v), doc: JSON.parse(doc) as T };
  }

  /**
   * Write a record if it is still at `version` (0: must not exist yet), with
   * its deadlines and its event, atomically. Returns the new version.
   */
  async put<T>(kind: string, id: string, version: number, doc: T, opts: { score: number; deadlines?: DeadlineChange; event?: Record<string, unknown> }): Promise<number> {
    const event = opts.event ? JSON.stringify({ kind, recordId: id, at: Date.now(), ...opts.event }) : '';
    const args = [String(version), String(version + 1), JSON.stringify(doc), String(opts.score), id, JSON.stringify(opts.deadlines ?? {}), event, String(this.opts.outboxMaxLen ?? 100_000)];
    const keys = this.keys(kind, id);
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

  /** Remove a record, its index entry and the deadlines given (kinds), appending its event. */
  async delete(kind: string, id: string, deadlineKinds: string[], event?: Record<string, unknown>): Promise<void> {
    const [key, index, deadlines, outbox] = this.keys(kind, id);
    const m = this.opts.redis.multi().del(key!).zrem(index!, id);
    for (const k of deadlineKinds) m.zrem(deadlines!, `${k}:${id}`);
    if (event) m.xadd(outbox!, 'MAXLEN', '~', String(this.opts.outboxMaxLen ?? 100_000), '*', 'event', JSON.stringify({ kind, recordId: id, at: Date.now(), ...event }));
    await m.exec();
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
