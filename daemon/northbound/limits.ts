/**
 * Per-key limits of the northbound API: a token bucket per API key (in this
 * process's memory: several replicas each allow the rate), and the
 * Idempotency-Key store of POSTs (in Redis with a TTL, so a retry that lands
 * on another replica or after a restart still gets the first answer).
 */
import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import { QosBrokerError } from '../../drivers/errors.js';

/** Token buckets by key id. */
export class RateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  constructor(
    private readonly perS: number,
    private readonly burst: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Take one token for `key`: 0 if allowed, else the seconds until one is there (Retry-After). */
  take(key: string): number {
    const t = this.now();
    const b = this.buckets.get(key) ?? { tokens: this.burst, at: t };
    b.tokens = Math.min(this.burst, b.tokens + ((t - b.at) / 1000) * this.perS);
    b.at = t;
    this.buckets.set(key, b);
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return 0;
    }
    return Math.max(1, Math.ceil((1 - b.tokens) / this.perS));
  }
}

/** A POST with an Idempotency-Key whose first request is still being answered: QB_IDEMPOTENCY_IN_PROGRESS. */
export class IdempotencyInProgressError extends QosBrokerError {
  constructor() {
    super('QB_IDEMPOTENCY_IN_PROGRESS', 'a request with this Idempotency-Key is still being answered; retry later');
  }
}

/** The same Idempotency-Key with another body: QB_IDEMPOTENCY_KEY_REUSED. */
export class IdempotencyKeyReusedError extends QosBrokerError {
  constructor() {
    super('QB_IDEMPOTENCY_KEY_REUSED', 'this Idempotency-Key was used for a different request body; use a new key for a new request');
  }
}

interface Entry {
  fp: string;
  status?: number;
  body?: unknown;
}

/** Remembered answers of POSTs by (API key, Idempotency-Key). */
export class IdempotencyStore {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly ttlS: number,
  ) {}

  private key(keyId: string, idem: string): string {
    return `${this.prefix}nb-idem:${keyId}:${createHash('sha256').update(idem).digest('hex')}`;
  }

  /**
   * Run `answer` once per (keyId, idem): the first call stores its answer
   * (status < 500; a server error frees the key for a retry), later calls
   * with the same body get it back (`replayed`).
   */
  async once(keyId: string, idem: string, body: unknown, answer: () => Promise<{ status: number; body: unknown }>): Promise<{ status: number; body: unknown; replayed: boolean }> {
    const k = this.key(keyId, idem);
    const fp = createHash('sha256').update(JSON.stringify(body)).digest('hex');
    const claimed = await this.redis.set(k, JSON.stringify({ fp } satisfies Entry), 'EX', this.ttlS, 'NX');
    if (claimed === null) {
      const raw = await this.redis.get(k);
      if (raw === null) return this.once(keyId, idem, body, answer); // expired meanwhile
      const e = JSON.parse(raw) as Entry;
      if (e.fp !== fp) throw new IdempotencyKeyReusedError();
      if (e.status === undefined) throw new IdempotencyInProgressError();
      return { status: e.status, body: e.body, replayed: true };
    }
    let a: { status: number; body: unknown };
    try {
      a = await answer();
    } catch (err) {
      await this.redis.del(k);
      throw err;
    }
    if (a.status >= 500) await this.redis.del(k);
    else await this.redis.set(k, JSON.stringify({ fp, status: a.status, body: a.body } satisfies Entry), 'EX', this.ttlS);
    return { ...a, replayed: false };
  }
}
