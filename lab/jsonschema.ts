/**
 * A small JSON Schema (draft-07) validator for the keywords containerlab's
 * topology schema uses: type, enum, const, pattern, minLength, minimum,
 * maximum, minItems, maxItems, uniqueItems, items, prefixItems,
 * additionalItems, properties, patternProperties, additionalProperties,
 * required, minProperties, allOf, anyOf, oneOf, not, if/then/else and local
 * `$ref` (`#/definitions/...`). A keyword it does not know is an error, so a
 * newer schema cannot pass silently.
 */
import { SchemaError } from './errors.js';

/** One violation: where in the document and what is wrong. */
export interface SchemaViolation {
  /** JSON pointer of the offending value, e.g. `/topology/nodes/r1/kind`. */
  path: string;
  message: string;
}

type Schema = boolean | { [k: string]: unknown };

/** Keywords that carry no constraint. */
const ANNOTATIONS = new Set(['$id', '$schema', 'title', 'description', 'markdownDescription', 'default', 'definitions', 'examples', '$comment']);
const KNOWN = new Set([
  ...ANNOTATIONS,
  'type', 'enum', 'const', 'pattern', 'minLength', 'maxLength', 'minimum', 'maximum', 'minItems', 'maxItems', 'uniqueItems',
  'items', 'prefixItems', 'additionalItems', 'properties', 'patternProperties', 'additionalProperties', 'required',
  'minProperties', 'maxProperties', 'allOf', 'anyOf', 'oneOf', 'not', 'if', 'then', 'else', '$ref',
]);

function typeOf(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  return typeof v;
}

function hasType(v: unknown, t: string): boolean {
  const actual = typeOf(v);
  return actual === t || (t === 'number' && actual === 'integer');
}

function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  return ka.length === kb.length && ka.every((k) => deepEqual((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
}

const esc = (k: string) => k.replace(/~/g, '~0').replace(/\//g, '~1');

export class JsonSchemaValidator {
  private readonly root: Schema;
  private readonly regexps = new Map<string, RegExp>();

  constructor(schema: unknown) {
    if (typeof schema !== 'object' && typeof schema !== 'boolean') {
      throw new SchemaError('QB_SCHEMA_INVALID', 'a JSON schema must be an object or a boolean');
    }
    this.root = schema as Schema;
  }

  /** All violations of `value`; empty when it is valid. */
  validate(value: unknown): SchemaViolation[] {
    const out: SchemaViolation[] = [];
    this.check(this.root, value, '', out);
    return out;
  }

  private regexp(p: string): RegExp {
    let re = this.regexps.get(p);
    if (!re) {
      try {
        re = new RegExp(p, 'u');
      } catch {
        re = new RegExp(p); // patterns written for ECMA-262 without the unicode flag
      }
      this.regexps.set(p, re);
    }
    return re;
  }

  private resolve(ref: string): Schema {
    if (!ref.startsWith('#')) throw new SchemaError('QB_SCHEMA_INVALID', `only local $ref are supported, got ${ref}`);
    let node: unknown = this.root;
    for (const part of ref.slice(1).split('/').filter(Boolean)) {
      const key = decodeURIComponent(part).replace(/~1/g, '/').replace(/~0/g, '~');
      node = (node as Record<string, unknown> | undefined)?.[key];
    }
    if (node === undefined) throw new SchemaError('QB_SCHEMA_INVALID', `$ref ${ref} points nowhere in the schema`);
    return node as Schema;
  }

  private valid(schema: Schema, value: unknown, path: string): boolean {
    const tmp: SchemaViolation[] = [];
    this.check(schema, value, path, tmp);
    return tmp.length === 0;
  }

  private check(schema: Schema, v: unknown, path: string, out: SchemaViolation[]): void {
    if (schema === true) return;
    if (schema === false) {
      out.push({ path, message: 'no value is allowed here' });
      return;
    }
    const s = schema;
    const at = path || '/';
    for (const k of Object.keys(s)) {
      if (!KNOWN.has(k)) throw new SchemaError('QB_SCHEMA_UNSUPPORTED', `schema keyword "${k}" at ${at} is not supported by this validator`);
    }
    if (typeof s.$ref === 'string') this.check(this.resolve(s.$ref), v, path, out);
    if (s.type !== undefined) {
      const types = Array.isArray(s.type) ? (s.type as string[]) : [s.type as string];
      if (!types.some((t) => hasType(v, t))) {
        out.push({ path: at, message: `must be of type ${types.join(' or ')}, got ${typeOf(v)}` });
        return;
      }
    }
    if (Array.isArray(s.enum) && !s.enum.some((e) => deepEqual(e, v))) {
      out.push({ path: at, message: `must be one of ${(s.enum as unknown[]).map((e) => JSON.stringify(e)).join(', ')}` });
    }
    if ('const' in s && !deepEqual(s.const, v)) out.push({ path: at, message: `must be ${JSON.stringify(s.const)}` });
    if (typeof v === 'string') {
      if (typeof s.pattern === 'string' && !this.regexp(s.pattern).test(v)) out.push({ path: at, message: `"${v}" does not match ${s.pattern}` });
      const len = [...v].length;
      if (typeof s.minLength === 'number' && len < s.minLength) out.push({ path: at, message: `must be at least ${s.minLength} characters long` });
      if (typeof s.maxLength === 'number' && len > s.maxLength) out.push({ path: at, message: `must be at most ${s.maxLength} characters long` });
    }
    if (typeof v === 'number') {
      if (typeof s.minimum === 'number' && v < s.minimum) out.push({ path: at, message: `must be >= ${s.minimum}` });
      if (typeof s.maximum === 'number' && v > s.maximum) out.push({ path: at, message: `must be <= ${s.maximum}` });
    }
    if (Array.isArray(v)) this.checkArray(s, v, path, out);
    if (typeOf(v) === 'object') this.checkObject(s, v as Record<string, unknown>, path, out);
    if (Array.isArray(s.allOf)) for (const sub of s.allOf as Schema[]) this.check(sub, v, path, out);
    if (Array.isArray(s.anyOf) && !(s.anyOf as Schema[]).some((sub) => this.valid(sub, v, path))) {
      out.push({ path: at, message: 'matches none of the allowed forms (anyOf)' });
    }
    if (Array.isArray(s.oneOf)) {
      const n = (s.oneOf as Schema[]).filter((sub) => this.valid(sub, v, path)).length;
      if (n !== 1) out.push({ path: at, message: n === 0 ? 'matches none of the allowed forms (oneOf)' : `matches ${n} forms, exactly one allowed (oneOf)` });
    }
    if (s.not !== undefined && this.valid(s.not as Schema, v, path)) out.push({ path: at, message: 'matches a form that is not allowed (not)' });
    if (s.if !== undefined) {
      if (this.valid(s.if as Schema, v, path)) {
        if (s.then !== undefined) this.check(s.then as Schema, v, path, out);
      } else if (s.else !== undefined) this.check(s.else as Schema, v, path, out);
    }
  }

  private checkArray(s: { [k: string]: unknown }, v: unknown[], path: string, out: SchemaViolation[]): void {
    const at = path || '/';
    if (typeof s.minItems === 'number' && v.length < s.minItems) out.push({ path: at, message: `must have at least ${s.minItems} items` });
    if (typeof s.maxItems === 'number' && v.length > s.maxItems) out.push({ path: at, message: `must have at most ${s.maxItems} items` });
    if (s.uniqueItems === true) {
      for (let i = 0; i < v.length; i++) {
        for (let j = i + 1; j < v.length; j++) {
          if (deepEqual(v[i], v[j])) out.push({ path: at, message: `items ${i} and ${j} are equal; items must be unique` });
        }
      }
    }
    // draft 2020-12 prefixItems, as containerlab's schema uses it alongside draft-07 keywords
    const prefix = Array.isArray(s.prefixItems) ? (s.prefixItems as Schema[]) : Array.isArray(s.items) ? (s.items as Schema[]) : [];
    prefix.forEach((sub, i) => {
      if (i < v.length) this.check(sub, v[i], `${path}/${i}`, out);
    });
    const rest = Array.isArray(s.items) ? s.additionalItems : s.items;
    if (rest !== undefined) {
      for (let i = prefix.length; i < v.length; i++) this.check(rest as Schema, v[i], `${path}/${i}`, out);
    }
  }

  private checkObject(s: { [k: string]: unknown }, v: Record<string, unknown>, path: string, out: SchemaViolation[]): void {
    const at = path || '/';
    const keys = Object.keys(v);
    if (typeof s.minProperties === 'number' && keys.length < s.minProperties) out.push({ path: at, message: `must have at least ${s.minProperties} properties` });
    if (typeof s.maxProperties === 'number' && keys.length > s.maxProperties) out.push({ path: at, message: `must have at most ${s.maxProperties} properties` });
    if (Array.isArray(s.required)) {
      for (const r of s.required as string[]) if (!(r in v)) out.push({ path: at, message: `is missing the required property "${r}"` });
    }
    const props = (s.properties ?? {}) as Record<string, Schema>;
    const patterns = Object.entries((s.patternProperties ?? {}) as Record<string, Schema>);
    for (const k of keys) {
      const p = `${path}/${esc(k)}`;
      let matched = false;
      if (Object.hasOwn(props, k)) {
        matched = true;
        this.check(props[k]!, v[k], p, out);
      }
      for (const [re, sub] of patterns) {
        if (this.regexp(re).test(k)) {
          matched = true;
          this.check(sub, v[k], p, out);
        }
      }
      if (!matched && s.additionalProperties !== undefined) {
        if (s.additionalProperties === false) out.push({ path: p, message: `property "${k}" is not allowed here` });
        else this.check(s.additionalProperties as Schema, v[k], p, out);
      }
    }
  }
}
