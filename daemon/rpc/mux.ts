/**
 * Many calls on one long-lived gRPC bidirectional stream, generic over the
 * messages it carries: every message has an `id`; replies come back in any
 * order with the id of their call.
 *
 * `MuxClient` is the caller's side: it opens the stream on the first call and
 * again on the first call after it broke, keeps a deadline per call, and
 * treats a call that times out on a stream that has answered nothing since
 * the call was sent as a wedged connection (the stream is cancelled, so the
 * next call starts afresh). When the stream breaks or ends, every call in
 * flight fails with the error the owner made of it.
 *
 * `MuxServer` is the served side: per stream, calls in flight are counted
 * (beyond a limit they are refused), and `close()` ends each open stream as
 * soon as its calls in flight have answered (a drained shutdown).
 *
 * What the messages mean (ops, errors on the wire, who may call) is the
 * owner's business: this module knows ids, deadlines and draining only.
 */
import type * as grpc from '@grpc/grpc-js';
import type { QosBrokerError } from '../../drivers/errors.js';

/** A message on a multiplexed stream. */
export interface MuxMessage {
  id: number;
}

/** How a MuxClient's owner names its failures (typed errors of its own layer). */
export interface MuxClientErrors {
  /** A call got no reply within its deadline. */
  timeout(what: string, timeoutMs: number): QosBrokerError;
  /** The stream answered nothing for timeoutMs: it is reopened. */
  wedged(timeoutMs: number): QosBrokerError;
  /** The stream failed with a gRPC error. */
  broken(err: grpc.ServiceError): QosBrokerError;
  /** The server ended the stream without an error (it is shutting down). */
  ended(): QosBrokerError;
}

interface Pending<Rep> {
  sentAt: number;
  timer: NodeJS.Timeout;
  resolve(r: Rep): void;
  reject(e: QosBrokerError): void;
}

/** The caller's side of one multiplexed stream; see the module comment. */
export class MuxClient<Req extends MuxMessage, Rep extends MuxMessage> {
  private call: grpc.ClientDuplexStream<Req, Rep> | undefined;
  private readonly pending = new Map<number, Pending<Rep>>();
  private nextId = 1;
  private lastReplyAt = 0;

  constructor(
    /** Open a new stream (called on the first call, and after a break). */
    private readonly openStream: () => grpc.ClientDuplexStream<Req, Rep>,
    private readonly errors: MuxClientErrors,
  ) {}

  /** Calls waiting for their reply. */
  get inFlight(): number {
    return this.pending.size;
  }

  /** Send `msg` with a fresh id; resolves with its reply, whatever the reply says (the owner reads it). */
  request(msg: Omit<Req, 'id'>, timeoutMs: number, what: string): Promise<Rep> {
    const call = this.open();
    const id = this.nextId++;
    return new Promise<Rep>((resolve, reject) => {
      const sentAt = performance.now();
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(this.errors.timeout(what, timeoutMs));
        if (this.call === call && this.lastReplyAt < sentAt) this.fail(call, this.errors.wedged(timeoutMs), true);
      }, timeoutMs);
      this.pending.set(id, { sentAt, timer, resolve, reject });
      call.write({ ...msg, id } as Req);
    });
  }

  private open(): grpc.ClientDuplexStream<Req, Rep> {
    if (this.call) return this.call;
    const call = this.openStream();
    this.call = call;
    call.on('data', (r: Rep) => {
      this.lastReplyAt = performance.now();
      const p = this.pending.get(r.id);
      if (!p) return; // the answer to a call that timed out
      this.pending.delete(r.id);
      clearTimeout(p.timer);
      p.resolve(r);
    });
    call.on('error', (err: grpc.ServiceError) => this.fail(call, this.errors.broken(err), false));
    call.on('end', () => this.fail(call, this.errors.ended(), false));
    return call;
  }

  private fail(call: grpc.ClientDuplexStream<Req, Rep>, err: QosBrokerError, cancel: boolean): void {
    if (this.call !== call) return;
    this.call = undefined;
    const failed = [...this.pending.values()];
    this.pending.clear();
    for (const p of failed) {
      clearTimeout(p.timer);
      p.reject(err);
    }
    try {
      if (cancel) call.cancel();
      else call.end();
    } catch {
      // already closed by the other side
    }
  }
}

/** What a MuxServer does with the calls of one stream. */
export interface MuxStreamHandler<Req extends MuxMessage, Rep extends MuxMessage> {
  /**
   * A refusal before the call runs (shutting down, caller no longer allowed,
   * bad id, too many in flight): the reply to send for it. `inFlight` is the
   * stream's calls in flight, `busy` whether that reached the limit.
   */
  admit(m: Req, state: { shuttingDown: boolean; inFlight: number; busy: boolean }): Rep | undefined;
  /** Run one call; resolves with its reply (a refusal too is a reply: it must not reject). */
  handle(m: Req): Promise<Rep>;
}

/** The served side: every open stream, drained on close(); see the module comment. */
export class MuxServer {
  /** Ends each open stream (as soon as it has no call in flight). */
  private readonly open = new Set<() => void>();
  private closing = false;

  constructor(
    /** Calls one stream may have in flight; more are refused through `admit`. */
    readonly maxInFlight: number,
  ) {}

  /** Serve one stream with `handler` until either side ends it. */
  serve<Req extends MuxMessage, Rep extends MuxMessage>(call: grpc.ServerDuplexStream<Req, Rep>, handler: MuxStreamHandler<Req, Rep>): void {
    let inFlight = 0;
    let ended = false;
    let closed = false;
    const reply = (r: Rep) => {
      if (!closed) call.write(r);
    };
    const finish = () => {
      if (ended && inFlight === 0 && !closed) {
        closed = true;
        this.open.delete(endStream);
        call.end();
      }
    };
    const endStream = () => {
      ended = true;
      finish();
    };
    this.open.add(endStream);
    if (this.closing) endStream();
    call.on('data', (m: Req) => {
      const refused = handler.admit(m, { shuttingDown: closed || (ended && this.closing), inFlight, busy: inFlight >= this.maxInFlight });
      if (refused) return reply(refused);
      inFlight++;
      void handler.handle(m).then((r) => {
        reply(r);
        inFlight--;
        finish();
      });
    });
    call.on('end', endStream);
    // cancelled by the caller, or broken: answers in flight have nowhere to go
    const gone = () => {
      closed = true;
      this.open.delete(endStream);
    };
    call.on('cancelled', gone);
    call.on('error', gone);
  }

  /** End every open stream once its calls in flight have answered; streams opened later end at once. */
  close(): void {
    this.closing = true;
    for (const end of [...this.open]) end();
  }
}
