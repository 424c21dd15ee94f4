import { createHmac, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { checkHostKey, fingerprintOf, hostMatches, keyTypeOf } from '../../../drivers/ssh/hostkeys.js';
import { HostKeyError } from '../../../drivers/errors.js';

function blob(type: string, body: Buffer): Buffer {
  const t = Buffer.from(type);
  const len = Buffer.alloc(4);
  len.writeUInt32BE(t.length);
  return Buffer.concat([len, t, body]);
}
const keyA = blob('ssh-ed25519', randomBytes(36));
const keyB = blob('ssh-ed25519', randomBytes(36));
const dir = mkdtempSync(join(tmpdir(), 'qb-hostkeys-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function codeOf(fn: () => void): string {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(HostKeyError);
    return (e as HostKeyError).code;
  }
  return 'accepted';
}

describe('hostkeys', () => {
  test('hostkeys - fingerprint matches the OpenSSH SHA256 form', () => {
    expect(fingerprintOf(keyA)).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/);
    expect(keyTypeOf(keyA)).toBe('ssh-ed25519');
  });
  test('hostkeys - patterns: port form, wildcards, negation, hashed', () => {
    expect(hostMatches('[10.0.0.1]:830', '[10.0.0.1]:830')).toBe(true);
    expect(hostMatches('[10.0.0.1]:830', '[10.0.0.1]:831')).toBe(false);
    expect(hostMatches('r?.lab,*.example', 'r1.lab')).toBe(true);
    expect(hostMatches('*.lab,!bad.lab', 'bad.lab')).toBe(false);
    const salt = randomBytes(20);
    const hashed = `|1|${salt.toString('base64')}|${createHmac('sha1', salt).update('router1').digest('base64')}`;
    expect(hostMatches(hashed, 'router1')).toBe(true);
    expect(hostMatches(hashed, 'router2')).toBe(false);
  });
  test('hostkeys - known key accepted, changed key refused naming both fingerprints, unknown host refused', () => {
    const kh = join(dir, 'kh1');
    writeFileSync(kh, `# comment\n[r1]:830 ssh-ed25519 ${keyA.toString('base64')}\n`);
    expect(codeOf(() => checkHostKey({ knownHostsFile: kh }, 'r1', 830, keyA))).toBe('accepted');
    let err: HostKeyError | undefined;
    try {
      checkHostKey({ knownHostsFile: kh }, 'r1', 830, keyB);
    } catch (e) {
      err = e as HostKeyError;
    }
    expect(err?.code).toBe('QB_SSH_HOST_KEY_CHANGED');
    expect(err?.message).toContain(fingerprintOf(keyB));
    expect(err?.message).toContain(fingerprintOf(keyA));
    expect(err?.fingerprint).toBe(fingerprintOf(keyB));
    expect(codeOf(() => checkHostKey({ knownHostsFile: kh }, 'r2', 830, keyA))).toBe('QB_SSH_HOST_KEY_UNKNOWN');
  });
  test('hostkeys - trust on first use records an unknown key but still refuses a changed one', () => {
    const kh = join(dir, 'kh2');
    expect(codeOf(() => checkHostKey({ knownHostsFile: kh, trustOnFirstUse: true }, 'r3', 22, keyA))).toBe('accepted');
    expect(readFileSync(kh, 'utf8')).toBe(`r3 ssh-ed25519 ${keyA.toString('base64')}\n`);
    expect(codeOf(() => checkHostKey({ knownHostsFile: kh }, 'r3', 22, keyA))).toBe('accepted');
    expect(codeOf(() => checkHostKey({ knownHostsFile: kh, trustOnFirstUse: true }, 'r3', 22, keyB))).toBe('QB_SSH_HOST_KEY_CHANGED');
  });
  test('hostkeys - @revoked key refused', () => {
    const kh = join(dir, 'kh3');
    writeFileSync(kh, `@revoked * ssh-ed25519 ${keyA.toString('base64')}\nr4 ssh-ed25519 ${keyA.toString('base64')}\n`);
    expect(codeOf(() => checkHostKey({ knownHostsFile: kh }, 'r4', 22, keyA))).toBe('QB_SSH_HOST_KEY_REVOKED');
  });
  test('hostkeys - pinned fingerprints', () => {
    const fp = fingerprintOf(keyA);
    expect(codeOf(() => checkHostKey({ fingerprints: [fp] }, 'r5', 22, keyA))).toBe('accepted');
    expect(codeOf(() => checkHostKey({ fingerprints: [fp.slice(7)] }, 'r5', 22, keyA))).toBe('accepted');
    expect(codeOf(() => checkHostKey({ fingerprints: [fp] }, 'r5', 22, keyB))).toBe('QB_SSH_HOST_KEY_MISMATCH');
    expect(codeOf(() => checkHostKey({}, 'r5', 22, keyB))).toBe('QB_SSH_HOST_KEY_UNVERIFIED');
  });
});
