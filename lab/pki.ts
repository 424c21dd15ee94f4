/** A lab PKI made with openssl: one CA (and an unrelated second one), per-domain TLS certificates (CN and SAN = domain id) and Ed25519 advert keys. Used by the tests and the benches. */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface DomainFiles {
  domain: string;
  cert: string;
  key: string;
  advertKey: string;
  certPem: Buffer;
  keyPem: Buffer;
  advertKeyPem: string;
}

export interface TestPki {
  dir: string;
  caCert: string;
  caPem: Buffer;
  domain(name: string, opts?: { cn?: string; ca?: 'main' | 'other' }): DomainFiles;
  /** A second, unrelated CA (for "issued by another CA"). */
  otherCaCert: string;
  cleanup(): void;
}

function ssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

function makeCa(dir: string, name: string): void {
  ssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.pem`,
    '-days', '2', '-subj', `/CN=${name}`, '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign'], dir);
}

/** Make the PKI in a new directory under `parent` (default: the temp dir). */
export function makePki(parent = tmpdir()): TestPki {
  const dir = mkdtempSync(join(parent, 'qb-pki-'));
  makeCa(dir, 'ca');
  makeCa(dir, 'other-ca');
  let n = 0;
  return {
    dir,
    caCert: join(dir, 'ca.pem'),
    caPem: readFileSync(join(dir, 'ca.pem')),
    otherCaCert: join(dir, 'other-ca.pem'),
    domain(name, opts = {}) {
      const cn = opts.cn ?? name;
      const ca = opts.ca === 'other' ? 'other-ca' : 'ca';
      const base = `${name}-${n++}`;
      writeFileSync(join(dir, `${base}.ext`), `subjectAltName=DNS:${cn}\nextendedKeyUsage=serverAuth,clientAuth\n`);
      ssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${base}.key`, '-out', `${base}.csr`, '-subj', `/CN=${cn}`], dir);
      ssl(['x509', '-req', '-in', `${base}.csr`, '-CA', `${ca}.pem`, '-CAkey', `${ca}.key`, '-CAcreateserial', '-out', `${base}.pem`, '-days', '2', '-extfile', `${base}.ext`], dir);
      ssl(['genpkey', '-algorithm', 'ed25519', '-out', `${base}-advert.key`], dir);
      return {
        domain: name,
        cert: join(dir, `${base}.pem`),
        key: join(dir, `${base}.key`),
        advertKey: join(dir, `${base}-advert.key`),
        certPem: readFileSync(join(dir, `${base}.pem`)),
        keyPem: readFileSync(join(dir, `${base}.key`)),
        advertKeyPem: readFileSync(join(dir, `${base}-advert.key`), 'utf8'),
      };
    },
    cleanup() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
