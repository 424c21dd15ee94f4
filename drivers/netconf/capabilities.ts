/**
 * Capabilities from a `<hello>`: the URIs, their parameters (module,
 * revision, features, deviations, ...) and short names (`:candidate`).
 */
import { unescapeXml } from './xml.js';

export const BASE_10 = 'urn:ietf:params:netconf:base:1.0';
export const BASE_11 = 'urn:ietf:params:netconf:base:1.1';
const CAP_PREFIX = 'urn:ietf:params:netconf:capability:';

/** One advertised capability. */
export interface Capability {
  /** Full URI as advertised, parameters included. */
  uri: string;
  /** URI without the `?query`. */
  base: string;
  /** Query parameters, e.g. `{ module: 'ietf-interfaces', revision: '2014-05-08' }`. */
  params: Record<string, string>;
  /** `module` parameter, for YANG module capabilities. */
  module?: string;
  revision?: string;
  features: string[];
  deviations: string[];
}

/** Percent-decoded, or as it is when the server's escaping is broken. */
function decodeOrRaw(v: string): string {
  try {
    return decodeURIComponent(v);
  } catch {
    return v;
  }
}

export function parseCapability(raw: string): Capability {
  const uri = unescapeXml(raw.trim());
  const q = uri.indexOf('?');
  const base = q < 0 ? uri : uri.slice(0, q);
  const params: Record<string, string> = {};
  if (q >= 0) {
    for (const kv of uri.slice(q + 1).split('&')) {
      if (!kv) continue;
      const eq = kv.indexOf('=');
      const k = eq < 0 ? kv : kv.slice(0, eq);
      params[decodeOrRaw(k)] = eq < 0 ? '' : decodeOrRaw(kv.slice(eq + 1));
    }
  }
  const list = (v?: string) => (v ? v.split(',').filter(Boolean) : []);
  return {
    uri,
    base,
    params,
    module: params.module,
    revision: params.revision,
    features: list(params.features),
    deviations: list(params.deviations),
  };
}

/** The capability set of one side of a session. */
export class Capabilities {
  readonly list: Capability[];
  private readonly bases: Set<string>;

  constructor(uris: string[]) {
    this.list = uris.map(parseCapability);
    this.bases = new Set(this.list.map((c) => c.base));
  }

  /**
   * Does the set hold this capability? Takes a full URI or a short name
   * such as `:candidate` or `:confirmed-commit:1.1` (`:1.0` is assumed when
   * no version is given).
   */
  has(name: string): boolean {
    return this.bases.has(expandCapability(name));
  }

  /** The capability by short name or URI, with its parameters. */
  get(name: string): Capability | undefined {
    const full = expandCapability(name);
    return this.list.find((c) => c.base === full);
  }

  /** YANG modules advertised, by module name. */
  modules(): Map<string, Capability> {
    const m = new Map<string, Capability>();
    for (const c of this.list) if (c.module) m.set(c.module, c);
    return m;
  }
}

/** `:candidate` → `urn:ietf:params:netconf:capability:candidate:1.0`. */
export function expandCapability(name: string): string {
  if (!name.startsWith(':')) return name;
  const short = name.slice(1);
  if (short === 'base:1.0') return BASE_10;
  if (short === 'base:1.1') return BASE_11;
  return CAP_PREFIX + (/:\d+\.\d+$/.test(short) ? short : `${short}:1.0`);
}
