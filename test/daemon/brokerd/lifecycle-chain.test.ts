/**
 * The order path end to end with a chained domain: the three-domain lab
 * (three qos-brokerd processes, two lab routers each: a real netconfd behind
 * a real sshd), except that dom-a peers only with dom-b, so everything dom-a
 * asks of dom-c (Quote and Reserve, Commit, then Provisioning Activate,
 * Status and Deactivate) travels through dom-b (agreement.proto and
 * provisioning.proto, Chaining). Orders go in through dom-a's Management
 * service.
 */
import { createPublicKey } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { metricValue } from './harness.js';
import { DOMAINS, ThreeDomainLab, spec, type Dom } from './three-domain-lab.js';
import { verifyContract, type SignedContract } from '../../../daemon/agreement/contract.js';
import { rawPublicKey } from '../../../daemon/peering/advert.js';

/** dom-a without dom-c among its peers, and dom-a and dom-c knowing each other's advertisement key as origin keys. */
const lab: ThreeDomainLab = new ThreeDomainLab({
  config: (d: Dom) => {
    const pub = (o: Dom) => {
      const file = join(lab.cluster.dir, `${o}-advert.pub`);
      writeFileSync(file, createPublicKey(lab.files.get(o)!.advertKeyPem).export({ type: 'spki', format: 'pem' }));
      return { 'domain-id': o, 'public-key-file': file };
    };
    const peers = (lab.configs.get(d)!.peers as Array<{ 'domain-id': string }>).filter((p) => p['domain-id'] === 'dom-b' || d === 'dom-b');
    if (d === 'dom-a') return { peers, 'origin-keys': [pub('dom-c')] };
    if (d === 'dom-c') return { peers, 'origin-keys': [pub('dom-a')] };
    return {};
  },
});
const { routers, daemons, files } = lab;

beforeAll(() => lab.start(), 120_000);
afterAll(() => lab.stop());

describe('lifecycle through a chain', () => {
  test('lifecycle chain - dom-a peers only with dom-b; an order to dom-c becomes a service active on every router, dom-c provisioned through dom-b, and terminating it removes it there the same way', async () => {
    expect(((await daemons.get('dom-a')!.get('/v1/peers')).peers as { domain: string }[]).map((p) => p.domain)).toEqual(['dom-b']);
    const before = await lab.allRunning();
    const o = await lab.mgmt.createOrder(spec(), 'acme', true);
    expect(o.state, JSON.stringify({ error: o.error, plan: o.plan })).toBe('completed');
    expect(o.service_state).toBe('active');
    expect(o.domains).toEqual(['dom-a', 'dom-b', 'dom-c']);
    const keys = Object.fromEntries(DOMAINS.map((d) => [d, rawPublicKey(readFileSync(files.get(d)!.advertKey, 'utf8'))]));
    expect(verifyContract(JSON.parse(o.contract_json) as SignedContract, keys).signedBy.sort()).toEqual(['dom-a', 'dom-b', 'dom-c']);
    expect(o.plan.map((s) => [s.step, s.domain, s.where, s.state])).toEqual([
      ['agree', 'dom-a', 'internal', 'completed'],
      ['provision', 'dom-a', 'internal', 'completed'],
      ['provision', 'dom-b', 'external', 'completed'],
      ['provision', 'dom-c', 'external', 'completed'],
    ]);
    // dom-c's router at its site carries the policy, put there by dom-c for dom-a
    const cPolicies = [...(await lab.policiesOn(routers.get('dom-c')![0]!)).entries()].map(([n, p]) => [n, p.iface, p.rate]);
    expect(cPolicies).toEqual([[`${o.agreement_id}-dom-c-4`, 'eth1', 10_000]]);
    // dom-b relayed both kinds of calls; dom-c answered the provisioning ones as their target
    const relayed = async (d: Dom, rpc: string) => metricValue(await daemons.get(d)!.metricsText(), 'qos_broker_rpc_duration_seconds_count', { rpc, code: 'OK' }) ?? 0;
    expect(await relayed('dom-b', 'Agreement.Relay')).toBeGreaterThanOrEqual(2);
    expect(await relayed('dom-b', 'Provisioning.Relay')).toBeGreaterThanOrEqual(1);
    expect(await relayed('dom-c', 'Provisioning.Relay')).toBeGreaterThanOrEqual(1);
    expect(await relayed('dom-c', 'Provisioning.Activate')).toBe(0); // dom-a never called dom-c directly
    // terminate: dom-c removes its segment (Deactivate, chained), every router as before, nothing booked
    const t = await lab.mgmt.terminateOrder(o.id);
    expect(t.service_state).toBe('terminated');
    expect(await lab.allRunning()).toEqual(before);
    for (const d of DOMAINS) expect(await lab.usedBps(d), d).toBe(0);
  }, 120_000);
});
