import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { spawnSync } from 'node:child_process';
import { parse, stringify } from 'yaml';
import { diffConfig, loadMaterial, parseConfigText, redactedConfig, redactUrl } from '../../../daemon/config/load.js';
import { createLogger } from '../../../daemon/config/log.js';
import { makePki, type DomainFiles, type TestPki } from '../../../lab/pki.js';
import { BROKERD } from '../brokerd/harness.js';
import { configErrorOf, parseDoc } from './parse.js';

const EXAMPLES = resolve(__dirname, '../../../daemon/config/examples');
let pki: TestPki;
let files: DomainFiles;

beforeAll(() => {
  pki = makePki();
  files = pki.domain('dom-a');
});
afterAll(() => pki?.cleanup());

function base(): Record<string, unknown> {
  return {
    role: 'provider',
    'domain-id': 'dom-a',
    listen: '127.0.0.1:50061',
    keys: { 'advert-key': files.advertKey, 'tls-cert': files.cert, 'tls-key': files.key },
    peers: [{ 'domain-id': 'dom-b', 'ca-file': pki.caCert, address: '127.0.0.2:50062' }],
    inventory: {
      borders: ['a1', 'a2'],
      transits: [{ id: 'a1-a2', from: 'a1', to: 'a2', classes: { EF: { 'capacity-mbps': 100, 'latency-ms': 2 } } }],
      prices: { currency: 'EUR', 'per-mbps-hour': { EF: 0.5 } },
    },
  };
}

const errorOf = (doc: unknown) => configErrorOf(() => parseDoc(doc, pki.dir));

function withChange(change: (c: Record<string, any>) => void): Record<string, unknown> {
  const c = base() as Record<string, any>;
  change(c);
  return c;
}

describe('config', () => {
  test('config - every example config is valid', () => {
    const names = readdirSync(EXAMPLES).filter((f) => f.endsWith('.yaml'));
    expect(names.sort()).toEqual(['dom-a.yaml', 'dom-b.yaml', 'dom-c.yaml', 'exchange.yaml']);
    for (const n of names) {
      const cfg = parseConfigText(readFileSync(join(EXAMPLES, n), 'utf8'), EXAMPLES);
      expect(cfg.listen).toMatch(/^127\.0\.0\.\d:500\d\d$/);
      expect(cfg.keys.tlsCert.startsWith(join(EXAMPLES, 'keys'))).toBe(true);
    }
  });

  test('config - a good config gets its defaults', () => {
    const cfg = parseConfigText(stringify(base()), pki.dir);
    expect(cfg).toMatchObject({ brokerId: 'dom-a-1', advertiseAddress: '127.0.0.1:50061', redis: { embedded: true, keyPrefix: 'qb' }, log: { level: 'info' } });
    expect(cfg.peering).toMatchObject({ holdTimeS: 90, advertLifetimeS: 270, readvertiseThreshold: 0.1 });
    expect(cfg.peers[0]).toMatchObject({ domainId: 'dom-b', exchange: false });
    expect(cfg.northbound).toBeUndefined();
  });

  test('config - inventory sites carry their prefixes; a host address or a non-prefix is refused naming the key', () => {
    const site = (prefixes: unknown) => withChange((c) => {
      c.inventory.sites = [{ id: 'paris', borders: ['a1'], prefixes }];
    });
    expect(parseConfigText(stringify(site(['198.18.10.0/24', '2001:db8::/48'])), pki.dir).inventory!.sites[0]).toEqual({ id: 'paris', borders: ['a1'], prefixes: ['198.18.10.0/24', '2001:db8::/48'] });
    expect(parseConfigText(stringify(base()), pki.dir).inventory!.sites).toEqual([]);
    const host = errorOf(site(['198.18.10.2/24']));
    expect(host.key).toBe('inventory.sites[0].prefixes[0]');
    expect(host.message).toContain('use the network address 198.18.10.0/24');
    expect(errorOf(site(['paris'])).key).toBe('inventory.sites[0].prefixes[0]');
  });

  test('config - northbound: loopback plain HTTP gets its defaults; another address with tls-cert and tls-key (paths resolved)', () => {
    const lo = parseConfigText(stringify({ ...base(), northbound: { listen: '127.0.0.1:8080' } }), pki.dir);
    expect(lo.northbound).toEqual({ listen: '127.0.0.1:8080', bodyLimitBytes: 65_536, rateLimitPerS: 50, rateLimitBurst: 100, idempotencyTtlS: 86_400, hubTimeoutMs: 5000, hubAllowHosts: [] });
    const tls = parseConfigText(stringify({ ...base(), northbound: { listen: '0.0.0.0:8443', 'tls-cert': 'nb.crt', 'tls-key': 'nb.key', 'rate-limit': { 'per-s': 5, burst: 10 } } }), pki.dir);
    expect(tls.northbound).toMatchObject({ listen: '0.0.0.0:8443', tlsCert: join(pki.dir, 'nb.crt'), tlsKey: join(pki.dir, 'nb.key'), rateLimitPerS: 5, rateLimitBurst: 10 });
    expect(errorOf({ ...base(), role: 'exchange', inventory: undefined, northbound: { listen: '127.0.0.1:8080' } }).key).toBe('northbound');
    // bearer JWTs: a JWKS file (resolved like every path) or a loopback / allow-listed https URL, claims mapped
    const jf = parseConfigText(stringify({ ...base(), northbound: { listen: '127.0.0.1:8080', jwt: { 'jwks-file': 'idp.json', issuer: 'https://idp/', audience: 'qb' } } }), pki.dir);
    expect(jf.northbound!.jwt).toEqual({ jwksFile: join(pki.dir, 'idp.json'), jwksAllowHosts: [], issuer: 'https://idp/', audience: 'qb', roleClaim: 'role', customerClaim: 'customer', roles: { customer: 'customer', operator: 'operator' }, algorithms: ['EdDSA', 'ES256', 'RS256'] });
    const ju = parseConfigText(stringify({ ...base(), northbound: { listen: '127.0.0.1:8080', jwt: { 'jwks-url': 'https://IdP.example.net/jwks', 'jwks-allow-hosts': ['idp.example.net'], issuer: 'https://idp/', audience: 'qb', 'role-claim': 'qb_role', roles: { ops: 'operator' } } } }), pki.dir);
    expect(ju.northbound!.jwt).toMatchObject({ jwksUrl: 'https://IdP.example.net/jwks', roleClaim: 'qb_role', roles: { ops: 'operator' } });
  });

  test.each([
    ['role', (c: any) => (c.role = 'router'), /expected provider or exchange/],
    ['domain-id', (c: any) => (c['domain-id'] = 'dom a'), /expected a domain id/],
    ['listen', (c: any) => (c.listen = 'localhost'), /expected host:port/],
    ['keys.tls-key', (c: any) => delete c.keys['tls-key'], /is required/],
    ['peers[0].address', (c: any) => (c.peers[0].address = '127.0.0.2:99999'), /port 0-65535/],
    ['peers[0].adress', (c: any) => (c.peers[0].adress = 'x'), /unknown key; expected one of: .*address/],
    ['peers[0].domain-id', (c: any) => (c.peers[0]['domain-id'] = 'dom-a'), /own domain id/],
    ['peers[0].cert-sha256', (c: any) => (c.peers[0]['cert-sha256'] = 'abc'), /SHA-256 fingerprint/],
    ['peering.hold-time-s', (c: any) => (c.peering = { 'hold-time-s': 1 }), /integer >= 3/],
    ['inventory.transits[0].classes.EF.capacity-mbps', (c: any) => (c.inventory.transits[0].classes.EF['capacity-mbps'] = -1), />= 0/],
    ['inventory.transits[0].to', (c: any) => (c.inventory.transits[0].to = 'zz'), /not in inventory.borders/],
    ['inventory.prices.currency', (c: any) => (c.inventory.prices.currency = 'euro'), /ISO 4217/],
    ['inventory', (c: any) => delete c.inventory, /required for role provider/],
    ['admin.listen', (c: any) => (c.admin = { listen: '0.0.0.0:9470' }), /must be a loopback address/],
    ['redis.url', (c: any) => (c.redis = { url: 'http://x' }), /a Redis URL/],
    ['redis.embedded', (c: any) => (c.redis = { url: 'redis://127.0.0.1:6379', embedded: true }), /cannot be true together/],
    ['log.level', (c: any) => (c.log = { level: 'loud' }), /debug, info, warn or error/],
    ['metrics', (c: any) => (c.metrics = 9464), /expected a mapping/],
    ['northbound.listen', (c: any) => (c.northbound = { listen: '0.0.0.0:8443' }), /plain HTTP is allowed on a loopback address only.*set tls-cert and tls-key/],
    ['northbound.tls-key', (c: any) => (c.northbound = { listen: '0.0.0.0:8443', 'tls-cert': 'nb.crt' }), /give both tls-cert and tls-key/],
    ['northbound.listen', (c: any) => (c.northbound = {}), /is required: host:port/],
    ['northbound.rate-limit.per-s', (c: any) => (c.northbound = { listen: '127.0.0.1:8080', 'rate-limit': { 'per-s': 0 } }), /requests per second per API key/],
    ['northbound.rate-limit.burts', (c: any) => (c.northbound = { listen: '127.0.0.1:8080', 'rate-limit': { burts: 5 } }), /unknown key; expected one of: burst, per-s/],
    ['northbound.body-limit-bytes', (c: any) => (c.northbound = { listen: '127.0.0.1:8080', 'body-limit-bytes': 10 }), /integer >= 1024/],
    ['northbound.port', (c: any) => (c.northbound = { listen: '127.0.0.1:8080', port: 8080 }), /unknown key/],
    ['northbound.jwt.jwks-file', (c: any, j = { 'jwks-file': 'a.json', 'jwks-url': 'http://127.0.0.1/j' }) => (c.northbound = { listen: '127.0.0.1:8080', jwt: { issuer: 'https://idp/', audience: 'qb', ...j } }), /give exactly one of jwks-file and jwks-url/],
    ['northbound.jwt.jwks-url', (c: any, j = { 'jwks-url': 'https://idp.example.net/jwks' }) => (c.northbound = { listen: '127.0.0.1:8080', jwt: { issuer: 'https://idp/', audience: 'qb', ...j } }), /host idp.example.net is neither loopback nor in northbound.jwt.jwks-allow-hosts/],
    ['northbound.jwt.jwks-url', (c: any, j = { 'jwks-url': 'http://idp.example.net/jwks', 'jwks-allow-hosts': ['idp.example.net'] }) => (c.northbound = { listen: '127.0.0.1:8080', jwt: { issuer: 'https://idp/', audience: 'qb', ...j } }), /must be https \(http only on loopback\)/],
    ['northbound.jwt.roles.admin', (c: any, j = { 'jwks-file': 'a.json', roles: { admin: 'root' } }) => (c.northbound = { listen: '127.0.0.1:8080', jwt: { issuer: 'https://idp/', audience: 'qb', ...j } }), /expected customer or operator, got "root"/],
    ['northbound.jwt.algorithms[0]', (c: any, j = { 'jwks-file': 'a.json', algorithms: ['HS256'] }) => (c.northbound = { listen: '127.0.0.1:8080', jwt: { issuer: 'https://idp/', audience: 'qb', ...j } }), /expected an asymmetric JWS algorithm/],
    ['northbound.jwt.issuer', (c: any) => (c.northbound = { listen: '127.0.0.1:8080', jwt: { 'jwks-file': 'a.json', audience: 'qb' } }), /is required: the identity provider's issuer/],
  ])('config - %s: the error names the key and says what is expected', (key, change, msg) => {
    const err = errorOf(withChange(change));
    expect(err.key).toBe(key);
    expect(err.code).toBe('QB_CONFIG_INVALID');
    expect(err.message.startsWith(`${key}: `)).toBe(true);
    expect(err.message).toMatch(msg);
  });

  test('config - a YAML syntax error gives the line', () => {
    const err = errorOf('role: provider\ndomain-id: [dom-a\n');
    expect(err.message).toMatch(/YAML syntax error at line \d+/);
  });

  test('config - key files: a missing or wrong file names its key', () => {
    const cfg = parseConfigText(stringify(base()), pki.dir);
    expect(loadMaterial(cfg).peers[0]).toMatchObject({ domain: 'dom-b', address: '127.0.0.2:50062' });
    const wrong = parseConfigText(stringify(withChange((c) => (c.keys['advert-key'] = files.key))), pki.dir);
    expect(() => loadMaterial(wrong)).toThrow(/^keys\.advert-key: .* is not an Ed25519 private key/);
    const missing = parseConfigText(stringify(withChange((c) => (c.peers[0]['ca-file'] = 'nope.pem'))), pki.dir);
    expect(() => loadMaterial(missing)).toThrow(/^peers\[0\]\.ca-file: cannot read the peer CA .*nope\.pem: ENOENT/);
  });

  test('config - diff for reload: peers added, removed, changed; what needs a restart', () => {
    const a = parseConfigText(stringify(base()), pki.dir);
    const b = parseConfigText(
      stringify(
        withChange((c) => {
          c.peers = [{ 'domain-id': 'dom-c', 'ca-file': pki.caCert }];
          c.listen = '127.0.0.1:50099';
          c.inventory.transits[0].classes.EF['capacity-mbps'] = 50;
        }),
      ),
      pki.dir,
    );
    expect(diffConfig(a, b)).toMatchObject({ peersAdded: ['dom-c'], peersRemoved: ['dom-b'], peersChanged: [], inventoryChanged: true, needsRestart: ['listen'] });
    const c = parseConfigText(stringify(withChange((x) => (x.peers[0].address = '127.0.0.9:1'))), pki.dir);
    expect(diffConfig(a, c)).toMatchObject({ peersAdded: [], peersRemoved: [], peersChanged: ['dom-b'], inventoryChanged: false, needsRestart: [] });
  });

  test('config - secrets never reach the logs', () => {
    expect(redactUrl('redis://user:hunter2@10.0.0.1:6379/0')).toBe('redis://user:***@10.0.0.1:6379/0');
    const cfg = parseConfigText(stringify(withChange((c) => (c.redis = { url: 'redis://:hunter2@127.0.0.1:6379' }))), pki.dir);
    expect(JSON.stringify(redactedConfig(cfg))).not.toContain('hunter2');
    const lines: string[] = [];
    const log = createLogger({ write: (l) => lines.push(l) });
    log('info', 'x', { private_key: 'PEM', password: 'p', peer: 'dom-b' });
    log('debug', 'hidden at info');
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0]!)).toMatchObject({ level: 'info', msg: 'x', private_key: '***', password: '***', peer: 'dom-b' });
  });

  test('config - qos-brokerd --check exits 2 naming the bad key, 0 for a good config', () => {
    const bad = join(pki.dir, 'bad.yaml');
    writeFileSync(bad, stringify(withChange((c) => (c.peers[0]['ca-file'] = 17))));
    const r = spawnSync(process.execPath, [BROKERD, '--config', bad, '--check'], { encoding: 'utf8' });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/QB_CONFIG_INVALID: peers\[0\]\.ca-file: expected path of the CA/);
    const good = join(pki.dir, 'good.yaml');
    writeFileSync(good, stringify(base()));
    const ok = spawnSync(process.execPath, [BROKERD, '--config', good, '--check'], { encoding: 'utf8' });
    expect(ok.stderr).toBe('');
    expect(ok.status).toBe(0);
    expect(parse(readFileSync(good, 'utf8'))).toMatchObject({ role: 'provider' });
  });
});
