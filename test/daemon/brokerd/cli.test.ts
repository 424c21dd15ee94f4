/** `qos-broker peers|domains|adverts` against a running qos-brokerd (its Management service), and its errors. */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { spawnSync } from 'node:child_process';
import { Cluster, CLI, inventory, type Daemon } from './harness.js';

const cluster = new Cluster();
let d: Daemon;

beforeAll(async () => {
  await cluster.init();
  d = await cluster.start(cluster.pki.domain('dom-cli'), await cluster.allocate(), {
    role: 'provider',
    peers: [{ 'domain-id': 'dom-other', 'ca-file': cluster.pki.caCert }],
    inventory: inventory('dom-cli', ['dom-other']),
  });
});
afterAll(async () => {
  await cluster.stopAll();
});

const cli = (...args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });
const mgmt = () => `unix:${String(d.config['data-dir'])}/management.sock`;

describe('cli: qos-broker peers, domains, adverts', () => {
  test('cli - the three commands print tables and JSON', () => {
    const peers = cli('peers', '--management', mgmt());
    expect(peers.status).toBe(0);
    expect(peers.stdout).toMatch(/^domain dom-cli: 1 peer\(s\)\nPEER\s+STATE\s+DIRECTION/);
    expect(peers.stdout).toMatch(/dom-other\s+idle\s+-/);
    const domains = cli('domains', '--management', mgmt());
    expect(domains.stdout).toMatch(/dom-cli \(self\)\s+\d+\s+\S+Z\s+self\s+no\s+EF/);
    const adverts = JSON.parse(cli('adverts', '--management', mgmt(), '--json').stdout) as { adverts: { envelope: { origin: string; body: { links: { peerDomain: string }[] } } }[] };
    expect(adverts.adverts.map((a) => a.envelope.origin)).toEqual(['dom-cli']);
    expect(adverts.adverts[0]!.envelope.body.links[0]!.peerDomain).toBe('dom-other');
    // an exchange has no Management service: --admin reads the same views from the admin endpoint
    expect(JSON.parse(cli('peers', '--admin', d.admin, '--json').stdout)).toEqual(JSON.parse(cli('peers', '--management', mgmt(), '--json').stdout));
    const env = spawnSync(process.execPath, [CLI, 'adverts'], { encoding: 'utf8', env: { ...process.env, QOS_BROKER_MANAGEMENT: mgmt() } });
    expect(env.stdout).toMatch(/^ORIGIN\s+SEQ\s+ISSUED\s+EXPIRES\s+BORDERS\s+TRANSITS\s+LINKS\ndom-cli\s+\d+/);
  });

  test('cli - errors say what to change', () => {
    const bad = cli('peers', '--management', 'nowhere');
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/QB_INVALID_ARGUMENT: --management must be unix:PATH or host:port/);
    const none = spawnSync(process.execPath, [CLI, 'adverts'], { encoding: 'utf8', env: { ...process.env, QOS_BROKER_MANAGEMENT: '' } });
    expect(none.status).toBe(2);
    expect(none.stderr).toMatch(/QB_INVALID_ARGUMENT: --management unix:PATH\|HOST:PORT is required/);
    const both = cli('peers', '--management', mgmt(), '--admin', d.admin);
    expect(both.status).toBe(2);
    expect(both.stderr).toMatch(/QB_INVALID_ARGUMENT: --admin and --management name two daemons/);
    expect(cli('peers', '--admin', 'nowhere').stderr).toMatch(/QB_INVALID_ARGUMENT: --admin must be host:port/);
    expect(cli('domains', '--admin', '127.0.0.1:1').stderr).toMatch(/QB_ADMIN_UNREACHABLE: cannot reach qos-brokerd's admin endpoint at 127\.0\.0\.1:1/);
    const down = cli('domains', '--management', '127.0.0.1:1');
    expect(down.status).toBe(1);
    expect(down.stderr).toMatch(/QB_MANAGEMENT_UNREACHABLE: cannot reach qos-brokerd's management service at 127\.0\.0\.1:1: .*use --management/);
  });
});
