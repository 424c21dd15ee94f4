/** The `provisioning` config section: measure-interval-ms's default, 0 for off, bounds named by key, provider only, a change needs a restart. */
import { describe, expect, test } from 'vitest';
import { diffConfig } from '../../../daemon/config/load.js';
import { configErrorOf, parseDoc, providerDoc } from './parse.js';
import { PROVISIONING_DEFAULTS } from '../../../daemon/provisioning/measure.js';

const provider = (provisioning?: unknown) => providerDoc(provisioning === undefined ? {} : { provisioning });
const parse = (doc: Record<string, unknown>) => parseDoc(doc);
const error = (doc: Record<string, unknown>) => configErrorOf(() => parse(doc));

describe('config provisioning', () => {
  test('config - provisioning.measure-interval-ms defaults to PROVISIONING_DEFAULTS, takes a value, 0 turns measuring off', () => {
    expect(parse(provider()).provisioning).toEqual({ measureIntervalMs: PROVISIONING_DEFAULTS.measureIntervalMs });
    expect(PROVISIONING_DEFAULTS.measureIntervalMs).toBeGreaterThan(0);
    expect(parse(provider({ 'measure-interval-ms': 1000 })).provisioning).toEqual({ measureIntervalMs: 1000 });
    expect(parse(provider({ 'measure-interval-ms': 0 })).provisioning).toEqual({ measureIntervalMs: 0 });
  });

  test('config - bad measure-interval-ms values and unknown keys name their key; an exchange has no provisioning', () => {
    for (const bad of [-1, 50, 1.5, 'often', 3_600_001]) {
      const e = error(provider({ 'measure-interval-ms': bad }));
      expect(e.key).toBe('provisioning.measure-interval-ms');
      expect(e.message).toMatch(/0|milliseconds/);
    }
    expect(error(provider({ 'measure-every': 1000 })).key).toBe('provisioning.measure-every');
    const exchange = { ...provider({ 'measure-interval-ms': 1000 }), role: 'exchange' } as Record<string, unknown>;
    delete exchange.inventory;
    const e = error(exchange);
    expect(e.key).toBe('provisioning');
    expect(e.message).toMatch(/role provider/);
  });

  test('config - a changed provisioning section takes effect after a restart', () => {
    expect(diffConfig(parse(provider()), parse(provider({ 'measure-interval-ms': 0 }))).needsRestart).toEqual(['provisioning']);
    expect(diffConfig(parse(provider()), parse(provider())).needsRestart).toEqual([]);
  });
});
