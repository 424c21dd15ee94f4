/** The `agreement` config section: defaults, bounds named by key, provider only, a change needs a restart. */
import { describe, expect, test } from 'vitest';
import { diffConfig } from '../../../daemon/config/load.js';
import { configErrorOf, parseDoc, providerDoc } from './parse.js';

const provider = (agreement?: unknown) => providerDoc(agreement === undefined ? {} : { agreement });
const parse = (doc: Record<string, unknown>) => parseDoc(doc);
const error = (doc: Record<string, unknown>) => configErrorOf(() => parse(doc));

describe('config agreement', () => {
  test('config - agreement defaults and values', () => {
    expect(parse(provider()).agreement).toEqual({ holdTtlMs: 30_000, callTimeoutMs: 5000, sweepIntervalMs: 1000 });
    expect(parse(provider({ 'hold-ttl-ms': 2000, 'call-timeout-ms': 800, 'sweep-interval-ms': 250 })).agreement).toEqual({ holdTtlMs: 2000, callTimeoutMs: 800, sweepIntervalMs: 250 });
  });

  test('config - bad agreement values name their key; an exchange takes the hold and call times it asks providers for, not the sweep', () => {
    expect(error(provider({ 'hold-ttl-ms': 10 })).key).toBe('agreement.hold-ttl-ms');
    expect(error(provider({ 'call-timeout-ms': 'fast' })).key).toBe('agreement.call-timeout-ms');
    expect(error(provider({ 'sweep-interval-ms': 1.5 })).key).toBe('agreement.sweep-interval-ms');
    expect(error(provider({ 'hold-ttl': 1000 })).key).toMatch(/^agreement\.hold-ttl$/);
    const exchange = { ...provider({ 'hold-ttl-ms': 2000 }), role: 'exchange' } as Record<string, unknown>;
    delete exchange.inventory;
    expect(parse(exchange).agreement).toMatchObject({ holdTtlMs: 2000 });
    const swept = { ...provider({ 'sweep-interval-ms': 250 }), role: 'exchange' } as Record<string, unknown>;
    delete swept.inventory;
    const e = error(swept);
    expect(e.key).toBe('agreement.sweep-interval-ms');
    expect(e.message).toMatch(/role provider/);
  });

  test('config - a changed agreement section takes effect after a restart', () => {
    const d = diffConfig(parse(provider()), parse(provider({ 'hold-ttl-ms': 2000 })));
    expect(d.needsRestart).toEqual(['agreement']);
  });
});

describe('config workflow', () => {
  test('config - workflow defaults and values; bad ones name their key', () => {
    const wf = (workflow?: unknown) => ({ ...provider(), ...(workflow === undefined ? {} : { workflow }) });
    expect(parse(wf()).workflow).toEqual({ provisionTimeoutMs: 120_000, contractRetentionMs: 365 * 24 * 3_600_000, recordRetentionMs: 90 * 24 * 3_600_000 });
    expect(parse(wf({ 'record-retention-ms': 5000 })).workflow.recordRetentionMs).toBe(5000);
    expect(error(wf({ 'record-retention-ms': 10 })).key).toBe('workflow.record-retention-ms');
    expect(error(wf({ 'record-retention-ms': 'a month' })).key).toBe('workflow.record-retention-ms');
    expect(error(wf({ 'record-retention': 5000 })).key).toBe('workflow.record-retention');
  });
});
