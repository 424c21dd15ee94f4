/**
 * Canonical JSON (RFC 8785 for the values qos-broker signs): object keys
 * sorted by UTF-16 code units (as Array.prototype.sort does), no whitespace,
 * numbers and strings as JSON.stringify writes them; undefined, NaN, Infinity,
 * functions, BigInt and non-plain objects are refused rather than silently
 * dropped. Advertisements (daemon/peering) and contracts (daemon/agreement)
 * sign these bytes.
 */
import { InvalidArgumentError } from '../../drivers/errors.js';

const MAX_DEPTH = 64;

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
