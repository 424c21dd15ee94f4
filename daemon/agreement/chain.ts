/**
 * Chained calls (OGF NSI's chain model): how a call for a domain the caller
 * has no session with travels hop by hop along the agreement's path, through
 * the neighbours (agreement.proto, "Chaining"). Shared by the agreement and
 * provisioning calls; what travels is a ChainHeader and the call as JSON.
 *
 * The origin signs header and call with its advertisement key, so a relay
 * can neither alter the call nor speak for another origin; the target checks
 * the signature with the origin's key as peering verified it (its flooded
 * advertisement). Every hop checks that the target, itself and the
 * neighbour that handed it the call are on the path, and that the call's
 * deadline has not passed: a domain n hops from the origin must have its
 * answer by `deadline - n * margin`, so each reply has time to travel back
 * and the origin's deadline holds end to end. Deadlines are absolute times
 * (ms since the epoch): brokers' clocks must agree to well within a margin.
 */
import { sign, verify, type KeyObject } from 'node:crypto';
import { InvalidArgumentError } from '../../drivers/errors.js';
import { canonicalJson } from '../crypto/canonical-json.js';
import { toPrivateKey, toPublicKey, type KeyInput } from '../crypto/keys.js';
import { AgreementError } from '../errors.js';

/** Mirrors qosbroker.v1.ChainHeader (proto-loader, keepCase). */
export interface ChainHeaderMsg {
  origin: string;
  target: string;
  path: string[];
  deadline_ms: number;
  signature: string;
}

/** Which service's call a header covers (a signature for one cannot be replayed on the other). */
export type ChainService = 'agreement' | 'provisioning';

const CONTEXT = 'qos-broker chained call v1';

function signingBytes(service: ChainService, h: Omit<ChainHeaderMsg, 'signature'>, callJson: string): Buffer {
  return Buffer.from(canonicalJson({ context: CONTEXT, service, origin: h.origin, target: h.target, path: h.path, deadline_ms: h.deadline_ms, call_json: callJson }));
}

/** The origin's side: a signed header for `callJson` to `target` along `path`, answer due by `deadlineMs`. */
export function signChainHeader(service: ChainService, h: Omit<ChainHeaderMsg, 'signature'>, callJson: string, key: KeyInput): ChainHeaderMsg {
  return { ...h, signature: sign(null, signingBytes(service, h, callJson), privateKeyOf(key)).toString('base64') };
}

const pemKeys = new Map<string, KeyObject>();
function privateKeyOf(key: KeyInput): KeyObject {
  if (typeof key !== 'string') return key;
  // a PEM string: parsed once per distinct string
  let k = pemKeys.get(key);
  if (!k) {
    k = toPrivateKey(key);
    pemKeys.set(key, k);
  }
  return k;
}
const publicKeys = new Map<string, KeyObject>();
function publicKeyOf(raw: string): KeyObject {
  let k = publicKeys.get(raw);
  if (!k) {
    k = toPublicKey(raw);
    if (publicKeys.size >= 1024) publicKeys.clear();
    publicKeys.set(raw, k);
  }
  return k;
}

/** The target's side: the origin's signature must verify with its advertised key (raw base64), or QB_AGREEMENT_RELAY_SIGNATURE. */
export function verifyChainHeader(service: ChainService, h: ChainHeaderMsg, callJson: string, originKey: string | undefined, self: string): void {
  if (!originKey) throw new AgreementError('QB_AGREEMENT_RELAY_SIGNATURE', `${self} has no advertisement of ${h.origin}, so it cannot check the origin's signature of a relayed call`);
  let ok = false;
  try {
    ok = verify(null, signingBytes(service, h, callJson), publicKeyOf(originKey), Buffer.from(h.signature, 'base64'));
  } catch {
    ok = false;
  }
  if (!ok) throw new AgreementError('QB_AGREEMENT_RELAY_SIGNATURE', `the relayed call from ${h.origin} to ${h.target} does not verify with ${h.origin}'s advertised key: altered on the way, or not signed by ${h.origin}`);
}

/**
 * Every hop's check of a header arriving from `caller` at `self`: well
 * formed, origin, target, self and caller on the path, deadline not passed.
 * Returns when this hop must have its answer (the deadline less a margin
 * per hop from the origin).
 */
export function checkChainHop(h: ChainHeaderMsg | undefined, self: string, caller: string, now: number, marginMs: number): { dueAt: number } {
  if (!h || !h.origin || !h.target) throw new InvalidArgumentError('RelayRequest.header needs origin and target');
  if (!Array.isArray(h.path) || h.path.length < 2) throw new InvalidArgumentError('ChainHeader.path must list the domains of the path (at least two)');
  if (!Number.isSafeInteger(h.deadline_ms) || h.deadline_ms <= 0) throw new InvalidArgumentError(`ChainHeader.deadline_ms must be a time in ms since the epoch, got ${h.deadline_ms}`);
  const at = (d: string) => h.path.indexOf(d);
  for (const [what, d] of [
    ['target', h.target],
    ['origin', h.origin],
    ['relay', self],
    ['forwarding neighbour', caller],
  ] as const) {
    if (at(d) < 0) throw new AgreementError('QB_AGREEMENT_NOT_ON_PATH', `${self} refuses a call from ${h.origin} to ${h.target} relayed by ${caller}: the ${what} ${d} is not on its path ${h.path.join(' > ')}`);
  }
  if (caller !== h.origin && between(h.path, h.origin, self, caller) === false) {
    throw new AgreementError('QB_AGREEMENT_NOT_ON_PATH', `${self} refuses a call from ${h.origin} to ${h.target}: ${caller}, which forwarded it, is not between ${h.origin} and ${self} on the path ${h.path.join(' > ')}`);
  }
  const hops = Math.abs(at(self) - at(h.origin));
  const dueAt = h.deadline_ms - hops * marginMs;
  if (dueAt <= now) throw new AgreementError('QB_AGREEMENT_DEADLINE_PASSED', `the call from ${h.origin} to ${h.target} reached ${self} ${now - dueAt} ms after its deadline for this hop (${hops} hops from ${h.origin}, ${marginMs} ms margin each): nothing was done`);
  return { dueAt };
}

/** Whether `d` lies between `from` and `to` on the path (inclusive of from). */
function between(path: string[], from: string, to: string, d: string): boolean {
  const [i, j, k] = [path.indexOf(from), path.indexOf(to), path.indexOf(d)];
  return i <= j ? k >= i && k < j : k <= i && k > j;
}

/**
 * The neighbour to hand a call for `target` to: the domain nearest the
 * target on the path, between `self` and it, that `reachable` says we can
 * call (the target itself when we have a session with it).
 */
export function nextHopToward(path: string[], self: string, target: string, reachable: (domain: string) => boolean): string | undefined {
  const i = path.indexOf(self);
  const j = path.indexOf(target);
  if (i < 0 || j < 0 || i === j) return undefined;
  const step = j > i ? 1 : -1;
  for (let k = j; k !== i; k -= step) if (reachable(path[k]!)) return path[k];
  return undefined;
}

/** Domains of a path in order, each once (a path may re-enter a domain). */
export function pathDomains(domains: string[]): string[] {
  return domains.filter((d, i) => domains.indexOf(d) === i);
}
