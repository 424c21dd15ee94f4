/**
 * qosbroker.v1.Management as TypeScript: the service loaded from
 * daemon/proto, and the conversion between the core's records and the
 * messages (proto-loader keepCase shapes). Shared by the server (the daemon)
 * and the client (the CLI).
 */
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { protoDir } from '../peering/proto.js';
import type { DeviceView } from '../core.js';
import type { ApiKeyView } from '../state/apikeys.js';
import type { SyncReport } from '../provisioning/domain.js';
import type { OrderRecord, PlanStep, StepError } from '../workflow/orders.js';
import { storedContractBody } from '../agreement/contract.js';

let cached: grpc.ServiceClientConstructor | undefined;

export function loadManagementProto(): grpc.ServiceClientConstructor {
  if (cached) return cached;
  const def = protoLoader.loadSync(['qosbroker/v1/management.proto'], { includeDirs: [protoDir()], keepCase: true, longs: Number, enums: String, defaults: true, oneofs: true });
  cached = (grpc.loadPackageDefinition(def) as unknown as { qosbroker: { v1: { Management: grpc.ServiceClientConstructor } } }).qosbroker.v1.Management;
  return cached;
}

export interface ServiceSpecMsg {
  from: string;
  to: string;
  qos_class: string;
  rate_mbps: number;
  max_latency_ms: number;
  start_ms: number;
  duration_ms: number;
  objective: string;
  /** The exchange that brokers the order; empty: none. */
  via_exchange?: string;
}

export interface StepErrorMsg {
  code: string;
  message: string;
  domain: string;
  device: string;
}

export interface OrderMsg {
  id: string;
  customer: string;
  state: string;
  agreement_id: string;
  service_id: string;
  service_state: string;
  rate_mbps: number;
  service: ServiceSpecMsg;
  domains: string[];
  plan: Array<{ step: string; domain: string; where: string; state: string; started: string; finished: string; error: StepErrorMsg | null }>;
  history: Array<{ at: string; state: string; service_state: string; reason: string }>;
  error: StepErrorMsg | null;
  contract_json: string;
  final_amount_minor: number;
  created_at: string;
  updated_at: string;
  boost: { rate_mbps: number; until_ms: number; state: string; contract_json?: string } | null;
  total_price_minor: number;
  currency: string;
  measured: { rate_mbps: number; at: string; interval_ms: number; device: string; drops: number } | null;
}

export interface CheckSyncMsg {
  order_id: string;
  in_sync: boolean;
  devices: Array<{ device: string; in_sync: boolean; diffs: string[]; error: string; domain: string }>;
}

export interface DeviceInfoMsg {
  name: string;
  platform: string;
  address: string;
  border: string;
  interfaces: string[];
  reachable: boolean;
  error: string;
  capabilities: string[];
  services: string[];
}

const errMsg = (e: StepError | undefined): StepErrorMsg | null => (e ? { code: e.code, message: e.message, domain: e.domain ?? '', device: e.device ?? '' } : null);

export function orderToMsg(o: OrderRecord): OrderMsg {
  const r = o.request;
  return {
    id: o.id,
    customer: o.customer,
    state: o.state,
    agreement_id: o.agreementId,
    service_id: o.service.id,
    service_state: o.service.state,
    rate_mbps: o.service.rateMbps,
    service: {
      from: `${r.from.domain}/${r.from.site ?? r.from.border}`,
      to: `${r.to.domain}/${r.to.site ?? r.to.border}`,
      qos_class: r.qosClass,
      rate_mbps: r.rateMbps,
      max_latency_ms: r.maxLatencyMs ?? 0,
      start_ms: r.start,
      duration_ms: r.end - r.start,
      objective: r.objective ?? '',
      via_exchange: r.viaExchange ?? '',
    },
    domains: o.domains,
    plan: o.plan.map((s: PlanStep) => ({ step: s.step, domain: s.domain, where: s.where, state: s.state, started: s.started ?? '', finished: s.finished ?? '', error: errMsg(s.error) })),
    history: o.history.map((h) => ({ at: h.at, state: h.state, service_state: h.service, reason: h.reason })),
    error: errMsg(o.error),
    contract_json: o.contract ? JSON.stringify(o.contract) : '',
    final_amount_minor: o.finalAmountMinor ?? 0,
    created_at: o.createdAt,
    updated_at: o.updatedAt,
    boost: o.boost ? { rate_mbps: o.boost.rateMbps, until_ms: o.boost.until, state: o.boost.state, contract_json: o.boost.contract ? JSON.stringify(o.boost.contract) : '' } : null,
    total_price_minor: storedContractBody(o.contract)?.totalPriceMinor ?? 0,
    currency: storedContractBody(o.contract)?.currency ?? '',
    measured: o.measured ? { rate_mbps: o.measured.rateMbps, at: o.measured.at, interval_ms: o.measured.intervalMs, device: o.measured.device, drops: o.measured.drops } : null,
  };
}

export function syncToMsg(orderId: string, s: SyncReport): CheckSyncMsg {
  return {
    order_id: orderId,
    in_sync: s.inSync,
    devices: s.devices.map((d) => ({ device: d.device, in_sync: Array.isArray(d.diffs) && d.diffs.length === 0, diffs: Array.isArray(d.diffs) ? d.diffs : [], error: d.error ?? (d.diffs === 'unreadable' ? 'cannot be read back' : ''), domain: d.domain ?? s.domain })),
  };
}

export function deviceToMsg(d: DeviceView): DeviceInfoMsg {
  return { name: d.name, platform: d.platform, address: d.address, border: d.border, interfaces: d.interfaces, reachable: d.reachable ?? false, error: d.error ?? '', capabilities: d.capabilities ?? [], services: d.services };
}

export interface ApiKeyMsg {
  id: string;
  role: string;
  customer: string;
  description: string;
  created_at: string;
  revoked_at: string;
}

export function apiKeyToMsg(k: ApiKeyView): ApiKeyMsg {
  return { id: k.id, role: k.role, customer: k.customer, description: k.description, created_at: k.createdAt, revoked_at: k.revokedAt ?? '' };
}
