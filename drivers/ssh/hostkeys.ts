/**
 * Host key checking: OpenSSH known_hosts files (plain and hashed host names,
 * `[host]:port`, wildcards, negation, `@revoked`) and pinned SHA256
 * fingerprints.
 */
import { createHash, createHmac } from 'node:crypto';
import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import { HostKeyError } from '../errors.js';

/** `SHA256:<base64 without padding>`, as `ssh-keygen -l` prints it. */
export function fingerprintOf(keyBlob: Buffer): string {
  return 'SHA256:' + createHash('sha256').update(keyBlob).digest('base64').replace(/=+$/, '');
}

/** The key type written at the start of an SSH public key blob (`ssh-ed25519`, ...). */
export function keyTypeOf(keyBlob: Buffer): string {
  if (keyBlob.length < 4) return 'unknown';
  const n = keyBlob.readUInt32BE(0);
  return keyBlob.subarray(4, 4 + n).toString('ascii');
}

/** How a host key is checked. Exactly one of the ways must be given. */
export interface HostKeyPolicy {
  /** Path of an OpenSSH known_hosts file. */
  knownHostsFile?: string;
  /** Accepted fingerprints, `SHA256:...`; any one matching is enough. */
  fingerprints?: string[];
  /**
   * Accept a host that is not in `knownHostsFile` and record its key there.
   * A changed key is still refused. Only when asked for explicitly.
   * @default false
   */
  trustOnFirstUse?: boolean;
}

interface KnownHostEntry {
  marker?: '@revoked' | '@cert-authority';
  patterns: string;
  keyType: string;
  key: Buffer;
  line: number;
}

/** The name a host has in known_hosts: `host`, or `[host]:port` off port 22. */
export function knownHostsName(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`;
}

export function parseKnownHosts(text: string): KnownHostEntry[] {
  const entries: KnownHostEntry[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (!line || line.startsWith('#')) return;
    const fields = line.split(/\s+/);
    let marker: KnownHostEntry['marker'];
    if (fields[0] === '@revoked' || fields[0] === '@cert-authority') marker = fields.shift() as KnownHostEntry['marker'];
    if (fields.length < 3) return;
    const [patterns, keyType, b64] = fields as [string, string, string];
    entries.push({ marker, patterns, keyType, key: Buffer.from(b64, 'base64'), line: i + 1 });
  });
  return entries;
}

function globToRegExp(glob: string): RegExp {
  const re = glob.replace(/[.+^${}()|\\[\]]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^${re}$`, 'i');
}

/** Does a known_hosts pattern list (comma separated, hashed, wildcards, `!neg`) match `name`? */
export function hostMatches(patterns: string, name: string): boolean {
  if (patterns.startsWith('|1|')) {
    const [, , salt, hash] = patterns.split('|');
    if (!salt || !hash) return false;
    const h = createHmac('sha1', Buffer.from(salt, 'base64')).update(name).digest('base64');
    return h === hash;
  }
  let matched = false;
  for (const p of patterns.split(',')) {
    if (p.startsWith('!')) {
      if (globToRegExp(p.slice(1)).test(name)) return false;
    } else if (globToRegExp(p).test(name)) {
      matched = true;
    }
  }
  return matched;
}

/**
 * Decide whether `keyBlob` is the right key for host:port. Returns normally when
 * it is; throws HostKeyError (naming the presented fingerprint) when not.
 */
export function checkHostKey(policy: HostKeyPolicy, host: string, port: number, keyBlob: Buffer): void {
  const fp = fingerprintOf(keyBlob);
  const where = `${host}:${port}`;
  if (policy.fingerprints && policy.fingerprints.length > 0) {
    if (policy.fingerprints.some((f) => normalizeFingerprint(f) === fp)) return;
    throw new HostKeyError(
      'QB_SSH_HOST_KEY_MISMATCH',
      `host key of ${where} is ${fp}, which is not one of the pinned fingerprints (${policy.fingerprints.join(', ')}); if the device was re-keyed, pin the new fingerprint`,
      host,
      fp,
    );
  }
  if (!policy.knownHostsFile) {
    throw new HostKeyError(
      'QB_SSH_HOST_KEY_UNVERIFIED',
      `cannot verify the host key of ${where} (${fp}): give a known_hosts file (--known-hosts) or a pinned fingerprint (--fingerprint ${fp})`,
      host,
      fp,
    );
  }
  const file = policy.knownHostsFile;
  const name = knownHostsName(host, port);
  let entries: KnownHostEntry[];
  try {
    entries = existsSync(file) ? parseKnownHosts(readFileSync(file, 'utf8')) : [];
  } catch (err) {
    throw new HostKeyError('QB_SSH_KNOWN_HOSTS_UNREADABLE', `cannot read known_hosts file ${file}: ${(err as Error).message}`, host, fp);
  }
  const forHost = entries.filter((e) => e.marker !== '@cert-authority' && hostMatches(e.patterns, name));
  const revoked = entries.find((e) => e.marker === '@revoked' && e.key.equals(keyBlob));
  if (revoked) {
    throw new HostKeyError('QB_SSH_HOST_KEY_REVOKED', `host key of ${where} (${fp}) is marked @revoked in ${file} line ${revoked.line}`, host, fp);
  }
  if (forHost.some((e) => !e.marker && e.key.equals(keyBlob))) return;
  const type = keyTypeOf(keyBlob);
  const sameType = forHost.filter((e) => !e.marker && e.keyType === type);
  if (sameType.length > 0) {
    throw new HostKeyError(
      'QB_SSH_HOST_KEY_CHANGED',
      `host key of ${where} has CHANGED: it presented ${fp}, but ${file} line ${sameType[0]!.line} holds ${fingerprintOf(sameType[0]!.key)}; ` +
        `if the change is expected, remove that line (ssh-keygen -R '${name}' -f ${file})`,
      host,
      fp,
    );
  }
  if (policy.trustOnFirstUse) {
    try {
      appendFileSync(file, `${name} ${type} ${keyBlob.toString('base64')}\n`, { mode: 0o600 });
    } catch (err) {
      throw new HostKeyError('QB_SSH_KNOWN_HOSTS_UNWRITABLE', `cannot record the host key of ${where} (${fp}) in ${file}: ${(err as Error).message}`, host, fp);
    }
    return;
  }
  throw new HostKeyError(
    'QB_SSH_HOST_KEY_UNKNOWN',
    `host ${where} is not in ${file}; it presented ${fp}. Check the fingerprint out of band, then add it (ssh-keyscan -p ${port} ${host} >> ${file}) or pin it`,
    host,
    fp,
  );
}

function normalizeFingerprint(f: string): string {
  const t = f.trim();
  return (t.startsWith('SHA256:') ? t : `SHA256:${t}`).replace(/=+$/, '');
}
