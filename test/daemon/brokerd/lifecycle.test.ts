/**
 * The order path end to end through real daemons: three qos-brokerd
 * processes (dom-a -> dom-b -> dom-c, mutual TLS), each with two lab routers
 * (a real netconfd behind a real sshd on loopback, the lab_device model) in
 * its `devices:` config. Orders go in through dom-a's Management service (the
 * CLI's); the tests read the routers' running configs over NETCONF and the
 * bookings in every domain's Redis themselves.
 */
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { stringify } from 'yaml';
import { BROKERD, CLI, waitFor } from './harness.js';
import { DOMAINS, NS, ThreeDomainLab, expectedPolicyNames, spec, type Dom } from './three-domain-lab.js';
import { checkAmendment, contractReference, verifyContract, type SignedContract } from '../../../daemon/agreement/contract.js';
import { rawPublicKey } from '../../../daemon/peering/advert.js';
import { RecordStore } from '../../../daemon/state/records.js';
import { ManagementClient } from '../../../daemon/management/client.js';
import * as grpc from '@grpc/grpc-js';
import { clientCredentials } from '../../../daemon/peering/tls.js';
import { RemoteProvisioner } from '../../../daemon/provisioning/remote.js';

const run = promisify(execFile);
const lab = new ThreeDomainLab();
const { routers, daemons, files, configs } = lab;
const allRunning = () => lab.allRunning();
const policiesOn = (r: Parameters<ThreeDomainLab['policiesOn']>[0]) => lab.policiesOn(r);
const usedBps = (d: Dom) => lab.usedBps(d);

beforeAll(() => lab.start(), 120_000);
afterAll(() => lab.stop());

describe.sequential('lifecycle', () => {
  test('lifecycle - an order becomes a service active on every router of the path; the contract verifies; the plan is complete', async () => {
    const before = await allRunning();
    const o = await lab.mgmt.createOrder(spec(), 'acme', true);
    expect(o.state, JSON.stringify(o.error)).toBe('completed');
    expect(o.service_state).toBe('active');
    expect(o.domains).toEqual(['dom-a', 'dom-b', 'dom-c']);
    const contract = JSON.parse(o.contract_json) as SignedContract;
    const keys = Object.fromEntries(DOMAINS.map((d) => [d, rawPublicKey(readFileSync(files.get(d)!.advertKey, 'utf8'))]));
    expect(verifyContract(contract, keys).signedBy.sort()).toEqual(['dom-a', 'dom-b', 'dom-c']);
    // the per-step plan: agreed here, provisioned internally here and externally in the other two, each with times
    expect(o.plan.map((s) => [s.step, s.domain, s.where, s.state])).toEqual([
      ['agree', 'dom-a', 'internal', 'completed'],
      ['provision', 'dom-a', 'internal', 'completed'],
      ['provision', 'dom-b', 'external', 'completed'],
      ['provision', 'dom-c', 'external', 'completed'],
    ]);
    for (const s of o.plan) expect(Date.parse(s.finished)).toBeGreaterThanOrEqual(Date.parse(s.started));
    expect(o.history.map((h) => h.state)).toEqual(expect.arrayContaining(['acknowledged', 'inProgress', 'completed']));
    // exactly the rendered policy on each router: the egress towards the next domain (or the site) and the core side of the ingress
    const id = (d: string, k: number) => `${o.agreement_id}-${d}-${k}`;
    const expected: Record<string, Array<[string, string]>> = {
      'dom-a-r1': [[id('dom-a', 1), 'eth2']],
      'dom-a-r2': [[id('dom-a', 0), 'eth3']],
      'dom-b-r1': [[id('dom-b', 3), 'eth2']],
      'dom-b-r2': [[id('dom-b', 2), 'eth4']],
      'dom-c-r1': [[id('dom-c', 4), 'eth1']],
      'dom-c-r2': [],
    };
    for (const [d, rs] of routers) {
      for (const [i, r] of rs.entries()) {
        const got = await policiesOn(r);
        const want = expected[`${d}-r${i + 1}`]!;
        expect([...got.entries()].map(([n, p]) => [n, p.iface, p.rate]), `${d}-r${i + 1}`).toEqual(want.map(([n, iface]) => [n, iface, 10_000]));
      }
    }
    // the outbox holds every state change, in order
    const events = (await new RecordStore({ redis: lab.redis, domain: 'dom-a' }).outbox()).filter((e) => e.recordId === o.id).map((e) => e.state);
    expect(events[0]).toBe('acknowledged');
    expect(events.at(-1)).toBe('completed');
    // dom-b books its transit and its link to dom-c
    const baseUsed = await usedBps('dom-b');
    expect(baseUsed).toBe(2 * 10e6);
    // the CLI sees the same order through the same service
    const shown = await run(process.execPath, [CLI, 'order', 'get', o.id, '--management', lab.mgmt.address]);
    expect(shown.stdout).toContain(`order ${o.id} (acme): completed; service ${o.service_id} active at 10 Mbit/s EF`);
    const sync = await lab.mgmt.checkSync(o.id);
    expect(sync).toMatchObject({ in_sync: true });
    // the order's check-sync reads every domain's devices on the path (each domain its own, over Provisioning.CheckSync)
    expect(sync.devices.map((d) => `${d.domain}/${d.device}`).sort()).toEqual(['dom-a/dom-a-r1', 'dom-a/dom-a-r2', 'dom-b/dom-b-r1', 'dom-b/dom-b-r2', 'dom-c/dom-c-r1']);

    // drift: a policy deleted by hand on a transit router is found by that domain's check-sync and put back by redeploy
    const bm = new ManagementClient(`unix:${daemons.get('dom-b')!.config['data-dir'] as string}/management.sock`);
    try {
      const br2 = routers.get('dom-b')![1]!;
      await lab.onRouter(br2, async (c) => {
        await c.editConfig({ config: `<device xmlns="${NS}"><qos><policy xmlns:nc="urn:ietf:params:xml:ns:netconf:base:1.0" nc:operation="delete"><name>${id('dom-b', 2)}</name></policy></qos></device>` });
        await c.commit();
      });
      const drift = await bm.checkSync(o.agreement_id);
      expect(drift.in_sync).toBe(false);
      expect(drift.devices.find((d) => d.device === 'dom-b-r2')).toMatchObject({ in_sync: false, diffs: expect.arrayContaining([expect.stringMatching(/^missing .*committed-rate-kbps=10000$/)]) });
      expect(drift.devices.find((d) => d.device === 'dom-b-r1')).toMatchObject({ in_sync: true });
      expect(await bm.redeploy(o.agreement_id)).toMatchObject({ in_sync: true });
      expect([...(await policiesOn(br2)).entries()].map(([n, p]) => [n, p.rate])).toEqual([[id('dom-b', 2), 10_000]]);
      // the same drift seen and put back from the originator: its check-sync names dom-b's device, its redeploy asks dom-b
      await lab.onRouter(br2, async (c) => {
        await c.editConfig({ config: `<device xmlns="${NS}"><qos><policy xmlns:nc="urn:ietf:params:xml:ns:netconf:base:1.0" nc:operation="delete"><name>${id('dom-b', 2)}</name></policy></qos></device>` });
        await c.commit();
      });
      const seen = await lab.mgmt.checkSync(o.id);
      expect(seen.in_sync).toBe(false);
      expect(seen.devices.filter((d) => !d.in_sync).map((d) => `${d.domain}/${d.device}`)).toEqual(['dom-b/dom-b-r2']);
      const cli = await run(process.execPath, [CLI, 'order', 'check-sync', o.id, '--management', lab.mgmt.address]).catch((e: { stdout?: string }) => e);
      expect(cli.stdout).toMatch(/OUT OF SYNC[\s\S]*dom-b dom-b-r2: missing/);
      const back = await lab.mgmt.redeploy(o.id);
      expect(back.in_sync).toBe(true);
      expect(back.devices).toHaveLength(5);
      expect([...(await policiesOn(br2)).entries()].map(([n, p]) => [n, p.rate])).toEqual([[id('dom-b', 2), 10_000]]);
    } finally {
      bm.close();
    }

    // a boost no domain can carry is refused with the reason; the service keeps its rate and its routers
    const unchanged = await allRunning();
    await expect(lab.mgmt.modifyOrder(o.id, 500, 60_000)).rejects.toMatchObject({ code: 'QB_ORDER_MODIFY_REFUSED', message: expect.stringMatching(/keeps 10 Mbit\/s.*(dom-a|dom-b|dom-c|bandwidth)/) });
    expect(await lab.mgmt.getOrder(o.id)).toMatchObject({ rate_mbps: 10, service_state: 'active', boost: { state: 'failed' } });
    expect(await allRunning()).toEqual(unchanged);
    expect(await usedBps('dom-b')).toBe(baseUsed);

    // a boost for a short while: 20 Mbit/s on every router, then back to 10 on its own
    const until = Date.now() + 4000;
    const boosted = await lab.mgmt.modifyOrder(o.id, 20, 4000);
    expect(boosted).toMatchObject({ rate_mbps: 20, boost: { state: 'active', rate_mbps: 20 } });
    // the amendment is a contract of its own, signed by every provider, naming the order's contract by id and payload digest
    const original = JSON.parse(o.contract_json) as SignedContract;
    const amendment = JSON.parse(boosted.boost!.contract_json!) as SignedContract;
    expect(checkAmendment(original, amendment).amends).toEqual(contractReference(original));
    expect(verifyContract(amendment).signedBy.sort()).toEqual(['dom-a', 'dom-b', 'dom-c']);
    expect([...(await policiesOn(routers.get("dom-b")![1]!)).entries()].map(([n, p]) => [n, p.rate])).toEqual([[id("dom-b", 2), 20_000]]);
    expect(await usedBps('dom-b')).toBe(2 * baseUsed);
    const reverted = await lab.settled(o.id, (x) => x.boost?.state === 'reverted', 'the boost to revert on its own');
    expect(Date.now()).toBeGreaterThanOrEqual(until);
    expect(reverted.rate_mbps).toBe(10);
    for (const rs of routers.values()) for (const r of rs) for (const p of (await policiesOn(r)).values()) expect(p.rate).toBe(10_000);
    expect(await usedBps('dom-b')).toBe(baseUsed);

    // terminate: every router as before the order, no booking left anywhere
    const t = await lab.mgmt.terminateOrder(o.id);
    expect(t.service_state).toBe('terminated');
    expect(t.final_amount_minor).toBeGreaterThanOrEqual(0);
    expect(await allRunning()).toEqual(before);
    for (const d of DOMAINS) expect(await usedBps(d), d).toBe(0);
    // a terminated service cannot be modified or terminated again
    await expect(lab.mgmt.modifyOrder(o.id, 30, 1000)).rejects.toMatchObject({ code: 'QB_ORDER_NOT_ACTIVE' });
    await expect(lab.mgmt.terminateOrder(o.id)).rejects.toMatchObject({ code: 'QB_ORDER_NOT_ACTIVE' });
  }, 90_000);

  test('lifecycle - a transit router that refuses its config (a real rpc-error) fails the order with its domain and device; every domain rolls back', async () => {
    const before = await allRunning();
    // dom-b's r2 now names a peer interface its router does not have: netconfd refuses the leafref
    const b = daemons.get('dom-b')!;
    const reloaded = b.logs.filter((l) => l.msg === 'config reloaded').length;
    b.reload((cfg) => (cfg.devices = lab.devicesOf('dom-b', (_n, i) => `eth${7 + i}`)));
    await waitFor('dom-b to reload', () => b.logs.filter((l) => l.msg === 'config reloaded').length > reloaded);
    try {
      const o = await lab.mgmt.createOrder(spec(), 'acme', true);
      expect(o.state).toBe('failed');
      expect(o.error, JSON.stringify(o.error)).toMatchObject({ domain: 'dom-b', device: 'dom-b-r2' });
      expect(o.error!.message).toMatch(/rpc-error data-missing .*interface: required value instance not found/);
      expect(o.plan.find((s) => s.step === 'provision' && s.domain === 'dom-b')).toMatchObject({ state: 'failed', where: 'external' });
      expect(o.plan.filter((s) => s.step === 'remove').map((s) => [s.domain, s.state])).toEqual(DOMAINS.map((d) => [d, 'completed']));
      expect(await allRunning()).toEqual(before);
      for (const d of DOMAINS) expect(await usedBps(d), d).toBe(0);
    } finally {
      const n = b.logs.filter((l) => l.msg === 'config reloaded').length;
      b.reload((cfg) => (cfg.devices = lab.devicesOf('dom-b')));
      await waitFor('dom-b to reload', () => b.logs.filter((l) => l.msg === 'config reloaded').length > n);
    }
  }, 60_000);

  test('lifecycle - many orders at once to the same routers all end active, sharing device transactions; each router holds exactly their policies; terminating them all at once leaves the routers as before', async () => {
    const before = await allRunning();
    const logged = new Map(DOMAINS.map((d) => [d, daemons.get(d)!.logs.length]));
    const orders = await Promise.all(Array.from({ length: 8 }, () => lab.mgmt.createOrder(spec(), 'acme', true)));
    for (const o of orders) expect(o.state, JSON.stringify(o.error)).toBe('completed');
    expect(await lab.allPolicyNames()).toEqual(expectedPolicyNames(orders.map((o) => o.agreement_id)));
    expect(new Set(await lab.allRates())).toEqual(new Set([10_000]));
    expect(await usedBps('dom-b')).toBe(8 * 2 * 10e6);
    // segments that came while their routers were busy went on in one transaction with the others waiting
    const batches = DOMAINS.flatMap((d) => daemons.get(d)!.logs.slice(logged.get(d)).filter((l) => l.event === 'segment-active').map((l) => l.batch as number));
    expect(batches).toHaveLength(3 * 8);
    expect(Math.max(...batches), JSON.stringify(batches)).toBeGreaterThan(1);
    for (const o of orders) expect((await lab.mgmt.checkSync(o.id)).in_sync).toBe(true);
    const ended = await Promise.all(orders.map((o) => lab.mgmt.terminateOrder(o.id)));
    for (const t of ended) expect(t.service_state).toBe('terminated');
    expect(await allRunning()).toEqual(before);
    for (const d of DOMAINS) expect(await usedBps(d), d).toBe(0);
  }, 120_000);

  test('lifecycle - bad management calls are typed errors naming the field; nothing is stored', async () => {
    const n = (await lab.mgmt.listOrders()).length;
    await expect(lab.mgmt.createOrder(spec({ rate_mbps: -5 }), 'acme', true)).rejects.toMatchObject({ code: 'QB_INVALID_ARGUMENT', message: expect.stringMatching(/^rateMbps must be/) });
    await expect(lab.mgmt.createOrder({ ...spec(), from: 'dom-a' }, 'acme', true)).rejects.toMatchObject({ code: 'QB_INVALID_ARGUMENT', message: expect.stringMatching(/^from must be DOMAIN\/SITE/) });
    await expect(lab.mgmt.createOrder(spec({ duration_ms: 0 }), 'acme', true)).rejects.toMatchObject({ code: 'QB_INVALID_ARGUMENT', message: expect.stringMatching(/^durationMs/) });
    await expect(lab.mgmt.createOrder(spec(), 'bad customer!', true)).rejects.toMatchObject({ code: 'QB_INVALID_ARGUMENT', message: expect.stringMatching(/^customer/) });
    await expect(lab.mgmt.getOrder('ord-00000000-0000-0000-0000-000000000000')).rejects.toMatchObject({ code: 'QB_ORDER_NOT_FOUND' });
    await expect(lab.mgmt.getOrder('nonsense')).rejects.toMatchObject({ code: 'QB_INVALID_ARGUMENT', message: expect.stringMatching(/^id must be/) });
    await expect(lab.mgmt.listOrders({ state: 'done' })).rejects.toMatchObject({ code: 'QB_INVALID_ARGUMENT', message: expect.stringMatching(/^state must be/) });
    // Quote and Agree of the Management service: the same checks, each bad field named; nothing held
    await expect(lab.mgmt.quote({ ...spec(), rate_mbps: -1 })).rejects.toMatchObject({ code: 'QB_INVALID_ARGUMENT', message: expect.stringMatching(/^rateMbps must be/) });
    await expect(lab.mgmt.agree({ ...spec(), to: 'dom-c' })).rejects.toMatchObject({ code: 'QB_INVALID_ARGUMENT', message: expect.stringMatching(/^to must be DOMAIN\/SITE/) });
    await expect(lab.mgmt.quote(spec(), { k: 99 })).rejects.toMatchObject({ code: 'QB_INVALID_ARGUMENT', message: expect.stringMatching(/^k /) });
    for (const d of DOMAINS) expect(await usedBps(d), d).toBe(0);
    const q = await lab.mgmt.quote(spec());
    expect((q.options as Array<{ domains: string[] }>)[0]!.domains).toEqual(['dom-a', 'dom-b', 'dom-c']);
    expect(((await lab.mgmt.peers()).peers as Array<{ domain: string; state: string }>).map((p) => [p.domain, p.state])).toEqual([['dom-b', 'established'], ['dom-c', 'established']]);
    expect((await lab.mgmt.listOrders()).length).toBe(n);
    // another customer's order is as absent as one that does not exist
    const [first] = await lab.mgmt.listOrders({ customer: 'acme' });
    await expect(lab.mgmt.getOrder(first!.id, 'globex')).rejects.toMatchObject({ code: 'QB_ORDER_NOT_FOUND' });
    // the Provisioning calls of check-sync and redeploy: only the contract's originator may make them, with an agreement id
    const asDomC = new grpc.Client(daemons.get('dom-b')!.config.listen as string, clientCredentials({ certPem: files.get('dom-c')!.certPem, keyPem: files.get('dom-c')!.keyPem }, { domain: 'dom-b', caPem: readFileSync(lab.cluster.pki.caCert) }));
    try {
      const atB = new RemoteProvisioner('dom-b', asDomC.getChannel(), 10_000);
      await expect(atB.checkSync(first!.agreement_id)).rejects.toMatchObject({ code: 'QB_PROVISION_NOT_ORIGINATOR', message: expect.stringContaining('dom-c may not provision it at dom-b') });
      await expect(atB.redeploy(first!.agreement_id)).rejects.toMatchObject({ code: 'QB_PROVISION_NOT_ORIGINATOR' });
      await expect(atB.checkSync('')).rejects.toMatchObject({ code: 'QB_INVALID_ARGUMENT', message: expect.stringContaining('SegmentRef.agreement_id is empty') });
      await expect(atB.checkSync('agr-none')).rejects.toMatchObject({ code: 'QB_PROVISION_UNKNOWN' });
    } finally {
      asDomC.close();
    }
    // a devices entry whose key file is missing: --check names the field
    const cfg = structuredClone(configs.get('dom-a')!);
    (cfg.devices as Record<string, unknown>[])[0]!['key-file'] = '/nonexistent/key';
    const file = `${lab.cluster.dir}/bad-devices.yaml`;
    writeFileSync(file, stringify({ ...daemons.get('dom-a')!.config, ...cfg }));
    const e = await run(process.execPath, [BROKERD, '--config', file, '--check']).catch((x: { code: number; stderr: string }) => x);
    expect(e).toMatchObject({ code: 2, stderr: expect.stringContaining('devices[0].key-file: cannot read the SSH private key of device dom-a-r1 /nonexistent/key') });
  }, 30_000);

  test('lifecycle - a service ordered to start later is reserved until then and active from its start, with no action', async () => {
    const start = Date.now() + 4000;
    const o = await lab.mgmt.createOrder(spec({ start_ms: start }), 'acme', true);
    expect(o).toMatchObject({ state: 'inProgress', service_state: 'reserved' });
    expect(await lab.allRates()).toEqual([]);
    const active = await lab.settled(o.id, (x) => x.service_state === 'active', 'the service to start on its own', 30_000);
    expect(Date.parse(active.plan.find((s) => s.step === 'provision')!.started)).toBeGreaterThanOrEqual(start);
    expect(new Set(await lab.allRates())).toEqual(new Set([10_000]));
    await lab.mgmt.terminateOrder(o.id);
    for (const d of DOMAINS) expect(await usedBps(d), d).toBe(0);
  }, 60_000);

  test('lifecycle - a transit daemon restarted finds what drifted on its routers while it was down and puts it back; qos-broker devices shows what each router carries', async () => {
    const o = await lab.mgmt.createOrder(spec(), 'acme', true);
    expect(o.state, JSON.stringify(o.error)).toBe('completed');
    const name = `${o.agreement_id}-dom-b-3`;
    const br1 = routers.get('dom-b')![0]!;
    await lab.kill('dom-b', 'SIGTERM');
    await lab.onRouter(br1, async (c) => {
      await c.editConfig({ config: `<device xmlns="${NS}"><qos><policy><name>${name}</name><committed-rate-kbps>1</committed-rate-kbps><peak-rate-kbps>1</peak-rate-kbps></policy></qos></device>` });
      await c.commit();
    });
    expect((await policiesOn(br1)).get(name)?.rate).toBe(1);
    const b = await lab.startDomain('dom-b');
    await waitFor('dom-b to reconcile', () => b.logs.some((l) => l.event === 'segments-reconciled'));
    expect(b.logs.find((l) => l.event === 'segments-reconciled')).toMatchObject({ segments: 1, devices: 2, redeployed: 1, unreadable: [] });
    expect((await policiesOn(br1)).get(name)?.rate).toBe(10_000);
    await lab.connected();
    const bSock = `unix:${b.config['data-dir'] as string}/management.sock`;
    const shown = JSON.parse((await run(process.execPath, [CLI, 'devices', '--probe', '--json', '--management', bSock])).stdout) as Array<Record<string, unknown>>;
    expect(shown.map((d) => [d.name, d.platform, d.border, d.reachable, d.services])).toEqual([
      ['dom-b-r1', 'lab_device', 'b1', true, [o.agreement_id]],
      ['dom-b-r2', 'lab_device', 'b2', true, [o.agreement_id]],
    ]);
    expect(shown[0]!.capabilities).toEqual(expect.arrayContaining([':candidate:1.0', ':confirmed-commit:1.1', 'base:1.1']));
    await lab.mgmt.terminateOrder(o.id);
    for (const d of DOMAINS) expect(await usedBps(d), d).toBe(0);
  }, 90_000);

  test('lifecycle - a service whose end passed while its originator was down is removed when it starts again', async () => {
    const before = await allRunning();
    const o = await lab.mgmt.createOrder(spec({ duration_ms: 6000 }), 'acme', true);
    expect(o.state, JSON.stringify(o.error)).toBe('completed');
    const end = o.service.start_ms + o.service.duration_ms;
    await lab.kill('dom-a', 'SIGTERM');
    // down while the end passes: nobody removes the service meanwhile
    await new Promise((r) => setTimeout(r, Math.max(0, end - Date.now()) + 500));
    expect((await policiesOn(routers.get('dom-b')![1]!)).size).toBe(1);
    await lab.startDomain('dom-a');
    const t = await lab.settled(o.id, (x) => x.service_state === 'terminated', 'the passed end to be acted on');
    expect(t.history.at(-1)!.reason).toBe('the service window ended');
    expect(await allRunning()).toEqual(before);
    for (const d of DOMAINS) expect(await usedBps(d), d).toBe(0);
  }, 60_000);
});
