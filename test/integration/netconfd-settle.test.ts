/**
 * The yuma123 first-RPC quirk against the real netconfd: with the lab
 * device profile's hello settle delay, 100 fresh sessions whose first RPC
 * goes out at once are all answered.
 */
import { afterAll, beforeAll, expect, test } from 'vitest';
import { NetconfClient } from '../../drivers/netconf/client.js';
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

test('settle - without the setting, any stall ends in a timeout error naming the device and the RPC, never a hang', async () => {
  const r = await freshSessions(20, 0);
  expect(r.answered + r.stalled.length).toBe(20);
  for (const e of r.stalled) expect(e.message).toMatch(/^get-config \(message-id 1\) to lab-netconfd got no reply within 3000 ms/);
}, 120_000);
