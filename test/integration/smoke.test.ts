import { afterAll, beforeAll, expect, test } from 'vitest';
import { NetconfClient } from '../../drivers/netconf/client.js';
import { startNetconfDevice, type NetconfDevice } from '../../lab/netconf-device.js';

let dev: NetconfDevice;
beforeAll(async () => { dev = await startNetconfDevice(); });
afterAll(async () => { await dev?.stop(); });

test('smoke', async () => {
  const c = await NetconfClient.connect({ host: dev.host, port: dev.port, username: dev.username, privateKeyFile: dev.privateKeyFile, knownHostsFile: dev.knownHostsFile, helloSettleMs: 20 });
  console.log(c.session.framing, c.sessionId);
  const t0 = performance.now();
  const data = await c.getConfig({});
  console.log('getconfig', performance.now() - t0, data.slice(0, 300));
  await c.editConfig({ config: '<device xmlns="urn:qos-broker:yang:lab-device"><hostname>r1</hostname></device>' });
  await c.commit();
  const t1 = performance.now();
  for (let i = 0; i < 200; i++) {
    await c.editConfig({ config: `<device xmlns="urn:qos-broker:yang:lab-device"><hostname>r${i}</hostname></device>` });
    await c.commit();
  }
  console.log('pairs/s', 200 / ((performance.now() - t1) / 1000));
  expect(await c.getConfig({})).toContain('r199');
  await c.close();
});
