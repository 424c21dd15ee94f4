/**
 * The portal in a real browser: Debian chromium driven by playwright-core
 * (flags of DESIGN.md, a fresh profile directory), against three real
 * qos-brokerd processes with lab NETCONF routers (ThreeDomainLab), dom-a
 * serving the API and the portal on loopback. Two customers sign in with
 * their keys and see only their own services; one boosts its service, sees
 * the price (the same the API quotes), confirms, sees the rate change (and
 * the routers carry it) and later revert; it downloads the signed contract;
 * the operator sees the domain graph, the peers and the orders. Screenshots
 * go to test-artifacts/portal/ (gitignored; the path is printed).
 * Also the resources the portal uses, by role and across tenants.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { BrowserContext, Page } from 'playwright-core';
import { freePort, metricValue, waitFor } from '../brokerd/harness.js';
import { ThreeDomainLab } from '../brokerd/three-domain-lab.js';
import { contractBody, type SignedContract } from '../../../daemon/agreement/contract.js';

const CHROMIUM = '/usr/bin/chromium';
// DESIGN.md's flags; playwright adds --headless itself (headless: true) and the profile is our own fresh directory
const FLAGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const ORD = '/tmf-api/serviceOrdering/v4';
const INV = '/tmf-api/serviceInventory/v4';
const QUOTE = '/tmf-api/quoteManagement/v4';
const AGR = '/tmf-api/agreementManagement/v4';
const ARTEFACTS = resolve(__dirname, '../../../test-artifacts/portal');
const haveChromium = existsSync(CHROMIUM);

const lab = new ThreeDomainLab({
  // the calls to other brokers get more time than the lab's 3 s: this test is about the portal, not deadlines, and runs on loaded machines
  config: async (d, host) => (d === 'dom-a' ? { northbound: { listen: `${host}:${await freePort(host)}` }, agreement: { 'hold-ttl-ms': 30_000, 'call-timeout-ms': 15_000 } } : {}),
});

let base = '';
const keys = { acme: '', globex: '', operator: '' };
const services = { acme: '', globex: '' };
const orders = { acme: '', globex: '' };
let profile = '';
let browser: BrowserContext | undefined;
const pageErrors: string[] = [];

async function call(method: string, path: string, key: string, body?: unknown): Promise<{ status: number; headers: Headers; body: Record<string, unknown> & Array<Record<string, unknown>> }> {
  const r = await fetch(`${base}${path}`, { method, headers: { authorization: `Bearer ${key}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) }, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await r.text();
  return { status: r.status, headers: r.headers, body: text ? JSON.parse(text) : {} };
}

const addOrder = (rateMbps: number) => ({
  serviceOrderItem: [{ id: '1', action: 'add', service: { serviceCharacteristic: Object.entries({ from: 'dom-a/dom-a-site', to: 'dom-c/dom-c-site', qosClass: 'EF', rateMbps, maxLatencyMs: 30, duration: 'PT1H' }).map(([name, value]) => ({ name, value })) } }],
});
const boostQuote = (serviceId: string, rateMbps: number, duration: string) => ({ quoteItem: [{ id: '1', action: 'modify', product: { id: serviceId, productCharacteristic: [{ name: 'rateMbps', value: rateMbps }, { name: 'duration', value: duration }] } }] });

async function orderActive(key: string, rateMbps: number): Promise<{ order: string; service: string }> {
  const r = await call('POST', `${ORD}/serviceOrder`, key, addOrder(rateMbps));
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  const id = r.body.id as string;
  let last: Record<string, unknown> = {};
  await waitFor(`order ${id} to complete`, async () => ['completed', 'failed'].includes((last = (await call('GET', `${ORD}/serviceOrder/${id}`, key)).body).state as string), 60_000);
  expect(last.state, JSON.stringify(last.errorMessage)).toBe('completed');
  const item = (last.serviceOrderItem as Array<{ service: { id: string; state: string } }>)[0]!;
  expect(item.service.state).toBe('active');
  return { order: id, service: item.service.id };
}

async function shot(page: Page, name: string): Promise<void> {
  const file = join(ARTEFACTS, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  console.log(`portal screenshot: ${file}`);
}

/** A fresh tab signed in with a key (sessionStorage is per tab: each tab is its own session). */
async function signIn(key: string, role: 'customer' | 'operator'): Promise<Page> {
  const page = await browser!.newPage();
  page.on('pageerror', (err) => pageErrors.push(`${page.url()}: ${err.message}`));
  page.on('console', (m) => {
    // an API answer that is not 2xx is logged by the browser as a failed load (a 403 tells the portal a key is a
    // customer's; a refused boost is a 4xx the page shows): only those are expected, a portal file that fails is not
    const api = /^\/(tmf-api|qos-broker)\//.test(new URL(m.location().url || 'http://x/', 'http://x/').pathname);
    if (m.type() === 'error' && !(api && m.text().startsWith('Failed to load resource: the server responded with a status of 4'))) pageErrors.push(`${page.url()}: console: ${m.text()} (${m.location().url})`);
  });
  await page.goto(`${base}/portal/`);
  await page.fill('#api-key', key);
  await page.click('#sign-in');
  await page.waitForSelector(`#role[data-role=${role}]`);
  return page;
}

const text = async (page: Page, selector: string) => (await page.textContent(selector))?.trim();
/** Wait until the element's text is `want` (the portal polls the API; no fixed sleeps). */
const textIs = (page: Page, selector: string, want: string, timeout = 30_000) =>
  page.waitForFunction(([s, w]) => document.querySelector(s)?.textContent?.trim() === w, [selector, want] as const, { timeout, polling: 100 });

beforeAll(async () => {
  if (!haveChromium) return;
  await lab.start();
  base = lab.daemons.get('dom-a')!.logs.find((l) => l.msg === 'qos-brokerd started')!.northbound as string;
  keys.acme = (await lab.mgmt.createApiKey('customer', 'acme')).secret;
  keys.globex = (await lab.mgmt.createApiKey('customer', 'globex')).secret;
  keys.operator = (await lab.mgmt.createApiKey('operator', '')).secret;
  const a = await orderActive(keys.acme, 10);
  const g = await orderActive(keys.globex, 5);
  Object.assign(services, { acme: a.service, globex: g.service });
  Object.assign(orders, { acme: a.order, globex: g.order });
  mkdirSync(ARTEFACTS, { recursive: true });
  profile = mkdtempSync(join(tmpdir(), 'qb-portal-chromium-'));
  const { chromium } = await import('playwright-core');
  browser = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: FLAGS, acceptDownloads: true, viewport: { width: 1280, height: 900 } });
}, 240_000);

afterAll(async () => {
  await browser?.close().catch(() => {});
  if (profile) rmSync(profile, { recursive: true, force: true });
  if (haveChromium) await lab.stop();
}, 60_000);

describe.skipIf(!haveChromium)(`portal (needs Debian chromium at ${CHROMIUM}: apt-get install chromium, or bash .ci/setup)`, () => {
  test('portal - the page and its libraries are served without a key, with a CSP; the API behind it still wants one', async () => {
    const page = await fetch(`${base}/portal/`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    expect(page.headers.get('content-security-policy')).toMatch(/^default-src 'self'; script-src 'self' 'sha256-[A-Za-z0-9+/=]+'/);
    expect(await page.text()).toContain('<script type="importmap">');
    for (const f of ['app.js', 'customer.js', 'operator.js', 'api.js', 'style.css', 'favicon.svg', 'vendor/preact.mjs', 'vendor/preact-hooks.mjs', 'vendor/htm.mjs', 'vendor/cytoscape.mjs', 'vendor/uplot.mjs', 'vendor/uplot.css']) expect((await fetch(`${base}/portal/${f}`)).status, f).toBe(200);
    // only the files of its tables: no way out of them, nothing else from node_modules
    for (const f of ['..%2fpackage.json', 'vendor/..%2f..%2fpackage.json', '%2e%2e%2f%2e%2e%2fpackage.json', 'nope.js', 'vendor/preact.js', 'vendor/']) expect((await fetch(`${base}/portal/${f}`)).status, f).toBe(404);
    // a path that leaves /portal/ is the API's, which wants a key
    expect((await fetch(`${base}/portal/../package.json`)).status).toBe(401);
    expect((await fetch(`${base}${INV}/service`)).status).toBe(401);
  });

  test('portal - the resources it uses: a boost quote, the contract document, the operator topology; by role and across tenants', async () => {
    const q = await call('POST', `${QUOTE}/quote`, keys.acme, boostQuote(services.acme, 30, 'PT1H'));
    expect(q.status, JSON.stringify(q.body)).toBe(201);
    // 20 Mbit/s more for an hour at 0.5 EUR/Mbit/s-hour in each of three domains
    expect(q.body).toMatchObject({ state: 'approved', quoteItem: [{ action: 'modify', quoteItemPrice: [{ priceType: 'oneTime', price: { dutyFreeAmount: { unit: 'EUR' } } }], '@qbPath': { segments: [{ domain: 'dom-a' }, { domain: 'dom-b' }, { domain: 'dom-c' }] } }] });
    // priced for the boost's window: an hour, or what is left of the service if that ends first
    const priced = (q.body.quoteItem as Array<{ quoteItemPrice: Array<{ price: { dutyFreeAmount: { value: number } } }> }>)[0]!.quoteItemPrice[0]!.price.dutyFreeAmount.value;
    expect(priced).toBeGreaterThan(29);
    expect(priced).toBeLessThanOrEqual(30);
    expect((q.body.quoteItem as Array<{ product: { productCharacteristic: Array<{ name: string; value: unknown }> } }>)[0]!.product.productCharacteristic).toContainEqual(expect.objectContaining({ name: 'extraRateMbps', value: 20 }));
    // a boost below the ordered rate: a quote rejected with the reason
    const low = (await call('POST', `${QUOTE}/quote`, keys.acme, boostQuote(services.acme, 5, 'PT1H'))).body;
    expect(low.state).toBe('rejected');
    expect((low.errorMessage as Array<{ message: string }>)[0]!.message).toContain('rateMbps must be above the ordered 10 Mbit/s');
    expect((await call('POST', `${QUOTE}/quote`, keys.acme, boostQuote(services.acme, -1, 'PT1H'))).status).toBe(400);
    expect((await call('POST', `${QUOTE}/quote`, keys.acme, boostQuote(services.acme, 30, 'two hours'))).status).toBe(400);
    const unknownField = await call('POST', `${QUOTE}/quote`, keys.acme, { ...boostQuote(services.acme, 30, 'PT1H'), price: 0 });
    expect(unknownField.body).toMatchObject({ status: '400', message: 'body.price: unknown field (additionalProperties: false)' });
    const crossed = async (resource: string) => metricValue(await lab.daemons.get('dom-a')!.metricsText(), 'qos_broker_northbound_cross_tenant_total', { resource }) ?? 0;
    const before = { service: await crossed('service'), agreement: await crossed('agreement') };
    // another customer's service is as absent as one that does not exist, and counted
    const cross = await call('POST', `${QUOTE}/quote`, keys.globex, boostQuote(services.acme, 30, 'PT1H'));
    expect(cross.status).toBe(404);
    expect(cross.body).toMatchObject({ code: 'QB_NORTHBOUND_NOT_FOUND', message: `no service ${services.acme}` });
    const missing = 'svc-00000000-0000-0000-0000-000000000000';
    expect((await call('POST', `${QUOTE}/quote`, keys.globex, boostQuote(missing, 30, 'PT1H'))).body).toMatchObject({ code: 'QB_NORTHBOUND_NOT_FOUND', message: `no service ${missing}` });
    const agreement = (await call('GET', `${ORD}/serviceOrder/${orders.acme}`, keys.acme)).body['@qbAgreementId'] as string;
    const doc = await call('GET', `${AGR}/agreement/${agreement}/document`, keys.acme);
    expect(doc.status).toBe(200);
    expect(doc.headers.get('content-type')).toMatch(/^application\/jose\+json/);
    // the JWS itself (JSON General Serialization): one signature per provider on the path
    expect(contractBody(doc.body as unknown as SignedContract)).toMatchObject({ agreementId: agreement, originator: { domain: 'dom-a', customer: 'acme' } });
    expect(doc.body.signatures as unknown[]).toHaveLength(3);
    expect((await call('GET', `${AGR}/agreement/${agreement}/document`, keys.operator)).status).toBe(200);
    expect((await call('GET', `${AGR}/agreement/${agreement}/document`, keys.globex)).body).toMatchObject({ status: '404', code: 'QB_NORTHBOUND_NOT_FOUND', message: `no agreement ${agreement}` });
    expect((await call('GET', `${AGR}/agreement/agr-00000000-0000-0000-0000-000000000000/document`, keys.acme)).status).toBe(404);
    expect({ service: await crossed('service'), agreement: await crossed('agreement') }).toEqual({ service: before.service + 1, agreement: before.agreement + 1 });
    const topo = await call('GET', '/qos-broker/v1/topology', keys.operator);
    expect(topo.status).toBe(200);
    expect(topo.body.domain).toBe('dom-a');
    expect((topo.body.peers as Array<{ domain: string; state: string }>).map((p) => [p.domain, p.state]).sort()).toEqual([['dom-b', 'established'], ['dom-c', 'established']]);
    expect((topo.body.adverts as Array<{ origin: string }>).map((a) => a.origin).sort()).toEqual(['dom-a', 'dom-b', 'dom-c']);
    const refused = await call('GET', '/qos-broker/v1/topology', keys.acme);
    expect(refused.status).toBe(403);
    expect(refused.body).toMatchObject({ code: 'QB_NORTHBOUND_FORBIDDEN', reason: 'Forbidden', status: '403' });
  });

  test('portal - two customers sign in with their keys; each sees only its own services and orders', async () => {
    for (const [who, other] of [['acme', 'globex'], ['globex', 'acme']] as const) {
      const page = await signIn(keys[who], 'customer');
      await page.waitForSelector(`#services tr[data-service-id="${services[who]}"]`);
      await page.waitForSelector(`details.order[data-order-id="${orders[who]}"]`);
      expect(await text(page, '#customer-name strong')).toBe(who);
      expect(await page.locator('#services tbody tr').count()).toBe(1);
      expect(await page.locator(`[data-service-id="${services[other]}"]`).count()).toBe(0);
      expect(await page.locator(`[data-order-id="${orders[other]}"]`).count()).toBe(0);
      expect(await text(page, `#services tr[data-service-id="${services[who]}"] .state`)).toBe('active');
      expect(await text(page, `#services tr[data-service-id="${services[who]}"] .rate`)).toBe(who === 'acme' ? '10' : '5');
      // the order's per-step plan: agreed in dom-a, provisioned in all three
      const steps = page.locator(`details.order[data-order-id="${orders[who]}"] table.plan tbody tr`);
      expect(await steps.count()).toBe(4);
      expect(await steps.locator('td:nth-child(1)').allTextContents()).toEqual(['agree', 'provision', 'provision', 'provision']);
      expect(await steps.locator('td:nth-child(2)').allTextContents()).toEqual(['dom-a', 'dom-a', 'dom-b', 'dom-c']);
      expect(await steps.locator('td.state').allTextContents()).toEqual(['completed', 'completed', 'completed', 'completed']);
      await shot(page, `customer-${who}`);
      await page.close();
    }
    // a key that is not accepted stays on the sign-in form with the reason
    const page = await browser!.newPage();
    await page.goto(`${base}/portal/`);
    await page.fill('#api-key', `qbk_0123456789abcdef_${'A'.repeat(43)}`);
    await page.click('#sign-in');
    await page.waitForSelector('#login-error');
    expect(await text(page, '#login-error')).toContain('not accepted');
    await page.close();
  });

  test('portal - a customer boosts its service: the price first, then confirmed; the rate changes on the routers and later reverts; the contract downloads', async () => {
    const page = await signIn(keys.acme, 'customer');
    await page.click(`#services tr[data-service-id="${services.acme}"]`);
    await page.waitForSelector(`#service-detail[data-service-id="${services.acme}"]`);
    await textIs(page, '#detail-rate', '10');
    // the contract, as the file the browser saves
    await page.waitForSelector('#contract-download:not([disabled])');
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#contract-download')]);
    const saved = join(profile, 'contract.json');
    await download.saveAs(saved);
    const contract = JSON.parse(readFileSync(saved, 'utf8')) as SignedContract;
    const signed = contractBody(contract);
    expect(signed.originator.customer).toBe('acme');
    expect(contract.signatures).toHaveLength(3);
    expect(download.suggestedFilename()).toBe(`${signed.agreementId}.json`);
    // what cannot be boosted says why: checked on the page, refused by the API
    await page.fill('#boost-rate', '5');
    await page.click('#boost-price');
    await textIs(page, '#boost-error', 'the boosted rate must be above the ordered 10 Mbit/s');
    await page.fill('#boost-rate', '5000');
    await page.fill('#boost-duration', 'PT1H');
    await page.click('#boost-price');
    await page.waitForFunction(() => /^QB_[A-Z_]+: .*Mbit\/s/.test(document.querySelector('#boost-error')?.textContent ?? ''), undefined, { timeout: 10_000 });
    expect(await page.locator('#boost-quote').count()).toBe(0);
    // the price, before anything is ordered
    const boostDuration = 'PT25S';
    await page.fill('#boost-rate', '40');
    await page.fill('#boost-duration', boostDuration);
    await page.click('#boost-price');
    await page.waitForSelector('#boost-total');
    const quoted = (await call('POST', `${QUOTE}/quote`, keys.acme, boostQuote(services.acme, 40, boostDuration))).body.quoteItem[0].quoteItemPrice as Array<{ price: { dutyFreeAmount: { value: number; unit: string } } }>;
    const amount = quoted[0]!.price.dutyFreeAmount;
    expect(await text(page, '#boost-total')).toBe(`${amount.value.toFixed(2)} ${amount.unit}`);
    expect((await call('GET', `${ORD}/serviceOrder`, keys.acme)).body.filter((o) => (o.id as string).startsWith('mod-'))).toHaveLength(0);
    expect(await text(page, '#detail-rate')).toBe('10');
    await shot(page, 'boost-priced');
    // confirmed: a modify order, completed; the page shows the new rate, the routers carry it
    await page.click('#boost-confirm');
    await textIs(page, '#boost-result .state', 'completed');
    await textIs(page, '#detail-rate', '40');
    await textIs(page, `#services tr[data-service-id="${services.acme}"] .rate`, '40');
    expect((await lab.allRates()).filter((r) => r === 40_000)).toHaveLength(5);
    const mods = (await call('GET', `${ORD}/serviceOrder`, keys.acme)).body.filter((o) => (o.id as string).startsWith('mod-'));
    expect(mods.map((o) => o.state)).toEqual(['completed']);
    await page.waitForSelector(`details.order[data-order-id="${mods[0]!.id as string}"][data-state=completed]`);
    await page.waitForSelector('#detail-boost-until');
    await shot(page, 'boost-active');
    // back to the ordered rate when the boost ends, on the page and on the routers
    await textIs(page, '#detail-rate', '10', 90_000);
    await waitFor('the routers to carry 10 Mbit/s again', async () => (await lab.allRates()).filter((r) => r === 10_000).length === 5 && !(await lab.allRates()).includes(40_000), 30_000);
    // the chart saw 10, then 40, then 10
    const points = Number(await page.getAttribute('#service-detail .chart', 'data-points'));
    expect(points).toBeGreaterThan(3);
    expect(await page.locator('#service-detail .chart canvas').count()).toBe(1);
    const plan = page.locator(`details.order[data-order-id="${orders.acme}"] table.plan tbody tr td:nth-child(1)`);
    await page.waitForFunction((s) => [...document.querySelectorAll(s)].map((e) => e.textContent).filter((t) => t === 'revert').length >= 1, `details.order[data-order-id="${orders.acme}"] table.plan tbody tr td:nth-child(1)`, { timeout: 30_000 });
    expect(await plan.allTextContents()).toEqual(expect.arrayContaining(['modify', 'revert']));
    await shot(page, 'boost-reverted');
    await page.close();
  }, 180_000);

  test('portal - a measured rate: none from this lab\'s NETCONF routers (no counters, nothing made up); one the API gives is shown and charted as its own series', async () => {
    // lab_device (NETCONF) routers have no traffic counters: the API gives no measured rate rather than a made-up one
    const listed = (await call('GET', `${INV}/service`, keys.acme)).body;
    const chars = (listed.find((x) => x.id === services.acme)!.serviceCharacteristic as Array<{ name: string }>).map((c) => c.name);
    expect(chars).toContain('rateMbps');
    expect(chars).not.toContain('measuredRateMbps');
    expect(chars).not.toContain('measuredAt');
    // the portal's code path for one (the root e2e gets real ones from linux_tc routers): the API's own answer with the two characteristics the API adds when it measures
    const page = await signIn(keys.acme, 'customer');
    const at = new Date().toISOString();
    await page.route(`**${INV}/service?*`, async (route) => {
      const response = await route.fetch();
      const json = (await response.json()) as Array<{ id: string; serviceCharacteristic: unknown[] }>;
      for (const x of json) if (x.id === services.acme) x.serviceCharacteristic.push({ name: 'measuredRateMbps', valueType: 'number', value: 9.873 }, { name: 'measuredAt', valueType: 'string', value: at });
      await route.fulfill({ response, json });
    });
    await page.click(`#services tr[data-service-id="${services.acme}"]`);
    await page.waitForSelector(`#service-detail[data-service-id="${services.acme}"] #detail-measured`);
    expect(await text(page, '#detail-measured')).toBe('9.873');
    expect(await text(page, '#service-detail .muted')).toContain('and the measured rate');
    await page.waitForFunction(() => Number(document.querySelector('#service-detail .chart')?.getAttribute('data-measured-points')) >= 2, undefined, { timeout: 30_000, polling: 100 });
    expect(await page.locator('#service-detail .chart .u-legend .u-series').allTextContents()).toEqual(expect.arrayContaining([expect.stringContaining('measured (Mbit/s)')]));
    await shot(page, 'customer-measured');
    await page.close();
  });

  test('portal - the operator sees the domain graph, the peers and everyone\'s orders by state', async () => {
    const page = await signIn(keys.operator, 'operator');
    await page.waitForSelector('#graph[data-domains="3"][data-nodes="6"]');
    expect(Number(await page.getAttribute('#graph', 'data-edges'))).toBeGreaterThanOrEqual(6);
    expect(await page.locator('#graph canvas').count()).toBeGreaterThan(0);
    expect(await page.locator('#edges tbody tr[data-kind=transit]').count()).toBeGreaterThanOrEqual(3);
    expect(await page.locator('#edges tbody tr[data-kind=link]').count()).toBeGreaterThanOrEqual(4);
    expect(await text(page, '#peers tr[data-peer=dom-b] .state')).toBe('established');
    expect(await text(page, '#peers tr[data-peer=dom-c] .state')).toBe('established');
    for (const who of ['acme', 'globex'] as const) {
      await page.waitForSelector(`#operator-orders tr[data-order-id="${orders[who]}"]`);
      expect(await text(page, `#operator-orders tr[data-order-id="${orders[who]}"] .customer`)).toBe(who);
      expect(await text(page, `#operator-orders tr[data-order-id="${orders[who]}"] .state`)).toBe('completed');
    }
    const all = (await call('GET', `${ORD}/serviceOrder`, keys.operator)).body;
    expect(await text(page, '#order-states .chip[data-state=completed] strong')).toBe(String(all.filter((o) => o.state === 'completed').length));
    await page.waitForSelector('#alarms');
    await shot(page, 'operator');
    await page.close();
  });

  test('portal - no page error or console error in any tab', () => {
    expect(pageErrors).toEqual([]);
  });
});
