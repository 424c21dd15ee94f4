/**
 * The TMF638 service view stored with each order (SERVICE_VIEW) is rendered
 * on write; stored views of an older revision are rendered again on read. So
 * a change of what serviceToTmf answers must come with a new revision: this
 * pins the two together on fixed orders. When it fails because you changed
 * the view on purpose, bump SERVICE_VIEW.revision in daemon/northbound/tmf.ts
 * and pin the new revision with the new digest below.
 */
import { createHash } from 'node:crypto';
import { expect, test } from 'vitest';
import { SERVICE_VIEW, serviceToTmf } from '../../../daemon/northbound/tmf.js';
import type { OrderRecord } from '../../../daemon/workflow/orders.js';

const base: OrderRecord = {
  id: 'ord-00000000-0000-4000-8000-000000000001',
  customer: 'acme',
  state: 'completed',
  request: { from: { domain: 'dom-a', site: 'dom-a-site' }, to: { domain: 'dom-c', site: 'dom-c-site' }, qosClass: 'EF', rateMbps: 10, maxLatencyMs: 30, start: 1_767_225_600_000, end: 1_767_232_800_000 } as OrderRecord['request'],
  agreementId: 'agr-1',
  phase: 'committed',
  domains: ['dom-a', 'dom-b', 'dom-c'],
  service: { id: 'svc-00000000-0000-4000-8000-000000000001', state: 'active', rateMbps: 25 },
  boost: { agreementId: 'agr-1-boost-1', rateMbps: 25, until: 1_767_229_200_000, state: 'active' } as OrderRecord['boost'],
  plan: [],
  history: [],
  createdAt: '2026-01-01T00:00:00.000Z',
  updatedAt: '2026-01-01T00:10:00.000Z',
};
const plain: OrderRecord = { ...base, id: 'ord-00000000-0000-4000-8000-000000000002', state: 'failed', request: { ...base.request, maxLatencyMs: undefined }, service: { id: 'svc-00000000-0000-4000-8000-000000000002', state: 'terminated', rateMbps: 10 }, boost: undefined };

test('views - SERVICE_VIEW renders serviceToTmf of the stored document, and its revision is pinned with what it renders', () => {
  const docs = [base, plain].map((o) => JSON.parse(JSON.stringify(o)) as OrderRecord);
  expect(docs.map((d) => SERVICE_VIEW.render(d))).toEqual(docs.map(serviceToTmf));
  const digest = createHash('sha256').update(JSON.stringify(docs.map((d) => SERVICE_VIEW.render(d)))).digest('hex');
  expect({ revision: SERVICE_VIEW.revision, digest }, 'serviceToTmf answers differently: bump SERVICE_VIEW.revision and pin it with the new digest').toEqual({ revision: 1, digest: '0f6f76d758525e5a23cadc4c37e84d474441fade2e9ce186b0aacb6771286768' });
});
