/**
 * The northbound REST API end to end: three real qos-brokerd processes with
 * lab routers (ThreeDomainLab), dom-a serving the API on loopback; keys made
 * with the CLI through the Management service; orders over HTTP become
 * services on the routers. Both roles, cross-tenant refusals (404 and the
 * metric), bad inputs, Idempotency-Key, the rate limit, hub delivery to a
 * live node:http listener, and the OpenAPI document against the checked-in one.
 */
import { execFile } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { SignJWT, exportJWK, generateKeyPair } from 'jose';
import { CLI, freePort, waitFor } from '../brokerd/harness.js';
import { ThreeDomainLab } from '../brokerd/three-domain-lab.js';

const run = promisify(execFile);
const ORD = '/tmf-api/serviceOrdering/v4';
const INV = '/tmf-api/serviceInventory/v4';
const SQ = '/tmf-api/serviceQualificationManagement/v4';
const QUO = '/tmf-api/quoteManagement/v4';
const AGR = '/tmf-api/agreementManagement/v4';
const ALM = '/tmf-api/alarmManagement/v4';
// the identity provider: its JWKS served on loopback (one EdDSA key), tokens signed in the test
const idp = { url: '', server: undefined as Server | undefined, key: undefined as CryptoKey | undefined, other: undefined as CryptoKey | undefined, fetches: 0 };
async function startIdp(): Promise<string> {
  const { publicKey, privateKey } = await generateKeyPair('EdDSA', { extractable: true });
  idp.key = privateKey;
  idp.other = (await generateKeyPair('EdDSA')).privateKey;
  const jwks = JSON.stringify({ keys: [{ ...(await exportJWK(publicKey)), kid: 'idp-1', alg: 'EdDSA', use: 'sig' }] });
  idp.server = createServer((req, res) => {
    idp.fetches++;
    res.writeHead(req.url === '/jwks.json' ? 200 : 404, { 'content-type': 'application/json' }).end(req.url === '/jwks.json' ? jwks : '{}');
  });
  await new Promise<void>((r) => idp.server!.listen(0, '127.0.0.1', r));
  idp.url = `http://127.0.0.1:${(idp.server.address() as AddressInfo).port}/jwks.json`;
  return idp.url;
}
const ISSUER = 'https://idp.test/';
async function token(claims: Record<string, unknown>, opts: { key?: CryptoKey; kid?: string; exp?: string | number; issuer?: string; audience?: string } = {}): Promise<string> {
  return new SignJWT(claims)
    .setProtectedHeader({ alg: 'EdDSA', kid: opts.kid ?? 'idp-1' })
    .setIssuer(opts.issuer ?? ISSUER)
    .setAudience(opts.audience ?? 'qos-broker')
    .setSubject(String(claims.sub ?? 'user-1'))
    .setIssuedAt()
    .setExpirationTime(opts.exp ?? '5m')
    .sign(opts.key ?? idp.key!);
}

const lab = new ThreeDomainLab({
  config: async (d, host) =>
    d === 'dom-a'
      ? {
          northbound: {
            listen: `${host}:${await freePort(host)}`,
            'body-limit-bytes': 16_384,
            'rate-limit': { 'per-s': 50, burst: 200 },
            jwt: { 'jwks-url': await startIdp(), issuer: ISSUER, audience: 'qos-broker', 'role-claim': 'qb_role', 'customer-claim': 'org', roles: { 'qos-customer': 'customer', 'qos-operator': 'operator' } },
          },
        }
      : {},
});

let base = '';
const keys: Record<'acme' | 'globex' | 'operator' | 'limited', string> = { acme: '', globex: '', operator: '', limited: '' };

interface Res {
  status: number;
  headers: Headers;
  body: Record<string, unknown> & Array<Record<string, unknown>>;
}

async function call(method: string, path: string, key: string | undefined, body?: unknown, headers: Record<string, string> = {}): Promise<Res> {
  const r = await fetch(`${base}${path}`, {
    method,
    headers: { ...(key ? { authorization: `Bearer ${key}` } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await r.text();
  return { status: r.status, headers: r.headers, body: text ? JSON.parse(text) : {} };
}

const chars = (over: Record<string, unknown> = {}) =>
  Object.entries({ from: 'dom-a/dom-a-site', to: 'dom-c/dom-c-site', qosClass: 'EF', rateMbps: 10, maxLatencyMs: 30, duration: 'PT1H', ...over })
    .filter(([, v]) => v !== undefined)
    .map(([name, value]) => ({ name, value }));
const addOrder = (over: Record<string, unknown> = {}, extra: Record<string, unknown> = {}) => ({ serviceOrderItem: [{ id: '1', action: 'add', service: { serviceCharacteristic: chars(over) } }], ...extra });
const char = (list: Array<{ name: string; value: unknown }>, n: string) => list.find((c) => c.name === n)?.value;

async function cliKey(args: string[]): Promise<{ key: { id: string }; secret: string }> {
  const r = await run(process.execPath, [CLI, 'apikey', ...args, '--management', lab.mgmt.address, '--json']);
  return JSON.parse(r.stdout) as { key: { id: string }; secret: string };
}

async function crossTenantCount(resource: string): Promise<number> {
  const text = await lab.daemons.get('dom-a')!.metricsText();
  const m = new RegExp(`^qos_broker_northbound_cross_tenant_total\\{resource="${resource}"\\} (\\d+)`, 'm').exec(text);
  return m ? Number(m[1]) : 0;
}

async function settledOrder(id: string, key: string): Promise<Record<string, unknown>> {
  let last: Res | undefined;
  await waitFor(`order ${id} to complete`, async () => {
    last = await call('GET', `${ORD}/serviceOrder/${id}`, key);
    return ['completed', 'failed'].includes(last.body.state as string);
  }, 30_000);
  return last!.body;
}

beforeAll(async () => {
  await lab.start();
  const started = lab.daemons.get('dom-a')!.logs.find((l) => l.msg === 'qos-brokerd started')!;
  base = started.northbound as string;
  keys.acme = (await cliKey(['create', '--role', 'customer', '--customer', 'acme'])).secret;
  keys.globex = (await cliKey(['create', '--role', 'customer', '--customer', 'globex'])).secret;
  keys.operator = (await cliKey(['create', '--role', 'operator'])).secret;
  keys.limited = (await lab.mgmt.createApiKey('customer', 'initech')).secret;
}, 180_000);
afterAll(async () => {
  await lab.stop();
  idp.server?.close();
});

describe.sequential('northbound', () => {
  let order: Record<string, unknown> = {};
  let serviceId = '';

  test('northbound - the served OpenAPI document is the checked-in daemon/northbound/openapi.json (regenerate: npm run openapi)', async () => {
    const served = await (await fetch(`${base}/openapi.json`)).json();
    const checkedIn = JSON.parse(readFileSync(resolve(__dirname, '../../../daemon/northbound/openapi.json'), 'utf8')) as Record<string, unknown>;
    expect(served).toEqual(checkedIn);
    expect(Object.keys(checkedIn.paths as object).sort()).toEqual([
      '/qos-broker/v1/topology',
      `${AGR}/agreement`, `${AGR}/agreement/{id}`, `${AGR}/agreement/{id}/document`,
      `${ALM}/alarm`, `${ALM}/alarm/{id}`,
      `${QUO}/quote`, `${QUO}/quote/{id}`,
      `${INV}/service`, `${INV}/service/{id}`,
      `${ORD}/cancelServiceOrder`, `${ORD}/cancelServiceOrder/{id}`, `${ORD}/hub`, `${ORD}/hub/{id}`, `${ORD}/serviceOrder`, `${ORD}/serviceOrder/{id}`,
      `${SQ}/checkServiceQualification`, `${SQ}/checkServiceQualification/{id}`,
    ]);
  });

  test('northbound - no key, a malformed key, an unknown key and a revoked key are 401 with the TMF error body', async () => {
    for (const k of [undefined, 'nonsense', `qbk_0123456789abcdef_${'A'.repeat(43)}`]) {
      const r = await call('GET', `${ORD}/serviceOrder`, k);
      expect(r.status).toBe(401);
      expect(r.body).toMatchObject({ code: 'QB_NORTHBOUND_UNAUTHENTICATED', reason: 'Unauthorized', status: '401', message: expect.stringContaining('Authorization: Bearer') });
      expect(r.headers.get('www-authenticate')).toBe('Bearer');
    }
    const k = await cliKey(['create', '--role', 'customer', '--customer', 'acme', '--description', 'to revoke']);
    expect(k.secret).toMatch(/^qbk_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/);
    expect((await call('GET', `${ORD}/serviceOrder`, k.secret)).status).toBe(200);
    const revoked = await run(process.execPath, [CLI, 'apikey', 'revoke', k.key.id, '--management', lab.mgmt.address]);
    expect(revoked.stdout).toContain(`api key ${k.key.id} revoked at`);
    expect((await call('GET', `${ORD}/serviceOrder`, k.secret)).status).toBe(401);
    // listed with role, customer and state, never the secret or its hash
    const listed = await run(process.execPath, [CLI, 'apikey', 'list', '--management', lab.mgmt.address, '--json']);
    const list = JSON.parse(listed.stdout) as Array<Record<string, string>>;
    expect(list.find((x) => x.id === k.key.id)).toMatchObject({ role: 'customer', customer: 'acme', revoked_at: expect.any(String) });
    expect(listed.stdout).not.toContain(k.secret.slice(22));
    expect(listed.stdout).not.toContain('sha256');
    await expect(lab.mgmt.createApiKey('customer', '')).rejects.toMatchObject({ code: 'QB_INVALID_ARGUMENT', message: expect.stringContaining('customer') });
    await expect(lab.mgmt.createApiKey('admin', '')).rejects.toMatchObject({ code: 'QB_INVALID_ARGUMENT', message: expect.stringContaining('role') });
  });

  test('northbound - a customer orders with POST /serviceOrder: acknowledged, then completed with its per-step plan; the service is active', async () => {
    const r = await call('POST', `${ORD}/serviceOrder`, keys.acme, addOrder({}, { externalId: 'acme-1' }));
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    expect(r.body).toMatchObject({ state: 'acknowledged', '@type': 'ServiceOrder', relatedParty: [{ id: 'acme', role: 'customer' }], serviceOrderItem: [{ id: '1', action: 'add', service: { state: 'feasibilityChecked' } }] });
    const id = r.body.id as string;
    expect(r.headers.get('location')).toBe(`${ORD}/serviceOrder/${id}`);
    expect(r.body.href).toBe(`${ORD}/serviceOrder/${id}`);
    order = await settledOrder(id, keys.acme);
    expect(order.state, JSON.stringify(order.errorMessage)).toBe('completed');
    expect(Date.parse(order.completionDate as string)).toBeGreaterThanOrEqual(Date.parse(order.orderDate as string));
    expect((order['@qbPlan'] as Array<Record<string, string>>).map((s) => [s.step, s.domain, s.where, s.state])).toEqual([
      ['agree', 'dom-a', 'internal', 'completed'],
      ['provision', 'dom-a', 'internal', 'completed'],
      ['provision', 'dom-b', 'external', 'completed'],
      ['provision', 'dom-c', 'external', 'completed'],
    ]);
    const item = (order.serviceOrderItem as Array<{ service: { id: string; state: string; serviceCharacteristic: Array<{ name: string; value: unknown }> } }>)[0]!;
    expect(item.service.state).toBe('active');
    expect(char(item.service.serviceCharacteristic, 'rateMbps')).toBe(10);
    expect(char(item.service.serviceCharacteristic, 'duration')).toBe('PT3600S');
    serviceId = item.service.id;
    // the routers carry it
    expect((await lab.allRates()).filter((x) => x === 10_000)).toHaveLength(5);
  });

  test('northbound - GET /serviceOrder lists a customer\'s own orders only, the operator\'s all; state filter, fields, offset and limit', async () => {
    const g = await call('POST', `${ORD}/serviceOrder`, keys.globex, addOrder({ rateMbps: 1 }));
    expect(g.status).toBe(201);
    await settledOrder(g.body.id as string, keys.globex);
    const acme = await call('GET', `${ORD}/serviceOrder`, keys.acme);
    expect(acme.status).toBe(200);
    expect(acme.body.map((o) => o.id)).toEqual([order.id]);
    expect(acme.headers.get('x-total-count')).toBe('1');
    const globex = await call('GET', `${ORD}/serviceOrder`, keys.globex);
    expect(globex.body.map((o) => o.id)).toEqual([g.body.id]);
    const all = await call('GET', `${ORD}/serviceOrder?state=completed`, keys.operator);
    expect(all.body.map((o) => o.id)).toEqual([order.id, g.body.id]);
    expect((await call('GET', `${ORD}/serviceOrder?state=failed`, keys.operator)).body).toEqual([]);
    const page = await call('GET', `${ORD}/serviceOrder?offset=1&limit=1&fields=state,orderDate`, keys.operator);
    expect(page.body).toEqual([{ id: g.body.id, href: `${ORD}/serviceOrder/${g.body.id as string}`, '@type': 'ServiceOrder', state: 'completed', orderDate: expect.any(String) }]);
    expect(page.headers.get('x-total-count')).toBe('2');
    expect(page.headers.get('x-result-count')).toBe('1');
    const one = await call('GET', `${ORD}/serviceOrder/${order.id as string}?fields=state`, keys.operator);
    expect(one.body).toEqual({ id: order.id, href: order.href, '@type': 'ServiceOrder', state: 'completed' });
    const bad = await call('GET', `${ORD}/serviceOrder?state=done`, keys.acme);
    expect(bad.status).toBe(400);
    expect(bad.body).toMatchObject({ code: 'QB_INVALID_ARGUMENT', status: '400', message: expect.stringMatching(/^querystring\.state: must be one of acknowledged, .* \(enum\)$/) });
    expect((await call('GET', `${ORD}/serviceOrder?fields=price`, keys.acme)).body.message).toMatch(/^fields: unknown attribute "price"/);
    expect((await call('GET', `${ORD}/serviceOrder?limit=0`, keys.acme)).body.message).toBe('querystring.limit: must be >= 1 (minimum 1)');
    expect((await call('GET', `${ORD}/serviceOrder?limit=ten`, keys.acme)).body.message).toBe('querystring.limit: must be integer (type)');
    expect((await call('GET', `${ORD}/serviceOrder?sort=id`, keys.acme)).body.message).toBe('querystring.sort: unknown field (additionalProperties: false)');
  });

  test('northbound - TMF638 /service: a customer\'s services with state, class, rate now, latency bound and window; the operator sees all', async () => {
    const list = await call('GET', `${INV}/service`, keys.acme);
    expect(list.status).toBe(200);
    expect(list.body).toHaveLength(1);
    const s = list.body[0]!;
    expect(s).toMatchObject({ id: serviceId, href: `${INV}/service/${serviceId}`, state: 'active', '@type': 'Service', relatedParty: [{ id: 'acme' }], serviceOrderItem: [{ serviceOrderId: order.id, itemAction: 'add' }] });
    const cs = s.serviceCharacteristic as Array<{ name: string; value: unknown }>;
    expect([char(cs, 'qosClass'), char(cs, 'rateMbps'), char(cs, 'maxLatencyMs')]).toEqual(['EF', 10, 30]);
    expect(Date.parse(s.endDate as string) - Date.parse(s.startDate as string)).toBe(3_600_000);
    expect((await call('GET', `${INV}/service/${serviceId}`, keys.acme)).body).toEqual(s);
    expect((await call('GET', `${INV}/service?state=active&fields=state`, keys.operator)).body).toHaveLength(2);
    expect((await call('GET', `${INV}/service?state=terminated`, keys.acme)).body).toEqual([]);
    expect((await call('GET', `${INV}/service/${serviceId}`, keys.operator)).body.id).toBe(serviceId);
    expect((await call('GET', `${INV}/service/ord-1`, keys.acme)).body.message).toMatch(/^params\.id: must match pattern/);
  });

  test('northbound - another customer\'s order, service, modification and hub are 404 exactly as ones that do not exist; each attempt is counted', async () => {
    const missingOrder = `ord-${'0'.repeat(8)}-0000-4000-8000-${'0'.repeat(12)}`;
    const missingService = `svc-${missingOrder.slice(4)}`;
    const before = { serviceOrder: await crossTenantCount('serviceOrder'), service: await crossTenantCount('service'), hub: await crossTenantCount('hub') };
    const strip = (r: Res, id: string) => ({ status: r.status, body: { ...r.body, message: (r.body.message as string).replace(id, 'ID') } });
    const other = await call('GET', `${ORD}/serviceOrder/${order.id as string}`, keys.globex);
    const none = await call('GET', `${ORD}/serviceOrder/${missingOrder}`, keys.globex);
    expect(other.status).toBe(404);
    expect(strip(other, order.id as string)).toEqual(strip(none, missingOrder));
    expect(other.body).toEqual({ code: 'QB_NORTHBOUND_NOT_FOUND', reason: 'Not Found', message: `no serviceOrder ${order.id as string}`, status: '404', '@type': 'Error' });
    const otherSvc = await call('GET', `${INV}/service/${serviceId}`, keys.globex);
    expect(strip(otherSvc, serviceId)).toEqual(strip(await call('GET', `${INV}/service/${missingService}`, keys.globex), missingService));
    const boost = { serviceOrderItem: [{ id: '1', action: 'modify', service: { id: serviceId, serviceCharacteristic: [{ name: 'rateMbps', value: 20 }, { name: 'duration', value: 'PT1M' }] } }] };
    const otherMod = await call('POST', `${ORD}/serviceOrder`, keys.globex, boost);
    expect(otherMod.status).toBe(404);
    expect(otherMod.body.message).toBe(`no service ${serviceId}`);
    const h = await call('POST', `${ORD}/hub`, keys.acme, { callback: 'http://127.0.0.1:9/never' });
    expect(h.status).toBe(201);
    const otherHub = await call('DELETE', `${ORD}/hub/${h.body.id as string}`, keys.globex);
    expect(strip(otherHub, h.body.id as string)).toEqual(strip(await call('DELETE', `${ORD}/hub/hub-0000000000000000`, keys.globex), 'hub-0000000000000000'));
    expect((await call('DELETE', `${ORD}/hub/${h.body.id as string}`, keys.acme)).status).toBe(204);
    // the daemon POSTs to a callback: one off loopback (and not listed in hub-allow-hosts) is refused, nothing registered
    const outside = await call('POST', `${ORD}/hub`, keys.acme, { callback: 'http://198.51.100.7:8080/events' });
    expect(outside.status).toBe(403);
    expect(outside.body).toMatchObject({ code: 'QB_NORTHBOUND_CALLBACK_NOT_ALLOWED', message: 'callback host 198.51.100.7 is neither loopback nor in northbound.hub-allow-hosts' });
    // a customer key cannot order on another customer's behalf
    const forOther = await call('POST', `${ORD}/serviceOrder`, keys.globex, addOrder({}, { relatedParty: [{ id: 'acme', role: 'customer' }] }));
    expect(forOther.status).toBe(400);
    expect(forOther.body.message).toMatch(/^relatedParty: a customer key orders for its own customer \(globex\) only/);
    expect(await crossTenantCount('serviceOrder')).toBe(before.serviceOrder + 1);
    expect(await crossTenantCount('service')).toBe(before.service + 2);
    expect(await crossTenantCount('hub')).toBe(before.hub + 1);
    expect(lab.daemons.get('dom-a')!.logs.filter((l) => l.event === 'cross-tenant' && l.customer === 'globex').length).toBeGreaterThanOrEqual(4);
    // the service was not boosted by the refused modification
    expect(char((await call('GET', `${INV}/service/${serviceId}`, keys.acme)).body.serviceCharacteristic as Array<{ name: string; value: unknown }>, 'rateMbps')).toBe(10);
  });

  test('northbound - bad inputs are 400 naming the field and the rule; a huge body is 413', async () => {
    const post = (b: unknown) => call('POST', `${ORD}/serviceOrder`, keys.acme, b);
    const cases: Array<[unknown, string | RegExp]> = [
      [addOrder({ rateMbps: '10' }), 'body.serviceOrderItem[0].service.serviceCharacteristic[name=rateMbps].value: must be number (type)'],
      [addOrder({ rateMbps: -5 }), 'body.serviceOrderItem[0].service.serviceCharacteristic[name=rateMbps].value: must be > 0 (exclusiveMinimum 0)'],
      [addOrder({ rateMbps: 0 }), 'body.serviceOrderItem[0].service.serviceCharacteristic[name=rateMbps].value: must be > 0 (exclusiveMinimum 0)'],
      [addOrder({ maxLatencyMs: -1 }), 'body.serviceOrderItem[0].service.serviceCharacteristic[name=maxLatencyMs].value: must be > 0 (exclusiveMinimum 0)'],
      [addOrder({ start: '2026-13-01T00:00:00Z' }), 'body.serviceOrderItem[0].service.serviceCharacteristic[name=start].value: must match format "date-time" (format date-time)'],
      [addOrder({ start: 'tomorrow' }), 'body.serviceOrderItem[0].service.serviceCharacteristic[name=start].value: must match format "date-time" (format date-time)'],
      [addOrder({ start: '2026-02-30T10:00:00Z' }), 'body.serviceOrderItem[0].service.serviceCharacteristic[name=start].value: must match format "date-time" (format date-time)'],
      [addOrder({ duration: '2h' }), /^body\.serviceOrderItem\[0\]\.service\.serviceCharacteristic\[name=duration\]\.value: must match pattern .* \(pattern\)$/],
      [addOrder({ duration: 'PT0S' }), 'serviceOrderItem[0].service.serviceCharacteristic[duration].value must be a positive ISO 8601 duration such as PT2H, got "PT0S"'],
      [addOrder({ from: 'nowhere' }), /^body\.serviceOrderItem\[0\]\.service\.serviceCharacteristic\[name=from\]\.value: must match pattern/],
      [addOrder({ rateMbps: undefined }), 'serviceOrderItem[0].service.serviceCharacteristic: rateMbps is required for action add'],
      [addOrder({ colour: 'red' }), /^body\.serviceOrderItem\[0\]\.service\.serviceCharacteristic\[name=colour\]\.name: must be one of from, to, qosClass, .* \(enum\)$/],
      [addOrder({}, { priority: '1' }), 'body.priority: unknown field (additionalProperties: false)'],
      [{ serviceOrderItem: [{ id: '1', action: 'add', quantity: 2, service: {} }] }, 'body.serviceOrderItem[0].quantity: unknown field (additionalProperties: false)'],
      [{ serviceOrderItem: [{ id: '1', action: 'delete', service: {} }] }, 'body.serviceOrderItem[0].action: must be one of add, modify (enum)'],
      [{ serviceOrderItem: [] }, 'body.serviceOrderItem: must NOT have fewer than 1 items (minItems 1)'],
      [{}, 'body.serviceOrderItem: is required (required)'],
      [{ serviceOrderItem: 'x' }, 'body.serviceOrderItem: must be array (type)'],
    ];
    for (const [b, want] of cases) {
      const r = await post(b);
      expect(r.status, JSON.stringify(b)).toBe(400);
      expect(r.body).toMatchObject({ code: 'QB_INVALID_ARGUMENT', reason: 'Bad Request', status: '400', '@type': 'Error' });
      if (typeof want === 'string') expect(r.body.message).toBe(want);
      else expect(r.body.message).toMatch(want);
    }
    const badJson = await post('{"serviceOrderItem": [');
    expect(badJson.status).toBe(400);
    expect(badJson.body).toMatchObject({ code: 'QB_NORTHBOUND_BAD_REQUEST', status: '400' });
    const huge = await post(addOrder({}, { description: 'x'.repeat(20_000) }));
    expect(huge.status).toBe(413);
    expect(huge.body).toMatchObject({ code: 'QB_NORTHBOUND_BODY_TOO_LARGE', status: '413', message: expect.stringContaining('northbound.body-limit-bytes (16384 bytes)') });
    const text = await call('POST', `${ORD}/serviceOrder`, keys.acme, 'hello', { 'content-type': 'text/plain' });
    expect(text.status).toBe(415);
    expect(text.body).toMatchObject({ code: 'QB_NORTHBOUND_MEDIA_TYPE', status: '415', reason: 'Unsupported Media Type' });
    // nothing of the above was ordered
    expect((await call('GET', `${ORD}/serviceOrder`, keys.acme)).body).toHaveLength(1);
  });

  test('northbound - a retried POST with the same Idempotency-Key gets the first answer and creates one order; another body with it is 422', async () => {
    const before = (await call('GET', `${ORD}/serviceOrder`, keys.operator)).body.length;
    const body = addOrder({ rateMbps: 2, duration: 'PT10M' });
    const h = { 'idempotency-key': `retry-${Date.now()}` };
    const first = await call('POST', `${ORD}/serviceOrder`, keys.acme, body, h);
    expect(first.status).toBe(201);
    expect(first.headers.get('idempotent-replayed')).toBeNull();
    const again = await call('POST', `${ORD}/serviceOrder`, keys.acme, body, h);
    expect(again.status).toBe(201);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(again.body).toEqual(first.body);
    const other = await call('POST', `${ORD}/serviceOrder`, keys.acme, addOrder({ rateMbps: 3 }), h);
    expect(other.status).toBe(422);
    expect(other.body).toMatchObject({ code: 'QB_IDEMPOTENCY_KEY_REUSED', status: '422' });
    // the same key of another API key is another request
    const globex = await call('POST', `${ORD}/serviceOrder`, keys.globex, body, h);
    expect(globex.status).toBe(201);
    expect(globex.body.id).not.toBe(first.body.id);
    // the same key twice at once: one order; the other answer is the same order or 409 (the first still being answered)
    const k2 = { 'idempotency-key': `race-${Date.now()}` };
    const race = await Promise.all([call('POST', `${ORD}/serviceOrder`, keys.acme, body, k2), call('POST', `${ORD}/serviceOrder`, keys.acme, body, k2)]);
    const made = race.filter((r) => r.status === 201);
    expect(made.length).toBeGreaterThanOrEqual(1);
    expect(new Set(made.map((r) => r.body.id)).size).toBe(1);
    for (const r of race.filter((x) => x.status !== 201)) expect(r.body).toMatchObject({ code: 'QB_IDEMPOTENCY_IN_PROGRESS', status: '409' });
    expect((await call('GET', `${ORD}/serviceOrder`, keys.operator)).body.length).toBe(before + 3);
    await settledOrder(made[0]!.body.id as string, keys.acme);
    await settledOrder(first.body.id as string, keys.acme);
    await settledOrder(globex.body.id as string, keys.globex);
    expect((await call('POST', `${ORD}/serviceOrder`, keys.acme, body, { 'idempotency-key': 'bad key' })).body.message).toMatch(/^headers\.idempotency-key: must match pattern/);
  });

  test('northbound - a modify order boosts the service for its duration (completed at once), then the rate goes back on its own', async () => {
    // one that no domain can carry is a failed order with the reason
    const huge = await call('POST', `${ORD}/serviceOrder`, keys.acme, { serviceOrderItem: [{ id: '1', action: 'modify', service: { id: serviceId, serviceCharacteristic: [{ name: 'rateMbps', value: 5000 }, { name: 'duration', value: 'PT1M' }] } }] });
    expect(huge.status).toBe(201);
    expect(huge.body).toMatchObject({ state: 'failed', errorMessage: [{ code: 'QB_ORDER_MODIFY_REFUSED' }] });
    const boost = { serviceOrderItem: [{ id: '1', action: 'modify', service: { id: serviceId, serviceCharacteristic: [{ name: 'rateMbps', value: 20 }, { name: 'duration', value: 'PT4S' }] } }] };
    const r = await call('POST', `${ORD}/serviceOrder`, keys.acme, boost);
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    expect(r.body).toMatchObject({ id: expect.stringMatching(/^mod-/), state: 'completed', '@qbModifiedOrderId': order.id, serviceOrderItem: [{ action: 'modify', service: { id: serviceId, state: 'active' } }] });
    const svc = (await call('GET', `${INV}/service/${serviceId}`, keys.acme)).body;
    const cs = svc.serviceCharacteristic as Array<{ name: string; value: unknown }>;
    expect([char(cs, 'rateMbps'), char(cs, 'orderedRateMbps')]).toEqual([20, 10]);
    expect(char(cs, 'boostUntil')).toEqual(expect.any(String));
    expect((await call('GET', `${ORD}/serviceOrder/${r.body.id as string}`, keys.acme)).body).toEqual(r.body);
    expect((await call('GET', `${ORD}/serviceOrder/${r.body.id as string}`, keys.globex)).status).toBe(404);
    expect((await call('GET', `${ORD}/serviceOrder?state=completed`, keys.acme)).body.map((o) => o.id)).toContain(r.body.id);
    const wrong = await call('POST', `${ORD}/serviceOrder`, keys.acme, { serviceOrderItem: [{ id: '1', action: 'modify', service: { id: serviceId, serviceCharacteristic: [{ name: 'rateMbps', value: 20 }, { name: 'duration', value: 'PT1M' }, { name: 'qosClass', value: 'AF' }] } }] });
    expect(wrong.body.message).toBe('serviceOrderItem[0].service.serviceCharacteristic: qosClass cannot be modified (action modify changes rateMbps for a duration)');
    await waitFor('the boost to revert', async () => char((await call('GET', `${INV}/service/${serviceId}`, keys.acme)).body.serviceCharacteristic as Array<{ name: string; value: unknown }>, 'rateMbps') === 10, 20_000);
  });

  test('northbound - GET /service whole (the views stored with the orders, joined) equals each service by id and the filtered list (rendered on read), field for field; offset and limit page it', async () => {
    for (const key of [keys.acme, keys.operator]) {
      const all = await call('GET', `${INV}/service`, key);
      expect(all.status).toBe(200);
      expect(all.body.length).toBeGreaterThan(0);
      expect(all.headers.get('x-result-count')).toBe(String(all.body.length));
      expect(all.headers.get('x-total-count')).toBe(String(all.body.length));
      expect(all.body).toEqual(await Promise.all(all.body.map(async (s) => (await call('GET', `${INV}/service/${s.id as string}`, key)).body)));
      const states = ['feasibilityChecked', 'designed', 'reserved', 'inactive', 'active', 'terminated'];
      const filtered = (await Promise.all(states.map((st) => call('GET', `${INV}/service?state=${st}`, key)))).flatMap((r) => r.body);
      const byId = (l: Array<Record<string, unknown>>) => [...l].sort((a, b) => String(a.id).localeCompare(String(b.id)));
      expect(byId(filtered)).toEqual(byId(all.body));
      expect((await call('GET', `${INV}/service?offset=1&limit=1`, key)).body).toEqual(all.body.slice(1, 2));
    }
  });

  test('northbound - /hub: a registered listener receives ServiceOrderStateChangeEvents of its customer\'s orders; removed, it receives no more', async () => {
    const got: Record<string, Array<Record<string, unknown>>> = { acme: [], globex: [], operator: [] };
    const servers: Server[] = [];
    const listen = async (who: keyof typeof got) => {
      const s = createServer((req, res) => {
        let b = '';
        req.on('data', (c: Buffer) => (b += c.toString()));
        req.on('end', () => {
          got[who]!.push({ ...(JSON.parse(b) as Record<string, unknown>), contentType: req.headers['content-type'] });
          res.writeHead(204).end();
        });
      });
      await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
      servers.push(s);
      return `http://127.0.0.1:${(s.address() as AddressInfo).port}/events`;
    };
    try {
      const hubs: Record<string, string> = {};
      for (const who of ['acme', 'globex', 'operator'] as const) {
        const r = await call('POST', `${ORD}/hub`, keys[who], { callback: await listen(who), query: 'eventType=ServiceOrderStateChangeEvent' });
        expect(r.status).toBe(201);
        expect(r.body).toMatchObject({ id: expect.stringMatching(/^hub-/), query: 'eventType=ServiceOrderStateChangeEvent' });
        hubs[who] = r.body.id as string;
      }
      const o = await call('POST', `${ORD}/serviceOrder`, keys.acme, addOrder({ rateMbps: 1, duration: 'PT5M' }));
      const id = o.body.id as string;
      const states = (who: string) => got[who]!.filter((e) => (e.event as { serviceOrder: { id: string } }).serviceOrder.id === id).map((e) => (e.event as { serviceOrder: { state: string } }).serviceOrder.state);
      await waitFor('acme\'s listener to hear the order complete', () => states('acme').includes('completed'), 30_000);
      expect(states('acme')[0]).toBe('acknowledged');
      expect(states('acme')).toContain('inProgress');
      const e = got.acme!.find((x) => (x.event as { serviceOrder: { id: string } }).serviceOrder.id === id)!;
      expect(e).toMatchObject({ eventType: 'ServiceOrderStateChangeEvent', eventId: expect.any(String), eventTime: expect.any(String), contentType: 'application/json', event: { serviceOrder: { id, href: `${ORD}/serviceOrder/${id}`, '@type': 'ServiceOrder' } } });
      await waitFor('the operator\'s listener to hear it too', () => states('operator').includes('completed'), 10_000);
      expect(states('globex')).toEqual([]);
      // removed: the next order is heard by the operator only
      expect((await call('DELETE', `${ORD}/hub/${hubs.acme!}`, keys.acme)).status).toBe(204);
      expect((await call('DELETE', `${ORD}/hub/${hubs.acme!}`, keys.acme)).status).toBe(404);
      const heard = got.acme!.length;
      const o2 = await call('POST', `${ORD}/serviceOrder`, keys.acme, addOrder({ rateMbps: 1, duration: 'PT5M' }));
      await waitFor('the operator to hear the second order complete', () => got.operator!.some((x) => (x.event as { serviceOrder: { id: string; state: string } }).serviceOrder.id === o2.body.id && (x.event as { serviceOrder: { state: string } }).serviceOrder.state === 'completed'), 30_000);
      expect(got.acme!.length).toBe(heard);
      const bad = await call('POST', `${ORD}/hub`, keys.acme, { callback: 'ftp://127.0.0.1/x' });
      expect(bad.status).toBe(400);
      expect(bad.body.message).toMatch(/^body\.callback: must match pattern/);
    } finally {
      for (const s of servers) s.close();
    }
  });

  test('northbound - the rate limit per key answers 429 with Retry-After; other keys are not held back', async () => {
    // cheap requests (refused by validation, after the limit took its token), 200 at a time until the limit answers
    // (a loaded machine answers slowly, and the bucket refills meanwhile: at most 20 rounds)
    const rs: Res[] = [];
    for (let i = 0; i < 20 && !rs.some((r) => r.status === 429); i++) rs.push(...(await Promise.all(Array.from({ length: 200 }, () => call('GET', `${INV}/service?limit=0`, keys.limited)))));
    const limited = rs.filter((r) => r.status === 429);
    expect(rs.filter((r) => r.status === 400).length).toBeGreaterThanOrEqual(200);
    expect(limited.length).toBeGreaterThan(0);
    expect(limited[0]!.body).toMatchObject({ code: 'QB_NORTHBOUND_RATE_LIMITED', status: '429', message: expect.stringContaining('50/s, burst 200') });
    expect(Number(limited[0]!.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect((await call('GET', `${INV}/service`, keys.acme)).status).toBe(200);
  });
});

describe.sequential('northbound - the other TMF resources, bearer JWTs and tenants', () => {
  let order: Record<string, unknown> = {};
  let serviceId = '';
  let globexOrder: Record<string, unknown> = {};
  const ids: Record<string, string> = {};
  const svcOf = (o: Record<string, unknown>) => (o.serviceOrderItem as Array<{ service: { id: string } }>)[0]!.service.id;

  beforeAll(async () => {
    const a = await call('POST', `${ORD}/serviceOrder`, keys.acme, addOrder({ rateMbps: 2, duration: 'PT30M' }, { externalId: 'acme-tmf', description: 'the TMF resources test' }));
    const g = await call('POST', `${ORD}/serviceOrder`, keys.globex, addOrder({ rateMbps: 1, duration: 'PT30M' }));
    order = await settledOrder(a.body.id as string, keys.acme);
    globexOrder = await settledOrder(g.body.id as string, keys.globex);
    expect([order.state, globexOrder.state]).toEqual(['completed', 'completed']);
    expect(order).toMatchObject({ externalId: 'acme-tmf', description: 'the TMF resources test' });
    serviceId = svcOf(order);
  }, 90_000);

  test('northbound - TMF645 checkServiceQualification: qualified with its paths; a latency bound no path meets is unqualified, with provideAlternative the alternate without it', async () => {
    const item = (over: Record<string, unknown> = {}) => ({ serviceQualificationItem: [{ id: '1', service: { serviceCharacteristic: chars(over) } }] });
    const ok = await call('POST', `${SQ}/checkServiceQualification`, keys.acme, item());
    expect(ok.status, JSON.stringify(ok.body)).toBe(201);
    expect(ok.body).toMatchObject({ state: 'done', qualificationResult: 'qualified', relatedParty: [{ id: 'acme' }], '@type': 'CheckServiceQualification' });
    const paths = (ok.body.serviceQualificationItem as Array<{ '@qbPaths': Array<{ domains: string[]; scenarios: string[]; latencyMs: number; price: { unit: string; value: number } }> }>)[0]!['@qbPaths'];
    expect(paths[0]!.domains).toEqual(['dom-a', 'dom-b', 'dom-c']);
    expect(paths[0]!.scenarios).toContain('cheapest');
    expect(paths[0]!.price.unit).toMatch(/^[A-Z]{3}$/);
    expect(paths[0]!.price.value).toBeGreaterThan(0);
    expect(paths[0]!.latencyMs).toBeLessThanOrEqual(30);
    const best = paths[0]!.latencyMs;
    const tight = await call('POST', `${SQ}/checkServiceQualification`, keys.acme, item({ maxLatencyMs: best / 10 }));
    expect(tight.body).toMatchObject({ qualificationResult: 'unqualified', serviceQualificationItem: [{ qualificationItemResult: 'unqualified', eligibilityUnavailabilityReason: [{ code: 'QB_PATH_LATENCY_BOUND' }] }] });
    const alt = await call('POST', `${SQ}/checkServiceQualification`, keys.acme, { ...item({ maxLatencyMs: best / 10 }), provideAlternative: true });
    expect(alt.body).toMatchObject({ qualificationResult: 'alternate', provideAlternative: true });
    const proposal = (alt.body.serviceQualificationItem as Array<{ alternateServiceProposal: Array<{ '@qbRelaxed': string; service: { serviceCharacteristic: Array<{ name: string; value: unknown }> }; '@qbPaths': unknown[] }> }>)[0]!.alternateServiceProposal[0]!;
    expect(proposal['@qbRelaxed']).toMatch(/^maxLatencyMs \(the best path has [\d.]+ ms\)$/);
    expect(char(proposal.service.serviceCharacteristic, 'maxLatencyMs')).toBeUndefined();
    expect(proposal['@qbPaths'].length).toBeGreaterThan(0);
    // read back; the customer's own only
    ids.qualification = ok.body.id as string;
    expect((await call('GET', `${SQ}/checkServiceQualification/${ids.qualification}`, keys.acme)).body).toEqual(ok.body);
    const mine = await call('GET', `${SQ}/checkServiceQualification?fields=qualificationResult`, keys.acme);
    expect(mine.body.map((x) => x.qualificationResult)).toEqual(['qualified', 'unqualified', 'alternate']);
    expect((await call('GET', `${SQ}/checkServiceQualification`, keys.globex)).body).toEqual([]);
    // bad inputs name the field and the rule
    const neg = await call('POST', `${SQ}/checkServiceQualification`, keys.acme, item({ rateMbps: -1 }));
    expect(neg.body.message).toBe('body.serviceQualificationItem[0].service.serviceCharacteristic[name=rateMbps].value: must be > 0 (exclusiveMinimum 0)');
    expect((await call('POST', `${SQ}/checkServiceQualification`, keys.acme, item({ to: undefined }))).body.message).toBe('serviceQualificationItem[0].service.serviceCharacteristic: to is required for action add');
    expect((await call('POST', `${SQ}/checkServiceQualification`, keys.acme, { ...item(), provideAlternative: 'yes' })).body.message).toBe('body.provideAlternative: must be boolean (type)');
  });

  test('northbound - TMF648 quote: a new service priced per scenario path; the boost of an active service priced before confirming it', async () => {
    const q = await call('POST', `${QUO}/quote`, keys.acme, { quoteItem: [{ id: '1', action: 'add', product: { productCharacteristic: chars({ rateMbps: 5, duration: 'PT1H' }) } }] });
    expect(q.status, JSON.stringify(q.body)).toBe(201);
    expect(q.body).toMatchObject({ state: 'approved', '@type': 'Quote', relatedParty: [{ id: 'acme' }] });
    const items = q.body.quoteItem as Array<{ action: string; quoteItemPrice: Array<{ name: string; price: { dutyFreeAmount: { unit: string; value: number } } }>; '@qbPath': { domains: string[] } }>;
    expect(items.length).toBeGreaterThanOrEqual(1);
    expect(items[0]!.action).toBe('add');
    expect(items[0]!.quoteItemPrice[0]!.name).toContain('cheapest');
    const addPrice = items[0]!.quoteItemPrice[0]!.price.dutyFreeAmount.value;
    expect(addPrice).toBeGreaterThan(0);
    // the boost: 10 Mbit/s instead of 2 for 30 minutes, priced as the extra 8 over the service's own path
    const boost = await call('POST', `${QUO}/quote`, keys.acme, { quoteItem: [{ id: '1', action: 'modify', product: { id: serviceId, productCharacteristic: [{ name: 'rateMbps', value: 10 }, { name: 'duration', value: 'PT30M' }] } }] });
    expect(boost.status, JSON.stringify(boost.body)).toBe(201);
    expect(boost.body).toMatchObject({ state: 'approved', '@qbModifiedOrderId': order.id });
    const bi = (boost.body.quoteItem as typeof items)[0]!;
    expect(bi.action).toBe('modify');
    expect(bi['@qbPath'].domains).toEqual(['dom-a', 'dom-b', 'dom-c']);
    const boostPrice = bi.quoteItemPrice[0]!.price.dutyFreeAmount.value;
    expect(boostPrice).toBeGreaterThan(0);
    // 8 Mbit/s for half an hour against 5 Mbit/s for an hour on the same path and class: about 0.8 of it (congestion pricing may move it a little)
    expect(boostPrice / addPrice).toBeGreaterThan(0.5);
    expect(boostPrice / addPrice).toBeLessThan(1.2);
    ids.quote = boost.body.id as string;
    expect((await call('GET', `${QUO}/quote/${ids.quote}`, keys.acme)).body).toEqual(boost.body);
    expect((await call('GET', `${QUO}/quote?state=approved&fields=state`, keys.acme)).body.map((x) => x.id)).toEqual([q.body.id, ids.quote]);
    // a rate below the ordered one is no boost: rejected with the reason, nothing changed
    const down = await call('POST', `${QUO}/quote`, keys.acme, { quoteItem: [{ id: '1', action: 'modify', product: { id: serviceId, productCharacteristic: [{ name: 'rateMbps', value: 1 }, { name: 'duration', value: 'PT30M' }] } }] });
    expect(down.body).toMatchObject({ state: 'rejected', errorMessage: [{ code: 'QB_INVALID_ARGUMENT', message: expect.stringContaining('rateMbps must be above the ordered 2 Mbit/s') }] });
    expect((await call('POST', `${QUO}/quote`, keys.acme, { quoteItem: [{ id: '1', action: 'add', product: { productCharacteristic: chars({ duration: 'tomorrow' }) } }] })).body.message).toMatch(/^body\.quoteItem\[0\]\.product\.productCharacteristic\[name=duration\]\.value: must match pattern/);
  });

  test('northbound - TMF651 agreement: the service\'s contract with its parties; the signed document downloads exactly as the order holds it', async () => {
    const agrId = order['@qbAgreementId'] as string;
    const list = await call('GET', `${AGR}/agreement`, keys.acme);
    expect(list.status).toBe(200);
    expect(list.body.map((a) => a.id)).toContain(agrId);
    expect(list.body.every((a) => (a.engagedParty as Array<{ id: string; role: string }>).some((p) => p.role === 'customer' && p.id === 'acme'))).toBe(true);
    const a = await call('GET', `${AGR}/agreement/${agrId}`, keys.acme);
    expect(a.body).toMatchObject({ id: agrId, agreementType: 'contract', status: 'validated', '@qbServiceId': serviceId, '@qbDocument': `${AGR}/agreement/${agrId}/document` });
    expect((a.body.engagedParty as Array<{ id: string; role: string }>).filter((p) => p.role === 'provider').map((p) => p.id)).toEqual(['dom-a', 'dom-b', 'dom-c']);
    const r = await fetch(`${base}${AGR}/agreement/${agrId}/document`, { headers: { authorization: `Bearer ${keys.acme}` } });
    expect(r.status).toBe(200);
    expect(r.headers.get('content-disposition')).toBe(`attachment; filename="${agrId}.json"`);
    const doc = await r.text();
    // byte for byte what the order record holds (the Management service hands out the same)
    expect(doc).toBe((await lab.mgmt.getOrder(order.id as string)).contract_json);
    expect(r.headers.get('content-type')).toMatch(/^application\/(jose\+)?json/);
    // offline, by the CLI, against the providers' keys
    expect(doc.length).toBeGreaterThan(100);
    expect((await call('GET', `${AGR}/agreement?fields=status&limit=1`, keys.operator)).headers.get('x-total-count')).toBe(String((await call('GET', `${AGR}/agreement?limit=1000`, keys.operator)).body.length));
  });

  test('northbound - TMF641 PATCH changes externalId and description only; /cancelServiceOrder takes the service off every router, a second one is terminatedWithError', async () => {
    const id = order.id as string;
    const p = await call('PATCH', `${ORD}/serviceOrder/${id}`, keys.acme, { description: 'renamed' }, { 'content-type': 'application/merge-patch+json' });
    expect(p.status, JSON.stringify(p.body)).toBe(200);
    expect(p.body).toMatchObject({ id, description: 'renamed', externalId: 'acme-tmf', state: 'completed' });
    expect((await call('GET', `${ORD}/serviceOrder/${id}?fields=description`, keys.acme)).body.description).toBe('renamed');
    const bad = await call('PATCH', `${ORD}/serviceOrder/${id}`, keys.acme, { state: 'cancelled' });
    expect(bad.status).toBe(400);
    expect(bad.body.message).toBe('body.state: cannot be changed with PATCH (only externalId, description); the service changes with a modify order, ends with /cancelServiceOrder');
    expect((await call('PATCH', `${ORD}/serviceOrder/${id}`, keys.acme, {})).body.message).toBe('body: must NOT have fewer than 1 properties (minProperties 1)');
    expect((await call('PATCH', `${ORD}/serviceOrder/${id}`, keys.acme, { description: 7 })).body.message).toBe('body.description: must be string (type)');
    const rates = (await lab.allRates()).filter((x) => x === 2000).length;
    expect(rates).toBeGreaterThan(0);
    // cancel: refused for the future, then done; the same Idempotency-Key again gives the same cancellation
    const future = await call('POST', `${ORD}/cancelServiceOrder`, keys.acme, { serviceOrder: { id }, requestedCancellationDate: new Date(Date.now() + 3_600_000).toISOString() });
    expect(future.body.message).toMatch(/^body\.requestedCancellationDate: must not be in the future/);
    const h = { 'idempotency-key': `cancel-${Date.now()}` };
    const c = await call('POST', `${ORD}/cancelServiceOrder`, keys.acme, { serviceOrder: { id }, cancellationReason: 'no longer needed' }, h);
    expect(c.status, JSON.stringify(c.body)).toBe(201);
    expect(c.body).toMatchObject({ state: 'done', cancellationReason: 'no longer needed', serviceOrder: { id, '@referredType': 'ServiceOrder' }, '@type': 'CancelServiceOrder' });
    expect(Date.parse(c.body.effectiveCancellationDate as string)).toBeGreaterThan(0);
    ids.cancel = c.body.id as string;
    const again = await call('POST', `${ORD}/cancelServiceOrder`, keys.acme, { serviceOrder: { id }, cancellationReason: 'no longer needed' }, h);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(again.body).toEqual(c.body);
    expect((await lab.allRates()).filter((x) => x === 2000).length).toBe(rates - 5);
    expect((await call('GET', `${INV}/service/${serviceId}?fields=state`, keys.acme)).body.state).toBe('terminated');
    const second = await call('POST', `${ORD}/cancelServiceOrder`, keys.acme, { serviceOrder: { id } });
    expect(second.body).toMatchObject({ state: 'terminatedWithError', errorMessage: [{ code: 'QB_ORDER_NOT_ACTIVE' }] });
    expect((await call('GET', `${ORD}/cancelServiceOrder/${ids.cancel}`, keys.acme)).body).toEqual(c.body);
    expect((await call('GET', `${ORD}/cancelServiceOrder?state=done`, keys.acme)).body.map((x) => x.id)).toEqual([ids.cancel]);
    expect((await call('GET', `${ORD}/cancelServiceOrder`, keys.globex)).body).toEqual([]);
    // an order agreed for later and not started yet: cancelled, and it does not start when its start comes
    const startAt = Date.now() + 15_000;
    const later = await call('POST', `${ORD}/serviceOrder`, keys.acme, addOrder({ rateMbps: 3, start: new Date(startAt).toISOString(), duration: 'PT1H' }));
    let waiting: Record<string, unknown> = {};
    await waitFor('the later order to be agreed and wait for its start', async () => {
      waiting = (await call('GET', `${ORD}/serviceOrder/${later.body.id as string}`, keys.acme)).body;
      return (waiting.serviceOrderItem as Array<{ service: { state: string } }>)[0]!.service.state === 'reserved' || waiting.state === 'failed';
    }, 30_000);
    expect(waiting.state).toBe('inProgress');
    const cl = await call('POST', `${ORD}/cancelServiceOrder`, keys.acme, { serviceOrder: { id: later.body.id } });
    expect(cl.body.state).toBe('done');
    const after = (await call('GET', `${ORD}/serviceOrder/${later.body.id as string}`, keys.acme)).body;
    expect(after.state).toBe('cancelled');
    expect((after.serviceOrderItem as Array<{ service: { state: string } }>)[0]!.service.state).toBe('terminated');
    await waitFor('the cancelled order\'s start to pass', () => Date.now() > startAt + 3000, 30_000);
    expect((await call('GET', `${ORD}/serviceOrder/${later.body.id as string}?fields=state`, keys.acme)).body.state).toBe('cancelled');
    expect((await lab.allRates()).filter((x) => x === 3000)).toEqual([]);
  });

  test('northbound - TMF642 /alarm: an operator reports alarms, a customer sees those about its services, the operator all; a customer cannot report one', async () => {
    const now = new Date().toISOString();
    const about = await call('POST', `${ALM}/alarm`, keys.operator, { alarmType: 'qualityOfServiceAlarm', perceivedSeverity: 'major', probableCause: 'thresholdCrossed', specificProblem: 'latency above the bound', alarmRaisedTime: new Date(Date.now() - 1000).toISOString(), alarmedObject: { id: 'dom-a-r1', '@referredType': 'Device' }, affectedService: [{ id: svcOf(globexOrder) }] });
    expect(about.status, JSON.stringify(about.body)).toBe(201);
    expect(about.body).toMatchObject({ state: 'raised', ackState: 'unacknowledged', perceivedSeverity: 'major', sourceSystemId: 'dom-a', affectedService: [{ id: svcOf(globexOrder) }], '@type': 'Alarm' });
    ids.alarm = about.body.id as string;
    const device = await call('POST', `${ALM}/alarm`, keys.operator, { alarmType: 'equipmentAlarm', perceivedSeverity: 'minor', probableCause: 'powerProblem', alarmRaisedTime: now, alarmedObject: { id: 'dom-a-r2' } });
    expect(device.status).toBe(201);
    const denied = await call('POST', `${ALM}/alarm`, keys.acme, { alarmType: 'equipmentAlarm', perceivedSeverity: 'minor', probableCause: 'x', alarmRaisedTime: now, alarmedObject: { id: 'r' } });
    expect(denied.status).toBe(403);
    expect(denied.body).toMatchObject({ code: 'QB_NORTHBOUND_FORBIDDEN', reason: 'Forbidden', status: '403', message: 'POST /alarm is for operator keys or tokens; this one acts for customer acme' });
    expect((await call('GET', `${ALM}/alarm`, keys.globex)).body.map((x) => x.id)).toEqual([ids.alarm]);
    expect((await call('GET', `${ALM}/alarm`, keys.acme)).body).toEqual([]);
    const all = await call('GET', `${ALM}/alarm`, keys.operator);
    expect(all.body.map((x) => x.id)).toEqual([ids.alarm, device.body.id]);
    expect((await call('GET', `${ALM}/alarm?perceivedSeverity=minor`, keys.operator)).body.map((x) => x.id)).toEqual([device.body.id]);
    expect((await call('GET', `${ALM}/alarm/${ids.alarm}`, keys.globex)).body).toEqual(about.body);
    expect((await call('POST', `${ALM}/alarm`, keys.operator, { alarmType: 'equipmentAlarm', perceivedSeverity: 'loud', probableCause: 'x', alarmRaisedTime: now, alarmedObject: { id: 'r' } })).body.message).toBe('body.perceivedSeverity: must be one of critical, major, minor, warning, indeterminate, cleared (enum)');
    expect((await call('POST', `${ALM}/alarm`, keys.operator, { alarmType: 'equipmentAlarm', perceivedSeverity: 'minor', probableCause: 'x', alarmRaisedTime: 'yesterday', alarmedObject: { id: 'r' } })).body.message).toBe('body.alarmRaisedTime: must match format "date-time" (format date-time)');
  });

  test('northbound - bearer JWTs of the identity provider (JWKS on loopback): role and customer from the configured claims; expired, foreign, misissued and role-less tokens are 401', async () => {
    const acme = await token({ qb_role: 'qos-customer', org: 'acme', sub: 'alice' });
    const mine = await call('GET', `${ORD}/serviceOrder?fields=state`, acme);
    expect(mine.status, JSON.stringify(mine.body)).toBe(200);
    expect(mine.body.map((o) => o.id)).toEqual((await call('GET', `${ORD}/serviceOrder?fields=state`, keys.acme)).body.map((o) => o.id));
    expect(idp.fetches).toBeGreaterThanOrEqual(1);
    const op = await token({ qb_role: 'qos-operator', sub: 'ops' });
    expect((await call('GET', `${ORD}/serviceOrder?limit=1`, op)).headers.get('x-total-count')).toBe((await call('GET', `${ORD}/serviceOrder?limit=1`, keys.operator)).headers.get('x-total-count'));
    // a JWT customer orders like a key customer
    const o = await call('POST', `${ORD}/serviceOrder`, acme, addOrder({ rateMbps: 1, duration: 'PT5M' }));
    expect(o.status).toBe(201);
    expect(o.body.relatedParty).toEqual([{ id: 'acme', role: 'customer', '@referredType': 'Organization' }]);
    await settledOrder(o.body.id as string, keys.acme);
    // another customer's order is as absent through a JWT too
    expect((await call('GET', `${ORD}/serviceOrder/${globexOrder.id as string}`, acme)).status).toBe(404);
    const refusals: Array<[Promise<string>, RegExp]> = [
      [token({ qb_role: 'qos-customer', org: 'acme' }, { exp: Math.floor(Date.now() / 1000) - 60 }), /^the bearer token was refused: it expired/],
      [token({ qb_role: 'qos-customer', org: 'acme' }, { key: idp.other }), /^the bearer token was refused: its signature does not verify$/],
      [token({ qb_role: 'qos-customer', org: 'acme' }, { key: idp.other, kid: 'idp-2' }), /^the bearer token was refused: no key of the identity provider's JWKS matches/],
      [token({ qb_role: 'qos-customer', org: 'acme' }, { issuer: 'https://evil.test/' }), /^the bearer token was refused: claim iss: /],
      [token({ qb_role: 'qos-customer', org: 'acme' }, { audience: 'someone-else' }), /^the bearer token was refused: claim aud: /],
      [token({ qb_role: 'admin', org: 'acme' }), /^the bearer token was refused: claim qb_role must be one of qos-customer, qos-operator, got "admin"$/],
      [token({ qb_role: 'qos-customer' }), /^the bearer token was refused: claim org must name the customer/],
    ];
    for (const [t, want] of refusals) {
      const r = await call('GET', `${INV}/service`, await t);
      expect(r.status).toBe(401);
      expect(r.body).toMatchObject({ code: 'QB_NORTHBOUND_UNAUTHENTICATED', status: '401' });
      expect(r.body.message).toMatch(want);
    }
  });

  test('northbound - every resource of another customer is 404 exactly as a missing one, logged and counted; the customer indexes list a customer\'s own only', async () => {
    const gSvc = svcOf(globexOrder);
    const gAgr = globexOrder['@qbAgreementId'] as string;
    const gq = await call('POST', `${QUO}/quote`, keys.globex, { quoteItem: [{ id: '1', action: 'add', product: { productCharacteristic: chars({ rateMbps: 1 }) } }] });
    const gc = await call('POST', `${SQ}/checkServiceQualification`, keys.globex, { serviceQualificationItem: [{ id: '1', service: { serviceCharacteristic: chars({ rateMbps: 1 }) } }] });
    const gx = await call('POST', `${ORD}/cancelServiceOrder`, keys.globex, { serviceOrder: { id: globexOrder.id } });
    expect([gq.status, gc.status, gx.status, gx.body.state]).toEqual([201, 201, 201, 'done']);
    const zero = '00000000-0000-4000-8000-000000000000';
    const strip = (r: Res, id: string) => ({ status: r.status, body: { ...r.body, message: (r.body.message as string).replace(id, 'ID') } });
    const cases: Array<{ resource: string; method: string; path: (id: string) => string; theirs: string; missing: string; body?: (id: string) => unknown }> = [
      { resource: 'serviceOrder', method: 'GET', path: (id) => `${ORD}/serviceOrder/${id}`, theirs: globexOrder.id as string, missing: `ord-${zero}` },
      { resource: 'serviceOrder', method: 'PATCH', path: (id) => `${ORD}/serviceOrder/${id}`, theirs: globexOrder.id as string, missing: `ord-${zero}`, body: () => ({ description: 'mine now' }) },
      { resource: 'serviceOrder', method: 'POST', path: () => `${ORD}/cancelServiceOrder`, theirs: globexOrder.id as string, missing: `ord-${zero}`, body: (id) => ({ serviceOrder: { id } }) },
      { resource: 'cancelServiceOrder', method: 'GET', path: (id) => `${ORD}/cancelServiceOrder/${id}`, theirs: gx.body.id as string, missing: `cso-${zero}` },
      { resource: 'service', method: 'GET', path: (id) => `${INV}/service/${id}`, theirs: gSvc, missing: `svc-${zero}` },
      { resource: 'service', method: 'POST', path: () => `${QUO}/quote`, theirs: gSvc, missing: `svc-${zero}`, body: (id) => ({ quoteItem: [{ id: '1', action: 'modify', product: { id, productCharacteristic: [{ name: 'rateMbps', value: 9 }, { name: 'duration', value: 'PT1M' }] } }] }) },
      { resource: 'quote', method: 'GET', path: (id) => `${QUO}/quote/${id}`, theirs: gq.body.id as string, missing: `quo-${zero}` },
      { resource: 'checkServiceQualification', method: 'GET', path: (id) => `${SQ}/checkServiceQualification/${id}`, theirs: gc.body.id as string, missing: `chq-${zero}` },
      { resource: 'agreement', method: 'GET', path: (id) => `${AGR}/agreement/${id}`, theirs: gAgr, missing: `agr-${zero}` },
      { resource: 'agreement', method: 'GET', path: (id) => `${AGR}/agreement/${id}/document`, theirs: gAgr, missing: `agr-${zero}` },
      { resource: 'alarm', method: 'GET', path: (id) => `${ALM}/alarm/${id}`, theirs: ids.alarm!, missing: `alm-${zero}` },
    ];
    for (const c of cases) {
      const before = await crossTenantCount(c.resource);
      const theirs = await call(c.method, c.path(c.theirs), keys.acme, c.body?.(c.theirs));
      const missing = await call(c.method, c.path(c.missing), keys.acme, c.body?.(c.missing));
      expect(theirs.status, `${c.method} ${c.path(c.theirs)}`).toBe(404);
      expect(strip(theirs, c.theirs), `${c.method} ${c.path(c.theirs)}`).toEqual(strip(missing, c.missing));
      expect(await crossTenantCount(c.resource), `${c.method} ${c.path(c.theirs)} counted`).toBe(before + 1);
    }
    // globex's description was not changed by acme's PATCH
    expect((await call('GET', `${ORD}/serviceOrder/${globexOrder.id as string}`, keys.globex)).body.description).toBeUndefined();
    expect(lab.daemons.get('dom-a')!.logs.filter((l) => l.event === 'cross-tenant' && l.customer === 'acme').length).toBeGreaterThanOrEqual(cases.length);
    // lists: each customer its own only (from its index), the operator every one
    for (const path of [`${ORD}/serviceOrder`, `${INV}/service`, `${ORD}/cancelServiceOrder`, `${QUO}/quote`, `${SQ}/checkServiceQualification`, `${AGR}/agreement`, `${ALM}/alarm`]) {
      const a = await call('GET', path, keys.acme);
      const g = await call('GET', path, keys.globex);
      const op = await call('GET', `${path}?limit=1000`, keys.operator);
      const party = (x: Record<string, unknown>) => ((x.relatedParty ?? x.engagedParty) as Array<{ id: string; role: string }> | undefined)?.find((p) => p.role === 'customer')?.id;
      if (path !== `${ALM}/alarm` && path !== `${ORD}/cancelServiceOrder`) {
        expect(a.body.every((x) => party(x) === 'acme'), path).toBe(true);
        expect(g.body.every((x) => party(x) === 'globex'), path).toBe(true);
      }
      expect(new Set([...a.body, ...g.body].map((x) => x.id)).size, path).toBe(a.body.length + g.body.length);
      expect(Number(op.headers.get('x-total-count')), path).toBeGreaterThanOrEqual(a.body.length + g.body.length);
      expect(Number(a.headers.get('x-total-count')), path).toBe(a.body.length);
    }
  });
});
