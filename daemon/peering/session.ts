/**
 * One peering session over a stream of PeerFrames, and the state machine of a
 * configured peer around it (idle, connecting, open-sent, established) with
 * hold timer, keepalives and reconnect with capped exponential backoff and
 * jitter. Transport-agnostic: gRPC supplies the streams (daemon/peering/server.ts),
 * the benchmark supplies in-memory ones.
 */
import type { NotificationMsg, OpenMsg, PeerFrame } from './proto.js';

/** State of a configured peer. */
export type PeerState = 'idle' | 'connecting' | 'open-sent' | 'established';
export const PEER_STATES: readonly PeerState[] = ['idle', 'connecting', 'open-sent', 'established'];

/** The duplex stream a session runs on (a gRPC bidi call, or an in-memory pair). */
export interface FrameStream {
  write(frame: PeerFrame): unknown;
  end(): void;
  /** Abort the stream (client side of gRPC); optional. */
  cancel?(): void;
  on(event: 'data', cb: (frame: PeerFrame) => void): unknown;
  on(event: 'end' | 'close', cb: () => void): unknown;
  on(event: 'error', cb: (err: Error) => void): unknown;
}

/** Smallest hold time a session accepts, seconds. */
export const MIN_HOLD_TIME_S = 3;

export interface SessionOptions {
  stream: FrameStream;
  /** Our Open. */
  local: OpenMsg;
  /** True on the dialing side: send Open first. */
  dialer: boolean;
  /** Check the remote Open; return a notification to refuse (sent with close = true). */
  checkOpen(open: OpenMsg): NotificationMsg | undefined;
  /** Called once when both Opens are exchanged. */
  onEstablished(session: PeerSession): void;
  /** Every frame after Open (advertisements, withdrawals, notifications). */
  onFrame(session: PeerSession, frame: PeerFrame): void;
  /** Called once when the session ends, with why. */
  onClose(session: PeerSession, why: string): void;
  /** Timer functions, for tests. @default global setTimeout/clearTimeout */
  setTimer?: (cb: () => void, ms: number) => NodeJS.Timeout;
}

/** A session: Open exchange, hold timer, keepalives. */
export class PeerSession {
  state: 'open-sent' | 'waiting-open' | 'established' | 'closed';
  remote: OpenMsg | undefined;
  /** Negotiated hold time, seconds. */
  holdTimeS: number;
  /** Frames sent and received, by kind. */
  readonly sent: Record<string, number> = {};
  readonly received: Record<string, number> = {};
  readonly startedAt = Date.now();
  establishedAt: number | undefined;
  private holdTimer: NodeJS.Timeout | undefined;
  private keepaliveTimer: NodeJS.Timeout | undefined;
  private lastSent = Date.now();
  private readonly opts: SessionOptions;

  constructor(opts: SessionOptions) {
    this.opts = opts;
    this.holdTimeS = opts.local.hold_time_s;
    this.state = 'waiting-open';
    const s = opts.stream;
    s.on('data', (f) => this.receive(f));
    s.on('end', () => this.finish('stream ended by the peer'));
    s.on('close', () => this.finish('stream closed'));
    s.on('error', (err) => this.finish(`stream error: ${err.message}`));
    this.armHold();
    if (opts.dialer) {
      this.send({ open: opts.local });
      this.state = 'open-sent';
    }
  }

  /** True on the side that dialed. */
  get dialer(): boolean {
    return this.opts.dialer;
  }

  /** Send one frame if the session is not closed. */
  send(frame: PeerFrame): void {
    if (this.state === 'closed') return;
    const kind = frameKind(frame);
    this.sent[kind] = (this.sent[kind] ?? 0) + 1;
    this.lastSent = Date.now();
    try {
      this.opts.stream.write(frame);
    } catch (err) {
      this.finish(`write failed: ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  /** Send a notification with close = true and end the session. */
  close(code: string, message: string): void {
    if (this.state === 'closed') return;
    this.send({ notification: { code, message, close: true } });
    this.finish(`closed by us: ${code}: ${message}`);
  }

  private receive(frame: PeerFrame): void {
    if (this.state === 'closed') return;
    const kind = frameKind(frame);
    this.received[kind] = (this.received[kind] ?? 0) + 1;
    this.armHold();
    if (this.state !== 'established') {
      if (kind === 'notification') return this.finish(`peer refused: ${frame.notification!.code}: ${frame.notification!.message}`);
      if (kind !== 'open') return this.close('bad-open', `expected Open as the first frame, got ${kind}`);
      const open = frame.open!;
      if (!open.hold_time_s || open.hold_time_s < MIN_HOLD_TIME_S) {
        return this.close('bad-open', `hold_time_s must be at least ${MIN_HOLD_TIME_S}, got ${open.hold_time_s}`);
      }
      const refusal = this.opts.checkOpen(open);
      if (refusal) {
        this.send({ notification: { ...refusal, close: true } });
        return this.finish(`refused the peer: ${refusal.code}: ${refusal.message}`);
      }
      this.remote = open;
      this.holdTimeS = Math.min(this.opts.local.hold_time_s, open.hold_time_s);
      if (!this.opts.dialer) this.send({ open: this.opts.local });
      this.state = 'established';
      this.establishedAt = Date.now();
      this.armHold();
      this.armKeepalive();
      this.opts.onEstablished(this);
      return;
    }
    if (kind === 'keepalive') return;
    if (kind === 'open') return this.close('bad-open', 'a second Open on an established session');
    if (kind === 'notification' && frame.notification!.close) {
      return this.finish(`peer closed: ${frame.notification!.code}: ${frame.notification!.message}`);
    }
    this.opts.onFrame(this, frame);
  }

  private timer(cb: () => void, ms: number): NodeJS.Timeout {
    const t = (this.opts.setTimer ?? setTimeout)(cb, ms);
    t.unref?.();
    return t;
  }

  private armHold(): void {
    if (this.holdTimer) clearTimeout(this.holdTimer);
    this.holdTimer = this.timer(() => this.close('hold-timer-expired', `nothing received for ${this.holdTimeS} s`), this.holdTimeS * 1000);
  }

  private armKeepalive(): void {
    const every = (this.holdTimeS * 1000) / 3;
    const tick = (): void => {
      if (this.state !== 'established') return;
      if (Date.now() - this.lastSent >= every * 0.9) this.send({ keepalive: {} });
      this.keepaliveTimer = this.timer(tick, every);
    };
    this.keepaliveTimer = this.timer(tick, every);
  }

  private finish(why: string): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    if (this.holdTimer) clearTimeout(this.holdTimer);
    if (this.keepaliveTimer) clearTimeout(this.keepaliveTimer);
    try {
      this.opts.stream.end();
    } catch {
      // already gone
    }
    this.opts.stream.cancel?.();
    this.opts.onClose(this, why);
  }
}

/** Which field of a frame is set. */
export function frameKind(frame: PeerFrame): string {
  if (frame.kind) return frame.kind;
  for (const k of ['open', 'keepalive', 'advertisement', 'withdrawal', 'notification'] as const) if (frame[k]) return k;
  return 'empty';
}

/** Reconnect backoff; see BACKOFF_DEFAULTS. */
export interface BackoffOptions {
  /** First delay, ms. @default 500 */
  initialMs: number;
  /** Largest delay, ms. @default 30000 */
  maxMs: number;
}
export const BACKOFF_DEFAULTS: BackoffOptions = { initialMs: 500, maxMs: 30_000 };

/** Delay before reconnect attempt `attempt` (0-based): min(max, initial * 2^attempt), with "equal jitter" (half fixed, half random). */
export function backoffDelay(attempt: number, o: BackoffOptions = BACKOFF_DEFAULTS, random = Math.random): number {
  const cap = Math.min(o.maxMs, o.initialMs * 2 ** Math.min(attempt, 30));
  return Math.round(cap / 2 + random() * (cap / 2));
}
