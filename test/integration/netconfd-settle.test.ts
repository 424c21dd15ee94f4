/**
 * The yuma123 first-RPC quirk against the real netconfd: with the lab
 * device profile's hello settle delay, 100 fresh sessions whose first RPC
 * goes out at once are all answered; without it, a first RPC that reaches
 * netconfd in the same read as the client's hello stalls, and the stall
 * ends in a timeout error naming the device and the RPC.
 */
import { Duplex } from 'node:stream';
import type { ClientChannel } from 'ssh2';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { NetconfClient } from '../../drivers/netconf/client.js';
import { NetconfSession } from '../../drivers/netconf/session.js';
import { SshTransport } from '../../drivers/ssh/transport.js';
import { TimeoutError } from '../../drivers/errors.js';
import { startNetconfDevice, type NetconfDevice } from '../../lab/netconf-device.js';

let dev: NetconfDevice;
beforeAll(async () => {
  dev = await startNetconfDevice();
});
afterAll(async () => {
  await dev?.stop();
});

async function freshSessions(n: number, helloSettleMs: number): Promise<{ answered: number; stalled: TimeoutError[] }> {
  let answered = 0;
  const stalled: TimeoutError[] = [];
  let next = 0;
  const worker = async () => {
    while (next < n) {
      next++;
      const c = await NetconfClient.connect({
        host: dev.host,
        port: dev.port,
        username: dev.username,
        privateKeyFile: dev.privateKeyFile,
        knownHostsFile: dev.knownHostsFile,
        helloSettleMs,
        rpcTimeoutMs: 3000,
        device: 'lab-netconfd',
      });
      try {
        // the first RPC goes out the moment the session is up
        await c.rpc('<get-config><source><running/></source></get-config>');
        answered++;
      } catch (e) {
        if (e instanceof TimeoutError) stalled.push(e);
        else throw e;
      } finally {
        c.destroy();
      }
    }
  };
  await Promise.all([worker(), worker(), worker(), worker()]);
  return { answered, stalled };
}

test('settle - 100 fresh sessions with the lab setting (20 ms) never stall on their first RPC', async () => {
  const r = await freshSessions(100, 20);
  expect(r.stalled).toEqual([]);
  expect(r.answered).toBe(100);
}, 120_000);

/**
 * The SSH channel, except that the client's `<hello>` (the first write) is held until the
 * next write (the first RPC) and both go out as one write: netconfd reads them at once.
 */
function helloWithFirstRpc(ch: ClientChannel): Duplex {
  let writes = 0;
  let held: Buffer | undefined;
  const d = new Duplex({
    read() {},
    write(chunk: Buffer, _enc, cb) {
      writes++;
      if (writes === 1) {
        held = chunk;
        return cb();
      }
      const out = held ? Buffer.concat([held, chunk]) : chunk;
      held = undefined;
      ch.write(out, cb);
    },
    final(cb) {
      ch.end();
      cb();
    },
  });
  ch.on('data', (b: Buffer) => d.push(b));
  ch.on('end', () => d.push(null));
  ch.on('close', () => d.destroy());
  ch.on('error', (e: Error) => d.destroy(e));
  return d;
}

test('settle - without the setting, a first RPC sent with the hello stalls and ends in a timeout error naming the device and the RPC, never a hang', async () => {
  for (let i = 0; i < 3; i++) {
    const ssh = await SshTransport.connect({ host: dev.host, port: dev.port, username: dev.username, privateKeyFile: dev.privateKeyFile, knownHostsFile: dev.knownHostsFile });
    try {
      const s = await NetconfSession.open(helloWithFirstRpc(await ssh.subsystem('netconf')), { device: 'lab-netconfd', helloSettleMs: 0, rpcTimeoutMs: 3000 });
      const e = await s.rpc('<get-config><source><running/></source></get-config>').then(
        () => new Error('the first RPC was answered: netconfd did not stall on it'),
        (x: unknown) => x,
      );
      expect(e).toBeInstanceOf(TimeoutError);
      expect((e as TimeoutError).code).toBe('QB_NETCONF_RPC_TIMEOUT');
      expect((e as Error).message).toMatch(/^get-config \(message-id 1\) to lab-netconfd got no reply within 3000 ms$/);
      // never a hang: the session is still usable, the next RPC is the "more input" and is answered
      // (the late reply to message-id 1 is dropped)
      expect((await s.rpc('<get-config><source><running/></source></get-config>', { timeoutMs: 10_000 })).messageId).toBe('2');
      expect(s.nudges).toBe(0);
      s.destroy();
    } finally {
      ssh.destroy();
    }
  }
}, 120_000);
