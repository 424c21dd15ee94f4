/**
 * The embedded default: with no Redis configured, the daemon starts a private
 * redis-server (found on PATH) that listens only on a unix socket under its
 * data dir and keeps its data there.
 *
 * Persistence: append-only file on (`appendonly yes`) with `appendfsync
 * everysec`: every write is logged to the AOF and fsync'd once per second, so
 * a crash of the machine loses at most about one second of holds and bookings
 * and a crash of the daemon or of redis-server loses nothing. RDB snapshots
 * are off (`save ""`); the AOF (under <dataDir>/redis/appendonlydir) is the
 * only copy. Use an external Redis (state.redis in the config) for replication
 * or `appendfsync always`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, mkdirSync, openSync, closeSync, readFileSync } from 'node:fs';
import { delimiter, join, resolve } from 'node:path';
import { Redis } from 'ioredis';
import { ResourceStoreError } from '../errors.js';

/** Options of startEmbeddedRedis. */
export interface EmbeddedRedisOptions {
  /** redis-server binary. @default the first `redis-server` on PATH */
  redisServerPath?: string;
  /** How long to wait for the server to answer PING, ms. @default 10000 */
  startTimeoutMs?: number;
  /** Where the log line about the start goes. @default one JSON line on stderr */
  log?: (line: Record<string, unknown>) => void;
  /** More redis-server arguments, appended last (e.g. `['--maxmemory', '1gb']`). @default [] */
  extraArgs?: string[];
}

/** A running private redis-server. */
export interface EmbeddedRedis {
  /** Unix socket to connect to (ioredis option `path`). */
  readonly socketPath: string;
  /** Directory with the AOF and redis.log. */
  readonly dir: string;
  readonly pid: number;
  /** Stop the server (SIGTERM: redis flushes the AOF and exits) and wait for it. */
  stop(): Promise<void>;
}

/** Longest unix socket path Linux accepts (sun_path is 108 bytes with the NUL). */
const MAX_SOCKET_PATH = 107;

/** The first executable `name` on PATH, or undefined. */
export function findOnPath(name: string, path = process.env.PATH ?? ''): string | undefined {
  for (const dir of path.split(delimiter)) {
    if (!dir) continue;
    const file = join(dir, name);
    try {
      accessSync(file, constants.X_OK);
      return file;
    } catch {
      // not here
    }
  }
  return undefined;
}

function defaultLog(line: Record<string, unknown>): void {
  process.stderr.write(`${JSON.stringify({ time: new Date().toISOString(), level: 'info', ...line })}\n`);
}

/** Start a private redis-server with its socket and data under `dataDir`. */
export async function startEmbeddedRedis(dataDir: string, options: EmbeddedRedisOptions = {}): Promise<EmbeddedRedis> {
  const bin = options.redisServerPath ?? findOnPath('redis-server');
  if (!bin) {
    throw new ResourceStoreError(
      'QB_STATE_REDIS_NOT_INSTALLED',
      'no Redis is configured and redis-server is not on PATH: install it (Debian/Ubuntu: apt-get install redis-server) ' +
        'or set state.redis in the config to an existing Redis (e.g. redis://127.0.0.1:6379)',
    );
  }
  const dir = resolve(dataDir, 'redis');
  const socketPath = join(dir, 'redis.sock');
  if (Buffer.byteLength(socketPath) > MAX_SOCKET_PATH) {
    throw new ResourceStoreError(
      'QB_STATE_SOCKET_PATH_TOO_LONG',
      `the Redis socket path ${socketPath} is longer than ${MAX_SOCKET_PATH} bytes: choose a shorter data dir`,
    );
  }
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const logFile = join(dir, 'redis.log');
  const out = openSync(logFile, 'a');
  const args = [
    '--port', '0',
    '--unixsocket', socketPath,
    '--unixsocketperm', '700',
    '--dir', dir,
    '--appendonly', 'yes',
    '--appendfsync', 'everysec',
    '--save', '',
    '--daemonize', 'no',
    '--protected-mode', 'yes',
    '--loglevel', 'notice',
    ...(options.extraArgs ?? []),
  ];
  let child: ChildProcess;
  try {
    child = spawn(bin, args, { stdio: ['ignore', out, out] });
  } finally {
    closeSync(out);
  }
  let exitCode: number | null | undefined;
  // a private server goes with its owner, also when the owner dies of an uncaught error
  // ('exit' still runs then); SIGTERM lets redis flush its AOF on its own
  const onOwnerExit = () => {
    if (exitCode === undefined) child.kill('SIGTERM');
  };
  process.once('exit', onOwnerExit);
  const exited = new Promise<void>((res) => {
    child.once('exit', (code, signal) => {
      exitCode = code ?? (signal ? -1 : 0);
      process.off('exit', onOwnerExit);
      res();
    });
    child.once('error', () => {
      exitCode = -1;
      res();
    });
  });
  const stop = async (): Promise<void> => {
    if (exitCode === undefined) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    }
  };

  const deadline = Date.now() + (options.startTimeoutMs ?? 10_000);
  for (;;) {
    if (exitCode !== undefined) {
      let tail = '';
      try {
        tail = readFileSync(logFile, 'utf8').split('\n').slice(-6).join('\n');
      } catch {
        // no log
      }
      throw new ResourceStoreError('QB_STATE_REDIS_START_FAILED', `${bin} exited during start (see ${logFile}):\n${tail}`);
    }
    const probe = new Redis({ path: socketPath, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    probe.on('error', () => {});
    try {
      await probe.connect();
      if ((await probe.ping()) === 'PONG') break;
    } catch {
      // not ready yet
    } finally {
      probe.disconnect();
    }
    if (Date.now() > deadline) {
      await stop();
      throw new ResourceStoreError(
        'QB_STATE_REDIS_START_FAILED',
        `${bin} did not answer on ${socketPath} within ${options.startTimeoutMs ?? 10_000} ms (see ${logFile})`,
      );
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  (options.log ?? defaultLog)({
    msg: 'no Redis configured: started an embedded redis-server',
    component: 'state',
    redis_server: bin,
    socket: socketPath,
    dir,
    pid: child.pid,
    appendonly: 'yes',
    appendfsync: 'everysec',
  });
  return { socketPath, dir, pid: child.pid ?? -1, stop };
}
