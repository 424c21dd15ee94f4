/**
 * A NETCONF session (RFC 6241 over RFC 6242): hello exchange, framing
 * selection, message-id correlation with any number of RPCs in flight,
 * per-RPC timeouts and cancellation, notifications. Operations live in
 * client.ts; this file only frames, correlates and guards.
 */
import { EventEmitter } from 'node:events';
import type { Duplex } from 'node:stream';
import {
  InvalidArgumentError,
  NetconfRpcError,
  ProtocolError,
  AbortedError,
  SessionClosedError,
  TimeoutError,
  type RpcErrorInfo,
} from '../errors.js';
import { BASE_10, BASE_11, Capabilities } from './capabilities.js';
import {
  ChunkedDecoder,
  DEFAULT_FRAMING_LIMITS,
  EOM,
  EomDecoder,
  encodeChunked,
  encodeEom,
  type Decoder,
  type FramingLimits,
} from './framing.js';
import { parseRpcErrors } from './rpc-error.js';
import { NS_BASE, assertNoDtd, attribute, escapeXml, firstText, rootElement } from './xml.js';

/** Options of one NETCONF session. */
export interface NetconfSessionOptions {
  /** Name of the device in messages and errors. @default 'device' */
  device?: string;
  /** Time allowed for the server's `<hello>`, in ms. @default 10000 */
  helloTimeoutMs?: number;
  /** Default time allowed for each RPC's reply, in ms. @default 60000 */
  rpcTimeoutMs?: number;
  /**
   * For servers with the yuma123 first-RPC quirk (netconfd behind sshd holds
   * the reply to an RPC that arrives in the same read as the client's hello
   * until more input comes): wait this long after sending our `<hello>`
   * before the first RPC goes out, in ms; and should the first RPC still get
   * no reply within 250 ms (a loaded server may read both at once anyway),
   * send one harmless `<get-config>` with an empty filter as the "more
   * input", its reply dropped. 20 ms suits the lab's netconfd. Off (0) by
   * default: other servers need neither.
   * @default 0
   */
  helloSettleMs?: number;
  /** Offer base:1.1 (chunked framing). @default true */
  offerBase11?: boolean;
  /** Extra capabilities to offer in our hello. @default [] */
  capabilities?: string[];
  /** Framing limits. @default DEFAULT_FRAMING_LIMITS */
  limits?: Partial<FramingLimits>;
}

/** How long the first RPC waits for its reply before a quirky server is nudged (see helloSettleMs). */
const FIRST_RPC_NUDGE_MS = 250;

export const NETCONF_SESSION_DEFAULTS = {
  device: 'device',
  helloTimeoutMs: 10_000,
  rpcTimeoutMs: 60_000,
  helloSettleMs: 0,
  offerBase11: true,
} as const;

/** Session status. */
export type NetconfStatus = 'hello' | 'ready' | 'closing' | 'closed';

/** Options of one RPC. */
export interface RpcOptions {
  /** Overrides the session's rpcTimeoutMs. */
  timeoutMs?: number;
  /** Aborting rejects the RPC at once; a reply that still arrives is dropped. */
  signal?: AbortSignal;
  /** Operation name for messages. @default root element of the body */
  operation?: string;
}

/** A successful reply. */
export interface RpcReply {
  messageId: string;
  /** The whole `<rpc-reply>` text. */
  xml: string;
  /** The reply was `<ok/>`. */
  ok: boolean;
  /** `<rpc-error>` elements of severity warning, if any. */
  warnings: RpcErrorInfo[];
}

/** One `<notification>` (RFC 5277). */
export interface Notification {
  eventTime: string;
  /** The whole `<notification>` text. */
  xml: string;
}

interface Pending {
  operation: string;
  resolve: (r: RpcReply) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
  signal?: AbortSignal;
  onAbort?: () => void;
}

export class NetconfSession extends EventEmitter {
  status: NetconfStatus = 'hello';
  /** Session id the server assigned in its hello. */
  sessionId = 0;
  /** Server capabilities (empty until the hello arrived). */
  serverCapabilities = new Capabilities([]);
  /** The framing in use: base:1.0 end-of-message or base:1.1 chunked. */
  framing: 'eom' | 'chunked' = 'eom';
  readonly device: string;

  private readonly channel: Duplex;
  private readonly opts: Required<Omit<NetconfSessionOptions, 'limits'>> & { limits: FramingLimits };
  private decoder: Decoder;
  private nextId = 1;
  private readonly pending = new Map<string, Pending>();
  private readonly abandoned = new Set<string>();
  private readyPromise: Promise<void>;
  private closeError: Error | undefined;
  private helloSentAt = 0;

  private constructor(channel: Duplex, options: NetconfSessionOptions) {
    super();
    this.channel = channel;
    // an option given as undefined means "the default", not "no value"
    const given = Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined));
    this.opts = {
      ...NETCONF_SESSION_DEFAULTS,
      capabilities: [],
      ...given,
      limits: { ...DEFAULT_FRAMING_LIMITS, ...options.limits },
    } as typeof this.opts;
    this.device = this.opts.device;
    this.decoder = new EomDecoder(this.opts.limits);
    this.readyPromise = this.start();
    this.readyPromise.catch(() => {});
  }

  /** Start a session on an open channel (an SSH `netconf` subsystem or any duplex stream); resolves after the hello exchange. */
  static async open(channel: Duplex, options: NetconfSessionOptions = {}): Promise<NetconfSession> {
    const s = new NetconfSession(channel, options);
    await s.readyPromise;
    return s;
  }

  private start(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.destroy(new TimeoutError('QB_NETCONF_HELLO_TIMEOUT', `${this.device} sent no <hello> within ${this.opts.helloTimeoutMs} ms (helloTimeoutMs)`));
      }, this.opts.helloTimeoutMs);
      this.once('_hello', (err?: Error) => {
        clearTimeout(timer);
        if (err) return reject(err);
        const wait = this.opts.helloSettleMs - (Date.now() - this.helloSentAt);
        if (wait > 0) setTimeout(resolve, wait);
        else resolve();
      });
      this.channel.on('data', (d: Buffer) => this.onData(d));
      this.channel.on('error', (err: Error) => {
        this.destroy(new SessionClosedError('QB_NETCONF_CHANNEL_ERROR', `NETCONF channel to ${this.device} failed: ${err.message}`, { cause: err }));
      });
      this.channel.on('close', () => this.onChannelClose());
      this.channel.on('end', () => this.onChannelClose());
      const caps = [BASE_10, ...(this.opts.offerBase11 ? [BASE_11] : []), ...this.opts.capabilities];
      const hello =
        `<?xml version="1.0" encoding="UTF-8"?><hello xmlns="${NS_BASE}"><capabilities>` +
        caps.map((c) => `<capability>${escapeXml(c)}</capability>`).join('') +
        `</capabilities></hello>`;
      this.helloSentAt = Date.now();
      this.channel.write(encodeEom(hello));
    });
  }

  private onChannelClose(): void {
    if (this.status === 'closed') return;
    const n = this.pending.size;
    this.destroy(
      this.closeError ??
        new SessionClosedError(
          'QB_NETCONF_SESSION_CLOSED',
          `${this.device} closed the NETCONF session${n ? ` with ${n} RPC${n > 1 ? 's' : ''} unanswered` : ''}${this.status === 'hello' ? ' before its <hello>' : ''}`,
        ),
    );
  }

  private onData(data: Buffer): void {
    if (this.status === 'closed') return;
    let messages: string[];
    try {
      messages = this.decoder.push(data);
    } catch (err) {
      return this.destroy(err as Error);
    }
    for (const m of messages) {
      if ((this.status as NetconfStatus) === 'closed') return;
      try {
        if (this.status === 'hello') this.onHello(m);
        else this.onMessage(m);
      } catch (err) {
        return this.destroy(err as Error);
      }
    }
  }

  private onHello(xml: string): void {
    assertNoDtd(xml, `<hello> from ${this.device}`);
    const root = rootElement(xml);
    if (!root || root.name !== 'hello') {
      throw new ProtocolError('QB_NETCONF_BAD_HELLO', `${this.device} sent <${root?.name ?? '?'}> where its <hello> was expected`);
    }
    const caps: string[] = [];
    const re = /<(?:[\w.-]+:)?capability>([^<]*)<\/(?:[\w.-]+:)?capability>/g;
    for (let m = re.exec(xml); m; m = re.exec(xml)) caps.push(m[1]!.trim());
    this.serverCapabilities = new Capabilities(caps);
    const sid = firstText(xml, 'session-id');
    if (!sid || !/^[1-9]\d*$/.test(sid)) {
      throw new ProtocolError('QB_NETCONF_BAD_HELLO', `<hello> from ${this.device} has no valid <session-id> (got ${sid ?? 'none'})`);
    }
    this.sessionId = Number(sid);
    const has10 = this.serverCapabilities.has(BASE_10);
    const has11 = this.serverCapabilities.has(BASE_11);
    if (!has10 && !has11) {
      throw new ProtocolError('QB_NETCONF_BAD_HELLO', `<hello> from ${this.device} offers neither base:1.0 nor base:1.1`);
    }
    if (has11 && this.opts.offerBase11) {
      const rest = (this.decoder as EomDecoder).takeRemainder();
      this.framing = 'chunked';
      this.decoder = new ChunkedDecoder(this.opts.limits);
      if (rest.length) setImmediate(() => this.onData(rest));
    } else if (!has10) {
      throw new ProtocolError('QB_NETCONF_BAD_HELLO', `${this.device} offers only base:1.1, which this session was told not to use (offerBase11: false)`);
    }
    this.status = 'ready';
    this.emit('_hello');
  }

  private onMessage(xml: string): void {
    assertNoDtd(xml, `message from ${this.device}`);
    const root = rootElement(xml);
    if (!root) throw new ProtocolError('QB_NETCONF_BAD_XML', `${this.device} sent a message that is not XML: ${xml.slice(0, 80)}`);
    if (root.name === 'notification') {
      this.emit('notification', { eventTime: firstText(xml, 'eventTime') ?? '', xml } satisfies Notification);
      return;
    }
    if (root.name !== 'rpc-reply') {
      throw new ProtocolError('QB_NETCONF_UNEXPECTED_MESSAGE', `${this.device} sent <${root.name}>, expected <rpc-reply> or <notification>`);
    }
    let id = attribute(root.attrs, 'message-id');
    if (id === undefined) {
      // A server that could not parse our rpc may answer without message-id: give it to the oldest RPC.
      id = this.pending.keys().next().value;
      if (id === undefined) return;
    }
    const p = this.pending.get(id);
    if (!p) {
      if (this.abandoned.delete(id)) return;
      throw new ProtocolError('QB_NETCONF_UNEXPECTED_REPLY', `${this.device} answered message-id ${id}, which no RPC is waiting for`);
    }
    this.settle(id, p);
    const body = xml.slice(root.end);
    if (/<(?:[\w.-]+:)?rpc-error[\s>]/.test(body)) {
      parseRpcErrors(xml).then(
        (errors) => {
          // a reply with any error fails, and keeps every <rpc-error> of it, warnings included
          if (errors.some((e) => e.severity !== 'warning')) p.reject(new NetconfRpcError(p.operation, errors, xml, this.device));
          else p.resolve({ messageId: id, xml, ok: /<(?:[\w.-]+:)?ok\s*\/>/.test(body), warnings: errors });
        },
        (err) => p.reject(err),
      );
      return;
    }
    p.resolve({ messageId: id, xml, ok: /^\s*<(?:[\w.-]+:)?ok\s*\/>/.test(body), warnings: [] });
  }

  private settle(id: string, p: Pending): void {
    clearTimeout(p.timer);
    if (p.signal && p.onAbort) p.signal.removeEventListener('abort', p.onAbort);
    this.pending.delete(id);
  }

  /** Resolves when the hello exchange is done (and the settle delay passed). */
  ready(): Promise<void> {
    return this.readyPromise;
  }

  /**
   * Send one RPC. `body` is the XML inside `<rpc>`. Several RPCs may be in
   * flight; each resolves with its own reply or rejects with NetconfRpcError,
   * TimeoutError, SessionClosedError or an AbortError.
   */
  async rpc(body: string, options: RpcOptions = {}): Promise<RpcReply> {
    const operation = options.operation ?? rootElement(body)?.name ?? 'rpc';
    if (this.status === 'hello') await this.readyPromise;
    if (this.status !== 'ready') {
      throw this.closeError
        ? new SessionClosedError('QB_NETCONF_SESSION_CLOSED', `cannot send ${operation} to ${this.device}: session closed (${this.closeError.message})`, { cause: this.closeError })
        : new SessionClosedError('QB_NETCONF_SESSION_CLOSED', `cannot send ${operation} to ${this.device}: session is ${this.status}`);
    }
    if (options.signal?.aborted) throw new AbortedError(`${operation} to ${this.device} was cancelled before it was sent`, { cause: options.signal.reason });
    const id = String(this.nextId++);
    const message = `<rpc message-id="${id}" xmlns="${NS_BASE}">${body}</rpc>`;
    if (this.framing === 'eom' && message.includes(EOM)) {
      throw new InvalidArgumentError(`${operation} body contains "${EOM}", which would end the message early in base:1.0 framing; escape it as ]]&gt;]]&gt;`);
    }
    const timeoutMs = options.timeoutMs ?? this.opts.rpcTimeoutMs;
    return new Promise<RpcReply>((resolve, reject) => {
      const p: Pending = {
        operation,
        resolve,
        reject,
        signal: options.signal,
        timer: setTimeout(() => this.onTimeout(id, p, timeoutMs), timeoutMs),
      };
      if (options.signal) {
        p.onAbort = () => {
          this.settle(id, p);
          this.abandoned.add(id);
          reject(new AbortedError(`${operation} (message-id ${id}) to ${this.device} was cancelled`, { cause: options.signal!.reason }));
        };
        options.signal.addEventListener('abort', p.onAbort, { once: true });
      }
      this.pending.set(id, p);
      this.channel.write(this.framing === 'chunked' ? encodeChunked(message) : encodeEom(message));
      if (id === '1' && this.opts.helloSettleMs > 0) setTimeout(() => this.nudge(id), FIRST_RPC_NUDGE_MS).unref();
    });
  }

  /** The first RPC is still unanswered: give the server the "more input" it waits for. */
  private nudge(firstId: string): void {
    if (this.status !== 'ready' || !this.pending.has(firstId)) return;
    const id = String(this.nextId++);
    this.abandoned.add(id);
    this.nudges++;
    const message = `<rpc message-id="${id}" xmlns="${NS_BASE}"><get-config><source><running/></source><filter type="subtree"/></get-config></rpc>`;
    this.channel.write(this.framing === 'chunked' ? encodeChunked(message) : encodeEom(message));
  }

  /** How many times the first RPC had to be nudged (see helloSettleMs). */
  nudges = 0;

  private onTimeout(id: string, p: Pending, timeoutMs: number): void {
    this.settle(id, p);
    this.abandoned.add(id);
    if (this.abandoned.size > 10_000) this.abandoned.delete(this.abandoned.values().next().value!);
    const partial = this.decoder.hasPartial();
    const err = new TimeoutError(
      'QB_NETCONF_RPC_TIMEOUT',
      `${p.operation} (message-id ${id}) to ${this.device} got no reply within ${timeoutMs} ms` +
        (partial ? '; the device stopped in the middle of a message, so the session is closed' : ''),
    );
    p.reject(err);
    if (partial) this.destroy(err);
  }

  /** Number of RPCs waiting for a reply. */
  get inFlight(): number {
    return this.pending.size;
  }

  /** Abort the session: every waiting RPC rejects with `err`, the channel is closed. */
  destroy(err?: Error): void {
    if (this.status === 'closed') return;
    const wasHello = this.status === 'hello';
    this.status = 'closed';
    const reason = err ?? new SessionClosedError('QB_NETCONF_SESSION_CLOSED', `NETCONF session to ${this.device} was closed`);
    this.closeError = reason;
    for (const [id, p] of this.pending) {
      this.settle(id, p);
      p.reject(reason);
    }
    if (wasHello) this.emit('_hello', reason);
    try {
      this.channel.end();
      this.channel.destroy();
    } catch {
      /* already gone */
    }
    this.emit('close', err);
  }

  /**
   * Close gracefully: wait for the RPCs in flight to be answered, send
   * `<close-session>`, then close the channel; all within `timeoutMs`, after
   * which whatever is left is aborted.
   */
  async close(timeoutMs = 5000): Promise<void> {
    const end = Date.now() + timeoutMs;
    let drainTimer: NodeJS.Timeout | undefined;
    if (this.status === 'ready' && this.pending.size > 0) {
      this.status = 'closing';
      await Promise.race([
        Promise.allSettled([...this.pending.values()].map((p) => new Promise<void>((r) => {
          const { resolve, reject } = p;
          p.resolve = (v) => (resolve(v), r());
          p.reject = (e) => (reject(e), r());
        }))),
        new Promise((r) => {
          drainTimer = setTimeout(r, timeoutMs);
        }),
      ]);
      clearTimeout(drainTimer);
      if (this.status === 'closing') this.status = 'ready';
    }
    if (this.status === 'ready') {
      timeoutMs = Math.max(100, end - Date.now());
      try {
        await this.rpc('<close-session/>', { timeoutMs });
      } catch {
        /* the channel is closed below in any case */
      }
    }
    this.status = this.status === 'closed' ? 'closed' : 'closing';
    this.destroy();
  }
}
