/**
 * Crash recovery of the order path: the originating daemon or a transit
 * daemon dies (SIGKILL, from a failpoint right after a step was persisted: the
 * originator after Reserve and after Commit, a transit after its own Reserve,
 * its Commit, mid-apply and before its reply; or
 * from outside mid-provisioning) and is started again. Afterwards each order
 * is active or cleanly failed, every router matches its orders, and the
 * bookings match the active services. Three daemons with two lab routers
 * each (three-domain-lab.ts).
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { waitFor } from './harness.js';
import { DOMAINS, ThreeDomainLab, expectedPolicyNames, spec, type Dom } from './three-domain-lab.js';

const lab = new ThreeDomainLab();
beforeAll(() => lab.start(), 120_000);
afterAll(() => lab.stop());

/** After an order settled: active and in sync everywhere (then terminated), or failed with nothing left anywhere. */
async function checkEnd(id: string, before: Record<string, string>): Promise<string> {
  const done = await lab.settled(id, (x) => x.state === 'completed' || x.state === 'failed', 'the order to settle after the restart', 60_000);
  if (done.state === 'completed') {
    expect(done.service_state).toBe('active');
    expect((await lab.mgmt.checkSync(id)).in_sync).toBe(true);
    expect(new Set(await lab.allRates())).toEqual(new Set([10_000]));
    expect(await lab.usedBps('dom-b')).toBe(2 * 10e6);
    await lab.mgmt.terminateOrder(id);
  } else {
    expect(done.service_state).toBe('terminated');
    expect(done.error?.code).toBeTruthy();
  }
  expect(await lab.allRunning()).toEqual(before);
  for (const d of DOMAINS) expect(await lab.usedBps(d), d).toBe(0);
  return done.state;
}

/** Start `d` with a failpoint armed, place an order, wait for `d` to die there, start it again. */
async function crashAt(d: Dom, point: string): Promise<{ id: string; end: string }> {
  const before = await lab.allRunning();
  await lab.kill(d, 'SIGTERM');
  await lab.startDomain(d, { QOS_BROKER_FAILPOINTS: point });
  await lab.connected();
  const o = await lab.mgmt.createOrder(spec(), 'acme', false);
  await lab.daemons.get(d)!.exited;
  expect(lab.daemons.get(d)!.proc.signalCode).toBe('SIGKILL');
  await lab.startDomain(d);
  return { id: o.id, end: await checkEnd(o.id, before) };
}

describe.sequential('lifecycle crashes', () => {
  test('lifecycle crash - the originator dies after Reserve, before Commit: the order fails cleanly, every hold released', async () => {
    const r = await crashAt('dom-a', 'workflow:reserved');
    expect(r.end).toBe('failed');
    expect((await lab.mgmt.getOrder(r.id)).error?.code).toBe('QB_WORKFLOW_INTERRUPTED');
  }, 120_000);

  test('lifecycle crash - the originator dies after Commit, before provisioning: the restart provisions and the order completes', async () => {
    expect((await crashAt('dom-a', 'workflow:committed')).end).toBe('completed');
  }, 120_000);

  test('lifecycle crash - a transit daemon dies right after its Reserve: the order fails cleanly once it is back, its hold released', async () => {
    const r = await crashAt('dom-b', 'agreement:reserved');
    expect(r.end).toBe('failed');
    const o = await lab.mgmt.getOrder(r.id);
    expect(o.plan.filter((s) => s.step === 'remove').map((s) => [s.domain, s.state])).toEqual(expect.arrayContaining([['dom-b', 'completed']]));
  }, 120_000);

  test('lifecycle crash - a transit daemon dies right after its Commit (booking made, reply lost): the order fails cleanly once it is back, its booking released', async () => {
    const r = await crashAt('dom-b', 'agreement:committed');
    expect(r.end).toBe('failed');
    const o = await lab.mgmt.getOrder(r.id);
    expect(o.plan.filter((s) => s.step === 'remove').map((s) => [s.domain, s.state])).toEqual(expect.arrayContaining([['dom-b', 'completed']]));
  }, 120_000);

  test('lifecycle crash - a transit daemon dies mid-apply (every device at a confirmed commit, none confirmed): its restart puts the device back, the order fails cleanly', async () => {
    const r = await crashAt('dom-b', 'provisioning:prepared');
    expect(r.end).toBe('failed');
    expect((await lab.mgmt.getOrder(r.id)).error?.domain).toBe('dom-b');
  }, 120_000);

  test('lifecycle crash - a transit daemon dies before its reply (segment active): the order fails cleanly, its devices put back', async () => {
    expect((await crashAt('dom-b', 'provisioning:active')).end).toBe('failed');
  }, 120_000);

  test('lifecycle crash - the originator dies while it provisions its own segment: after its restart the order ends active or cleanly failed', async () => {
    await crashAt('dom-a', 'provisioning:prepared');
  }, 120_000);

  test('lifecycle crash - a transit daemon dies mid-batch (a transaction carrying several segments at its confirmed commits): every order ends active or cleanly failed, the routers hold exactly the active ones', async () => {
    const before = await lab.allRunning();
    await lab.kill('dom-b', 'SIGTERM');
    await lab.startDomain('dom-b', { QOS_BROKER_FAILPOINTS: 'provisioning:prepared-batch' });
    await lab.connected();
    const orders = await Promise.all(Array.from({ length: 6 }, () => lab.mgmt.createOrder(spec(), 'acme', false)));
    await lab.daemons.get('dom-b')!.exited;
    expect(lab.daemons.get('dom-b')!.proc.signalCode).toBe('SIGKILL');
    const b = await lab.startDomain('dom-b');
    const done = await Promise.all(orders.map((o) => lab.settled(o.id, (x) => x.state === 'completed' || x.state === 'failed', 'the order to settle after the restart', 60_000)));
    const active = done.filter((o) => o.state === 'completed');
    for (const o of done.filter((x) => x.state === 'failed')) {
      expect(o.service_state).toBe('terminated');
      expect(o.error?.code).toBeTruthy();
    }
    // the batch that was killed carried at least two of them; the restart put each back
    expect(done.length - active.length).toBeGreaterThanOrEqual(2);
    expect(b.logs.filter((l) => l.event === 'segment-recovered').length).toBeGreaterThanOrEqual(2);
    for (const o of active) expect((await lab.mgmt.checkSync(o.id)).in_sync).toBe(true);
    expect(await lab.allPolicyNames()).toEqual(expectedPolicyNames(active.map((o) => o.agreement_id)));
    expect(await lab.usedBps('dom-b')).toBe(active.length * 2 * 10e6);
    await Promise.all(active.map((o) => lab.mgmt.terminateOrder(o.id)));
    expect(await lab.allRunning()).toEqual(before);
    for (const d of DOMAINS) expect(await lab.usedBps(d), d).toBe(0);
  }, 180_000);

  test('lifecycle crash - the originator killed from outside while the others apply: after its restart the order ends active or cleanly failed', async () => {
    const before = await lab.allRunning();
    const o = await lab.mgmt.createOrder(spec(), 'acme', false);
    await waitFor('provisioning to start', async () => ['inactive', 'active'].includes((await lab.mgmt.getOrder(o.id)).service_state), 20_000);
    await lab.kill('dom-a');
    await lab.startDomain('dom-a');
    await checkEnd(o.id, before);
  }, 120_000);
});
