/**
 * In-memory session streams and transport: brokers in one process talk
 * without gRPC or TLS (benchmarks and unit tests). Frames are delivered on a
 * later turn of the event loop (setImmediate), like a socket would.
 */
import { EventEmitter } from 'node:events';
import type { FrameStream } from './session.js';
import type { PeerFrame } from './proto.js';
import type { PeeringCore, PeeringTransport, PeerSpec } from './peering-core.js';

/** One end of an in-memory duplex. */
export class MemoryStream extends EventEmitter {
  other!: MemoryStream;
  closed = false;
  /** Frames written, for tests. */
  written = 0;
  write(frame: PeerFrame): boolean {
    if (this.closed) return false;
    this.written += 1;
    const o = this.other;
    setImmediate(() => {
      if (!o.closed) o.emit('data', frame);
    });
    return true;
  }
  end(): void {
    if (this.closed) return;
    this.closed = true;
    const o = this.other;
    setImmediate(() => o.emit('end'));
  }
}

/** Two connected ends. */
export function memoryPair(): [MemoryStream, MemoryStream] {
  const a = new MemoryStream();
  const b = new MemoryStream();
  a.other = b;
  b.other = a;
  return [a, b];
}

/** A transport that connects cores registered in `cores` by domain id (no certificates). */
export class MemoryTransport implements PeeringTransport {
  readonly cores = new Map<string, PeeringCore>();
  /** Domains whose dials fail (a broker that is down). */
  readonly down = new Set<string>();
  async dialSession(peer: PeerSpec): Promise<FrameStream> {
    const target = this.cores.get(peer.domain);
    if (!target || this.down.has(peer.domain)) throw new Error(`${peer.domain} is unreachable`);
    const [mine, theirs] = memoryPair();
    setImmediate(() => target.acceptSession(theirs as unknown as FrameStream, undefined, false));
    return mine as unknown as FrameStream;
  }
  dialRegistry(): never {
    throw new Error('the in-memory transport has no registry');
  }
  dropPeer(): void {}
}
