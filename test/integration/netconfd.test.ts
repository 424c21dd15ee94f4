/**
 * The NETCONF client against a real netconfd (yuma123) behind a real sshd,
 * serving the lab device model with --target=candidate.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { NetconfClient, type NetconfClientOptions } from '../../drivers/netconf/client.js';
import { CapabilityNotSupportedError, NetconfRpcError, QosBrokerError, SessionClosedError } from '../../drivers/errors.js';
import { startNetconfDevice, type NetconfDevice } from '../../lab/netconf-device.js';

const NS = 'urn:qos-broker:yang:lab-device';
let dev: NetconfDevice;
const open: NetconfClient[] = [];

beforeAll(async () => {
  dev = await startNetconfDevice();
});
afterAll(async () => {
  for (const c of open) c.destroy();
  await dev?.stop();
});

async function connect(extra: Partial<NetconfClientOptions> = {}): Promise<NetconfClient> {
  const c = await NetconfClient.connect({
    host: dev.host,
    port: dev.port,
    username: dev.username,
    privateKeyFile: dev.privateKeyFile,
    knownHostsFile: dev.knownHostsFile,
    helloSettleMs: 20,
    rpcTimeoutMs: 15_000,
    device: 'lab-netconfd',
    ...extra,
  });
  open.push(c);
  return c;
}

const hostname = (h: string) => `<device xmlns="${NS}"><hostname>${h}</hostname></device>`;
const runningHostname = async (c: NetconfClient) => /<hostname>([^<]*)<\/hostname>/.exec(await c.getConfig({ filter: { type: 'subtree', xml: `<device xmlns="${NS}"><hostname/></device>` } }))?.[1];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Make an unconfirmed confirmed commit of a control interface, started after the commit under test,
 * and wait (generously: netconfd runs its timers only after a second of idleness) until netconfd
 * rolled it back. A rollback of anything committed before it, with a timer no longer than the
 * control's, would have run by then.
 */
async function controlRolledBack(c: NetconfClient, confirmTimeoutS: number): Promise<void> {
  const hasControl = async () => (await c.getConfig({ filter: { type: 'subtree', xml: `<device xmlns="${NS}"><interfaces/></device>` } })).includes('<name>qb-control</name>');
  await c.editConfig({ config: `<device xmlns="${NS}"><interfaces><interface><name>qb-control</name><speed-mbps>100</speed-mbps></interface></interfaces></device>` });
  await c.commit({ confirmed: true, confirmTimeoutS });
  expect(await hasControl()).toBe(true);
  const end = Date.now() + 30_000;
  // poll slowly: traffic every 250 ms would postpone netconfd's timers
  while ((await hasControl()) && Date.now() < end) await sleep(1500);
  expect(await hasControl(), 'the control confirmed commit was rolled back').toBe(false);
}

describe('netconf client against netconfd', () => {
  test('hello - base:1.1 chunked framing when both offer it; capabilities parsed with module and revision', async () => {
    const c = await connect();
    expect(c.session.framing).toBe('chunked');
    expect(c.sessionId).toBeGreaterThan(0);
    expect(c.capabilities.has(':candidate')).toBe(true);
    expect(c.capabilities.has(':confirmed-commit:1.1')).toBe(true);
    const lab = c.capabilities.modules().get('qos-broker-lab-device');
    expect(lab?.revision).toBe('2026-11-24');
    expect(lab?.base).toBe(NS);
    const wd = c.capabilities.get(':with-defaults');
    expect(wd?.params['basic-mode']).toBe('explicit');
    await c.close();
    expect(c.session.status).toBe('closed');
  });

  test('hello - base:1.0 end-of-message framing when the client offers only 1.0', async () => {
    const c = await connect({ offerBase11: false });
    expect(c.session.framing).toBe('eom');
    await c.editConfig({ config: hostname('eom-r1') });
    await c.commit();
    expect(await runningHostname(c)).toBe('eom-r1');
    await c.close();
  });

  test('edit-config + commit, get-config with subtree and xpath filters, get', async () => {
    const c = await connect();
    await c.editConfig({
      config: `<device xmlns="${NS}"><hostname>r1</hostname><interfaces><interface><name>eth1</name><speed-mbps>1000</speed-mbps></interface><interface><name>eth2</name></interface></interfaces></device>`,
      defaultOperation: 'merge',
      testOption: 'test-then-set',
      errorOption: 'rollback-on-error',
    });
    await c.commit();
    const sub = await c.getConfig({ filter: { type: 'subtree', xml: `<device xmlns="${NS}"><interfaces><interface><name>eth1</name></interface></interfaces></device>` } });
    expect(sub).toContain('<speed-mbps>1000</speed-mbps>');
    expect(sub).not.toContain('eth2');
    const xp = await c.getConfig({ filter: { type: 'xpath', select: "/lab:device/lab:interfaces/lab:interface[lab:name='eth2']", namespaces: { lab: NS } } });
    expect(xp).toContain('eth2');
    expect(xp).not.toContain('eth1');
    const all = await c.get({ filter: { type: 'subtree', xml: `<device xmlns="${NS}"/>` } });
    expect(all).toContain('<hostname>r1</hostname>');
    await c.close();
  });

  test('get-config with-defaults report-all shows defaults that explicit mode hides', async () => {
    const c = await connect();
    await c.editConfig({ config: `<device xmlns="${NS}"><interfaces><interface><name>eth9</name></interface></interfaces></device>` });
    await c.commit();
    const filter = { type: 'subtree' as const, xml: `<device xmlns="${NS}"><interfaces><interface><name>eth9</name></interface></interfaces></device>` };
    expect(await c.getConfig({ filter })).not.toContain('<mtu>');
    const all = await c.getConfig({ filter, withDefaults: 'report-all' });
    expect(all).toContain('<mtu>1500</mtu>');
    expect(all).toContain('<enabled>true</enabled>');
    await c.close();
  });

  test('rpc-error - a YANG range violation is a typed rpc-error with its path', async () => {
    const c = await connect();
    const err = await c.editConfig({ config: `<device xmlns="${NS}"><interfaces><interface><name>eth1</name><mtu>20</mtu></interface></interfaces></device>` }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(NetconfRpcError);
    const e = err as NetconfRpcError;
    expect(e.code).toBe('QB_NETCONF_RPC_ERROR');
    expect(e.errors.length).toBeGreaterThanOrEqual(1);
    expect(e.errors[0]).toMatchObject({ type: 'protocol', tag: 'invalid-value', severity: 'error' });
    expect(e.errors[0]!.path).toMatch(/interface\[lab:name='eth1'\]\/lab:mtu$/);
    expect(e.message).toContain('lab-netconfd');
    await c.discardChanges();
    await c.close();
  });

  test('validate, discard-changes and copy-config between datastores', async () => {
    const c = await connect();
    await c.editConfig({ config: hostname('copy-1') });
    await c.commit();
    await c.editConfig({ config: hostname('uncommitted') });
    await c.validate('candidate');
    await c.discardChanges();
    expect(await c.getConfig({ source: 'candidate', filter: { type: 'subtree', xml: `<device xmlns="${NS}"><hostname/></device>` } })).toContain('copy-1');
    await c.editConfig({ config: hostname('copy-2') });
    await c.copyConfig({ target: 'candidate', source: 'running' });
    expect(await c.getConfig({ source: 'candidate', filter: { type: 'subtree', xml: `<device xmlns="${NS}"><hostname/></device>` } })).toContain('copy-1');
    await c.close();
  });

  test('capabilities - operations needing capabilities the server lacks fail before sending, naming the capability', async () => {
    const c = await connect();
    const sent = c.session.inFlight;
    await expect(c.editConfig({ target: 'running', config: hostname('x') })).rejects.toThrow(CapabilityNotSupportedError);
    await expect(c.editConfig({ target: 'running', config: hostname('x') })).rejects.toThrow(/writable-running/);
    await expect(c.deleteConfig({ target: 'startup' })).rejects.toThrow(/:startup/);
    await expect(c.lock('startup')).rejects.toMatchObject({ code: 'QB_NETCONF_CAPABILITY_NOT_SUPPORTED', capability: ':startup' });
    expect(c.session.inFlight).toBe(sent);
    await c.close();
  });

  test('lock - a lock held by one session makes a second session fail with lock-denied naming the holder', async () => {
    const a = await connect();
    const b = await connect();
    await a.lock('candidate');
    const err = (await b.lock('candidate').catch((e: unknown) => e)) as NetconfRpcError;
    expect(err).toBeInstanceOf(NetconfRpcError);
    expect(err.tag).toBe('lock-denied');
    expect(err.errors[0]!.info['session-id']).toBe(String(a.sessionId));
    expect(err.message).toContain(`session-id ${a.sessionId}`);
    await a.unlock('candidate');
    await b.lock('candidate');
    await b.unlock('candidate');
    await a.close();
    await b.close();
  });

  test('confirmed commit - not confirmed, it rolls back after its timeout', async () => {
    const c = await connect();
    await c.editConfig({ config: hostname('before-confirmed') });
    await c.commit();
    await c.editConfig({ config: hostname('confirmed-not-confirmed') });
    await c.commit({ confirmed: true, confirmTimeoutS: 2 });
    expect(await runningHostname(c)).toBe('confirmed-not-confirmed');
    // netconfd runs its timers only when its event loop has been idle for a
    // second, so poll slowly: traffic every 250 ms would postpone the rollback.
    const end = Date.now() + 15_000;
    let now: string | undefined;
    do {
      await sleep(1500);
      now = await runningHostname(c);
    } while (now !== 'before-confirmed' && Date.now() < end);
    expect(now).toBe('before-confirmed');
    await c.close();
  });

  test('confirmed commit - confirmed by a second commit stays', async () => {
    const c = await connect();
    await c.editConfig({ config: hostname('confirmed-ok') });
    await c.commit({ confirmed: true, confirmTimeoutS: 2 });
    await c.commit();
    // the rollback of an unconfirmed control commit started later, with the same timeout, is seen:
    // the first commit's rollback would have run by then (and, still pending, would have been
    // joined by the control's and rolled back with it)
    await controlRolledBack(c, 2);
    expect(await runningHostname(c)).toBe('confirmed-ok');
    await c.close();
  }, 60_000);

  test('confirmed commit - persist survives the session and is confirmed from another session by persist-id', async () => {
    const a = await connect();
    await a.editConfig({ config: hostname('persisted') });
    await a.commit({ confirmed: true, confirmTimeoutS: 10, persist: 'qb-persist-1' });
    await a.close();
    const b = await connect();
    expect(await runningHostname(b)).toBe('persisted');
    // a wrong persist-id confirms nothing
    const wrong = await b.commit({ persistId: 'qb-persist-wrong' }).catch((x: unknown) => x);
    expect(wrong).toBeInstanceOf(NetconfRpcError);
    expect((wrong as NetconfRpcError).errors.some((e) => e.severity === 'error')).toBe(true);
    await b.commit({ persistId: 'qb-persist-1' });
    // after the confirmed commit's timeout (a control with a longer one, started later, rolled back) the change is still there
    await controlRolledBack(b, 11);
    expect(await runningHostname(b)).toBe('persisted');
    await b.close();
  }, 90_000);

  test('cancel-commit - rolls a pending confirmed commit back at once', async () => {
    const c = await connect();
    await c.editConfig({ config: hostname('pre-cancel') });
    await c.commit();
    await c.editConfig({ config: hostname('to-cancel') });
    await c.commit({ confirmed: true, confirmTimeoutS: 60 });
    expect(await runningHostname(c)).toBe('to-cancel');
    await c.cancelCommit();
    expect(await runningHostname(c)).toBe('pre-cancel');
    await c.close();
  });

  test('pipelining - 64 RPCs in flight on one session are each answered with their own reply', async () => {
    const c = await connect();
    await c.editConfig({ config: `<device xmlns="${NS}"><interfaces>${Array.from({ length: 8 }, (_, i) => `<interface><name>p${i}</name><speed-mbps>${100 + i}</speed-mbps></interface>`).join('')}</interfaces></device>` });
    await c.commit();
    const replies = await Promise.all(
      Array.from({ length: 64 }, (_, i) =>
        c.getConfig({ filter: { type: 'subtree', xml: `<device xmlns="${NS}"><interfaces><interface><name>p${i % 8}</name></interface></interfaces></device>` } }),
      ),
    );
    replies.forEach((r, i) => expect(r).toContain(`<speed-mbps>${100 + (i % 8)}</speed-mbps>`));
    await c.close();
  });

  test('cancellation - an aborted RPC rejects at once; its late reply is dropped and the session goes on', async () => {
    const c = await connect();
    const ac = new AbortController();
    const p = c.getConfig({}, { signal: ac.signal });
    ac.abort();
    await expect(p).rejects.toMatchObject({ code: 'QB_ABORTED' });
    expect(await runningHostname(c)).toBeDefined();
    await c.close();
  });

  test('kill-session - a second session kills the first; the first sees its session closed', async () => {
    const a = await connect();
    const b = await connect();
    await b.killSession(a.sessionId);
    const err = await a.getConfig({}).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(QosBrokerError);
    expect(err).toBeInstanceOf(SessionClosedError);
    await expect(b.killSession(b.sessionId)).rejects.toMatchObject({ code: 'QB_INVALID_ARGUMENT' });
    await b.close();
  });

  test('notifications - a subscription receives netconf-config-change when another session commits', async () => {
    const sub = await connect();
    await sub.createSubscription({ stream: 'NETCONF' });
    const next = sub.nextNotification(10_000, (n) => n.xml.includes('netconf-config-change'));
    const w = await connect();
    await w.editConfig({ config: hostname('notified') });
    await w.commit();
    const n = await next;
    expect(n.eventTime).toMatch(/^\d{4}-\d\d-\d\dT/);
    expect(n.xml).toContain('/lab:device/lab:hostname');
    // netconfd offers :interleave, so the subscribed session still takes RPCs
    expect(await runningHostname(sub)).toBe('notified');
    await w.close();
    await sub.close();
  });
});
