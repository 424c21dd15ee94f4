/**
 * SSH transport: moves bytes to and from a device over ssh2. It knows
 * nothing of NETCONF or CLIs; it opens subsystem, shell and exec channels on
 * one authenticated, host-key-checked connection.
 */
import { readFileSync } from 'node:fs';
import type { Duplex } from 'node:stream';
import { Client, type ClientChannel } from 'ssh2';
import { HostKeyError, InvalidArgumentError, SessionClosedError, TimeoutError, TransportError } from '../errors.js';
import { checkHostKey, type HostKeyPolicy } from './hostkeys.js';

/** Options of one SSH connection. */
export interface SshOptions extends HostKeyPolicy {
  host: string;
  /** @default 22 */
  port?: number;
  username: string;
  /** Password authentication. */
  password?: string;
  /** Private key (PEM/OpenSSH text or Buffer) for public-key authentication. */
  privateKey?: string | Buffer;
  /** Path of a private key file; read when `privateKey` is not given. */
  privateKeyFile?: string;
  /** Passphrase of an encrypted private key. */
  passphrase?: string;
  /** Time allowed for TCP connect, SSH handshake and authentication, in ms. @default 10000 */
  connectTimeoutMs?: number;
  /** Interval of SSH keepalive requests in ms; 0 disables. @default 15000 */
  keepaliveIntervalMs?: number;
  /** Unanswered keepalives before the connection is declared dead. @default 3 */
  keepaliveCountMax?: number;
  /** An already connected stream to run SSH over (tests, jump hosts). */
  sock?: Duplex;
  /** Receives ssh2's protocol debug lines (packets, channel events). @default none */
  debug?: (line: string) => void;
}

export const SSH_DEFAULTS = {
  port: 22,
  connectTimeoutMs: 10_000,
  keepaliveIntervalMs: 15_000,
  keepaliveCountMax: 3,
} as const;

/** Connection status: `connecting` until authenticated, then `ready`, finally `closed`. */
export type SshStatus = 'connecting' | 'ready' | 'closed';

/** Ciphers in our order of preference: AES-GCM runs in OpenSSL through node:crypto. */
const CIPHERS: string[] = [
  'aes128-gcm@openssh.com',
  'aes256-gcm@openssh.com',
  'aes128-ctr',
  'aes256-ctr',
  'chacha20-poly1305@openssh.com',
];

export class SshTransport {
  status: SshStatus = 'connecting';
  readonly host: string;
  readonly port: number;
  private readonly client: Client;
  private closeError: Error | undefined;
  /** How long opening a channel may take (the connect timeout). */
  private channelTimeoutMs: number = SSH_DEFAULTS.connectTimeoutMs;

  private constructor(client: Client, host: string, port: number) {
    this.client = client;
    this.host = host;
    this.port = port;
  }

  /** `user@host:port`, for messages. */
  get label(): string {
    return `${this.host}:${this.port}`;
  }

  /** Connect, check the host key, authenticate. */
  static connect(options: SshOptions): Promise<SshTransport> {
    const port = options.port ?? SSH_DEFAULTS.port;
    const timeout = options.connectTimeoutMs ?? SSH_DEFAULTS.connectTimeoutMs;
    const where = `${options.host}:${port}`;
    if (!options.password && !options.privateKey && !options.privateKeyFile) {
      return Promise.reject(new InvalidArgumentError(`no credentials for ${where}: give a password or a private key`));
    }
    if (!options.knownHostsFile && !(options.fingerprints && options.fingerprints.length)) {
      return Promise.reject(
        new InvalidArgumentError(`no way to check the host key of ${where}: give a known_hosts file or a pinned SHA256 fingerprint`),
      );
    }
    let privateKey = options.privateKey;
    if (!privateKey && options.privateKeyFile) {
      try {
        privateKey = readFileSync(options.privateKeyFile);
      } catch (err) {
        return Promise.reject(new InvalidArgumentError(`cannot read private key file ${options.privateKeyFile}: ${(err as Error).message}`, { cause: err }));
      }
    }
    const client = new Client();
    const transport = new SshTransport(client, options.host, port);
    transport.channelTimeoutMs = timeout;
    return new Promise<SshTransport>((resolve, reject) => {
      let hostKeyError: HostKeyError | undefined;
      let settled = false;
      const timer = setTimeout(() => {
        fail(new TimeoutError('QB_SSH_CONNECT_TIMEOUT', `SSH connect to ${where} did not complete within ${timeout} ms (connectTimeoutMs)`));
      }, timeout);
      const fail = (err: Error) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        transport.status = 'closed';
        client.end();
        client.destroy();
        reject(err);
      };
      client.once('ready', () => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        transport.status = 'ready';
        resolve(transport);
      });
      client.on('error', (err: Error & { level?: string }) => {
        if (!settled) {
          if (hostKeyError) return fail(hostKeyError);
          if (err.level === 'client-authentication') {
            return fail(new TransportError('QB_SSH_AUTH_FAILED', `SSH authentication as ${options.username} to ${where} failed (methods tried: ${options.privateKey || options.privateKeyFile ? 'publickey' : ''}${options.password ? ' password' : ''})`, { cause: err }));
          }
          if (err.level === 'client-timeout') {
            return fail(new TimeoutError('QB_SSH_CONNECT_TIMEOUT', `SSH connect to ${where} timed out: ${err.message}`, { cause: err }));
          }
          return fail(new TransportError('QB_SSH_CONNECT_FAILED', `SSH connect to ${where} failed: ${err.message}`, { cause: err }));
        }
        transport.closeError = new TransportError('QB_SSH_CONNECTION_LOST', `SSH connection to ${where} failed: ${err.message}`, { cause: err });
      });
      client.on('close', () => {
        transport.status = 'closed';
        if (!settled) fail(hostKeyError ?? new TransportError('QB_SSH_CONNECT_FAILED', `SSH connection to ${where} closed during set-up`));
      });
      try {
        client.connect({
          host: options.host,
          port,
          sock: options.sock,
          username: options.username,
          password: options.password,
          privateKey,
          passphrase: options.passphrase,
          readyTimeout: timeout,
          debug: options.debug,
          // straight to the methods we have: no "none" probe, one round trip less per session
          authHandler: [...(privateKey ? (['publickey'] as const) : []), ...(options.password !== undefined ? (['password'] as const) : [])],
          keepaliveInterval: options.keepaliveIntervalMs ?? SSH_DEFAULTS.keepaliveIntervalMs,
          keepaliveCountMax: options.keepaliveCountMax ?? SSH_DEFAULTS.keepaliveCountMax,
          algorithms: { cipher: { prepend: CIPHERS } as never },
          hostVerifier: (key: Buffer) => {
            try {
              checkHostKey(options, options.host, port, key);
              return true;
            } catch (err) {
              hostKeyError = err instanceof HostKeyError ? err : new HostKeyError('QB_SSH_HOST_KEY_CHECK_FAILED', `checking the host key of ${where} failed: ${(err as Error).message}`, options.host, '');
              return false;
            }
          },
        });
        // the handshake and RPCs are small back-to-back messages: with Nagle's algorithm each
        // second one waits for the peer's delayed ACK (the netconf bench's set-up time, bench/README.md)
        client.setNoDelay(true);
      } catch (err) {
        fail(new InvalidArgumentError(`SSH options for ${where} are invalid: ${(err as Error).message}`, { cause: err }));
      }
    });
  }

  /** Open a subsystem channel (`netconf`). */
  subsystem(name: string): Promise<ClientChannel> {
    return this.channel(`subsystem ${name}`, (cb) => this.client.subsys(name, cb));
  }

  /** Open an interactive shell with a pseudo-terminal. */
  shell(window: { rows?: number; cols?: number; term?: string } = {}): Promise<ClientChannel> {
    return this.channel('shell', (cb) => this.client.shell({ rows: window.rows ?? 200, cols: window.cols ?? 511, term: window.term ?? 'vt100' }, cb));
  }

  /** Run one command; resolves with its output and exit code (null if the server sent none; see drivers/cli/ssh-exec.ts). */
  async exec(command: string, timeoutMs = 30_000): Promise<{ stdout: string; stderr: string; code: number | null; signal?: string }> {
    const ch = await this.channel(`exec`, (cb) => this.client.exec(command, cb));
    return new Promise((resolve, reject) => {
      let stdout = '';
      let stderr = '';
      let code: number | null = null;
      let signal: string | undefined;
      const timer = setTimeout(() => {
        ch.close();
        reject(new TimeoutError('QB_SSH_EXEC_TIMEOUT', `command on ${this.label} did not finish within ${timeoutMs} ms: ${command}`));
      }, timeoutMs);
      ch.on('data', (d: Buffer) => (stdout += d.toString('utf8')));
      ch.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
      ch.on('exit', (c: number | null, sig?: string) => {
        code = c;
        signal = sig ?? undefined;
      });
      // code stays null when the server closed the channel without an exit status
      ch.on('close', () => {
        clearTimeout(timer);
        resolve({ stdout, stderr, code, ...(signal ? { signal } : {}) });
      });
    });
  }

  private channel(what: string, open: (cb: (err: Error | undefined, ch: ClientChannel) => void) => void): Promise<ClientChannel> {
    if (this.status !== 'ready') {
      return Promise.reject(this.closeError ?? new SessionClosedError('QB_SSH_CLOSED', `SSH connection to ${this.label} is ${this.status}`));
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(new TimeoutError('QB_SSH_CHANNEL_TIMEOUT', `${this.label} did not open ${what} within ${this.channelTimeoutMs} ms`));
      }, this.channelTimeoutMs);
      open((err, ch) => {
        clearTimeout(timer);
        if (err) reject(new TransportError('QB_SSH_CHANNEL_FAILED', `cannot open ${what} on ${this.label}: ${err.message}`, { cause: err }));
        else resolve(ch);
      });
    });
  }

  /** End the connection gracefully; resolves once it is closed. */
  close(): Promise<void> {
    if (this.status === 'closed') return Promise.resolve();
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.client.destroy();
        resolve();
      }, 2000);
      this.client.once('close', () => {
        clearTimeout(t);
        resolve();
      });
      this.client.end();
    });
  }

  /** Abort the connection at once. */
  destroy(): void {
    this.status = 'closed';
    this.client.destroy();
  }

  /** Register a callback for the end of the connection. */
  onClose(cb: (err?: Error) => void): void {
    this.client.once('close', () => cb(this.closeError));
  }
}
