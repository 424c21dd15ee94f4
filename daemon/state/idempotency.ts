/**
 * Remembered answers of POSTs with an Idempotency-Key (the northbound API's),
 * in Redis with a TTL, so a retry that lands on another replica of the domain
 * or after a restart still gets the first answer and creates nothing twice.
 */
import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import { NorthboundError } from '../errors.js';

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
      if (e.fp !== fp) throw new NorthboundError('QB_IDEMPOTENCY_KEY_REUSED', 'this Idempotency-Key was used for a different request body; use a new key for a new request');
      if (e.status === undefined) throw new NorthboundError('QB_IDEMPOTENCY_IN_PROGRESS', 'a request with this Idempotency-Key is still being answered; retry later');
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
