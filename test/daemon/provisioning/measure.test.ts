/** RateMeter: the rate between two counter samples, and how resets (re-provisioned objects, missing ones) start the series over instead of giving a negative or a huge rate. */
import { describe, expect, test } from 'vitest';
import { RateMeter, type CounterSample } from '../../../daemon/provisioning/measure.js';

const at0 = Date.parse('2026-12-02T10:00:00Z');
const s = (atS: number, bytes: number, extra: Partial<CounterSample> = {}, drops = 0): CounterSample => ({
  device: 'ra',
  policy: 'agr-1-dom-a-0',
  epoch: 'e1',
  atMs: at0 + atS * 1000,
  counters: { bytes, packets: Math.floor(bytes / 1500), drops },
  ...extra,
});

describe('provisioning measure - RateMeter', () => {
  test('provisioning measure - the rate is delta bytes * 8 over delta t, with when, over how long, where and drops', () => {
    const m = new RateMeter();
    expect(m.sample('agr-1', s(0, 1_000_000))).toBeUndefined();
    expect(m.rate('agr-1')).toBeUndefined();
    // 6.25 MB in 5 s: 10 Mbit/s
    const r = m.sample('agr-1', s(5, 7_250_000, {}, 3));
    expect(r).toEqual({ rateMbps: 10, at: '2026-12-02T10:00:05.000Z', intervalMs: 5000, device: 'ra', policy: 'agr-1-dom-a-0', drops: 3 });
    expect(m.rate('agr-1')).toEqual(r);
    // the next pair uses the last sample, not the first
    expect(m.sample('agr-1', s(10, 7_250_000 + 1_250_000, {}, 3))!.rateMbps).toBeCloseTo(2, 9);
    expect(m.all()).toEqual([['agr-1', m.rate('agr-1')]]);
  });

  test('provisioning measure - a re-provisioned policy (new epoch) or counters that went down start over: no negative, no huge rate', () => {
    const m = new RateMeter();
    m.sample('agr-1', s(0, 50_000_000));
    expect(m.sample('agr-1', s(5, 56_250_000))!.rateMbps).toBe(10);
    // a boost put a new class on the device: counts from 0 again under a new epoch
    expect(m.sample('agr-1', s(10, 100_000, { epoch: 'e2' }))).toBeUndefined();
    expect(m.rate('agr-1')).toBeUndefined();
    expect(m.sample('agr-1', s(15, 100_000 + 12_500_000, { epoch: 'e2' }))!.rateMbps).toBe(20);
    // a redeploy by another replica (same epoch here): the bytes went down
    expect(m.sample('agr-1', s(20, 4_000))).toBeUndefined();
    expect(m.rate('agr-1')).toBeUndefined();
    expect(m.sample('agr-1', s(25, 4_000 + 625_000))!.rateMbps).toBe(1);
  });

  test('provisioning measure - a missing object, another device or policy, or no time between samples gives no rate', () => {
    const m = new RateMeter();
    m.sample('agr-1', s(0, 0));
    expect(m.sample('agr-1', s(5, 1_000, { counters: undefined }))).toBeUndefined();
    expect(m.ids()).toEqual([]);
    m.sample('agr-1', s(10, 0));
    expect(m.sample('agr-1', s(15, 1_000, { device: 'rb' }))).toBeUndefined();
    expect(m.sample('agr-1', s(20, 2_000, { device: 'rb', policy: 'other' }))).toBeUndefined();
    expect(m.sample('agr-1', s(20, 3_000, { device: 'rb', policy: 'other' }))).toBeUndefined();
    expect(m.sample('agr-1', s(21, 3_000 + 125, { device: 'rb', policy: 'other' }))!.rateMbps).toBe(0.001);
    m.forget('agr-1');
    expect(m.rate('agr-1')).toBeUndefined();
    expect(m.all()).toEqual([]);
  });
});
