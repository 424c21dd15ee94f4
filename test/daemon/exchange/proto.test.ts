/** The order as it travels to an exchange (BrokerRequest): round trip, and every bad field a typed error naming it. */
import { describe, expect, test } from 'vitest';
import { InvalidArgumentError } from '../../../drivers/errors.js';
import { requestFromMsg, requestToMsg, type BrokerRequestMsg } from '../../../daemon/exchange/proto.js';

const start = Date.parse('2030-01-01T10:00:00Z');
const req = { agreementId: 'agr-1', customer: 'acme', from: { domain: 'dom-a', site: 'paris' }, to: { domain: 'dom-c', site: 'berlin' }, qosClass: 'EF', rateMbps: 10, start, end: start + 3_600_000 };

describe('exchange wire', () => {
  test('exchange - a request round-trips; unset bounds stay unset, set ones keep their values', () => {
    expect(requestFromMsg(requestToMsg(req))).toEqual(req);
    const full = { ...req, maxLatencyMs: 30, maxJitterMs: 5, maxLoss: 0.01, objective: 'lowest-latency' as const, k: 2, includeDomains: ['dom-b'], excludeDomains: ['dom-x'] };
    expect(requestFromMsg(requestToMsg(full))).toEqual(full);
  });

  test('exchange - every bad field of a BrokerRequest is an InvalidArgumentError naming it', () => {
    const bad = (over: Partial<BrokerRequestMsg>, field: RegExp) => {
      const m = { ...requestToMsg(req), ...over };
      let err: unknown;
      try {
        requestFromMsg(m);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(InvalidArgumentError);
      expect((err as Error).message).toMatch(field);
    };
    bad({ agreement_id: '' }, /BrokerRequest\.agreement_id/);
    bad({ customer: 'a b' }, /BrokerRequest\.customer/);
    bad({ qos_class: '' }, /BrokerRequest\.qos_class/);
    bad({ rate_mbps: 0 }, /BrokerRequest\.rate_mbps must be > 0/);
    bad({ end_ms: start }, /BrokerRequest\.end_ms must be after start_ms/);
    bad({ objective: 'fastest' }, /BrokerRequest\.objective must be one of/);
    bad({ max_loss: 1 }, /BrokerRequest\.max_loss/);
    bad({ from: 'dom-a' }, /BrokerRequest\.from must be DOMAIN\/SITE/);
  });
});
