/**
 * What the benches that run qos-brokerd processes share: the daemon binary,
 * a test domain's inventory, starting a daemon from a config, stopping it,
 * and the cleanup that removes every process and temp dir a bench owns,
 * also when the bench dies of an error or of SIGINT/SIGTERM/SIGHUP.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { twoBorderInventory } from '../lab/inventory.js';
import { freePorts } from '../lab/netconf-device.js';
import type { TestPki } from '../lab/pki.js';
import { pidAlive } from '../lab/runner.js';

export const BROKERD = resolve(dirname(fileURLToPath(import.meta.url)), '../daemon/brokerd.js');

export const quantile = (xs: number[], q: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.floor(q * s.length))]! : NaN;
};
export const median = (xs: number[]): number => quantile(xs, 0.5);
export const round = (x: number, d = 2): number => Math.round(x * 10 ** d) / 10 ** d;

/** The three domains of the benches' cluster, in path order. */
export const DOMAINS = ['dom-a', 'dom-b', 'dom-c'] as const;
export type Domain = (typeof DOMAINS)[number];
const NEIGHBOURS: Record<Domain, Domain[]> = { 'dom-a': ['dom-b'], 'dom-b': ['dom-a', 'dom-c'], 'dom-c': ['dom-b'] };

/** Where a domain of the cluster listens: its gRPC (peers) and admin endpoints on loopback. */
export interface DomainAddress {
  grpc: string;
  admin: string;
}

/** Free loopback ports for every domain, all taken together so that none is handed out twice. */
export async function clusterAddresses(): Promise<Record<Domain, DomainAddress>> {
  const ports = await freePorts('127.0.0.1', 2 * DOMAINS.length);
  return Object.fromEntries(DOMAINS.map((d, i) => [d, { grpc: `127.0.0.1:${ports[2 * i]}`, admin: `127.0.0.1:${ports[2 * i + 1]}` }])) as Record<Domain, DomainAddress>;
}

/**
 * The config of one domain of the cluster (dom-a -> dom-b -> dom-c, mutual TLS with
 * the PKI's certificates, an embedded redis-server under `dir`): dom-a originates and
 * dials both, dom-b dials dom-c. `extra` is merged over it (devices, log level...).
 */
export function domainConfig(d: Domain, dir: string, pki: TestPki, addr: Record<Domain, DomainAddress>, extra: Record<string, unknown> = {}): Record<string, unknown> {
  const keys = pki.domain(d);
  const peer = (n: Domain) => ({ 'domain-id': n, 'ca-file': pki.caCert, ...((d === 'dom-a' || (d === 'dom-b' && n === 'dom-c')) ? { address: addr[n].grpc } : {}) });
  return {
    role: 'provider',
    'domain-id': d,
    listen: addr[d].grpc,
    'data-dir': `${dir}/${d}-data`,
    keys: { 'advert-key': keys.advertKey, 'tls-cert': keys.cert, 'tls-key': keys.key },
    peering: { 'hold-time-s': 9, 'advert-lifetime-s': 60, 'backoff-initial-ms': 100, 'backoff-max-ms': 1000, 'readvertise-min-interval-ms': 5000 },
    peers: DOMAINS.filter((n) => n !== d).map(peer),
    redis: { embedded: true },
    inventory: twoBorderInventory(d, NEIGHBOURS[d], 100_000),
    admin: { listen: addr[d].admin },
    log: { level: 'warn' },
    ...extra,
  };
}

/** Wait until every daemon holds the three adverts and dom-a's sessions are established (at most 30 s). */
export async function converged(daemons: Array<BenchDaemon & DomainAddress>, timeoutMs = 30_000): Promise<void> {
  const get = async (d: DomainAddress, path: string) => (await (await fetch(`http://${d.admin}${path}`)).json()) as Record<string, unknown>;
  const deadline = Date.now() + timeoutMs;
  for (const d of daemons) {
    for (;;) {
      if (d.proc.exitCode !== null) throw new Error(`${d.domain} exited with ${d.proc.exitCode}`);
      const ok = await get(d, '/v1/adverts').then((b) => (b.adverts as unknown[]).length === 3, () => false);
      const peersUp = d.domain !== 'dom-a' || (await get(d, '/v1/peers').then((b) => (b.peers as { state: string }[]).every((p) => p.state === 'established'), () => false));
      if (ok && peersUp) break;
      if (Date.now() > deadline) throw new Error(`${d.domain} did not converge within ${timeoutMs / 1000} s`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

/** A qos-brokerd process a bench started. */
export interface BenchDaemon {
  domain: string;
  proc: ChildProcess;
  exited: Promise<unknown>;
  /** performance.now() when it was spawned. */
  spawnedAt: number;
}

/**
 * Write `config` to `file` and start qos-brokerd on it; owned until stopDaemons.
 * `onLine` gets each line of its stdout (its JSON logs); without it stdout is dropped.
 */
export function spawnDaemon(domain: string, file: string, config: Record<string, unknown>, onLine?: (line: string) => void): BenchDaemon {
  writeFileSync(file, stringify(config));
  // e.g. QB_BENCH_DAEMON_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" to profile the daemons
  const nodeArgs = (process.env.QB_BENCH_DAEMON_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const spawnedAt = performance.now();
  // e.g. QB_BENCH_DAEMON_LOG_DIR=/tmp/logs to keep each daemon's JSON log lines in <dir>/<domain>.log (appended)
  const logDir = process.env.QB_BENCH_DAEMON_LOG_DIR;
  const logFd = logDir ? openSync(join(logDir, `${domain}.log`), 'a') : undefined;
  const proc = spawn(process.execPath, [...nodeArgs, BROKERD, '--config', file], { stdio: ['ignore', onLine ? 'pipe' : (logFd ?? 'ignore'), 'inherit'] });
  if (logFd !== undefined) closeSync(logFd);
  if (onLine) {
    let buf = '';
    proc.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      for (let i; (i = buf.indexOf('\n')) >= 0; buf = buf.slice(i + 1)) onLine(buf.slice(0, i));
    });
  }
  owned.add(proc);
  return { domain, proc, exited: new Promise((r) => proc.once('exit', r)), spawnedAt };
}

/** SIGTERM (each daemon stops its own redis-server), SIGKILL after 5 s; no longer owned once gone. */
export async function stopDaemons(daemons: BenchDaemon[]): Promise<void> {
  for (const d of daemons) if (d.proc.exitCode === null && d.proc.signalCode === null) d.proc.kill('SIGTERM');
  await Promise.all(
    daemons.map(async (d) => {
      const t = setTimeout(() => d.proc.kill('SIGKILL'), 5000);
      await d.exited;
      clearTimeout(t);
      owned.delete(d.proc);
    }),
  );
}

/**
 * The daemons go with the bench, also when it dies of an uncaught error (e.g. EPIPE
 * when its output is piped into `head`) or of SIGINT/SIGTERM/SIGHUP: 'exit' handlers
 * run synchronously, so the daemons get SIGTERM (each stops its own redis-server),
 * and the temp dirs are removed once they are gone (at most 5 s).
 */
const owned = new Set<ChildProcess>();
/** Temp dirs removed at exit (after the daemons are gone). */
export const ownedDirs = new Set<string>();
/** Other processes of the bench (a lab device's sshd and netconfd), stopped at exit with the daemons. */
export const ownedPids = new Set<number>();
function stopOwnedNow(): void {
  const alive = [...owned].filter((c) => c.exitCode === null && c.signalCode === null).map((c) => c.pid!);
  const others = [...ownedPids].filter(pidAlive);
  const kill = (pid: number, sig: NodeJS.Signals) => {
    try {
      process.kill(pid, sig);
    } catch {
      // gone meanwhile
    }
  };
  for (const pid of [...alive, ...others]) kill(pid, 'SIGTERM');
  // our exited children stay zombies until the event loop reaps them, which it cannot do here
  const gone = (pid: number) => !pidAlive(pid);
  const sleeper = new Int32Array(new SharedArrayBuffer(4));
  for (const end = Date.now() + 5000; Date.now() < end && ![...alive, ...others].every(gone); ) Atomics.wait(sleeper, 0, 0, 50);
  for (const pid of [...alive, ...others]) if (!gone(pid)) kill(pid, 'SIGKILL');
  for (const d of ownedDirs) rmSync(d, { recursive: true, force: true });
}
process.once('exit', stopOwnedNow);
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.once(sig, () => process.exit(128 + ({ SIGINT: 2, SIGTERM: 15, SIGHUP: 1 } as const)[sig]));
