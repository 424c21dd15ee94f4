/**
 * `qos-broker devices --probe` of a shell CLI router (linux_tc): an SSH
 * session with the host key checked and the router's tc release, on a real
 * lab router (needs root: network namespaces).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { probeShell, type ManagedDevice } from '../../../daemon/provisioning/segment.js';
import { labDown, labUp, type LabOptions, type LabUpResult } from '../../../lab/runner.js';

const FILE = resolve(import.meta.dirname, '../../../containerlab/single-router.clab.yml');
const isRoot = process.getuid?.() === 0;
const dir = mkdtempSync(join(tmpdir(), 'qb-probe-'));
const opts: LabOptions = { name: `qbp-${process.pid}`, mgmtSubnet: 'free', stateRoot: join(dir, 'labs') };

describe.skipIf(!isRoot)('probe of a linux_tc router (needs root: network namespaces)', () => {
  let up: LabUpResult;
  const device = (over: Partial<ManagedDevice['connection']> = {}): ManagedDevice => {
    const r = up.routers[0]!;
    return { inventory: { name: r.node, platform: 'linux_tc', interfaces: [] }, border: r.node, connection: { device: r.node, host: r.host, port: r.port, username: r.username, privateKeyFile: r.privateKeyFile, knownHostsFile: up.knownHostsFile, ...over } };
  };
  beforeAll(async () => {
    up = await labUp(FILE, opts);
  }, 60_000);
  afterAll(async () => {
    await labDown(FILE, opts).catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  test('probe - a linux_tc router answers over SSH with its tc release', async () => {
    expect(await probeShell(device())).toEqual(['ssh', expect.stringMatching(/^tc utility, iproute2-/)]);
  });

  test('probe - a router whose host key is not the known one is refused with the fingerprint it presented', async () => {
    const other = join(dir, 'known_hosts');
    writeFileSync(other, '');
    await expect(probeShell(device({ knownHostsFile: other }))).rejects.toThrow(/SHA256:/);
  });
});
