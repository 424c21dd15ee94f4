/**
 * Electronic contracts (seed 002 claim 7): the record of an agreed
 * inter-domain service (parties, segments, QoS, window, price per party) as
 * a JWS in the JSON General Serialization (RFC 7515 section 7.2.1). The
 * payload is the contract body as RFC 8785 canonical JSON; every party adds
 * one signature, EdDSA over Ed25519 (RFC 8037), whose protected header names
 * the party's domain, role and key id (the RFC 7638 thumbprint of the key the
 * body lists for it). Any JOSE library verifies it offline; docs/contract.md
 * specifies the format and daemon/agreement/contract.schema.json the body.
 *
 * The body carries `fieldDigests`, a short digest of every leaf: a changed
 * payload breaks every signature, and the digests then name the field that
 * changed (`qos-broker contract verify FILE`).
 *
 * This module is the one place that builds, signs and verifies contracts.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { hash, sign, verify, type KeyObject } from 'node:crypto';
import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { ContractError } from '../errors.js';
import { canonicalJson } from '../crypto/canonical-json.js';
import { rawPublicKey, toPrivateKey, toPublicKey, type KeyInput } from '../crypto/keys.js';

export { ContractError } from '../errors.js';

/** The body version this module writes and reads. */
export const CONTRACT_VERSION = 2;
/** The JWS algorithm of every signature (RFC 8037). */
const ALG = 'EdDSA';
/** Characters of a field digest: 12 bytes of SHA-256 in base64url. */
const FIELD_DIGEST_CHARS = 16;

/** What a party is to the agreement: a provider carries a segment, a broker (an exchange) brokered it and holds no capacity. */
export type PartyRole = 'provider' | 'broker';

/** One provider's part of the path. */
export interface ContractSegment {
  domain: string;
  /** Border (or site) where the segment starts and ends. */
  ingress: string;
  egress: string;
  latencyMs: number;
  jitterMs: number;
  lossPct: number;
  /** What this provider charges for the segment, in minor units of `currency`. */
  priceMinor: number;
}

/** The contract an amendment amends: its agreement id and the SHA-256 of its payload (base64url). */
export interface ContractReference {
  agreementId: string;
  payloadDigest: string;
}

/** What the coordinator assembles; sealContractBody adds the field digests. */
export interface ContractTerms {
  version: 2;
  agreementId: string;
  /** The provider that took the order, and its customer. */
  originator: { domain: string; customer: string };
  /**
   * fromPrefixes / toPrefixes: the addresses of the two sites (from their domains' advertisements);
   * every domain classifies the service's traffic by them. Absent: all traffic of the class.
   */
  service: { from: string; to: string; qosClass: string; rateMbps: number; maxLatencyMs?: number; maxJitterMs?: number; maxLossPct?: number; fromPrefixes?: string[]; toPrefixes?: string[] };
  /** ISO 8601 start and end of the service. */
  window: { start: string; end: string };
  /** Everyone who must sign, with its Ed25519 public key (raw, base64) and role. */
  parties: Array<{ domain: string; publicKey: string; role: PartyRole }>;
  segments: ContractSegment[];
  currency: string;
  totalPriceMinor: number;
  issuedAt: string;
  /** Set on an amendment (a boost): the contract it amends. */
  amends?: ContractReference;
}

/** The contract body: the JWS payload, what every party signs. */
export interface ContractBody extends ContractTerms {
  /** JSON pointer of every leaf (but this member) -> 16 base64url characters of the SHA-256 of its canonical JSON. */
  fieldDigests: Record<string, string>;
}

/** One party's signature: a JWS signature object (RFC 7515 section 7.2.1). */
export interface ContractSignature {
  /** base64url of the protected header, JSON: {alg: "EdDSA", kid, domain, role}. */
  protected: string;
  /** base64url of the Ed25519 signature over ASCII(protected || "." || payload). */
  signature: string;
}

/** The protected header of a party's signature. */
export interface ContractSignatureHeader {
  alg: 'EdDSA';
  /** RFC 7638 JWK thumbprint (SHA-256, base64url) of the party's public key. */
  kid: string;
  domain: string;
  role: PartyRole;
}

/** A signed contract: a JWS in the JSON General Serialization. */
export interface SignedContract {
  /** base64url of the canonical JSON of the contract body. */
  payload: string;
  signatures: ContractSignature[];
}

// ------------------------------------------------------------------ encoding

const B64URL_RE = /^[A-Za-z0-9_-]*$/;

/** Strict base64url (RFC 4648 section 5, no padding) or undefined. */
function fromB64url(s: unknown): Buffer | undefined {
  if (typeof s !== 'string' || !B64URL_RE.test(s) || s.length % 4 === 1) return undefined;
  const buf = Buffer.from(s, 'base64url');
  return buf.toString('base64url') === s ? buf : undefined;
}

function pointerEscape(k: string): string {
  return k.includes('~') || k.includes('/') ? k.replace(/~/g, '~0').replace(/\//g, '~1') : k;
}

/** The field digests of a body: every leaf but fieldDigests itself (empty objects and arrays count as leaves). */
function computeFieldDigests(body: object): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (v: unknown, ptr: string) => {
    if (v !== null && typeof v === 'object') {
      const keys = Object.keys(v);
      if (keys.length > 0) {
        for (const k of keys) if (ptr !== '' || k !== 'fieldDigests') walk((v as Record<string, unknown>)[k], `${ptr}/${pointerEscape(k)}`);
        return;
      }
    }
    const leaf = v === null || typeof v !== 'object' ? JSON.stringify(v) : canonicalJson(v);
    out[ptr] = hash('sha256', leaf, 'base64url').slice(0, FIELD_DIGEST_CHARS);
  };
  walk(body, '');
  return out;
}

/**
 * A sealed body carries its canonical JSON and payload under this
 * non-enumerable symbol (JSON and Object.keys do not see it). Not in a
 * module-level WeakMap: a young-generation GC keeps the values of a
 * long-lived WeakMap alive, promoting every encoding to the old generation.
 */
const SEALED = Symbol('qos-broker.sealedContract');
interface Sealed {
  /** The canonical JSON of the body. */
  text: string;
  /** base64url of its UTF-8. */
  payload: string;
}
function sealedOf(body: unknown): Sealed | undefined {
  return body !== null && typeof body === 'object' ? (body as { [SEALED]?: Sealed })[SEALED] : undefined;
}

function deepFreeze(v: unknown): void {
  if (v === null || typeof v !== 'object') return;
  for (const x of Object.values(v)) deepFreeze(x);
  Object.freeze(v);
}

function seal(body: ContractBody, text: string): ContractBody {
  Object.defineProperty(body, SEALED, { value: { text, payload: Buffer.from(text, 'utf8').toString('base64url') } satisfies Sealed });
  deepFreeze(body);
  return body;
}

/**
 * Make the final body of a contract: checked, with its field digests, deep-
 * frozen, its canonical JSON and payload computed once for every signature
 * and check in this process. Throws ContractError (QB_CONTRACT_MALFORMED)
 * naming the field.
 */
export function sealContractBody(terms: ContractTerms | ContractBody): ContractBody {
  if (sealedOf(terms)) return terms as ContractBody;
  const { fieldDigests: _, ...rest } = terms as ContractBody;
  const body = { ...rest, fieldDigests: computeFieldDigests(rest) } as ContractBody;
  checkContractBody(body);
  let text: string;
  try {
    text = canonicalJson(body);
  } catch (err) {
    throw new ContractError('QB_CONTRACT_MALFORMED', `the contract body cannot be canonical JSON: ${(err as Error).message}`, { field: '/body' });
  }
  return seal(body, text);
}

/**
 * The body a broker was sent to sign (CommitRequest.body_json): it must be
 * the canonical JSON of a valid body whose field digests are its own, so the
 * bytes signed mean the same to every reader. Returns it sealed.
 */
export function parseContractPayload(text: string, field = '/payload'): ContractBody {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (err) {
    throw new ContractError('QB_CONTRACT_MALFORMED', `contract ${field} is not JSON: ${(err as Error).message}`, { field });
  }
  checkContractBody(body);
  let canonical: string | undefined;
  try {
    canonical = canonicalJson(body);
  } catch {
    canonical = undefined;
  }
  if (canonical !== text) throw new ContractError('QB_CONTRACT_MALFORMED', `contract ${field} is not the RFC 8785 canonical JSON of its body (reformatted, or a key repeated)`, { field });
  const changed = changedField(body);
  if (changed) throw new ContractError('QB_CONTRACT_MALFORMED', `contract ${field}: the field digest of /body${changed.field} does not match its value`, { field: `/body${changed.field}` });
  return seal(body, text);
}

/** The canonical JSON of a body (the payload's octets as text). */
export function contractPayloadText(body: ContractTerms | ContractBody): string {
  return (sealedOf(body) ?? sealedOf(sealContractBody(body))!).text;
}

// ------------------------------------------------------------------ schema

/** Where the schema is: next to this file in the source tree (also when running from dist/). */
function schemaPath(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const candidates = [join(here, 'contract.schema.json'), resolve(here, '../../../daemon/agreement/contract.schema.json')];
  for (const c of candidates) if (existsSync(c)) return c;
  throw new Error(`cannot find daemon/agreement/contract.schema.json (looked in ${candidates.join(', ')})`);
}

/** The JSON Schema of the contract body (daemon/agreement/contract.schema.json). */
export function contractSchema(): Record<string, unknown> {
  return JSON.parse(readFileSync(schemaPath(), 'utf8')) as Record<string, unknown>;
}

const addFormats = addFormatsModule as unknown as (a: Ajv2020) => Ajv2020;
let validator: ValidateFunction | undefined;
function validateSchema(body: unknown): ErrorObject | undefined {
  validator ??= addFormats(new Ajv2020({ allErrors: false, strict: true })).compile(contractSchema());
  return validator(body) ? undefined : validator.errors?.[0];
}

function schemaFault(e: ErrorObject): ContractError {
  const p = e.params as { missingProperty?: string; additionalProperty?: string };
  const at = `/body${e.instancePath}`;
  const field = p.missingProperty !== undefined ? `${at}/${pointerEscape(p.missingProperty)}` : p.additionalProperty !== undefined ? `${at}/${pointerEscape(p.additionalProperty)}` : at;
  const what = p.missingProperty !== undefined ? 'is missing' : p.additionalProperty !== undefined ? 'is not a field of a contract body' : e.message ?? 'is invalid';
  return new ContractError('QB_CONTRACT_MALFORMED', `contract field ${field} ${what} (contract.schema.json${e.schemaPath.replace(/^#/, '')})`, { field });
}

// ------------------------------------------------------------------ keys

/** Parsed party keys by their raw base64 form: importing a key costs more than checking a signature. */
const keyCache = new Map<string, { key: KeyObject; kid: string }>();
function partyKey(raw: string): { key: KeyObject; kid: string } {
  let k = keyCache.get(raw);
  if (!k) {
    const key = toPublicKey(raw);
    k = { key, kid: thumbprintOf(raw) };
    if (keyCache.size >= 4096) keyCache.delete(keyCache.keys().next().value!);
    keyCache.set(raw, k);
  }
  return k;
}

/** RFC 7638 thumbprint of an Ed25519 public key (raw, standard base64): SHA-256 of {"crv","kty","x"} in that order, base64url. */
function thumbprintOf(raw: string): string {
  return hash('sha256', `{"crv":"Ed25519","kty":"OKP","x":"${Buffer.from(raw, 'base64').toString('base64url')}"}`, 'base64url');
}

/** The key id (RFC 7638 thumbprint) a signature by this Ed25519 public key carries. */
export function contractKeyId(publicKey: KeyInput): string {
  return thumbprintOf(rawPublicKey(publicKey));
}

// ------------------------------------------------------------------ checks

/** Structural checks of a body (the JSON Schema, then what it cannot say); throws ContractError (QB_CONTRACT_MALFORMED) naming the field. */
export function checkContractBody(b: unknown): asserts b is ContractBody {
  checkBodyStructure(b);
  checkBodyTerms(b);
}

function malformed(field: string, what: string): never {
  throw new ContractError('QB_CONTRACT_MALFORMED', `contract field ${field} ${what}`, { field });
}

/** The JSON Schema, parties once each, keys that are Ed25519 keys: what a signature check needs. */
function checkBodyStructure(b: unknown): asserts b is ContractBody {
  if (!b || typeof b !== 'object' || Array.isArray(b)) malformed('/body', 'must be an object');
  if ((b as { version?: unknown }).version !== CONTRACT_VERSION) malformed('/body/version', `must be ${CONTRACT_VERSION}, not ${JSON.stringify((b as { version?: unknown }).version)}`);
  const e = validateSchema(b);
  if (e) throw schemaFault(e);
  const seen = new Set<string>();
  (b as ContractBody).parties.forEach((p, i) => {
    if (seen.has(p.domain)) malformed(`/body/parties/${i}/domain`, `repeats ${p.domain}`);
    seen.add(p.domain);
    try {
      partyKey(p.publicKey);
    } catch {
      malformed(`/body/parties/${i}/publicKey`, 'must be an Ed25519 public key (32 bytes, base64)');
    }
  });
}

/** What the schema cannot say: the window's order, segments by providers that are parties, the total. */
function checkBodyTerms(body: ContractBody): void {
  if (Date.parse(body.window.start) >= Date.parse(body.window.end)) malformed('/body/window', 'must end after it starts');
  let total = 0;
  body.segments.forEach((s, i) => {
    const party = body.parties.find((p) => p.domain === s.domain);
    if (!party) malformed(`/body/segments/${i}/domain`, `names ${s.domain}, which is not a party: every provider on the path must sign`);
    if (party.role !== 'provider') malformed(`/body/segments/${i}/domain`, `names ${s.domain}, a ${party.role}: only a provider carries a segment`);
    total += s.priceMinor;
  });
  if (body.totalPriceMinor !== total) malformed('/body/totalPriceMinor', `is ${body.totalPriceMinor} but the segments add up to ${total}`);
}

/** The first field (JSON pointer in the body) whose digest differs from the listed one, with what happened to it. */
function changedField(body: ContractBody): { field: string; what: 'changed' | 'was added' | 'was removed' } | undefined {
  const now = computeFieldDigests(body);
  const listed = body.fieldDigests;
  const fields = [...new Set([...Object.keys(now), ...Object.keys(listed)])].sort();
  for (const f of fields) {
    if (now[f] === listed[f]) continue;
    return { field: f, what: listed[f] === undefined ? 'was added' : now[f] === undefined ? 'was removed' : 'changed' };
  }
  return undefined;
}

// ------------------------------------------------------------------ signing

/** Protected headers already encoded, by domain, kid and role: a signer makes the same one for every contract. */
const headerCache = new Map<string, string>();
function protectedHeader(domain: string, kid: string, role: PartyRole): string {
  const k = `${domain}\n${kid}\n${role}`;
  let h = headerCache.get(k);
  if (h === undefined) {
    h = Buffer.from(JSON.stringify({ alg: ALG, kid, domain, role } satisfies ContractSignatureHeader), 'utf8').toString('base64url');
    if (headerCache.size >= 4096) headerCache.clear();
    headerCache.set(k, h);
  }
  return h;
}

/**
 * Sign a body as one of its parties: the JWS signature object of that party
 * (protected header naming its domain, role and key id). Throws ContractError:
 * QB_CONTRACT_NOT_A_PARTY, QB_CONTRACT_WRONG_KEY (the key is not the one the
 * body lists for the domain), QB_CONTRACT_MALFORMED.
 */
export function signContractBody(terms: ContractTerms | ContractBody, domain: string, privateKey: KeyInput): ContractSignature {
  const body = sealContractBody(terms);
  const party = body.parties.find((p) => p.domain === domain);
  if (!party) throw new ContractError('QB_CONTRACT_NOT_A_PARTY', `${domain} is not a party of contract ${body.agreementId}`, { domain });
  const key = toPrivateKey(privateKey);
  if (rawPublicKey(key) !== party.publicKey) {
    throw new ContractError('QB_CONTRACT_WRONG_KEY', `the key given for ${domain} is not the one the contract lists for it`, { domain });
  }
  const h = protectedHeader(domain, partyKey(party.publicKey).kid, party.role);
  const signature = sign(null, Buffer.from(`${h}.${sealedOf(body)!.payload}`, 'ascii'), key).toString('base64url');
  return { protected: h, signature };
}

/** The JWS of a body and its signatures (each party's, in any order). */
export function assembleContract(terms: ContractTerms | ContractBody, signatures: ContractSignature[]): SignedContract {
  const body = sealContractBody(terms);
  const jws: SignedContract = { payload: sealedOf(body)!.payload, signatures: [...signatures] };
  remember(jws, body);
  return jws;
}

/** A contract without signatures yet (sign it with signContract). */
export function draftContract(terms: ContractTerms | ContractBody): SignedContract {
  return assembleContract(terms, []);
}

/** Sign a contract as one of its parties; returns a new contract with that party's signature added (replacing an older one). */
export function signContract(contract: SignedContract, domain: string, privateKey: KeyInput): SignedContract {
  const body = sealedBody(contract);
  const sig = signContractBody(body, domain, privateKey);
  return assembleContract(body, [...contract.signatures.filter((s) => headerOf(s)?.domain !== domain), sig]);
}

// ------------------------------------------------------------------ reading

/** The decoded body of a JWS object, kept with the payload it came from (a later change of the payload is seen). */
const DECODED = Symbol('qos-broker.decodedContract');
interface Decoded {
  payload: string;
  body: ContractBody;
}

function remember(jws: SignedContract, body: ContractBody): void {
  if (!Object.isExtensible(jws)) return;
  const d: Decoded = { payload: jws.payload, body };
  const have = Object.getOwnPropertyDescriptor(jws, DECODED);
  if (have) (have.value as { current: Decoded }).current = d;
  else Object.defineProperty(jws, DECODED, { value: { current: d } });
}

function checkJwsShape(input: unknown): asserts input is SignedContract {
  const fail = (field: string, what: string): never => {
    throw new ContractError('QB_CONTRACT_MALFORMED', `the contract is not a JWS in the JSON General Serialization (RFC 7515 section 7.2.1): ${field} ${what}`, { field });
  };
  if (!input || typeof input !== 'object' || Array.isArray(input)) fail('the contract', 'must be a JSON object with payload and signatures');
  const c = input as Record<string, unknown>;
  if ('body' in c && !('payload' in c)) fail('/payload', 'is missing (a contract of the old {body, signatures} form: have it signed again)');
  const known = (c as { [DECODED]?: { current: Decoded } })[DECODED]?.current.payload === c.payload;
  if (typeof c.payload !== 'string' || (!known && !fromB64url(c.payload))) fail('/payload', 'must be a base64url string');
  if (!Array.isArray(c.signatures)) fail('/signatures', 'must be an array');
  (c.signatures as unknown[]).forEach((s, i) => {
    if (!s || typeof s !== 'object' || Array.isArray(s)) fail(`/signatures/${i}`, 'must be an object');
    const o = s as Record<string, unknown>;
    if (typeof o.protected !== 'string' || !fromB64url(o.protected)) fail(`/signatures/${i}/protected`, 'must be a base64url string');
    if (typeof o.signature !== 'string' || fromB64url(o.signature)?.length !== 64) fail(`/signatures/${i}/signature`, 'must be 64 bytes of base64url (an Ed25519 signature)');
  });
}

/** The body of a contract (decoded once per payload). Throws ContractError (QB_CONTRACT_MALFORMED) for what is not a contract. */
export function contractBody(contract: SignedContract): ContractBody {
  const body = decodeBody(contract);
  checkBodyTerms(body);
  return body;
}

/** The decoded payload, checked as far as a signature check needs (checkBodyStructure); cached with the payload. */
function decodeBody(contract: SignedContract): ContractBody {
  const cached = (contract as { [DECODED]?: { current: Decoded } })?.[DECODED]?.current;
  if (cached && cached.payload === contract.payload) return cached.body;
  checkJwsShape(contract);
  const text = fromB64url(contract.payload)!.toString('utf8');
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (err) {
    throw new ContractError('QB_CONTRACT_MALFORMED', `the contract's /payload is not base64url of JSON: ${(err as Error).message}`, { field: '/payload' });
  }
  checkBodyStructure(body);
  remember(contract, body);
  return body;
}

/** The body of a contract, sealed with the payload's own text (to sign it as it is). */
function sealedBody(contract: SignedContract): ContractBody {
  const body = decodeBody(contract);
  const s = sealedOf(body);
  if (s && s.payload === contract.payload) return body;
  return parseContractPayload(fromB64url(contract.payload)!.toString('utf8'));
}

/** The protected header of a signature, or undefined when it is not one of a contract. */
function headerOf(sig: ContractSignature): ContractSignatureHeader | undefined {
  try {
    const h = JSON.parse(fromB64url(sig.protected)?.toString('utf8') ?? 'null') as Partial<ContractSignatureHeader> | null;
    if (!h || typeof h !== 'object' || h.alg !== ALG || typeof h.kid !== 'string' || typeof h.domain !== 'string' || (h.role !== 'provider' && h.role !== 'broker')) return undefined;
    return h as ContractSignatureHeader;
  } catch {
    return undefined;
  }
}

/** The domain a signature's protected header names, or undefined when it names none. */
export function signatureDomain(sig: ContractSignature): string | undefined {
  return headerOf(sig)?.domain;
}

/** The reference an amendment of this contract carries: its agreement id and the SHA-256 of its payload octets (base64url). */
export function contractReference(contract: SignedContract): ContractReference {
  const body = contractBody(contract);
  return { agreementId: body.agreementId, payloadDigest: hash('sha256', fromB64url(contract.payload)!, 'base64url') };
}

/**
 * Check that `amendment` amends `original` (its agreement id and payload
 * digest), with the same originator and customer. Both are verified first.
 * Throws ContractError (QB_CONTRACT_AMENDMENT_MISMATCH or a verification code).
 */
export function checkAmendment(original: SignedContract, amendment: SignedContract, trusted?: Record<string, string>): ContractBody {
  verifyContract(original, trusted);
  verifyContract(amendment, trusted);
  const o = contractBody(original);
  const a = contractBody(amendment);
  const ref = contractReference(original);
  const fail = (field: string, what: string): never => {
    throw new ContractError('QB_CONTRACT_AMENDMENT_MISMATCH', `contract ${a.agreementId} is not an amendment of ${o.agreementId}: ${field} ${what}`, { field });
  };
  if (!a.amends) fail('/body/amends', 'is missing');
  if (a.amends!.agreementId !== ref.agreementId) fail('/body/amends/agreementId', `is ${a.amends!.agreementId}`);
  if (a.amends!.payloadDigest !== ref.payloadDigest) fail('/body/amends/payloadDigest', `is ${a.amends!.payloadDigest}, not the digest of ${o.agreementId}'s payload (${ref.payloadDigest})`);
  if (a.originator.domain !== o.originator.domain || a.originator.customer !== o.originator.customer) fail('/body/originator', 'differs from the original\'s');
  return a;
}

/**
 * A copy of a contract whose body was changed and whose signatures were kept:
 * what a forger makes (the demo's tamper step and the tests).
 */
export function withAlteredBody(contract: SignedContract, change: (body: ContractBody) => void): SignedContract {
  const body = structuredClone(contractBody(contract)) as ContractBody;
  change(body);
  return { payload: Buffer.from(canonicalJson(body), 'utf8').toString('base64url'), signatures: contract.signatures.map((s) => ({ ...s })) };
}

// ------------------------------------------------------------------ verifying

/** What a verified contract says, for people. */
export interface ContractSummary {
  agreementId: string;
  signedBy: string[];
  /** Keys were taken from the contract itself (no trust anchors given). */
  selfAsserted: boolean;
  /** The contract this one amends, when it is an amendment. */
  amends?: ContractReference;
  lines: string[];
}

/**
 * Verify every party's signature over the payload, as any JOSE library
 * would, and what only we check: each party signed exactly once, with the key
 * the body lists for it (header kid and role), the body is a valid one
 * (contract.schema.json), and the payload is its canonical JSON. `trusted`
 * maps domain -> public key (PEM or raw base64); a party whose listed key
 * differs is refused. `signedHere` is a party whose signature the caller made
 * itself a moment ago over a body it sealed (the coordinator's own part): its
 * Ed25519 check, the most expensive step, is skipped for that sealed body.
 *
 * Throws ContractError: QB_CONTRACT_MALFORMED (not a JWS of a contract body:
 * the member or field), QB_CONTRACT_NOT_A_PARTY / _WRONG_KEY / _ROLE_MISMATCH
 * (a signature's header), QB_CONTRACT_UNTRUSTED_KEY, QB_CONTRACT_UNSIGNED (the
 * party), QB_CONTRACT_TAMPERED (the field that changed), QB_CONTRACT_BAD_SIGNATURE
 * (the party whose signature fails over an intact payload).
 *
 * Signing and checking run on the calling thread: node:crypto's callback form
 * (libuv's thread pool) cost more CPU than the signature itself on this class
 * of 2-vCPU machine (figures in bench/README.md).
 */
export function verifyContract(input: unknown, trusted?: Record<string, string>, signedHere?: string): ContractSummary {
  checkJwsShape(input);
  const c = input;
  const body = decodeBody(c);
  const sealed = sealedOf(body);
  const ownPayload = sealed !== undefined && sealed.payload === c.payload;
  // every signature names a party, once, with that party's key id and role
  const byDomain = new Map<string, ContractSignature>();
  c.signatures.forEach((sig, i) => {
    const field = `/signatures/${i}/protected`;
    const h = headerOf(sig);
    if (!h) throw new ContractError('QB_CONTRACT_MALFORMED', `contract ${field} is not a header {"alg":"EdDSA","kid","domain","role"} in base64url JSON`, { field });
    const party = body.parties.find((p) => p.domain === h.domain);
    if (!party) throw new ContractError('QB_CONTRACT_NOT_A_PARTY', `signature ${i} is by ${h.domain}, which is not a party of contract ${body.agreementId}`, { field, domain: h.domain });
    if (byDomain.has(h.domain)) throw new ContractError('QB_CONTRACT_MALFORMED', `contract ${field}: ${h.domain} signed twice`, { field, domain: h.domain });
    const kid = partyKey(party.publicKey).kid;
    if (h.kid !== kid) throw new ContractError('QB_CONTRACT_WRONG_KEY', `signature ${i} of ${h.domain} is by key ${h.kid}, not the key the contract lists for ${h.domain} (${kid})`, { field, domain: h.domain });
    if (h.role !== party.role) throw new ContractError('QB_CONTRACT_ROLE_MISMATCH', `signature ${i} of ${h.domain} signs as ${h.role}, but the contract lists ${h.domain} as ${party.role}`, { field, domain: h.domain });
    byDomain.set(h.domain, sig);
  });
  // the parties in order: the first fault found is the one reported
  body.parties.forEach((party, i) => {
    const anchor = trusted?.[party.domain];
    if (trusted && anchor === undefined) {
      throw new ContractError('QB_CONTRACT_UNTRUSTED_KEY', `the trust file has no key for party ${party.domain}: add it, or verify without --trust to accept the keys the contract lists`, {
        domain: party.domain,
        field: `/body/parties/${i}/publicKey`,
      });
    }
    if (anchor !== undefined && rawPublicKey(anchor) !== party.publicKey) {
      throw new ContractError('QB_CONTRACT_UNTRUSTED_KEY', `the contract lists a key for ${party.domain} that is not its trusted key`, { domain: party.domain, field: `/body/parties/${i}/publicKey` });
    }
    const sig = byDomain.get(party.domain);
    if (!sig) throw new ContractError('QB_CONTRACT_UNSIGNED', `${party.domain} has not signed contract ${body.agreementId}`, { domain: party.domain });
    if (ownPayload && party.domain === signedHere) return;
    if (!signatureVerifies(c.payload, sig, party.publicKey)) throw diagnose(c, body, party.domain, byDomain);
  });
  checkBodyTerms(body);
  if (!ownPayload) {
    // every party signed these bytes; still, they must be the one encoding of the body every reader parses alike
    const text = fromB64url(c.payload)!.toString('utf8');
    if (canonicalJson(body) !== text) throw new ContractError('QB_CONTRACT_MALFORMED', 'the contract\'s /payload is not the RFC 8785 canonical JSON of its body', { field: '/payload' });
  }
  return summary(c, body, !trusted);
}

/** Ed25519 check of one signature over ASCII(protected || "." || payload). */
function signatureVerifies(payload: string, sig: ContractSignature, publicKey: string): boolean {
  try {
    return verify(null, Buffer.from(`${sig.protected}.${payload}`, 'ascii'), partyKey(publicKey).key, Buffer.from(sig.signature, 'base64url'));
  } catch {
    return false;
  }
}

/** Why the signature of `domain` fails: a changed field (named by the digests), a payload changed as a whole, or that signature alone. */
function diagnose(c: SignedContract, body: ContractBody, domain: string, byDomain: Map<string, ContractSignature>): ContractError {
  const changed = changedField(body);
  if (changed) {
    return new ContractError('QB_CONTRACT_TAMPERED', `field /body${changed.field} ${changed.what} after ${domain} signed contract ${body.agreementId}`, { field: `/body${changed.field}`, domain });
  }
  const others = body.parties.filter((p) => p.domain !== domain && byDomain.has(p.domain));
  const anyVerifies = others.some((p) => signatureVerifies(c.payload, byDomain.get(p.domain)!, p.publicKey));
  if (others.length > 0 && !anyVerifies) {
    return new ContractError('QB_CONTRACT_TAMPERED', `the payload of contract ${body.agreementId} changed after every party signed it (its field digests were rewritten too, so the field cannot be named)`, { field: '/payload', domain });
  }
  return new ContractError('QB_CONTRACT_BAD_SIGNATURE', `the signature of ${domain} does not verify with its key`, { domain });
}

/** What a verified contract says, in lines for people. */
function summary(c: SignedContract, b: ContractBody, selfAsserted: boolean): ContractSummary {
  const money = (m: number) => `${(m / 100).toFixed(2)} ${b.currency}`;
  const lines = [
    `contract ${b.agreementId}: ${b.service.qosClass} ${b.service.rateMbps} Mbit/s from ${b.service.from} to ${b.service.to}, ${b.window.start} to ${b.window.end}`,
    ...(b.amends ? [`amends contract ${b.amends.agreementId} (payload SHA-256 ${b.amends.payloadDigest}): the rate is on top of its rate`] : []),
    `ordered by ${b.originator.customer} through ${b.originator.domain}; total ${money(b.totalPriceMinor)}`,
    ...b.segments.map(
      (s) => `  ${s.domain}: ${s.ingress} -> ${s.egress}, latency ${s.latencyMs} ms, jitter ${s.jitterMs} ms, loss ${s.lossPct}%, price ${money(s.priceMinor)}, signed`,
    ),
    ...b.parties.filter((p) => p.role !== 'provider').map((p) => `  ${p.domain}: ${p.role}, signed`),
    `signatures: ${c.signatures.map((s) => headerOf(s)!).map((h) => `${h.domain} (${h.role}, EdDSA, kid ${h.kid})`).join(', ')}`,
  ];
  const out: ContractSummary = { agreementId: b.agreementId, signedBy: b.parties.map((p) => p.domain), selfAsserted, lines };
  if (b.amends) out.amends = { ...b.amends };
  return out;
}
