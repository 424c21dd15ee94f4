/**
 * API keys of the northbound REST API, stored in Redis as records of kind
 * `apikey` (daemon/state/records.ts). A key is `qbk_<id>_<secret>`: the id
 * names the record (public, used to revoke), the secret is 32 random bytes
 * (base64url) of which only the SHA-256 is stored. The whole key is returned
 * once, by create(); nobody can read it back.
 *
 * A key's record is kept in this process's memory for `cacheMs` after it was
 * read (a request then costs no Redis round trip; the secret is still checked
 * against the hash every time). A key revoked through this store is refused at
 * once; one revoked through another replica of the domain is refused here
 * once the cached record is older than `cacheMs`. Unknown key ids are not
 * cached (guessing costs the guesser, not the memory).
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { InvalidArgumentError } from '../../drivers/errors.js';
import { ApiKeyError } from '../errors.js';
import type { RecordStore } from './records.js';

/** customer: one customer's data; operator: the whole domain. */
export type Role = 'customer' | 'operator';
export const ROLES: readonly Role[] = ['customer', 'operator'];

/** A key as stored (record kind `apikey`): no secret, its hash. */
export interface ApiKeyRecord {
  id: string;
  role: Role;
  /** The customer it acts for (role customer); empty for operator. */
  customer: string;
  description: string;
  /** hex SHA-256 of the 32 secret bytes */
  sha256: string;
  createdAt: string;
  revokedAt?: string;
}

/** Who a request acts for, once its key checked out. */
export interface Principal {
  keyId: string;
  role: Role;
  /** Set for role customer: the only customer whose data it sees. */
  customer?: string;
}


const KIND = 'apikey';
const ID_RE = /^kid-[0-9a-f]{16}$/;
const TOKEN_RE = /^qbk_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/;
const CUSTOMER_RE = /^[A-Za-z0-9._@-]{1,64}$/;

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** The key without its hash, as listed. */
export type ApiKeyView = Omit<ApiKeyRecord, 'sha256'>;
const view = ({ sha256: _h, ...k }: ApiKeyRecord): ApiKeyView => k;

export interface ApiKeyStoreOptions {
  /** How long a key's record read from Redis is trusted, ms (a revocation through another replica takes effect here within it). @default 1000 */
  cacheMs?: number;
  /** Clock, ms. @default Date.now */
  now?: () => number;
}

export class ApiKeyStore {
  private readonly cache = new Map<string, { rec: ApiKeyRecord; until: number }>();
  private readonly cacheMs: number;
  private readonly now: () => number;

  constructor(
    private readonly records: RecordStore,
    opts: ApiKeyStoreOptions = {},
  ) {
    this.cacheMs = opts.cacheMs ?? 1000;
    this.now = opts.now ?? Date.now;
  }

  /** A new key; `secret` is the only copy of the key there will ever be. */
  async create(input: { role: string; customer?: string; description?: string }): Promise<{ key: ApiKeyView; secret: string }> {
    if (!ROLES.includes(input.role as Role)) throw new InvalidArgumentError(`role must be one of ${ROLES.join(', ')}, got ${JSON.stringify(input.role)}`);
    const role = input.role as Role;
    const customer = input.customer ?? '';
    if (role === 'customer' && !CUSTOMER_RE.test(customer)) throw new InvalidArgumentError(`customer must be 1-64 letters, digits or ._@- for role customer, got ${JSON.stringify(customer)}`);
    if (role === 'operator' && customer !== '') throw new InvalidArgumentError('customer must be empty for role operator (an operator key sees every customer)');
    const description = input.description ?? '';
    if (typeof description !== 'string' || description.length > 200) throw new InvalidArgumentError('description must be at most 200 characters');
    const hex = randomBytes(8).toString('hex');
    const secret = randomBytes(32);
    const rec: ApiKeyRecord = { id: `kid-${hex}`, role, customer, description, sha256: sha256(secret), createdAt: new Date().toISOString() };
    await this.records.put(KIND, rec.id, 0, rec, { score: Date.now(), event: { type: 'apikey-created', role, customer } });
    return { key: view(rec), secret: `qbk_${hex}_${secret.toString('base64url')}` };
  }

  async revoke(id: string): Promise<ApiKeyView> {
    if (typeof id !== 'string' || !ID_RE.test(id)) throw new InvalidArgumentError(`id must be an API key id (kid-<16 hex digits>), got ${JSON.stringify(id)}`);
    const r = await this.records.get<ApiKeyRecord>(KIND, id);
    if (!r) throw new ApiKeyError('QB_APIKEY_NOT_FOUND', `no API key ${id}`);
    if (r.doc.revokedAt) return view(r.doc);
    const doc = { ...r.doc, revokedAt: new Date().toISOString() };
    await this.records.put(KIND, id, r.version, doc, { score: Date.parse(doc.createdAt), event: { type: 'apikey-revoked', role: doc.role, customer: doc.customer } });
    this.cache.delete(id);
    return view(doc);
  }

  async list(customer?: string): Promise<ApiKeyView[]> {
    const out: ApiKeyView[] = [];
    for (const id of await this.records.ids(KIND)) {
      const r = await this.records.get<ApiKeyRecord>(KIND, id);
      if (r && (!customer || r.doc.customer === customer)) out.push(view(r.doc));
    }
    return out;
  }

  /** The principal of a presented key, or undefined for a malformed, unknown or revoked one. */
  async authenticate(token: string): Promise<Principal | undefined> {
    const m = TOKEN_RE.exec(token);
    if (!m) return undefined;
    const id = `kid-${m[1]}`;
    const t = this.now();
    let c = this.cache.get(id);
    if (!c || c.until <= t) {
      const r = await this.records.get<ApiKeyRecord>(KIND, id);
      if (!r) {
        this.cache.delete(id);
        return undefined;
      }
      c = { rec: r.doc, until: t + this.cacheMs };
      this.cache.set(id, c);
    }
    const rec = c.rec;
    if (rec.revokedAt) return undefined;
    const want = Buffer.from(rec.sha256, 'hex');
    const got = Buffer.from(sha256(Buffer.from(m[2]!, 'base64url')), 'hex');
    if (want.length !== got.length || !timingSafeEqual(want, got)) return undefined;
    return rec.role === 'customer' ? { keyId: rec.id, role: 'customer', customer: rec.customer } : { keyId: rec.id, role: 'operator' };
  }
}
