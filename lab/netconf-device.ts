/**
 * A NETCONF device as the lab and the tests run it: a real netconfd
 * (yuma123) behind a real OpenSSH sshd, each with its own host key, socket,
 * home and logs under one state directory. Inside a network namespace when
 * `netns` is given (lab routers), on loopback otherwise (tests).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync, openSync, closeSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fingerprintOf } from '../drivers/ssh/hostkeys.js';
import { LabError } from './errors.js';
import { pidAlive } from './process.js';

const ROOT = resolve(fileURLToPath(import.meta.url), '../..').replace(/\/dist$/, '');
/** The lab device model served by every lab netconfd. */
export const LAB_DEVICE_YANG = join(ROOT, 'yang', 'qos-broker-lab-device.yang');

/** Options of one lab NETCONF device. */
export interface NetconfDeviceOptions {
  /** Address sshd listens on. @default '127.0.0.1' */
  address?: string;
  /** SSH port; 0 picks a free one. @default 0 */
  port?: number;
  /** Directory for keys, sockets, logs; created (and removed by stop) when not given. */
  stateDir?: string;
  /** Network namespace to run both servers in. */
  netns?: string;
  /** YANG modules netconfd loads. @default [LAB_DEVICE_YANG] */
  modules?: string[];
  /** Seconds to wait for both servers. @default 10 */
  startTimeoutS?: number;
  /**
   * Let both servers outlive this process (the lab's `up` exits and leaves
   * them running; `down` stops them by pid). @default false
   */
  detached?: boolean;
}

/** A running device and what a client needs to reach it. */
export interface NetconfDevice {
  host: string;
  port: number;
  username: string;
  privateKeyFile: string;
  knownHostsFile: string;
  /** SHA256 fingerprint of the device's host key. */
  fingerprint: string;
  stateDir: string;
  /** Files of the device's logs. */
  logs: { sshd: string; netconfd: string };
  /** Process ids of both servers. */
  pids: { sshd: number; netconfd: number };
  /** Stop both servers and remove the state directory if we made it. */
  stop(): Promise<void>;
}

/** Binaries a NETCONF device needs; a missing one is named in the error. */
export function checkNetconfDeviceBinaries(): void {
  for (const bin of ['/usr/sbin/sshd', '/usr/sbin/netconfd', '/usr/sbin/netconf-subsystem', '/usr/bin/ssh-keygen']) {
    if (!existsSync(bin)) {
      throw new LabError('QB_LAB_MISSING_BINARY', `${bin} is not installed: apt-get install -y netconfd openssh-server openssh-client`);
    }
  }
}

/** A free TCP port on 127.0.0.1 (the kernel picks it). */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  return (await freePorts(host, 1))[0]!;
}

/** Where the machine-wide port claims live: one file per port, naming the claiming process. */
function portClaimDir(): string {
  return process.getuid?.() === 0 ? '/run/qos-broker-ports' : join(tmpdir(), 'qos-broker-ports');
}

/** Ports this process claimed; their claim files go when it exits. */
const claimedPorts = new Set<number>();
process.once('exit', () => {
  for (const p of claimedPorts) rmSync(join(portClaimDir(), String(p)), { force: true });
});

/** Claim `port` machine-wide; false when a live process holds it. A crashed claimer's file is taken over. */
export function claimPort(port: number): boolean {
  const dir = portClaimDir();
  mkdirSync(dir, { recursive: true });
  const file = join(dir, String(port));
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(file, String(process.pid), { flag: 'wx' });
      claimedPorts.add(port);
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      let holder = 0;
      let age = 0;
      try {
        holder = Number(readFileSync(file, 'utf8'));
        age = Date.now() - statSync(file).mtimeMs;
      } catch {
        continue; // released meanwhile
      }
      // an empty file is a claim being written, unless it is old (its writer died in between)
      if ((holder > 0 && pidAlive(holder)) || (!holder && age < 10_000)) return false;
      rmSync(file, { force: true });
    }
  }
  return false;
}

let swept = false;

/** Remove the claims of processes that died without releasing them (killed, so no exit handler ran): done by each process's first freePorts, and by the test run's teardown. */
export function sweepStaleClaims(): void {
  swept = true;
  let names: string[];
  try {
    names = readdirSync(portClaimDir());
  } catch {
    return;
  }
  for (const name of names) {
    const file = join(portClaimDir(), name);
    try {
      const holder = Number(readFileSync(file, 'utf8'));
      // an empty file is a claim being written: left to its writer
      if (holder > 0 && !pidAlive(holder)) rmSync(file, { force: true });
    } catch {
      /* released meanwhile */
    }
  }
}

/** The kernel's ephemeral range starts here (net.ipv4.ip_local_port_range). */
function ephemeralLow(): number {
  try {
    return Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]) || 32768;
  } catch {
    return 32768; // not Linux: the default range
  }
}

/**
 * `n` distinct ports on `host` for servers this process (or its children) will
 * bind: free now, claimed machine-wide until this process exits (two test
 * workers never get the same port, also in the time between this check and a
 * daemon's bind), and below the kernel's ephemeral range, so no outgoing
 * connection of a busy machine takes one meanwhile (as it can a port the
 * kernel picked for `listen(0)`).
 */
export async function freePorts(host: string, n: number): Promise<number[]> {
  if (!swept) sweepStaleClaims();
  const low = ephemeralLow();
  const [from, to] = low > 12_000 ? [10_000, low - 1] : [low, 65_535];
  const ports: number[] = [];
  for (let tries = 0; ports.length < n; tries++) {
    if (tries >= 200 * n) throw new LabError('QB_LAB_ADDRESS_IN_USE', `no ${n} free ports on ${host} between ${from} and ${to} after ${tries} tries`);
    const port = from + Math.floor(Math.random() * (to - from + 1));
    if (claimedPorts.has(port) || !claimPort(port)) continue;
    const free = await new Promise<boolean>((res) => {
      const s = createServer();
      s.once('error', () => res(false));
      s.listen(port, host, () => s.close(() => res(true)));
    });
    if (free) ports.push(port);
    else {
      claimedPorts.delete(port);
      rmSync(join(portClaimDir(), String(port)), { force: true });
    }
  }
  return ports;
}

const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const c of live) c.kill('SIGKILL');
});

function inNetns(netns: string | undefined, cmd: string, args: string[]): [string, string[]] {
  return netns ? ['ip', ['netns', 'exec', netns, cmd, ...args]] : [cmd, args];
}

async function waitFor(what: string, timeoutMs: number, check: () => boolean | Promise<boolean>, logFile?: string): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > end) {
      const log = logFile && existsSync(logFile) ? `\n--- ${logFile}:\n${readFileSync(logFile, 'utf8').slice(-2000)}` : '';
      throw new LabError('QB_LAB_START_TIMEOUT', `${what} did not come up within ${timeoutMs} ms${log}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

function tcpOpen(host: string, port: number, netns?: string): Promise<boolean> {
  if (netns) {
    // asynchronous, so that several devices can start side by side
    return new Promise((res) => {
      const c = spawn('ip', ['netns', 'exec', netns, 'bash', '-c', `exec 3<>/dev/tcp/${host}/${port}`], { stdio: 'ignore' });
      c.once('error', () => res(false));
      c.once('exit', (code) => res(code === 0));
    });
  }
  return new Promise((res) => {
    const s = connect({ host, port });
    s.once('connect', () => {
      s.destroy();
      res(true);
    });
    s.once('error', () => res(false));
  });
}

function startProcess(netns: string | undefined, cmd: string, args: string[], logFile: string, cwd: string, env?: NodeJS.ProcessEnv, detached = false): ChildProcess {
  const [c, a] = inNetns(netns, cmd, args);
  const fd = openSync(logFile, 'a');
  const child = spawn(c, a, { stdio: ['ignore', fd, fd], env: env ?? process.env, cwd, detached });
  closeSync(fd);
  // a spawn failure (missing binary, bad cwd) shows as exitCode below; never as an unhandled 'error' event
  child.on('error', (err) => writeFileSync(logFile, `spawn ${c} failed: ${err.message}\n`, { flag: 'a' }));
  if (detached) {
    child.unref();
  } else {
    live.add(child);
    child.once('exit', () => live.delete(child));
  }
  return child;
}

async function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  await new Promise<void>((res) => {
    const t = setTimeout(() => child.kill('SIGKILL'), 2000);
    child.once('exit', () => {
      clearTimeout(t);
      res();
    });
    child.kill('SIGTERM');
  });
}

/** Start sshd + netconfd; resolves when both accept connections. */
export async function startNetconfDevice(options: NetconfDeviceOptions = {}): Promise<NetconfDevice> {
  // a port picked free can be taken by someone else before sshd binds it: pick again
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(options);
    } catch (err) {
      const raced = !options.port && !options.netns && err instanceof LabError && err.code === 'QB_LAB_START_FAILED' && /Address already in use/.test(err.message);
      if (!raced || attempt >= 3) throw err;
    }
  }
}

async function startOnce(options: NetconfDeviceOptions): Promise<NetconfDevice> {
  checkNetconfDeviceBinaries();
  const address = options.address ?? '127.0.0.1';
  const ownDir = !options.stateDir;
  const dir = options.stateDir ?? mkdtempSync(join(tmpdir(), 'qb-ncdev-'));
  mkdirSync(dir, { recursive: true });
  const timeoutMs = (options.startTimeoutS ?? 10) * 1000;
  const children: ChildProcess[] = [];
  const stop = async () => {
    await Promise.all(children.map(stopProcess));
    if (ownDir) rmSync(dir, { recursive: true, force: true });
  };
  try {
    const port = options.port || (options.netns ? 830 : await freePort(address));
    const keygen = (f: string) => {
      if (!existsSync(f)) {
        const r = spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'qos-broker-lab', '-f', f]);
        if (r.status !== 0) throw new LabError('QB_LAB_KEYGEN_FAILED', `ssh-keygen failed: ${r.stderr}`);
      }
    };
    keygen(join(dir, 'ssh_host_ed25519_key'));
    keygen(join(dir, 'client_key'));
    writeFileSync(join(dir, 'authorized_keys'), readFileSync(join(dir, 'client_key.pub')));
    const hostPub = readFileSync(join(dir, 'ssh_host_ed25519_key.pub'), 'utf8').trim().split(/\s+/);
    const keyBlob = Buffer.from(hostPub[1]!, 'base64');
    const name = port === 22 ? address : `[${address}]:${port}`;
    writeFileSync(join(dir, 'known_hosts'), `${name} ${hostPub[0]} ${hostPub[1]}\n`);
    const sock = join(dir, 'ncxserver.sock');
    mkdirSync(join(dir, 'home'), { recursive: true });
    mkdirSync('/run/sshd', { recursive: true });
    writeFileSync(
      join(dir, 'sshd_config'),
      [
        `Port ${port}`,
        `ListenAddress ${address}`,
        `HostKey ${join(dir, 'ssh_host_ed25519_key')}`,
        `PidFile ${join(dir, 'sshd.pid')}`,
        `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`,
        'PermitRootLogin prohibit-password',
        'PasswordAuthentication no',
        'KbdInteractiveAuthentication no',
        'StrictModes no',
        'UsePAM no',
        'UseDNS no',
        'MaxSessions 64',
        'MaxStartups 200',
        // bash sources ~/.bashrc for commands run by sshd unless SHLVL says it is nested;
        // a lab router's subsystem must not pay for the login user's interactive setup
        'SetEnv SHLVL=1',
        'LogLevel ERROR',
        `Subsystem netconf /usr/sbin/netconf-subsystem --ncxserver-sockname=${port}@${sock}`,
        '',
      ].join('\n'),
    );
    const logs = { sshd: join(dir, 'sshd.log'), netconfd: join(dir, 'netconfd.log') };
    const modules = options.modules ?? [LAB_DEVICE_YANG];
    children.push(
      startProcess(
        options.netns,
        '/usr/sbin/netconfd',
        [
          ...modules.map((m) => `--module=${m}`),
          '--target=candidate',
          `--port=${port}`,
          `--ncxserver-sockname=${sock}`,
          '--no-startup',
          '--with-startup=false',
          '--access-control=off',
          `--superuser=${userInfo().username}`,
          `--home=${join(dir, 'home')}`,
          `--log=${logs.netconfd}`,
          '--log-level=warn',
        ],
        join(dir, 'netconfd.out'),
        dir, // netconfd writes backup-cfg.xml into its working directory
        { ...process.env, HOME: join(dir, 'home') },
        options.detached,
      ),
    );
    children.push(startProcess(options.netns, '/usr/sbin/sshd', ['-D', '-e', '-f', join(dir, 'sshd_config')], logs.sshd, dir, undefined, options.detached));
    await waitFor(`netconfd (socket ${sock})`, timeoutMs, () => {
      if (children[0]!.exitCode !== null) throw new LabError('QB_LAB_START_FAILED', `netconfd exited with ${children[0]!.exitCode}: ${readFileSync(join(dir, 'netconfd.out'), 'utf8').slice(-1500)}`);
      return existsSync(sock);
    });
    await waitFor(`sshd on ${address}:${port}`, timeoutMs, async () => {
      if (children[1]!.exitCode !== null) throw new LabError('QB_LAB_START_FAILED', `sshd exited with ${children[1]!.exitCode}: ${readFileSync(logs.sshd, 'utf8').slice(-1500)}`);
      return tcpOpen(address, port, options.netns);
    }, logs.sshd);
    return {
      host: address,
      port,
      username: userInfo().username,
      privateKeyFile: join(dir, 'client_key'),
      knownHostsFile: join(dir, 'known_hosts'),
      fingerprint: fingerprintOf(keyBlob),
      stateDir: dir,
      logs,
      pids: { netconfd: children[0]!.pid ?? 0, sshd: children[1]!.pid ?? 0 },
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
