/** `qos-broker device ...` as a person runs it: the built binary against a real netconfd. */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startNetconfDevice, type NetconfDevice } from '../../../lab/netconf-device.js';

const BIN = resolve(__dirname, '../../../dist/daemon/cli/main.js');
const NS = 'urn:qos-broker:yang:lab-device';
let dev: NetconfDevice;
const dir = mkdtempSync(join(tmpdir(), 'qb-cli-'));

beforeAll(async () => {
  if (!existsSync(BIN)) throw new Error(`${BIN} is missing: run npm run build (npm test does it)`);
  dev = await startNetconfDevice();
});
afterAll(async () => {
  await dev?.stop();
  rmSync(dir, { recursive: true, force: true });
});

function cli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((res) => {
    const p = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    p.on('close', (code) => res({ code, stdout, stderr }));
  });
}

const conn = () => ['--host', dev.host, '--port', String(dev.port), '--user', dev.username, '--key', dev.privateKeyFile, '--known-hosts', dev.knownHostsFile, '--hello-settle-ms', '20'];

describe('qos-broker device', () => {
  test('cli - edit-config from a file, commit, get-config with a filter', async () => {
    const f = join(dir, 'change.xml');
    writeFileSync(f, `<device xmlns="${NS}"><hostname>cli-r1</hostname></device>`);
    const e = await cli(['device', 'edit-config', ...conn(), '--config', `@${f}`]);
    expect(e.stderr).toBe('');
    expect(e).toMatchObject({ code: 0, stdout: 'ok\n' });
    expect((await cli(['device', 'commit', ...conn()])).code).toBe(0);
    const r = await cli(['device', 'get-config', ...conn(), '--filter', `<device xmlns="${NS}"><hostname/></device>`]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('<hostname>cli-r1</hostname>');
  });

  test('cli - hello prints framing and capabilities', async () => {
    const r = await cli(['device', 'hello', ...conn()]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^session-id \d+, framing base:1.1 chunked/);
    expect(r.stdout).toContain('urn:ietf:params:netconf:capability:candidate:1.0');
  });

  test('cli - a device rpc-error prints its code, tag and path and exits 1', async () => {
    const r = await cli(['device', 'edit-config', ...conn(), '--config', `<device xmlns="${NS}"><interfaces><interface><name>e1</name><mtu>1</mtu></interface></interfaces></device>`]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/QB_NETCONF_RPC_ERROR: edit-config on 127\.0\.0\.1:\d+ failed with rpc-error invalid-value at .*lab:mtu/);
  });

  test('cli - an unknown host key is refused naming the fingerprint; a pinned fingerprint works', async () => {
    const empty = join(dir, 'kh-empty');
    writeFileSync(empty, '');
    const args = conn();
    args[args.indexOf('--known-hosts') + 1] = empty;
    const r = await cli(['device', 'hello', ...args]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('QB_SSH_HOST_KEY_UNKNOWN');
    expect(r.stderr).toContain(dev.fingerprint);
    const pinned = conn().filter((_, i, a) => a[i] !== '--known-hosts' && a[i - 1] !== '--known-hosts');
    expect((await cli(['device', 'hello', ...pinned, '--fingerprint', dev.fingerprint])).code).toBe(0);
  });

  test('cli - bad usage exits 2 with a message', async () => {
    expect(await cli(['device', 'frobnicate', '--host', 'h', '--user', 'u'])).toMatchObject({ code: 2 });
    const r = await cli(['device', 'get-config', '--user', 'u']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--host is required');
    expect((await cli(['device', 'get', '--host', 'h', '--user', 'u', '--port', 'abc'])).stderr).toContain('--port must be a whole number');
    expect((await cli(['nope'])).code).toBe(2);
  });
});
