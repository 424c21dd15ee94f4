/**
 * Electronic contracts (seed 002 claim 7): the JSON document that records an
 * agreed inter-domain service: parties, segments, QoS, window, price per
 * party, and the Ed25519 signature of every provider on the path.
 *
 * Each party signs a manifest: one SHA-256 digest per leaf field of the body
 * (keyed by JSON pointer). Verification checks every signature over its
 * manifest, then compares the manifest with the body as it is now, so a
 * tampered contract fails naming the field that changed, not just "bad
 * signature". Offline: `qos-broker contract verify FILE`.
 */
import { hash, sign, verify, type KeyObject } from 'node:crypto';
import { ContractError } from '../errors.js';
import { canonicalJson } from '../crypto/canonical-json.js';
import { rawPublicKey, toPrivateKey, toPublicKey, type KeyInput } from '../crypto/keys.js';

export { ContractError } from '../errors.js';

const SIGNING_CONTEXT = 'qos-broker/contract/v1\n';
/** Deepest nesting a contract body may have (a real one has 4 levels). */
const MAX_DEPTH = 16;

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

/** The agreed service. The body is what every party signs. */
export interface ContractBody {
  version: 1;
  agreementId: string;
  /** The provider that took the order, and its customer. */
  originator: { domain: string; customer: string };
  /**
   * What is carried. `fromPrefixes` / `toPrefixes`: the address prefixes of the two sites as
   * their providers advertise them (absent when a site advertises none): every provider's
   * policy classifies the packets from the one to the other.
   */
  service: { from: string; to: string; qosClass: string; rateMbps: number; maxLatencyMs?: number; maxJitterMs?: number; maxLossPct?: number; fromPrefixes?: string[]; toPrefixes?: string[] };
  /** ISO 8601 start and end of the service. */
  window: { start: string; end: string };
  /** Every provider that must sign, with its Ed25519 public key (raw, base64). */
  parties: Array<{ domain: string; publicKey: string }>;
  segments: ContractSegment[];
  currency: string;
  totalPriceMinor: number;
  issuedAt: string;
}

export interface ContractSignature {
  domain: string;
  /** JSON pointer of every leaf of the body -> hex SHA-256 of its canonical JSON. */
  manifest: Record<string, string>;
  /** Ed25519 over the context string and canonical JSON of {domain, manifest}, base64. */
  signature: string;
}

export interface SignedContract {
  body: ContractBody;
  signatures: ContractSignature[];
}

function pointerEscape(k: string): string {
  return k.includes('~') || k.includes('/') ? k.replace(/~/g, '~0').replace(/\//g, '~1') : k;
}

/** Canonical JSON of a leaf (a primitive, or an empty object or array). */
function leafJson(v: unknown, ptr: string): string {
  if (typeof v === 'number' && !Number.isFinite(v)) throw new ContractError('QB_CONTRACT_MALFORMED', `contract field /body${ptr} is ${v}, which JSON cannot carry`, { field: `/body${ptr}` });
  if (v === null || typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') return JSON.stringify(v);
  return canonicalJson(v);
}

/**
 * A sealed body carries its manifest, and the manifest its canonical JSON, under these
 * non-enumerable symbols (JSON, Object.keys and the manifest comparison do not see them).
 * Not in module-level WeakMaps: a young-generation GC keeps the values of a long-lived
 * WeakMap alive, so every manifest and its 4 KB encoding were promoted to the old
 * generation and left to the next full GC.
 */
const SEALED_MANIFEST = Symbol('qos-broker.sealedManifest');
const MANIFEST_JSON = Symbol('qos-broker.manifestJson');

/**
 * Deep-freeze a contract body that is final (the coordinator's, once
 * assembled) and compute its manifest once: every signature and check of it
 * in this process then reuses that manifest and its encoding.
 */
export function sealContractBody<B extends ContractBody>(body: B): B {
  const manifest = computeManifest(body);
  Object.defineProperty(manifest, MANIFEST_JSON, { value: canonicalJson(manifest) });
  Object.freeze(manifest);
  Object.defineProperty(body, SEALED_MANIFEST, { value: manifest });
  const freeze = (v: unknown): void => {
    if (v === null || typeof v !== 'object') return;
    for (const x of Object.values(v)) freeze(x);
    Object.freeze(v);
  };
  freeze(body);
  return body;
}

/** The canonical JSON of a manifest, made once for a sealed body's. */
function manifestJsonOf(manifest: Record<string, string>): string {
  return (manifest as { [MANIFEST_JSON]?: string })[MANIFEST_JSON] ?? canonicalJson(manifest);
}

/** Digest of every leaf value, keyed by JSON pointer. Empty objects and arrays count as leaves. Frozen for a sealed body. */
export function manifestOf(body: unknown): Record<string, string> {
  const sealed = body !== null && typeof body === 'object' ? (body as { [SEALED_MANIFEST]?: Record<string, string> })[SEALED_MANIFEST] : undefined;
  return sealed ?? computeManifest(body);
}

function computeManifest(body: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (v: unknown, ptr: string, depth: number) => {
    if (depth > MAX_DEPTH) throw new ContractError('QB_CONTRACT_MALFORMED', `contract field /body${ptr} is nested deeper than ${MAX_DEPTH} levels`, { field: `/body${ptr}` });
    if (v !== null && typeof v === 'object') {
      const keys = Object.keys(v as object);
      if (keys.length > 0) {
        for (const k of keys) walk((v as Record<string, unknown>)[k], `${ptr}/${pointerEscape(k)}`, depth + 1);
        return;
      }
    }
    out[ptr] = hash('sha256', leafJson(v, ptr), 'hex');
  };
  walk(body, '', 0);
  return out;
}

/** Parsed party keys by their raw base64 form: importing a key costs more than checking a signature. */
const keyCache = new Map<string, KeyObject>();
function partyKey(raw: string): KeyObject {
  let k = keyCache.get(raw);
  if (!k) {
    k = toPublicKey(raw);
    if (keyCache.size >= 4096) keyCache.delete(keyCache.keys().next().value!);
    keyCache.set(raw, k);
  }
  return k;
}

/** What a party signs: the context string and the canonical JSON of {domain, manifest} (`canonicalManifest` when already encoded). */
function signingBytes(domain: string, manifest: Record<string, string>, canonicalManifest = manifestJsonOf(manifest)): Buffer {
  // canonicalJson({ domain, manifest }), spelled out so that one encoding of a manifest serves every party
  return Buffer.from(`${SIGNING_CONTEXT}{"domain":${JSON.stringify(domain)},"manifest":${canonicalManifest}}`, 'utf8');
}

/** True when two manifests list the same fields with the same digests. */
function sameManifest(a: Record<string, string>, b: Record<string, string>): boolean {
  if (a === b) return true;
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  for (const k of ka) if (a[k] !== b[k]) return false;
  return true;
}

const DOMAIN_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** Structural checks of a body; throws ContractError (QB_CONTRACT_MALFORMED) naming the field. */
export function checkContractBody(b: unknown): asserts b is ContractBody {
  const fail = (field: string, what: string): never => {
    throw new ContractError('QB_CONTRACT_MALFORMED', `contract field ${field} ${what}`, { field });
  };
  if (!b || typeof b !== 'object' || Array.isArray(b)) fail('/body', 'must be an object');
  const body = b as Record<string, any>;
  if (body.version !== 1) fail('/body/version', `must be 1, not ${JSON.stringify(body.version)}`);
  if (typeof body.agreementId !== 'string' || !body.agreementId) fail('/body/agreementId', 'must be a non-empty string');
  if (!body.originator || typeof body.originator !== 'object' || !DOMAIN_RE.test(String(body.originator.domain ?? ''))) fail('/body/originator/domain', 'must be a domain id');
  if (!body.service || typeof body.service !== 'object') fail('/body/service', 'must be an object');
  if (!(typeof body.service.rateMbps === 'number' && body.service.rateMbps > 0)) fail('/body/service/rateMbps', 'must be a positive number');
  for (const k of ['fromPrefixes', 'toPrefixes'] as const) {
    const v = body.service[k];
    if (v !== undefined && !(Array.isArray(v) && v.length > 0 && v.every((p: unknown) => typeof p === 'string' && p.includes('/')))) fail(`/body/service/${k}`, 'must be a non-empty list of address prefixes');
  }
  for (const k of ['start', 'end'] as const) {
    if (typeof body.window?.[k] !== 'string' || Number.isNaN(Date.parse(body.window[k]))) fail(`/body/window/${k}`, 'must be an ISO 8601 time');
  }
  if (Date.parse(body.window.start) >= Date.parse(body.window.end)) fail('/body/window', 'must end after it starts');
  if (!Array.isArray(body.parties) || body.parties.length === 0) fail('/body/parties', 'must list at least one party');
  const seen = new Set<string>();
  body.parties.forEach((p: any, i: number) => {
    if (!p || !DOMAIN_RE.test(String(p.domain ?? ''))) fail(`/body/parties/${i}/domain`, 'must be a domain id');
    if (seen.has(p.domain)) fail(`/body/parties/${i}/domain`, `repeats ${p.domain}`);
    seen.add(p.domain);
    try {
      partyKey(p.publicKey);
    } catch {
      fail(`/body/parties/${i}/publicKey`, 'must be an Ed25519 public key (32 bytes, base64)');
    }
  });
  if (!Array.isArray(body.segments) || body.segments.length === 0) fail('/body/segments', 'must list at least one segment');
  let total = 0;
  body.segments.forEach((s: any, i: number) => {
    if (!s || !seen.has(s.domain)) fail(`/body/segments/${i}/domain`, `names ${s?.domain}, which is not a party: every provider on the path must sign`);
    if (!Number.isInteger(s.priceMinor) || s.priceMinor < 0) fail(`/body/segments/${i}/priceMinor`, 'must be a whole number >= 0');
    for (const k of ['latencyMs', 'jitterMs', 'lossPct']) if (!(typeof s[k] === 'number' && s[k] >= 0)) fail(`/body/segments/${i}/${k}`, 'must be a number >= 0');
    total += s.priceMinor;
  });
  if (body.totalPriceMinor !== total) fail('/body/totalPriceMinor', `is ${body.totalPriceMinor} but the segments add up to ${total}`);
  if (!/^[A-Z]{3}$/.test(String(body.currency ?? ''))) fail('/body/currency', 'must be an ISO 4217 code such as EUR');
}

/** Sign a contract as one of its parties; returns a new contract with that party's signature added (replacing an older one). */
export function signContract(contract: SignedContract, domain: string, privateKey: KeyInput): SignedContract {
  const { manifest, bytes, key } = prepareSignature(contract, domain, privateKey);
  return withSignature(contract, { domain, manifest, signature: sign(null, bytes, key).toString('base64') });
}

/** The checks before signing, the manifest and the bytes to sign. */
function prepareSignature(contract: SignedContract, domain: string, privateKey: KeyInput): { manifest: Record<string, string>; bytes: Buffer; key: KeyObject } {
  checkContractBody(contract.body);
  const party = contract.body.parties.find((p) => p.domain === domain);
  if (!party) throw new ContractError('QB_CONTRACT_NOT_A_PARTY', `${domain} is not a party of contract ${contract.body.agreementId}`, { domain });
  const key = toPrivateKey(privateKey);
  if (rawPublicKey(key) !== party.publicKey) {
    throw new ContractError('QB_CONTRACT_WRONG_KEY', `the key given for ${domain} is not the one the contract lists for it`, { domain });
  }
  const manifest = manifestOf(contract.body);
  return { manifest, bytes: signingBytes(domain, manifest), key };
}

function withSignature(contract: SignedContract, sig: ContractSignature): SignedContract {
  return { body: contract.body, signatures: [...contract.signatures.filter((s) => s.domain !== sig.domain), sig] };
}

/** What a verified contract says, for people. */
export interface ContractSummary {
  agreementId: string;
  signedBy: string[];
  /** Keys were taken from the contract itself (no trust anchors given). */
  selfAsserted: boolean;
  lines: string[];
}

/**
 * Verify every party's signature and that nothing changed since. `trusted`
 * maps domain -> public key (PEM or raw base64); a party whose listed key
 * differs is refused. `signedHere` is a party whose signature the caller made
 * itself a moment ago with its own key (the coordinator's own part): its
 * manifest is still compared with the body, but the Ed25519 check, the most
 * expensive step, is skipped. Throws ContractError: QB_CONTRACT_TAMPERED names
 * the field, QB_CONTRACT_UNSIGNED / _BAD_SIGNATURE / _UNTRUSTED_KEY the party.
 *
 * Signing and checking run on the calling thread. node:crypto's callback form
 * (libuv's thread pool) cost more CPU than the signature itself on this class
 * of 2-vCPU machine (figures in bench/README.md): the hand-off between threads
 * costs more than Ed25519, and the wait is no shorter.
 */
export function verifyContract(input: unknown, trusted?: Record<string, string>, signedHere?: string): ContractSummary {
  if (!input || typeof input !== 'object') throw new ContractError('QB_CONTRACT_MALFORMED', 'a contract is a JSON object with body and signatures');
  const c = input as SignedContract;
  checkContractBody(c.body);
  if (!Array.isArray(c.signatures)) throw new ContractError('QB_CONTRACT_MALFORMED', 'contract field /signatures must be an array', { field: '/signatures' });
  const current = manifestOf(c.body);
  const currentJson = manifestJsonOf(current);
  // the parties in order: the first fault found is the one reported
  c.body.parties.forEach((party, i) => {
    const anchor = trusted?.[party.domain];
    if (trusted && anchor === undefined) {
      throw new ContractError('QB_CONTRACT_UNTRUSTED_KEY', `the trust file has no key for party ${party.domain}: add it, or verify without --trust to accept the keys the contract lists`, {
        domain: party.domain,
        field: `/body/parties/${i}/publicKey`,
      });
    }
    if (anchor !== undefined && rawPublicKey(anchor) !== party.publicKey) {
      throw new ContractError('QB_CONTRACT_UNTRUSTED_KEY', `the contract lists a key for ${party.domain} that is not its trusted key`, {
        domain: party.domain,
        field: `/body/parties/${i}/publicKey`,
      });
    }
    const sig = c.signatures.find((s) => s?.domain === party.domain);
    if (!sig) throw new ContractError('QB_CONTRACT_UNSIGNED', `${party.domain} has not signed contract ${c.body.agreementId}`, { domain: party.domain });
    const wellFormed = !!sig.manifest && typeof sig.manifest === 'object' && !Array.isArray(sig.manifest) && typeof sig.signature === 'string';
    // the manifest signed is the body's as it is now (nothing was tampered with): its encoding serves every party
    const same = wellFormed && sameManifest(sig.manifest, current);
    if (!wellFormed || !(party.domain === signedHere || signatureVerifies(party, sig, same ? currentJson : undefined))) {
      throw new ContractError('QB_CONTRACT_BAD_SIGNATURE', `the signature of ${party.domain} does not verify with its key`, { domain: party.domain });
    }
    if (same) return;
    const fields = new Set([...Object.keys(current), ...Object.keys(sig.manifest)]);
    for (const f of [...fields].sort()) {
      if (current[f] !== sig.manifest[f]) {
        const what = current[f] === undefined ? 'was removed' : sig.manifest[f] === undefined ? 'was added' : 'changed';
        throw new ContractError('QB_CONTRACT_TAMPERED', `field /body${f} ${what} after ${party.domain} signed contract ${c.body.agreementId}`, {
          field: `/body${f}`,
          domain: party.domain,
        });
      }
    }
  });
  return summary(c, !trusted);
}

/** Ed25519 check of one party's signature over the manifest it signed (`canonicalManifest` when that is the body's own, already encoded). */
function signatureVerifies(party: { domain: string; publicKey: string }, sig: ContractSignature, canonicalManifest: string | undefined): boolean {
  try {
    const bytes = canonicalManifest !== undefined ? signingBytes(party.domain, sig.manifest, canonicalManifest) : signingBytes(party.domain, sig.manifest);
    return verify(null, bytes, partyKey(party.publicKey), Buffer.from(sig.signature, 'base64'));
  } catch {
    return false;
  }
}

/** What a verified contract says, in lines for people. */
function summary(c: SignedContract, selfAsserted: boolean): ContractSummary {
  const b = c.body;
  const money = (m: number) => `${(m / 100).toFixed(2)} ${b.currency}`;
  const lines = [
    `contract ${b.agreementId}: ${b.service.qosClass} ${b.service.rateMbps} Mbit/s from ${b.service.from} to ${b.service.to}, ${b.window.start} to ${b.window.end}`,
    `ordered by ${b.originator.customer} through ${b.originator.domain}; total ${money(b.totalPriceMinor)}`,
    ...b.segments.map(
      (s) => `  ${s.domain}: ${s.ingress} -> ${s.egress}, latency ${s.latencyMs} ms, jitter ${s.jitterMs} ms, loss ${s.lossPct}%, price ${money(s.priceMinor)}, signed`,
    ),
  ];
  return { agreementId: b.agreementId, signedBy: b.parties.map((p) => p.domain), selfAsserted, lines };
}
