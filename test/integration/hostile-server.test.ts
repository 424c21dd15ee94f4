/**
 * The client against devices that misbehave: every bad reply gives a clear,
 * typed error, never a hang or a crash, and the session ends closed.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, test } from 'vitest';
import { NetconfClient, type NetconfClientOptions } from '../../drivers/netconf/client.js';
import { SshTransport } from '../../drivers/ssh/transport.js';
import { NetconfRpcError, ProtocolError, QosBrokerError, SessionClosedError, TimeoutError } from '../../drivers/errors.js';
import { helloXml, okReply, startHostileServer, type HostileServer, type Scenario } from '../support/hostile-netconf-server.js';

const dir = mkdtempSync(join(tmpdir(), 'qb-hostile-'));
let server: HostileServer | undefined;
const clients: NetconfClient[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.destroy();
  await server?.close();
  server = undefined;
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function withServer(sc: Scenario, opts: Partial<NetconfClientOptions> = {}): Promise<NetconfClient> {
  server = await startHostileServer(sc);
  const c = await NetconfClient.connect({
    host: '127.0.0.1',
    port: server.port,
    username: 'lab',
    password: 'secret',
    fingerprints: [server.fingerprint],
    rpcTimeoutMs: 3000,
    helloTimeoutMs: 2000,
    device: 'hostile',
    ...opts,
  });
  clients.push(c);
  return c;
}

async function failure(p: Promise<unknown>): Promise<QosBrokerError> {
  const r = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(r).toBeInstanceOf(QosBrokerError);
  return r as QosBrokerError;
}

async function expectClosedCleanly(c: NetconfClient): Promise<void> {
  expect(c.session.status).toBe('closed');
  await expect(c.getConfig({})).rejects.toBeInstanceOf(SessionClosedError);
  const end = Date.now() + 3000;
  while (server!.openChannels() > 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
  expect(server!.openChannels()).toBe(0);
}

describe('hostile devices', () => {
  test('hostile - malformed chunked framing closes the session with QB_NETCONF_BAD_FRAMING', async () => {
    const c = await withServer({ onRpc: (ctx) => ctx.raw('\n#12x\n<rpc-reply/>') });
    const e = await failure(c.getConfig({}));
    expect(e).toBeInstanceOf(ProtocolError);
    expect(e.code).toBe('QB_NETCONF_BAD_FRAMING');
    await expectClosedCleanly(c);
  });

  test('hostile - an oversized chunk is refused before it is buffered', async () => {
    const c = await withServer({ onRpc: (ctx) => ctx.raw('\n#4000000000\n') }, { limits: { maxChunkBytes: 1 << 20 } });
    const e = await failure(c.getConfig({}));
    expect(e.code).toBe('QB_NETCONF_CHUNK_TOO_LARGE');
    await expectClosedCleanly(c);
  });

  test('hostile - an oversized end-of-message reply is refused at the limit', async () => {
    const c = await withServer(
      {
        hello: helloXml(['urn:ietf:params:netconf:base:1.0']),
        onRpc: (ctx) => {
          const junk = Buffer.alloc(64 * 1024, 'x');
          for (let i = 0; i < 40; i++) ctx.raw(junk);
        },
      },
      { limits: { maxMessageBytes: 1 << 20 } },
    );
    const e = await failure(c.getConfig({}));
    expect(e.code).toBe('QB_NETCONF_MESSAGE_TOO_LARGE');
    await expectClosedCleanly(c);
  });

  test('hostile - a reply with a DTD and entity declarations is refused, never expanded', async () => {
    const lol = `<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>`;
    const c = await withServer({ onRpc: (ctx) => ctx.send(`${lol}<rpc-reply message-id="${ctx.id}" xmlns="urn:ietf:params:xml:ns:netconf:base:1.0"><data>&lol2;</data></rpc-reply>`) });
    const e = await failure(c.getConfig({}));
    expect(e.code).toBe('QB_NETCONF_FORBIDDEN_XML');
    await expectClosedCleanly(c);
  });

  test('hostile - an external entity (XXE) in a hello is refused', async () => {
    server = await startHostileServer({ hello: `<!DOCTYPE hello [<!ENTITY x SYSTEM "file:///etc/passwd">]>${helloXml()}` });
    const e = await failure(
      NetconfClient.connect({ host: '127.0.0.1', port: server.port, username: 'lab', password: 'secret', fingerprints: [server.fingerprint], device: 'hostile' }),
    );
    expect(e.code).toBe('QB_NETCONF_FORBIDDEN_XML');
  });

  test('hostile - a device that stops mid-message ends in a timeout and a closed session', async () => {
    const c = await withServer({ onRpc: (ctx) => ctx.raw(`\n#500\n<rpc-reply message-id="${ctx.id}"`) });
    const e = await failure(c.getConfig({}, { timeoutMs: 500 }));
    expect(e).toBeInstanceOf(TimeoutError);
    expect(e.code).toBe('QB_NETCONF_RPC_TIMEOUT');
    expect(e.message).toMatch(/get-config \(message-id \d+\) to hostile/);
    expect(e.message).toContain('stopped in the middle of a message');
    await expectClosedCleanly(c);
  });

  test('hostile - a device that closes the channel fails every outstanding RPC with SessionClosedError', async () => {
    const c = await withServer({ onRpc: (ctx) => (ctx.index === 2 ? ctx.channel.close() : undefined) });
    const ps = [c.getConfig({}), c.getConfig({}), c.getConfig({})].map(failure);
    const errs = await Promise.all(ps);
    for (const e of errs) {
      expect(e).toBeInstanceOf(SessionClosedError);
      expect(e.message).toMatch(/hostile closed the NETCONF session with 3 RPCs unanswered/);
    }
    await expectClosedCleanly(c);
  });

  test('hostile - a hello without session-id is refused', async () => {
    server = await startHostileServer({ hello: helloXml(undefined, null) });
    const e = await failure(NetconfClient.connect({ host: '127.0.0.1', port: server.port, username: 'lab', password: 'secret', fingerprints: [server.fingerprint] }));
    expect(e.code).toBe('QB_NETCONF_BAD_HELLO');
    expect(e.message).toContain('session-id');
  });

  test('hostile - broken escapes in a hello: a bad percent-escape is kept raw, an invalid character reference is a typed error', async () => {
    server = await startHostileServer({ hello: helloXml(['urn:ietf:params:netconf:base:1.0', 'urn:x:y?module=a%zz&amp;revision=2020-01-01']) });
    const c = await NetconfClient.connect({ host: '127.0.0.1', port: server.port, username: 'lab', password: 'secret', fingerprints: [server.fingerprint] });
    clients.push(c);
    expect(c.capabilities.get('urn:x:y')?.module).toBe('a%zz');
    await server.close();
    server = await startHostileServer({ hello: helloXml(undefined, '&#x110000;') });
    const e = await failure(NetconfClient.connect({ host: '127.0.0.1', port: server.port, username: 'lab', password: 'secret', fingerprints: [server.fingerprint] }));
    expect(e.code).toBe('QB_NETCONF_BAD_XML');
  });

  test('hostile - a device that never says hello times out', async () => {
    server = await startHostileServer({ hello: null });
    const e = await failure(NetconfClient.connect({ host: '127.0.0.1', port: server.port, username: 'lab', password: 'secret', fingerprints: [server.fingerprint], helloTimeoutMs: 300 }));
    expect(e.code).toBe('QB_NETCONF_HELLO_TIMEOUT');
  });

  test('hostile - a reply to a message-id nobody sent closes the session', async () => {
    const c = await withServer({ onRpc: (ctx) => ctx.send(okReply('999')) });
    const e = await failure(c.getConfig({}));
    expect(e.code).toBe('QB_NETCONF_UNEXPECTED_REPLY');
    await expectClosedCleanly(c);
  });

  test('hostile - a message that is not XML closes the session', async () => {
    const c = await withServer({ onRpc: (ctx) => ctx.send('hello there') });
    const e = await failure(c.getConfig({}));
    expect(e.code).toBe('QB_NETCONF_BAD_XML');
    await expectClosedCleanly(c);
  });

  test('rpc-error - several errors in one reply are all kept with every field', async () => {
    const c = await withServer({
      onRpc: (ctx) =>
        ctx.send(
          `<nc:rpc-reply xmlns:nc="urn:ietf:params:xml:ns:netconf:base:1.0" message-id="${ctx.id}">` +
            `<nc:rpc-error><nc:error-type>application</nc:error-type><nc:error-tag>invalid-value</nc:error-tag><nc:error-severity>error</nc:error-severity>` +
            `<nc:error-app-tag>too-big</nc:error-app-tag><nc:error-path xmlns:x="urn:x">/x:a/x:b</nc:error-path><nc:error-message xml:lang="en">b is too big</nc:error-message>` +
            `<nc:error-info><nc:bad-element>b</nc:bad-element></nc:error-info></nc:rpc-error>` +
            `<nc:rpc-error><nc:error-type>protocol</nc:error-type><nc:error-tag>lock-denied</nc:error-tag><nc:error-severity>error</nc:error-severity>` +
            `<nc:error-info><nc:session-id>42</nc:session-id></nc:error-info></nc:rpc-error>` +
            `<nc:rpc-error><nc:error-type>application</nc:error-type><nc:error-tag>operation-failed</nc:error-tag><nc:error-severity>warning</nc:error-severity></nc:rpc-error>` +
            `</nc:rpc-reply>`,
        ),
    });
    const e = (await failure(c.rpc('<edit-config><target><running/></target><config><a xmlns="urn:x"><b>9</b></a></config></edit-config>'))) as NetconfRpcError;
    expect(e).toBeInstanceOf(NetconfRpcError);
    expect(e.errors).toEqual([
      { type: 'application', tag: 'invalid-value', severity: 'error', appTag: 'too-big', path: '/x:a/x:b', message: 'b is too big', info: { 'bad-element': 'b' } },
      { type: 'protocol', tag: 'lock-denied', severity: 'error', appTag: undefined, path: undefined, message: undefined, info: { 'session-id': '42' } },
      { type: 'application', tag: 'operation-failed', severity: 'warning', appTag: undefined, path: undefined, message: undefined, info: {} },
    ]);
    expect(e.tag).toBe('invalid-value');
    expect(e.message).toContain('session-id 42');
    expect(e.message).toContain('warning operation-failed');
    // the session survives an rpc-error
    expect(c.session.status).toBe('ready');
  });

  test('rpc-error - a reply with only warnings succeeds and keeps them', async () => {
    const c = await withServer({
      onRpc: (ctx) =>
        ctx.send(
          `<rpc-reply xmlns="urn:ietf:params:xml:ns:netconf:base:1.0" message-id="${ctx.id}"><rpc-error><error-type>application</error-type><error-tag>operation-failed</error-tag><error-severity>warning</error-severity><error-message>deprecated leaf</error-message></rpc-error><ok/></rpc-reply>`,
        ),
    });
    const r = await c.editConfig({ config: '<a xmlns="urn:x"/>', target: 'candidate' }).catch((e) => e);
    // the default hello has no :candidate: the capability check comes first
    expect(r.code).toBe('QB_NETCONF_CAPABILITY_NOT_SUPPORTED');
    const reply = await c.rpc('<get/>');
    expect(reply.ok).toBe(true);
    expect(reply.warnings).toMatchObject([{ severity: 'warning', message: 'deprecated leaf' }]);
  });

  test('framing - a body containing the end-of-message marker is refused in base:1.0', async () => {
    const c = await withServer({ hello: helloXml(['urn:ietf:params:netconf:base:1.0']) });
    await expect(c.rpc('<get><filter type="subtree"><a>]]>]]></a></filter></get>')).rejects.toMatchObject({ code: 'QB_INVALID_ARGUMENT' });
    expect((await c.rpc('<get/>')).ok).toBe(true);
  });
});

describe('session options', () => {
  test('regression - an option given as undefined keeps its default (rpcTimeoutMs: undefined used to time out at once)', async () => {
    const c = await withServer({ onRpc: (ctx) => setTimeout(() => ctx.send(okReply(ctx.id)), 50) }, { rpcTimeoutMs: undefined, helloSettleMs: undefined });
    expect((await c.rpc('<get/>')).ok).toBe(true);
  });
});

describe('session lifecycle', () => {
  test('lifecycle - close() lets the RPCs in flight finish, refuses new ones, then closes', async () => {
    const c = await withServer({ onRpc: (ctx) => setTimeout(() => ctx.send(okReply(ctx.id)), 100) });
    const inflight = [c.rpc('<get/>'), c.rpc('<get/>'), c.rpc('<get/>')];
    const closing = c.close();
    await expect(c.rpc('<get/>')).rejects.toMatchObject({ code: 'QB_NETCONF_SESSION_CLOSED' });
    for (const r of await Promise.all(inflight)) expect(r.ok).toBe(true);
    await closing;
    expect(c.session.status).toBe('closed');
  });
  test('lifecycle - destroy(err) aborts the RPCs in flight with that error', async () => {
    const c = await withServer({ onRpc: () => undefined });
    const p = c.rpc('<get/>');
    c.destroy(new TimeoutError('QB_TEST_ABORT', 'aborted by the test'));
    await expect(p).rejects.toMatchObject({ code: 'QB_TEST_ABORT' });
  });
});

describe('hello settle delay (the yuma123 first-RPC quirk, emulated)', () => {
  // netconfd holds the reply to an RPC that arrives together with the client's
  // hello until more input comes; this device does the same for a first RPC
  // that arrives within 50 ms of the hello (wide, so a busy machine cannot
  // make the client look slower than the window).
  const quirky: Scenario = {
    onRpc: (ctx) => {
      if (ctx.index === 0 && ctx.sinceHelloMs < 50) void ctx.nextInput().then(() => ctx.send(okReply(ctx.id)));
      else ctx.send(okReply(ctx.id));
    },
  };
  test('settle - with the setting off, a stalled first RPC ends in a timeout error naming the device and the RPC', async () => {
    const c = await withServer(quirky, { helloSettleMs: 0, rpcTimeoutMs: 400 });
    const e = await failure(c.rpc('<get/>'));
    expect(e.code).toBe('QB_NETCONF_RPC_TIMEOUT');
    expect(e.message).toMatch(/^get \(message-id 1\) to hostile got no reply within 400 ms/);
  });
  test('settle - with the setting on, the first RPC is answered', async () => {
    const c = await withServer(quirky, { helloSettleMs: 80, rpcTimeoutMs: 2000 });
    expect((await c.rpc('<get/>')).ok).toBe(true);
  });
  test('settle - a loaded server that holds the first reply anyway is nudged with one harmless RPC; its reply is dropped', async () => {
    const seen: string[] = [];
    const holdsFirst: Scenario = {
      onRpc: (ctx) => {
        seen.push(ctx.xml);
        if (ctx.index === 0) void ctx.nextInput().then(() => ctx.send(okReply(ctx.id)));
        else ctx.send(okReply(ctx.id));
      },
    };
    const c = await withServer(holdsFirst, { helloSettleMs: 20, rpcTimeoutMs: 3000 });
    expect((await c.rpc('<get/>')).ok).toBe(true);
    expect(c.session.nudges).toBe(1);
    expect(seen[1]).toContain('<get-config><source><running/></source><filter type="subtree"/></get-config>');
    // the nudge's reply was dropped, not mistaken for anything; the session goes on
    expect((await c.rpc('<get/>')).messageId).toBe('3');
    expect(c.session.status).toBe('ready');
  });
});

describe('ssh transport', () => {
  test('ssh - exec reports an exit status that comes after EOF', async () => {
    server = await startHostileServer({});
    const t = await SshTransport.connect({ host: '127.0.0.1', port: server.port, username: 'lab', password: 'secret', fingerprints: [server.fingerprint] });
    try {
      expect(await t.exec('tc qdisc show')).toEqual({ stdout: 'ran tc qdisc show\n', stderr: '', code: 3 });
    } finally {
      await t.close();
    }
  });

  test('ssh - password authentication; a wrong password is QB_SSH_AUTH_FAILED', async () => {
    const c = await withServer({});
    expect((await c.rpc('<get/>')).ok).toBe(true);
    const e = await failure(NetconfClient.connect({ host: '127.0.0.1', port: server!.port, username: 'lab', password: 'wrong', fingerprints: [server!.fingerprint] }));
    expect(e.code).toBe('QB_SSH_AUTH_FAILED');
  });

  test('ssh - unknown host refused naming its fingerprint; known_hosts entry accepted', async () => {
    server = await startHostileServer({});
    const kh = join(dir, 'known_hosts_empty');
    writeFileSync(kh, '');
    const e = await failure(NetconfClient.connect({ host: '127.0.0.1', port: server.port, username: 'lab', password: 'secret', knownHostsFile: kh }));
    expect(e.code).toBe('QB_SSH_HOST_KEY_UNKNOWN');
    expect(e.message).toContain(server.fingerprint);
    const kh2 = join(dir, 'known_hosts_ok');
    writeFileSync(kh2, server.knownHostsLine);
    const c = await NetconfClient.connect({ host: '127.0.0.1', port: server.port, username: 'lab', password: 'secret', knownHostsFile: kh2 });
    clients.push(c);
    expect((await c.rpc('<get/>')).ok).toBe(true);
  });

  test('ssh - a changed host key is refused even with trust-on-first-use', async () => {
    server = await startHostileServer({});
    const other = await startHostileServer({});
    const kh = join(dir, 'known_hosts_changed');
    writeFileSync(kh, other.knownHostsLine.replace(`:${other.port}`, `:${server.port}`));
    await other.close();
    const e = await failure(NetconfClient.connect({ host: '127.0.0.1', port: server.port, username: 'lab', password: 'secret', knownHostsFile: kh, trustOnFirstUse: true }));
    expect(e.code).toBe('QB_SSH_HOST_KEY_CHANGED');
    expect(e.message).toContain(server.fingerprint);
  });

  test('ssh - a server that accepts TCP but never speaks SSH ends in QB_SSH_CONNECT_TIMEOUT', async () => {
    const socks = new Set<import('node:net').Socket>();
    const silent: Server = createServer((s) => void socks.add(s));
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', () => r()));
    try {
      const port = (silent.address() as { port: number }).port;
      const e = await failure(NetconfClient.connect({ host: '127.0.0.1', port, username: 'lab', password: 'x', fingerprints: ['SHA256:x'], connectTimeoutMs: 300 }));
      expect(e.code).toBe('QB_SSH_CONNECT_TIMEOUT');
    } finally {
      for (const s of socks) s.destroy();
      await new Promise((r) => silent.close(r));
    }
  });

  test('ssh - connection refused is QB_SSH_CONNECT_FAILED; missing credentials or host-key policy are argument errors', async () => {
    const probe = createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', () => r()));
    const port = (probe.address() as { port: number }).port;
    await new Promise((r) => probe.close(r));
    expect((await failure(NetconfClient.connect({ host: '127.0.0.1', port, username: 'lab', password: 'x', fingerprints: ['SHA256:x'] }))).code).toBe('QB_SSH_CONNECT_FAILED');
    expect((await failure(NetconfClient.connect({ host: '127.0.0.1', port, username: 'lab', fingerprints: ['SHA256:x'] }))).code).toBe('QB_INVALID_ARGUMENT');
    expect((await failure(NetconfClient.connect({ host: '127.0.0.1', port, username: 'lab', password: 'x' }))).message).toMatch(/known_hosts file or a pinned SHA256 fingerprint/);
  });
});
