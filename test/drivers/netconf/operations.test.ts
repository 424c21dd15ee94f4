import { describe, expect, test } from 'vitest';
import * as op from '../../../drivers/netconf/operations.js';
import { Capabilities, expandCapability, parseCapability } from '../../../drivers/netconf/capabilities.js';

describe('operations - request builders', () => {
  test('operations - get-config with xpath filter and with-defaults needs :xpath and :with-defaults', () => {
    const r = op.getConfig({ source: 'candidate', filter: { type: 'xpath', select: "/a:x[a:n='1&2']", namespaces: { a: 'urn:a' } }, withDefaults: 'report-all' });
    expect(r.body).toBe(
      `<get-config><source><candidate/></source><filter type="xpath" xmlns:a="urn:a" select="/a:x[a:n=&apos;1&amp;2&apos;]"/>` +
        `<with-defaults xmlns="urn:ietf:params:xml:ns:yang:ietf-netconf-with-defaults">report-all</with-defaults></get-config>`,
    );
    expect(r.requires).toEqual([[':candidate'], [':xpath'], [':with-defaults']]);
  });
  test('operations - edit-config options in RFC order with their capabilities', () => {
    const r = op.editConfig({ target: 'running', config: '<a/>', defaultOperation: 'replace', testOption: 'test-then-set', errorOption: 'rollback-on-error' });
    expect(r.body).toBe(
      '<edit-config><target><running/></target><default-operation>replace</default-operation><test-option>test-then-set</test-option><error-option>rollback-on-error</error-option><config><a/></config></edit-config>',
    );
    expect(r.requires).toEqual([[':writable-running'], [':validate:1.0', ':validate:1.1'], [':rollback-on-error']]);
    expect(op.editConfig({ config: '<a/>', testOption: 'test-only' }).requires).toContainEqual([':validate:1.1']);
  });
  test('operations - commit variants', () => {
    expect(op.commit({ confirmed: true, confirmTimeoutS: 30, persist: 'p&1' }).body).toBe('<commit><confirmed/><confirm-timeout>30</confirm-timeout><persist>p&amp;1</persist></commit>');
    expect(op.commit({ persistId: 'x' }).requires).toEqual([[':candidate'], [':confirmed-commit:1.1']]);
    expect(op.cancelCommit({ persistId: 'x' }).body).toBe('<cancel-commit><persist-id>x</persist-id></cancel-commit>');
  });
  test('operations - bad arguments are typed errors', () => {
    expect(() => op.commit({ confirmTimeoutS: 5 })).toThrow(/only applies to a confirmed commit/);
    expect(() => op.commit({ confirmed: true, confirmTimeoutS: 0 })).toThrow(/>= 1/);
    expect(() => op.commit({ persist: 'a' })).toThrow(/set confirmed/);
    expect(() => op.deleteConfig({ target: 'running' as 'startup' })).toThrow(/cannot target running/);
    expect(() => op.killSession(0)).toThrow(/session id >= 1/);
    expect(() => op.editConfig({ config: '<a/>', defaultOperation: 'merg' as 'merge' })).toThrow(/default-operation must be/);
    expect(() => op.getConfig({ source: 'foo' as 'running' })).toThrow(/unknown source datastore "foo"/);
    expect(() => op.createSubscription({ stopTime: '2026-01-01T00:00:00Z' })).toThrow(/stopTime needs startTime/);
    expect(() => op.getConfig({ withDefaults: 'x</with-defaults><evil/>' as 'trim' })).toThrow(/with-defaults must be one of/);
    for (const f of [() => op.commit({ confirmTimeoutS: 5 }), () => op.killSession(-1), () => op.get({ withDefaults: 'all' as 'trim' })]) {
      expect(f).toThrow(expect.objectContaining({ code: 'QB_INVALID_ARGUMENT' }));
    }
  });
  test('operations - create-subscription body', () => {
    expect(op.createSubscription({ stream: 'NETCONF', filter: '<x/>', startTime: '2026-01-01T00:00:00Z' }).body).toBe(
      '<create-subscription xmlns="urn:ietf:params:xml:ns:netconf:notification:1.0"><stream>NETCONF</stream><filter type="subtree"><x/></filter><startTime>2026-01-01T00:00:00Z</startTime></create-subscription>',
    );
  });
});

describe('capabilities', () => {
  test('capabilities - short names expand; module parameters are parsed', () => {
    expect(expandCapability(':candidate')).toBe('urn:ietf:params:netconf:capability:candidate:1.0');
    expect(expandCapability(':confirmed-commit:1.1')).toBe('urn:ietf:params:netconf:capability:confirmed-commit:1.1');
    const c = parseCapability('urn:ietf:params:xml:ns:yang:ietf-system?module=ietf-system&amp;revision=2014-08-06&amp;features=radius,ntp&amp;deviations=x-dev');
    expect(c).toMatchObject({ base: 'urn:ietf:params:xml:ns:yang:ietf-system', module: 'ietf-system', revision: '2014-08-06', features: ['radius', 'ntp'], deviations: ['x-dev'] });
    const caps = new Capabilities(['urn:ietf:params:netconf:base:1.1', 'urn:ietf:params:netconf:capability:with-defaults:1.0?basic-mode=explicit&also-supported=trim']);
    expect(caps.has(':base:1.1')).toBe(true);
    expect(caps.has(':with-defaults')).toBe(true);
    expect(caps.get(':with-defaults')?.params['also-supported']).toBe('trim');
    expect(caps.has(':candidate')).toBe(false);
  });
});
