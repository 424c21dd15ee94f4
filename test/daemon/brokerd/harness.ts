/**
 * Runs qos-brokerd (dist/daemon/brokerd.js) as separate processes on loopback
 * with test certificates (openssl) and one redis-server per test file.
 * Everything started is stopped and every temp dir removed by stopAll().
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { stringify } from 'yaml';
import { twoBorderInventory } from '../../../lab/inventory.js';
import { makePki, type DomainFiles, type TestPki } from '../../../lab/pki.js';
import { startTestRedis, type TestRedis } from '../state/redis-harness.js';

import { freePort, freePorts } from '../../../lab/netconf-device.js';

export const BROKERD = resolve(__dirname, '../../../dist/daemon/brokerd.js');
export const CLI = resolve(__dirname, '../../../dist/daemon/cli/main.js');

export { freePort };

export interface Daemon {
  domain: string;
  files: DomainFiles;
  host: string;
  grpc: string;
  admin: string;
  metrics: string;
  configFile: string;
  config: Record<string, unknown>;
  proc: ChildProcess;
  logs: Record<string, unknown>[];
  exited: Promise<number | null>;
  /** Rewrite the config and send SIGHUP. */
  reload(mutate: (cfg: Record<string, unknown>) => void): void;
  get(path: string): Promise<Record<string, unknown>>;
  metricsText(): Promise<string>;
}

export class Cluster {
  readonly dir = mkdtempSync(join(tmpdir(), 'qb-brokerd-'));
  pki!: TestPki;
  redis!: TestRedis;
  readonly daemons: Daemon[] = [];
  private nextHost = 20 + Math.floor(Math.random() * 200);

  async init(): Promise<void> {
    if (!existsSync(BROKERD)) throw new Error(`${BROKERD} is missing: run npm run build (npm test does it)`);
    this.pki = makePki();
    this.redis = await startTestRedis();
  }

  /** Address parts for a new daemon: its own 127.0.0.x and three free ports. */
  async allocate(): Promise<{ host: string; grpc: string; admin: string; metrics: string }> {
    const host = `127.0.0.${this.nextHost++}`;
    const [grpc, admin, metrics] = await freePorts(host, 3);
    return { host, grpc: `${host}:${grpc}`, admin: `${host}:${admin}`, metrics: `${host}:${metrics}` };
  }

  /** Write a config and start the daemon; resolves once it logged "qos-brokerd started". */
  async start(
    files: DomainFiles,
    addr: { host: string; grpc: string; admin: string; metrics: string },
    config: Record<string, unknown>,
    /** When the daemon counts as started. @default its "qos-brokerd started" log line */
    started: (logs: Record<string, unknown>[]) => boolean = (logs) => logs.some((l) => l.msg === 'qos-brokerd started'),
    /** Extra environment of the process (e.g. QOS_BROKER_FAILPOINTS). */
    env: Record<string, string> = {},
  ): Promise<Daemon> {
    const configFile = join(this.dir, `${files.domain}.yaml`);
    const full: Record<string, unknown> = {
      'domain-id': files.domain,
      listen: addr.grpc,
      'data-dir': join(this.dir, `${files.domain}-data`),
      keys: { 'advert-key': files.advertKey, 'tls-cert': files.cert, 'tls-key': files.key },
      redis: { url: `unix://${this.redis.server.socketPath}` },
      metrics: { listen: addr.metrics },
      admin: { listen: addr.admin },
      ...config,
    };
    writeFileSync(configFile, stringify(full));
    const proc = spawn(process.execPath, [BROKERD, '--config', configFile], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
    const logs: Record<string, unknown>[] = [];
    let buf = '';
    let errText = '';
    proc.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        try {
          logs.push(JSON.parse(line) as Record<string, unknown>);
        } catch {
          logs.push({ raw: line });
        }
      }
    });
    proc.stderr!.on('data', (d: Buffer) => (errText += d.toString()));
    const exited = new Promise<number | null>((res) => proc.once('exit', (code) => res(code)));
    const daemon: Daemon = {
      domain: files.domain,
      files,
      ...addr,
      configFile,
      config: full,
      proc,
      logs,
      exited,
      reload(mutate) {
        mutate(full);
        writeFileSync(configFile, stringify(full));
        proc.kill('SIGHUP');
      },
      async get(path) {
        const r = await fetch(`http://${addr.admin}${path}`);
        return (await r.json()) as Record<string, unknown>;
      },
      async metricsText() {
        return (await fetch(`http://${addr.metrics}/metrics`)).text();
      },
    };
    this.daemons.push(daemon);
    let exitCode: number | null | undefined;
    void exited.then((c) => (exitCode = c));
    await waitFor(`${files.domain} to start`, () => {
      if (exitCode !== undefined) throw new Error(`${files.domain} exited with ${exitCode}: ${JSON.stringify(logs.slice(-3))} ${errText}`);
      return started(logs);
    });
    return daemon;
  }

  async stopAll(): Promise<void> {
    for (const d of this.daemons) {
      if (d.proc.exitCode === null && d.proc.signalCode === null) {
        d.proc.kill('SIGTERM');
        const t = setTimeout(() => d.proc.kill('SIGKILL'), 5000);
        await d.exited;
        clearTimeout(t);
      }
    }
    await this.redis?.stop().catch(() => {});
    this.pki?.cleanup();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export async function waitFor(what: string, cond: () => boolean | Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let ok = false;
    try {
      ok = await cond();
    } catch (err) {
      if (err instanceof Error && err.message.includes('exited with')) throw err;
    }
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** One sample of a metric from /metrics text (labels given must all match), or undefined. */
export function metricValue(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([^}]*)\})? (\S+)/.exec(line);
    if (!m || m[1] !== name) continue;
    const have: Record<string, string> = {};
    for (const kv of (m[3] ?? '').matchAll(/(\w+)="([^"]*)"/g)) have[kv[1]!] = kv[2]!;
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) return Number(m[4]);
  }
  return undefined;
}

/** Inventory YAML object for a test domain. */
export function inventory(domain: string, neighbours: string[], efMbps = 100): Record<string, unknown> {
  return twoBorderInventory(domain, neighbours, efMbps);
}
