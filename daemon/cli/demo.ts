/**
 * `qos-broker demo`: the loopback demo. Today it starts a lab NETCONF
 * device (real netconfd behind real sshd) and drives it through the
 * client: hello, edit-config on the candidate, a confirmed commit that is
 * confirmed, a YANG violation reported as a typed rpc-error, read-back.
 */
import { NetconfClient } from '../../drivers/netconf/client.js';
import { NetconfRpcError } from '../../drivers/errors.js';
import { startNetconfDevice } from '../../lab/netconf-device.js';

export async function demoCommand(_argv: string[], out: (s: string) => void = (s) => process.stdout.write(s + '\n')): Promise<void> {
  out('starting a lab NETCONF device (netconfd behind sshd on 127.0.0.1)...');
  const dev = await startNetconfDevice();
  try {
    out(`device up on ${dev.host}:${dev.port}, host key ${dev.fingerprint}`);
    const t0 = performance.now();
    const client = await NetconfClient.connect({
      host: dev.host,
      port: dev.port,
      username: dev.username,
      privateKeyFile: dev.privateKeyFile,
      knownHostsFile: dev.knownHostsFile,
      helloSettleMs: 20,
      device: 'lab-r1',
    });
    out(`NETCONF session ${client.sessionId} (${client.session.framing} framing) in ${(performance.now() - t0).toFixed(0)} ms; ${client.capabilities.list.length} capabilities`);
    const ns = 'urn:qos-broker:yang:lab-device';
    await client.lock('candidate');
    await client.editConfig({
      config: `<device xmlns="${ns}"><hostname>lab-r1</hostname><interfaces><interface><name>eth1</name><speed-mbps>1000</speed-mbps></interface></interfaces>` +
        `<qos><policy><name>svc-demo-ef</name><interface>eth1</interface><traffic-class>EF</traffic-class><dscp>46</dscp><committed-rate-kbps>10000</committed-rate-kbps><action>police</action><priority>0</priority></policy></qos></device>`,
    });
    await client.commit({ confirmed: true, confirmTimeoutS: 60 });
    out('edit-config + confirmed commit: ok');
    await client.commit();
    out('commit confirmed');
    try {
      await client.editConfig({ config: `<device xmlns="${ns}"><interfaces><interface><name>eth2</name><mtu>20</mtu></interface></interfaces></device>` });
      await client.validate('candidate');
      out('unexpected: the device accepted mtu 20');
    } catch (err) {
      if (!(err instanceof NetconfRpcError)) throw err;
      out(`typed rpc-error as expected: ${err.tag} at ${err.errors[0]?.path ?? '?'}`);
      await client.discardChanges();
    }
    await client.unlock('candidate');
    const running = await client.getConfig({ filter: { type: 'subtree', xml: `<device xmlns="${ns}"/>` } });
    out('running config:');
    out(running.trim());
    const t1 = performance.now();
    const n = 100;
    for (let i = 0; i < n; i++) {
      await client.editConfig({ config: `<device xmlns="${ns}"><hostname>lab-r1-${i}</hostname></device>` });
      await client.commit();
    }
    out(`${n} edit-config + commit pairs: ${(n / ((performance.now() - t1) / 1000)).toFixed(0)} pairs/s`);
    await client.close();
  } finally {
    await dev.stop();
  }
  out('demo done; the device was stopped and its state removed');
}
