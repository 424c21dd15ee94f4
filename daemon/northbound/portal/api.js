// The portal's client of the northbound REST API: the same API and the same
// authentication as any client (Authorization: Bearer <API key>). The key is
// kept in sessionStorage of this tab only, never in a cookie.

export const ORD = '/tmf-api/serviceOrdering/v4';
export const INV = '/tmf-api/serviceInventory/v4';
export const QUOTE = '/tmf-api/quoteManagement/v4';
export const AGREEMENT = '/tmf-api/agreementManagement/v4';
export const ALARM = '/tmf-api/alarmManagement/v4';
export const TOPOLOGY = '/qos-broker/v1/topology';

const STORE = 'qb-portal-key';

/** An answer of the API that is not 2xx, with the TMF error body's code and message. */
export class ApiError extends Error {
  constructor(status, body) {
    super(body && body.message ? `${body.code}: ${body.message}` : `HTTP ${status}`);
    this.status = status;
    this.code = body && body.code;
  }
}

export const savedKey = () => sessionStorage.getItem(STORE) || '';
export const saveKey = (k) => (k ? sessionStorage.setItem(STORE, k) : sessionStorage.removeItem(STORE));

/** A client bound to one API key. */
export function client(key) {
  async function call(method, path, body, headers = {}) {
    const r = await fetch(path, {
      method,
      headers: { authorization: `Bearer ${key}`, accept: 'application/json', ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await r.text();
    let parsed;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      parsed = undefined;
    }
    if (!r.ok) throw new ApiError(r.status, parsed);
    return { body: parsed, text, headers: r.headers };
  }
  return {
    get: async (path) => (await call('GET', path)).body,
    post: async (path, body, headers) => (await call('POST', path, body, headers)).body,
    /** The raw text of an answer (a document to download). */
    text: async (path) => (await call('GET', path)).text,
  };
}

/** The value of a named characteristic. */
export const char = (list, name) => (list || []).find((c) => c.name === name)?.value;

/** ISO 8601 duration (PT2H, PT90S, P1DT30M) -> ms, or undefined. */
export function durationMs(s) {
  const m = /^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$/.exec(s || '');
  if (!m || s === 'P' || s.endsWith('T')) return undefined;
  const [, d, h, min, sec] = m;
  return ((Number(d || 0) * 24 + Number(h || 0)) * 60 + Number(min || 0)) * 60000 + Number(sec || 0) * 1000;
}

/** An amount of money: two decimals (a positive amount below a cent says so). */
export const money = (m) => (m.value > 0 && m.value < 0.005 ? `< 0.01 ${m.unit}` : `${m.value.toFixed(2)} ${m.unit}`);

export const fmtTime = (iso) => (iso ? new Date(iso).toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z') : '');
