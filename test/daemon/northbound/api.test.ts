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
import { CLI, freePort, waitFor } from '../brokerd/harness.js';
import { ThreeDomainLab } from '../brokerd/three-domain-lab.js';

const run = promisify(execFile);
const ORD = '/tmf-api/serviceOrdering/v4';
const INV = '/tmf-api/serviceInventory/v4';
const lab = new ThreeDomainLab({
  config: async (d, host) => (d === 'dom-a' ? { northbound: { listen: `${host}:${await freePort(host)}`, 'body-limit-bytes': 16_384, 'rate-limit': { 'per-s': 50, burst: 200 } } } : {}),
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
afterAll(() => lab.stop());

describe.sequential('northbound', () => {
  let order: Record<string, unknown> = {};
  let serviceId = '';

  test('northbound - the served OpenAPI document is the checked-in daemon/northbound/openapi.json (regenerate: npm run openapi)', async () => {
    const served = await (await fetch(`${base}/openapi.json`)).json();
    const checkedIn = JSON.parse(readFileSync(resolve(__dirname, '../../../daemon/northbound/openapi.json'), 'utf8')) as Record<string, unknown>;
    expect(served).toEqual(checkedIn);
    expect(Object.keys(checkedIn.paths as object).sort()).toEqual(['/qos-broker/v1/topology', '/tmf-api/agreementManagement/v4/agreement/{id}/document', '/tmf-api/quoteManagement/v4/quote', `${INV}/service`, `${INV}/service/{id}`, `${ORD}/hub`, `${ORD}/hub/{id}`, `${ORD}/serviceOrder`, `${ORD}/serviceOrder/{id}`]);
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
    // cheap requests (refused by validation, after the limit took its token), all at once
    const rs = await Promise.all(Array.from({ length: 400 }, () => call('GET', `${INV}/service?limit=0`, keys.limited)));
    const limited = rs.filter((r) => r.status === 429);
    expect(rs.filter((r) => r.status === 400).length).toBeGreaterThanOrEqual(200);
    expect(limited.length).toBeGreaterThan(0);
    expect(limited[0]!.body).toMatchObject({ code: 'QB_NORTHBOUND_RATE_LIMITED', status: '429', message: expect.stringContaining('50/s, burst 200') });
    expect(Number(limited[0]!.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect((await call('GET', `${INV}/service`, keys.acme)).status).toBe(200);
  });
});
