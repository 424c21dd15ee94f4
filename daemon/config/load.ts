/**
 * Reading the config file: YAML (the `yaml` package), checked by parseConfig,
 * relative paths resolved against the config file's directory, then the key
 * and certificate files read into what the daemon needs. Errors name the key.
 * Key material is never logged: use redactedConfig() for logs.
 */
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { createPrivateKey, type KeyObject, X509Certificate } from 'node:crypto';
import { parseDocument } from 'yaml';
import { ConfigError } from '../errors.js';
import { parseConfig, type BrokerConfig } from './schema.js';
import { labDeviceEntries, parseDevices } from './devices.js';
import { loadLabPlan } from '../../lab/topology.js';
import { rawPublicKey, toPrivateKey } from '../crypto/keys.js';
import { normaliseFingerprint, type OwnTls } from '../peering/tls.js';
import type { PeerSpec } from '../peering/peering-core.js';

export { ConfigError } from '../errors.js';
export type { BrokerConfig } from './schema.js';

/** Parse YAML text; syntax errors become ConfigError with line and column. */
export function parseConfigText(text: string, baseDir: string): BrokerConfig {
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length) {
    const e = doc.errors[0]!;
    const where = e.linePos?.[0] ? `line ${e.linePos[0].line} column ${e.linePos[0].col}` : 'the file';
    throw new ConfigError('', `YAML syntax error at ${where}: ${e.message.split('\n')[0]}`);
  }
  const cfg = parseConfig(doc.toJS());
  const abs = (p: string) => (isAbsolute(p) ? p : resolve(baseDir, p));
  if (cfg.devicesFrom) {
    cfg.devicesFrom = abs(cfg.devicesFrom);
    const readJson = (f: string) => {
      try {
        return JSON.parse(readFileSync(f, 'utf8')) as unknown;
      } catch (err) {
        throw new ConfigError('devices-from', `cannot read the lab inventory ${f}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message} (is the lab up?)`, { cause: err });
      }
    };
    const entries = labDeviceEntries(cfg.devicesFrom, cfg.domainId, readJson, (f) => loadLabPlan(f));
    const lab = parseDevices(entries, cfg.inventory, 'devices-from');
    const clash = lab.find((d) => cfg.devices.some((x) => x.name === d.name));
    if (clash) throw new ConfigError('devices', `device ${clash.name} is both in devices and in the lab of devices-from`);
    cfg.devices.push(...lab);
  }
  cfg.dataDir = abs(cfg.dataDir);
  cfg.keys = { advertKey: abs(cfg.keys.advertKey), tlsCert: abs(cfg.keys.tlsCert), tlsKey: abs(cfg.keys.tlsKey) };
  if (cfg.northbound?.tlsCert) cfg.northbound = { ...cfg.northbound, tlsCert: abs(cfg.northbound.tlsCert), tlsKey: abs(cfg.northbound.tlsKey!) };
  if (cfg.northbound?.jwt?.jwksFile) cfg.northbound = { ...cfg.northbound, jwt: { ...cfg.northbound.jwt, jwksFile: abs(cfg.northbound.jwt.jwksFile) } };
  for (const p of cfg.peers) {
    p.caFile = abs(p.caFile);
    if (p.advertPublicKeyFile) p.advertPublicKeyFile = abs(p.advertPublicKeyFile);
  }
  for (const o of cfg.originKeys) if (o.publicKeyFile) o.publicKeyFile = abs(o.publicKeyFile);
  for (const d of cfg.devices) {
    if (d.keyFile) d.keyFile = abs(d.keyFile);
    if (d.passwordFile) d.passwordFile = abs(d.passwordFile);
    if (d.knownHostsFile) d.knownHostsFile = abs(d.knownHostsFile);
  }
  // the management socket lives in the data directory unless given
  if (cfg.management.listen === 'unix:management.sock') cfg.management.listen = `unix:${resolve(cfg.dataDir, 'management.sock')}`;
  else if (cfg.management.listen.startsWith('unix:')) cfg.management.listen = `unix:${abs(cfg.management.listen.slice(5))}`;
  return cfg;
}

/** Read and check a config file. */
export function loadConfigFile(file: string): BrokerConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError('', `cannot read the config file ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, { cause: err });
  }
  return parseConfigText(text, dirname(resolve(file)));
}

/** What the daemon needs from the files a config names. */
export interface Material {
  own: OwnTls;
  signingKey: KeyObject;
  peers: PeerSpec[];
  originKeys: Record<string, string>;
}

function readFor(key: string, path: string, what: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new ConfigError(key, `cannot read ${what} ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, { cause: err });
  }
}

function publicKeyFrom(key: string, value: string | undefined, file: string | undefined): string | undefined {
  const src = value ?? (file ? readFor(key, file, 'the Ed25519 public key').toString('utf8') : undefined);
  if (src === undefined) return undefined;
  try {
    return rawPublicKey(src.trim());
  } catch (err) {
    throw new ConfigError(key, `expected an Ed25519 public key (32 bytes base64, or PEM): ${err instanceof Error ? err.message : String(err)}`);
  }
}

/** Read keys and certificates. Throws ConfigError naming the key whose file is missing or wrong. */
export function loadMaterial(cfg: BrokerConfig): Material {
  const certPem = readFor('keys.tls-cert', cfg.keys.tlsCert, 'the TLS certificate');
  try {
    new X509Certificate(certPem);
  } catch {
    throw new ConfigError('keys.tls-cert', `${cfg.keys.tlsCert} is not a PEM X.509 certificate`);
  }
  const keyPem = readFor('keys.tls-key', cfg.keys.tlsKey, 'the TLS private key');
  try {
    createPrivateKey(keyPem);
  } catch {
    throw new ConfigError('keys.tls-key', `${cfg.keys.tlsKey} is not a PEM private key`);
  }
  let signingKey: KeyObject;
  try {
    signingKey = toPrivateKey(readFor('keys.advert-key', cfg.keys.advertKey, 'the advertisement signing key').toString('utf8'));
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    throw new ConfigError('keys.advert-key', `${cfg.keys.advertKey} is not an Ed25519 private key in PEM (make one with: openssl genpkey -algorithm ed25519 -out FILE)`);
  }
  const peers = cfg.peers.map((p, i): PeerSpec => {
    const caPem = readFor(`peers[${i}].ca-file`, p.caFile, 'the peer CA');
    try {
      new X509Certificate(caPem);
    } catch {
      throw new ConfigError(`peers[${i}].ca-file`, `${p.caFile} is not a PEM X.509 certificate`);
    }
    return {
      domain: p.domainId,
      address: p.address,
      caPem,
      certSha256: p.certSha256 ? normaliseFingerprint(p.certSha256) : undefined,
      publicKey: publicKeyFrom(`peers[${i}].${p.advertPublicKey ? 'advert-public-key' : 'advert-public-key-file'}`, p.advertPublicKey, p.advertPublicKeyFile),
      register: p.exchange,
    };
  });
  const originKeys: Record<string, string> = {};
  cfg.originKeys.forEach((o, i) => {
    originKeys[o.domainId] = publicKeyFrom(`origin-keys[${i}].${o.publicKey ? 'public-key' : 'public-key-file'}`, o.publicKey, o.publicKeyFile)!;
  });
  cfg.devices.forEach((d, i) => {
    if (d.keyFile) readFor(`devices[${i}].key-file`, d.keyFile, `the SSH private key of device ${d.name}`);
    if (d.passwordFile) readFor(`devices[${i}].password-file`, d.passwordFile, `the password file of device ${d.name}`);
    if (d.knownHostsFile) readFor(`devices[${i}].known-hosts-file`, d.knownHostsFile, `the known_hosts file of device ${d.name}`);
  });
  return { own: { certPem, keyPem }, signingKey, peers, originKeys };
}

/** The config as it may be logged: no key material (only paths), Redis password hidden. */
export function redactedConfig(cfg: BrokerConfig): Record<string, unknown> {
  return {
    role: cfg.role,
    domain_id: cfg.domainId,
    broker_id: cfg.brokerId,
    listen: cfg.listen,
    peers: cfg.peers.map((p) => ({ domain_id: p.domainId, address: p.address ?? null, exchange: p.exchange })),
    redis: cfg.redis.url ? redactUrl(cfg.redis.url) : 'embedded',
    metrics: cfg.metrics?.listen ?? null,
    admin: cfg.admin?.listen ?? null,
  };
}

export function redactUrl(url: string): string {
  return url.replace(/\/\/([^@/]*)@/, (_m, cred: string) => `//${cred.includes(':') ? `${cred.split(':')[0]}:***` : '***'}@`);
}

/** What changed between two configs (SIGHUP reload). */
export interface ConfigDiff {
  peersAdded: string[];
  peersRemoved: string[];
  /** Peers whose entry changed: removed and added again. */
  peersChanged: string[];
  inventoryChanged: boolean;
  originKeysChanged: boolean;
  tunablesChanged: boolean;
  ownTlsChanged: boolean;
  /** Keys that only take effect after a restart. */
  needsRestart: string[];
}

export function diffConfig(a: BrokerConfig, b: BrokerConfig): ConfigDiff {
  const pa = new Map(a.peers.map((p) => [p.domainId, JSON.stringify(p)]));
  const pb = new Map(b.peers.map((p) => [p.domainId, JSON.stringify(p)]));
  const same = (x: unknown, y: unknown) => JSON.stringify(x) === JSON.stringify(y);
  const needsRestart: string[] = [];
  const restartKeys: [string, unknown, unknown][] = [
    ['role', a.role, b.role],
    ['domain-id', a.domainId, b.domainId],
    ['broker-id', a.brokerId, b.brokerId],
    ['listen', a.listen, b.listen],
    ['data-dir', a.dataDir, b.dataDir],
    ['keys.advert-key', a.keys.advertKey, b.keys.advertKey],
    ['redis', a.redis, b.redis],
    ['metrics', a.metrics, b.metrics],
    ['admin', a.admin, b.admin],
    ['agreement', a.agreement, b.agreement],
    ['management', a.management, b.management],
    ['workflow', a.workflow, b.workflow],
    ['provisioning', a.provisioning, b.provisioning],
    ['northbound', a.northbound, b.northbound],
    ['peering.hold-time-s', a.peering.holdTimeS, b.peering.holdTimeS],
  ];
  for (const [k, x, y] of restartKeys) if (!same(x, y)) needsRestart.push(k);
  return {
    peersAdded: [...pb.keys()].filter((d) => !pa.has(d)),
    peersRemoved: [...pa.keys()].filter((d) => !pb.has(d)),
    peersChanged: [...pb.keys()].filter((d) => pa.has(d) && pa.get(d) !== pb.get(d)),
    inventoryChanged: !same(a.inventory, b.inventory),
    originKeysChanged: !same(a.originKeys, b.originKeys),
    tunablesChanged: !same({ ...a.peering, holdTimeS: 0 }, { ...b.peering, holdTimeS: 0 }),
    ownTlsChanged: !same([a.keys.tlsCert, a.keys.tlsKey], [b.keys.tlsCert, b.keys.tlsKey]),
    needsRestart,
  };
}
