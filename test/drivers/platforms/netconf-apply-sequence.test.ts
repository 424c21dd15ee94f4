/**
 * The RPC sequence netconf-apply sends for a platform that cannot run here
 * (Junos): a recording stand-in for the NETCONF client checks that Junos
 * payloads go through <load-configuration> inside the same lock / confirmed
 * commit / confirm frame, and that a refused load leaves through
 * discard-changes and unlock without any commit.
 */
import { describe, expect, test } from 'vitest';
import { NetconfRpcError } from '../../../drivers/errors.js';
import type { NetconfClient } from '../../../drivers/netconf/client.js';
import { Capabilities } from '../../../drivers/netconf/capabilities.js';
import { juniperJunos } from '../../../drivers/platforms/juniper_junos/index.js';
import { applyPolicy } from '../../../drivers/platforms/netconf-apply.js';
import { admitPolicy } from '../../../drivers/policy/index.js';
import { FEATURE_POLICIES } from '../../fixtures/policies.js';

function recorder(failOn?: string): { client: NetconfClient; calls: string[] } {
  const calls: string[] = [];
  const ok = async () => ({ messageId: '1', xml: '<rpc-reply><ok/></rpc-reply>', ok: true, warnings: [] });
  const client = {
    capabilities: new Capabilities(['urn:ietf:params:netconf:base:1.1', 'urn:ietf:params:netconf:capability:candidate:1.0', 'urn:ietf:params:netconf:capability:confirmed-commit:1.1']),
    session: { device: 'junos-1' },
    lock: async () => { calls.push('lock'); return ok(); },
    unlock: async () => { calls.push('unlock'); return ok(); },
    discardChanges: async () => { calls.push('discard-changes'); return ok(); },
    editConfig: async () => { calls.push('edit-config'); return ok(); },
    rpc: async (body: string) => {
      const name = /^<([\w-]+)/.exec(body)![1]!;
      calls.push(name);
      if (name === failOn) throw new NetconfRpcError(name, [{ type: 'application', tag: 'invalid-value', severity: 'error', message: 'syntax error', info: {} }], '<rpc-reply/>');
      return ok();
    },
    commit: async (o: { confirmed?: boolean; persist?: string; persistId?: string }) => {
      calls.push(o.confirmed ? `commit-confirmed persist=${o.persist ? 'yes' : 'no'}` : `commit persist-id=${o.persistId ? 'yes' : 'no'}`);
      return ok();
    },
    cancelCommit: async () => { calls.push('cancel-commit'); return ok(); },
    // read back: the device returns what was loaded
    getConfig: async () => { calls.push('get-config'); return juniperJunos.render(policy).config; },
  } as unknown as NetconfClient;
  return { client, calls };
}
const { policy: raw, device } = FEATURE_POLICIES['ef-police-v4-remark']!;
const policy = admitPolicy(raw, device);

describe('netconf apply sequence', () => {
  test('netconf apply sequence - Junos loads with load-configuration inside lock, confirmed commit and confirm', async () => {
    const { client, calls } = recorder();
    await applyPolicy(client, juniperJunos, policy);
    expect(calls).toEqual(['lock', 'discard-changes', 'load-configuration', 'commit-confirmed persist=yes', 'get-config', 'commit persist-id=yes', 'unlock']);
  });

  test('netconf apply sequence - a refused load discards and unlocks without committing', async () => {
    const { client, calls } = recorder('load-configuration');
    await expect(applyPolicy(client, juniperJunos, policy)).rejects.toMatchObject({ code: 'QB_PROVISION_APPLY_FAILED' });
    expect(calls).toEqual(['lock', 'discard-changes', 'load-configuration', 'discard-changes', 'unlock']);
  });
});
