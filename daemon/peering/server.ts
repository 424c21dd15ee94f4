/**
 * gRPC edges of the peering core: the server (Peering, Registry, Health over
 * mutual TLS) and the client transport that dials peers. Handlers are thin
 * adapters over PeeringCore.
 */
import * as grpc from '@grpc/grpc-js';
import { loadProtos, type PeerFrame, type RegistrationMsg } from './proto.js';
import { caSetKey, clientCredentials, serverCredentials, type OwnTls, type PeerPin } from './tls.js';
import type { PeeringCore, PeeringTransport, PeerSpec, RegistrationStream } from './peering-core.js';
import type { FrameStream } from './session.js';

/** Observer of RPC durations (metrics). */
export type RpcObserver = (rpc: string, code: string, seconds: number) => void;

const SERVICES = ['', 'qosbroker.v1.Peering', 'qosbroker.v1.Registry'];

/** Dials peers over gRPC with mutual TLS and the identity pin of each peer. */
export class GrpcPeeringTransport implements PeeringTransport {
  private readonly clients = new Map<string, { peering: grpc.Client; registry: grpc.Client }>();
  /**
   * @param connectTimeoutMs how long one connection attempt may take (TCP + TLS). @default 5000
   */
  constructor(
    private own: OwnTls,
    private readonly connectTimeoutMs = 5000,
  ) {}

  private client(peer: PeerSpec) {
    let c = this.clients.get(peer.domain);
    if (!c) {
      const { peering, registry } = loadProtos();
      const creds = clientCredentials(this.own, peer);
      const opts = { 'grpc.ssl_target_name_override': peer.domain, 'grpc.default_authority': peer.domain };
      c = { peering: new peering(peer.address!, creds, opts), registry: new registry(peer.address!, creds, opts) };
      this.clients.set(peer.domain, c);
    }
    return c;
  }

  /** Wait for the channel to be ready (TCP + TLS + identity pin), then open Peering.Session. */
  async dialSession(peer: PeerSpec): Promise<FrameStream> {
    const c = this.client(peer).peering;
    await new Promise<void>((res, rej) =>
      c.waitForReady(Date.now() + this.connectTimeoutMs, (err) => {
        if (!err) return res();
        // grpc-js reports only "Failed to connect before the deadline"; add what the channel last saw.
        rej(new Error(`cannot connect to ${peer.domain} at ${peer.address}: ${err.message}`));
      }),
    );
    return (c as unknown as { Session(): grpc.ClientDuplexStream<PeerFrame, PeerFrame> }).Session() as unknown as FrameStream;
  }

  dialRegistry(peer: PeerSpec, registration: RegistrationMsg): RegistrationStream {
    const c = this.client(peer).registry as unknown as { Register(r: RegistrationMsg): grpc.ClientReadableStream<RegistrationMsg> };
    return c.Register(registration) as unknown as RegistrationStream;
  }

  dropPeer(peer: PeerSpec): void {
    const c = this.clients.get(peer.domain);
    if (!c) return;
    this.clients.delete(peer.domain);
    c.peering.close();
    c.registry.close();
  }

  /** The mutually authenticated channel to `peer` (the one peering sessions use), for other services to the same broker. */
  channelFor(peer: PeerSpec): ReturnType<grpc.Client['getChannel']> {
    return this.client(peer).peering.getChannel();
  }

  /** Our certificate changed (reload): new connections use it. */
  setOwn(own: OwnTls): void {
    this.own = own;
    for (const [d, c] of this.clients) {
      c.peering.close();
      c.registry.close();
      this.clients.delete(d);
    }
  }
}

/** The gRPC server of a broker. */
export class PeeringServer {
  private server: grpc.Server | undefined;
  private caKey = '';
  /** Bound port (useful with port 0). */
  port = 0;
  private serving = true;
  /** Further services to serve on the same port and credentials (e.g. Agreement); added on every (re)bind. */
  /** More services on the same server (name as grpc.health.v1 knows it, and how to add it). */
  readonly extraServices: Array<{ name: string; add: (server: grpc.Server) => void }> = [];

  constructor(
    private readonly core: PeeringCore,
    private own: OwnTls,
    private listen: string,
    private readonly observe: RpcObserver = () => {},
  ) {}

  /** Does grpc.health.v1 know this service name? */
  private knows(service: string): boolean {
    return SERVICES.includes(service) || this.extraServices.some((e) => e.name === service);
  }

  /** Bind and serve; `pins` are the peers whose CAs may present client certificates. */
  async start(pins: PeerPin[]): Promise<void> {
    const { peering, registry, health } = loadProtos();
    const server = new grpc.Server({ 'grpc.max_receive_message_length': 2 * 1024 * 1024 });
    const core = this.core;
    const observe = this.observe;
    server.addService(peering.service, {
      Session(call: grpc.ServerDuplexStream<PeerFrame, PeerFrame>) {
        core.acceptSession(call as unknown as FrameStream, call.getAuthContext()?.sslPeerCertificate?.raw);
      },
    });
    server.addService(registry.service, {
      Register(call: grpc.ServerWritableStream<RegistrationMsg, RegistrationMsg>) {
        const t0 = performance.now();
        const why = core.register(call.request, call.getAuthContext()?.sslPeerCertificate?.raw, call as never);
        observe('Registry.Register', why ? 'PERMISSION_DENIED' : 'OK', (performance.now() - t0) / 1000);
        if (why) call.emit('error', { code: grpc.status.PERMISSION_DENIED, details: why });
      },
    });
    const self = this;
    server.addService(health.service, {
      Check(call: grpc.ServerUnaryCall<{ service: string }, unknown>, cb: grpc.sendUnaryData<unknown>) {
        const t0 = performance.now();
        const known = self.knows(call.request.service);
        observe('Health.Check', known ? 'OK' : 'NOT_FOUND', (performance.now() - t0) / 1000);
        if (!known) return cb({ code: grpc.status.NOT_FOUND, details: `unknown service ${call.request.service}` });
        cb(null, { status: self.serving ? 'SERVING' : 'NOT_SERVING' });
      },
      Watch(call: grpc.ServerWritableStream<{ service: string }, unknown>) {
        const known = self.knows(call.request.service);
        call.write({ status: known ? (self.serving ? 'SERVING' : 'NOT_SERVING') : 'SERVICE_UNKNOWN' });
      },
    });
    for (const extra of this.extraServices) extra.add(server);
    this.port = await new Promise<number>((res, rej) =>
      server.bindAsync(this.listen, serverCredentials(this.own, pins), (err, port) => (err ? rej(err) : res(port))),
    );
    this.server = server;
    this.caKey = caSetKey(pins);
    if (/:0$/.test(this.listen)) this.listen = this.listen.replace(/:0$/, `:${this.port}`);
  }

  /** Reload: rebind only when the set of pinned CAs (or our certificate) changed. */
  async update(pins: PeerPin[], own?: OwnTls): Promise<boolean> {
    const ownChanged = own !== undefined && (!own.certPem.equals(this.own.certPem) || !own.keyPem.equals(this.own.keyPem));
    if (caSetKey(pins) === this.caKey && !ownChanged) return false;
    if (own) this.own = own;
    this.server?.forceShutdown();
    await this.start(pins);
    return true;
  }

  /** Stop accepting; NOT_SERVING for health checks; then shut down. */
  async stop(): Promise<void> {
    this.serving = false;
    const s = this.server;
    if (!s) return;
    await new Promise<void>((res) => {
      // sessions were closed with a notification already; do not wait long for stragglers
      const t = setTimeout(() => {
        s.forceShutdown();
        res();
      }, 500);
      s.tryShutdown(() => {
        clearTimeout(t);
        res();
      });
    });
  }
}
