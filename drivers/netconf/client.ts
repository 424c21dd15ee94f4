/**
 * NetconfClient: one NETCONF session over SSH with the RFC 6241/5277
 * operations. Every operation checks the capability it needs before
 * anything is sent and fails early naming it.
 */
import { CapabilityNotSupportedError, InvalidArgumentError, TimeoutError } from '../errors.js';
import { SshTransport, type SshOptions } from '../ssh/transport.js';
import type { Capabilities } from './capabilities.js';
import * as op from './operations.js';
import { NetconfSession, type Notification, type NetconfSessionOptions, type RpcOptions, type RpcReply } from './session.js';
import { innerXml } from './xml.js';

export type { Notification, RpcReply } from './session.js';
export type { CommitOptions, Datastore, EditConfigOptions, Filter, SubscriptionOptions, WithDefaults } from './operations.js';

/** Everything needed to reach a NETCONF device over SSH. */
export interface NetconfClientOptions extends SshOptions, NetconfSessionOptions {
  /** SSH port; NETCONF's is 830. @default 830 */
  port?: number;
}

export class NetconfClient {
  readonly session: NetconfSession;
  private readonly transport?: SshTransport;
  private subscribed = false;

  constructor(session: NetconfSession, transport?: SshTransport) {
    this.session = session;
    this.transport = transport;
    session.on('close', () => void this.transport?.close());
  }

  /** Connect over SSH, open the `netconf` subsystem and exchange hellos. */
  static async connect(options: NetconfClientOptions): Promise<NetconfClient> {
    const port = options.port ?? 830;
    const transport = await SshTransport.connect({ ...options, port });
    try {
      const channel = await transport.subsystem('netconf');
      const session = await NetconfSession.open(channel, { device: options.device ?? `${options.host}:${port}`, ...options });
      return new NetconfClient(session, transport);
    } catch (err) {
      transport.destroy();
      throw err;
    }
  }

  get capabilities(): Capabilities {
    return this.session.serverCapabilities;
  }

  get sessionId(): number {
    return this.session.sessionId;
  }

  /** Throw CapabilityNotSupportedError unless every group has one advertised capability. */
  private check(req: op.Request): void {
    for (const group of req.requires) {
      if (!group.some((c) => this.capabilities.has(c))) throw new CapabilityNotSupportedError(req.operation, group.join(' or '));
    }
    if (this.subscribed && req.operation !== 'close-session' && !this.capabilities.has(':interleave')) {
      throw new CapabilityNotSupportedError(`${req.operation} during a notification subscription`, ':interleave');
    }
  }

  /** Check and send a built request. */
  async send(req: op.Request, options: RpcOptions = {}): Promise<RpcReply> {
    this.check(req);
    return this.session.rpc(req.body, { operation: req.operation, ...options });
  }

  /** Send any RPC body as is (vendor RPCs); no capability check. */
  rpc(body: string, options?: RpcOptions): Promise<RpcReply> {
    if (this.subscribed && !this.capabilities.has(':interleave')) {
      return Promise.reject(new CapabilityNotSupportedError('an RPC during a notification subscription', ':interleave'));
    }
    return this.session.rpc(body, options);
  }

  /** `<get>`; resolves with the inner XML of `<data>`. */
  async get(o: { filter?: op.Filter; withDefaults?: op.WithDefaults } = {}, rpc?: RpcOptions): Promise<string> {
    return dataOf(await this.send(op.get(o), rpc));
  }

  /** `<get-config>`; resolves with the inner XML of `<data>`. */
  async getConfig(o: { source?: op.Datastore; filter?: op.Filter; withDefaults?: op.WithDefaults } = {}, rpc?: RpcOptions): Promise<string> {
    return dataOf(await this.send(op.getConfig(o), rpc));
  }

  editConfig(o: op.EditConfigOptions, rpc?: RpcOptions): Promise<RpcReply> {
    return this.send(op.editConfig(o), rpc);
  }

  copyConfig(o: { target: op.Datastore; source: op.Datastore | { config: string } }, rpc?: RpcOptions): Promise<RpcReply> {
    return this.send(op.copyConfig(o), rpc);
  }

  deleteConfig(o: { target: 'startup' | 'candidate' | { url: string } }, rpc?: RpcOptions): Promise<RpcReply> {
    return this.send(op.deleteConfig(o), rpc);
  }

  lock(target: 'running' | 'candidate' | 'startup' = 'candidate', rpc?: RpcOptions): Promise<RpcReply> {
    return this.send(op.lock(target), rpc);
  }

  unlock(target: 'running' | 'candidate' | 'startup' = 'candidate', rpc?: RpcOptions): Promise<RpcReply> {
    return this.send(op.unlock(target), rpc);
  }

  validate(source: op.Datastore | { config: string } = 'candidate', rpc?: RpcOptions): Promise<RpcReply> {
    return this.send(op.validate(source), rpc);
  }

  commit(o: op.CommitOptions = {}, rpc?: RpcOptions): Promise<RpcReply> {
    return this.send(op.commit(o), rpc);
  }

  cancelCommit(o: { persistId?: string } = {}, rpc?: RpcOptions): Promise<RpcReply> {
    return this.send(op.cancelCommit(o), rpc);
  }

  discardChanges(rpc?: RpcOptions): Promise<RpcReply> {
    return this.send(op.discardChanges(), rpc);
  }

  killSession(sessionId: number, rpc?: RpcOptions): Promise<RpcReply> {
    if (sessionId === this.sessionId) return Promise.reject(new InvalidArgumentError(`kill-session of our own session ${sessionId}: use close() instead`));
    return this.send(op.killSession(sessionId), rpc);
  }

  /**
   * `<create-subscription>`; notifications then arrive through
   * `onNotification` (and the session's 'notification' event).
   */
  async createSubscription(o: op.SubscriptionOptions = {}, rpc?: RpcOptions): Promise<RpcReply> {
    const reply = await this.send(op.createSubscription(o), rpc);
    this.subscribed = true;
    return reply;
  }

  /** Register a listener for notifications; returns a function that removes it. */
  onNotification(listener: (n: Notification) => void): () => void {
    this.session.on('notification', listener);
    return () => this.session.off('notification', listener);
  }

  /** Resolves with the next notification that passes `match`, or rejects after timeoutMs. */
  nextNotification(timeoutMs: number, match: (n: Notification) => boolean = () => true): Promise<Notification> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        off();
        reject(new TimeoutError('QB_NETCONF_NOTIFICATION_TIMEOUT', `no notification from ${this.session.device} within ${timeoutMs} ms`));
      }, timeoutMs);
      const off = this.onNotification((n) => {
        if (!match(n)) return;
        clearTimeout(timer);
        off();
        resolve(n);
      });
    });
  }

  /** `<close-session>`, then close the SSH connection. */
  async close(): Promise<void> {
    await this.session.close();
    await this.transport?.close();
  }

  /** Drop everything at once. */
  destroy(err?: Error): void {
    this.session.destroy(err);
    this.transport?.destroy();
  }
}

/** The inner XML of `<data>` in a reply ('' for `<data/>`). */
export function dataOf(reply: RpcReply): string {
  return innerXml(reply.xml, 'data') ?? '';
}
