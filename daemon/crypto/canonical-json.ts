/**
 * Canonical JSON (RFC 8785, JCS): object keys sorted by UTF-16 code units
 * (as Array.prototype.sort does), no whitespace, numbers as ECMAScript's
 * Number.prototype.toString writes them (what RFC 8785 section 3.2.2.3
 * specifies, and what JSON.stringify does: -0 as 0, 1e+21, 1e-7), strings as
 * JSON.stringify escapes them (section 3.2.2.2); undefined, NaN, Infinity,
 * functions, BigInt, non-plain objects and strings with a lone surrogate
 * (not I-JSON, RFC 7493) are refused rather than silently dropped. Advertisements (daemon/peering) and contracts (daemon/agreement)
 * sign these bytes.
 */
import { InvalidArgumentError } from '../../drivers/errors.js';

const MAX_DEPTH = 64;

/** Whether a string is well-formed UTF-16 (no lone surrogate): I-JSON, which RFC 8785 requires. */
const wellFormed = (String.prototype as { isWellFormed?: () => boolean }).isWellFormed
  ? (s: string) => (s as unknown as { isWellFormed(): boolean }).isWellFormed()
  : (s: string) => !/\p{Surrogate}/u.test(s);

/** Whether a value is a plain JSON object (not an array, null, or an instance of a class). */
export function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return false;
  const proto = Object.getPrototypeOf(v) as unknown;
  return proto === Object.prototype || proto === null;
}

/** Deterministic JSON: sorted keys, no whitespace. Throws InvalidArgumentError for a value JSON cannot carry exactly. */
export function canonicalJson(value: unknown): string {
  // the path of the value being encoded, spelled out only for an error (building it eagerly was most of the cost)
  const at: Array<string | number> = [];
  const where = () => '$' + at.map((k) => (typeof k === 'number' ? `[${k}]` : `.${k}`)).join('');
  const enc = (v: unknown, depth: number): string => {
    if (depth > MAX_DEPTH) throw new InvalidArgumentError(`${where()} is nested deeper than ${MAX_DEPTH} levels`);
    if (v === null) return 'null';
    switch (typeof v) {
      case 'boolean':
        return v ? 'true' : 'false';
      case 'string':
        if (!wellFormed(v)) throw new InvalidArgumentError(`${where()} has a lone UTF-16 surrogate, which canonical JSON (RFC 8785, I-JSON) cannot carry`);
        return JSON.stringify(v);
      case 'number':
        if (!Number.isFinite(v)) throw new InvalidArgumentError(`${where()} is ${v}, which JSON cannot carry`);
        return JSON.stringify(v);
      case 'object': {
        let out: string;
        if (Array.isArray(v)) {
          out = '[';
          for (let i = 0; i < v.length; i++) {
            at.push(i);
            if (!(i in v)) throw new InvalidArgumentError(`${where()} is a hole in the array`);
            out += (i ? ',' : '') + enc(v[i], depth + 1);
            at.pop();
          }
          return out + ']';
        }
        if (!isPlainObject(v)) throw new InvalidArgumentError(`${where()} is a ${v.constructor?.name ?? 'non-plain object'}, not a plain JSON object`);
        const keys = Object.keys(v).sort();
        out = '{';
        for (let i = 0; i < keys.length; i++) {
          const k = keys[i]!;
          const item = v[k];
          at.push(k);
          if (item === undefined) throw new InvalidArgumentError(`${where()} is undefined: omit the key or use null`);
          if (!wellFormed(k)) throw new InvalidArgumentError(`${where()}: the key has a lone UTF-16 surrogate, which canonical JSON (RFC 8785, I-JSON) cannot carry`);
          out += (i ? ',' : '') + JSON.stringify(k) + ':' + enc(item, depth + 1);
          at.pop();
        }
        return out + '}';
      }
      default:
        throw new InvalidArgumentError(`${where()} is a ${typeof v}, which JSON cannot carry`);
    }
  };
  return enc(value, 0);
}
