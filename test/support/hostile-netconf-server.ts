/**
 * A small in-test SSH server (ssh2) with a `netconf` subsystem that behaves
 * as a scenario tells it: well, or in one of the ways a broken or hostile
 * device does. Used where the real netconfd cannot be made to misbehave.
 */
import { createHash } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import ssh2 from 'ssh2';
import type { ServerChannel } from 'ssh2';
import { ChunkedDecoder, EomDecoder, encodeChunked, encodeEom, type Decoder } from '../../drivers/netconf/framing.js';

const { Server, utils } = ssh2;
const BASE = 'urn:ietf:params:xml:ns:netconf:base:1.0';

/** What the device does; `onRpc` answers each RPC (return undefined to stay silent). */
export interface Scenario {
  /** The hello to send; `null` sends none. @default a base:1.0+1.1 hello with session-id 7 */
  hello?: string | null;
  /** Called per RPC with its message-id and text; returns raw bytes to send (framing is the scenario's business) or a reply body to frame. */
  onRpc?: (ctx: RpcContext) => void;
}

export interface RpcContext {
  id: string;
  xml: string;
  /** Frame a message with the session's framing and send it. */
  send(message: string): void;
  /** Send raw bytes as they are. */
  raw(bytes: string | Buffer): void;
  channel: ServerChannel;
  /** Milliseconds between the client's hello and this RPC arriving. */
  sinceHelloMs: number;
  /** Index of this RPC in the session (0 = first). */
  index: number;
  /** Resolves at the next data the client sends after this RPC. */
  nextInput(): Promise<void>;
}

export function helloXml(caps: string[] = ['urn:ietf:params:netconf:base:1.0', 'urn:ietf:params:netconf:base:1.1'], sessionId: string | null = '7'): string {
  return `<?xml version="1.0" encoding="UTF-8"?><hello xmlns="${BASE}"><capabilities>${caps.map((c) => `<capability>${c}</capability>`).join('')}</capabilities>${sessionId === null ? '' : `<session-id>${sessionId}</session-id>`}</hello>`;
}

export const okReply = (id: string) => `<rpc-reply message-id="${id}" xmlns="${BASE}"><ok/></rpc-reply>`;

export interface HostileServer {
  port: number;
  /** `SHA256:...` of the server's host key. */
  fingerprint: string;
  /** known_hosts line for 127.0.0.1 on this port. */
  knownHostsLine: string;
  /** Channels currently open on the server. */
  openChannels(): number;
  close(): Promise<void>;
}

export async function startHostileServer(scenario: Scenario, auth: { password?: string } = { password: 'secret' }): Promise<HostileServer> {
  // ssh2's generator yields an unparsable ed25519 key about once in 500: draw again
  let keys = utils.generateKeyPairSync('ed25519');
  while (utils.parseKey(keys.private) instanceof Error) keys = utils.generateKeyPairSync('ed25519');
  const pubBlob = Buffer.from(keys.public.split(' ')[1]!, 'base64');
  const channels = new Set<ServerChannel>();
  const clients = new Set<ssh2.Connection>();
  const server = new Server({ hostKeys: [keys.private] }, (client) => {
    clients.add(client);
    client.on('error', () => {});
    client.on('close', () => clients.delete(client));
    client.on('authentication', (ctx) => {
      if (ctx.method === 'password' && ctx.password === auth.password) return ctx.accept();
      if (ctx.method === 'publickey') return ctx.accept();
      return ctx.reject(['password', 'publickey']);
    });
    client.on('session', (acceptSession) => {
      const session = acceptSession();
      // exec: prints the command, sends EOF, and only 200 ms later its exit status (as OpenSSH can)
      session.on('exec', (accept, _reject, info) => {
        const ch = accept();
        ch.on('error', () => {});
        ch.write(`ran ${info.command}\n`);
        ch.eof();
        setTimeout(() => {
          // ssh2's Channel.exit() sends nothing after eof(); OpenSSH does, so send the request itself
          const c = ch as unknown as { _client: { _protocol: { exitStatus(id: number, status: number): void } }; outgoing: { id: number } };
          c._client._protocol.exitStatus(c.outgoing.id, 3);
          ch.close();
        }, 200);
      });
      session.on('subsystem', (accept, reject, info) => {
        if (info.name !== 'netconf') return reject();
        const ch = accept();
        channels.add(ch);
        ch.on('close', () => channels.delete(ch));
        ch.on('error', () => {});
        run(ch, scenario);
      });
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    fingerprint: 'SHA256:' + createHash('sha256').update(pubBlob).digest('base64').replace(/=+$/, ''),
    knownHostsLine: `[127.0.0.1]:${port} ${keys.public.split(' ').slice(0, 2).join(' ')}\n`,
    openChannels: () => channels.size,
    close: () =>
      new Promise<void>((r) => {
        for (const c of clients) c.end();
        server.close(() => r());
      }),
  };
}

function run(ch: ServerChannel, sc: Scenario): void {
  const hello = sc.hello === undefined ? helloXml() : sc.hello;
  if (hello !== null) ch.write(encodeEom(hello));
  let decoder: Decoder = new EomDecoder();
  let chunked = false;
  let helloAt = 0;
  let index = 0;
  const waiters: Array<() => void> = [];
  ch.on('data', (d: Buffer) => {
    waiters.splice(0).forEach((w) => w());
    let msgs: string[];
    try {
      msgs = decoder.push(d);
    } catch {
      ch.close();
      return;
    }
    for (const m of msgs) {
      if (/<hello[\s>]/.test(m)) {
        helloAt = Date.now();
        if (hello && m.includes(':base:1.1') && hello.includes(':base:1.1')) {
          chunked = true;
          const rest = (decoder as EomDecoder).takeRemainder();
          decoder = new ChunkedDecoder();
          if (rest.length) ch.emit('data', rest);
        }
        continue;
      }
      const id = /message-id="([^"]*)"/.exec(m)?.[1] ?? '';
      const ctx: RpcContext = {
        id,
        xml: m,
        channel: ch,
        index: index++,
        sinceHelloMs: Date.now() - helloAt,
        send: (msg) => ch.write(chunked ? encodeChunked(msg) : encodeEom(msg)),
        raw: (b) => ch.write(b),
        nextInput: () => new Promise<void>((r) => waiters.push(r)),
      };
      (sc.onRpc ?? ((c: RpcContext) => c.send(okReply(c.id))))(ctx);
    }
  });
}
