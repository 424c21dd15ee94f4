/**
 * Checks of a contract with implementations independent of qos-broker's own
 * (jose for Node, jwcrypto for Python): the tests that run daemons hand them
 * a contract a qos-brokerd made.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import * as jose from 'jose';

const run = promisify(execFile);
const PYTHON = '/usr/bin/python3';
const SCRIPT = fileURLToPath(new URL('../../fixtures/contract/jwcrypto_verify.py', import.meta.url));

/** Why jwcrypto cannot run here, or undefined when it can (CI installs python3-jwcrypto in .ci/setup). */
export function jwcryptoMissing(): string | undefined {
  if (!existsSync(PYTHON)) return `${PYTHON} is not installed`;
  if (!existsSync('/usr/lib/python3/dist-packages/jwcrypto')) return 'python3-jwcrypto is not installed (apt-get install python3-jwcrypto; .ci/setup does)';
  return undefined;
}

const jwkOf = (raw: string) => ({ kty: 'OKP', crv: 'Ed25519', x: Buffer.from(raw, 'base64').toString('base64url') });

/** jose's generalVerify with each party's key: the protected header of the signature it found, and the payload as JSON. */
export async function joseVerify(contract: unknown, keys: Record<string, string>): Promise<Record<string, { header: Record<string, unknown>; payload: unknown; kid: string }>> {
  const out: Record<string, { header: Record<string, unknown>; payload: unknown; kid: string }> = {};
  for (const [domain, raw] of Object.entries(keys)) {
    const r = await jose.generalVerify(contract as jose.GeneralJWSInput, await jose.importJWK(jwkOf(raw), 'EdDSA'), { algorithms: ['EdDSA'] });
    out[domain] = { header: r.protectedHeader as Record<string, unknown>, payload: JSON.parse(new TextDecoder().decode(r.payload)), kid: await jose.calculateJwkThumbprint(jwkOf(raw)) };
  }
  return out;
}

/** jwcrypto (Python) with each party's key; throws when a key verifies no signature. */
export async function jwcryptoVerify(contractJson: string, keys: Record<string, string>): Promise<{ verified: string[]; kids: Record<string, string>; headers: Array<Record<string, unknown>>; payload: unknown }> {
  const dir = mkdtempSync(join(tmpdir(), 'qb-jwcrypto-'));
  try {
    writeFileSync(join(dir, 'c.json'), contractJson);
    writeFileSync(join(dir, 'k.json'), JSON.stringify(keys));
    const { stdout } = await run(PYTHON, [SCRIPT, join(dir, 'c.json'), join(dir, 'k.json')]);
    return JSON.parse(stdout);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
