/**
 * Prometheus metrics of qos-brokerd (prom-client, own registry). Names are
 * prefixed `qos_broker_` and unit-suffixed. Counters and gauges of the peering
 * core and the resource store are read at scrape time (collect callbacks);
 * histograms are observed as events happen.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { ADVERT_REJECT_REASONS } from '../peering/advert.js';
import { PEER_STATES } from '../peering/session.js';
import type { PeeringCore } from '../peering/peering-core.js';
import type { ResourceStore } from '../state/store.js';

export interface BrokerMetrics {
  registry: Registry;
  /** A gRPC call finished. */
  observeRpc(rpc: string, code: string, seconds: number): void;
  /** A Redis-backed store operation finished. */
  observeRedis(op: string, seconds: number): void;
  /** An advertisement was accepted `seconds` after its origin issued it. */
  observeConvergence(seconds: number): void;
  /** A frame of a peering session (Peering.Session stream) was handled. */
  observeFrame(kind: string, seconds: number): void;
  /** A customer of the northbound API asked for another customer's resource (answered 404). */
  observeCrossTenant(resource: string): void;
  /** A northbound API request was answered. */
  observeHttp(route: string, method: string, status: number, seconds: number): void;
}

const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

/**
 * Build the registry. `getCore`/`getStore` are read at each scrape (they may
 * change on reload); `getMeasured` gives the measured rate of each active
 * service we originated, by agreement id.
 */
export function createBrokerMetrics(getCore: () => PeeringCore | undefined, getStore: () => ResourceStore | undefined, getMeasured: () => Array<[string, { rateMbps: number }]> = () => []): BrokerMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'qos_broker_' });
  // prom-client names these gauges *_total, which promtool rightly flags; leave them out.
  for (const n of ['active_handles_total', 'active_requests_total', 'active_resources_total']) registry.removeSingleMetric(`qos_broker_nodejs_${n}`);
  const core = getCore;

  const counterFrom = (name: string, help: string, labelNames: string[], read: (c: PeeringCore) => [Record<string, string>, number][]) =>
    new Counter({
      name,
      help,
      labelNames,
      registers: [registry],
      collect() {
        const c = core();
        if (!c) return;
        this.reset();
        for (const [labels, v] of read(c)) this.inc(labels, v);
      },
    });

  new Gauge({
    name: 'qos_broker_service_measured_rate_bits_per_second',
    help: 'Rate of each active service this domain originated, as its router counted it (layer 2, between the last two samples), by agreement id.',
    labelNames: ['agreement_id'],
    registers: [registry],
    collect() {
      // services come and go: only those measured now are exported
      this.reset();
      for (const [id, m] of getMeasured()) this.set({ agreement_id: id }, Math.round(m.rateMbps * 1e6));
    },
  });
  new Gauge({
    name: 'qos_broker_peers',
    help: 'Configured peers by session state.',
    labelNames: ['state'],
    registers: [registry],
    collect() {
      const c = core();
      if (!c) return;
      const counts = c.peerStateCounts();
      for (const s of PEER_STATES) this.set({ state: s }, counts[s]);
    },
  });
  counterFrom('qos_broker_adverts_sent_total', 'Advertisement and withdrawal frames sent to peers.', ['kind'], (c) =>
    Object.entries(c.stats.advertsSent).map(([k, v]) => [{ kind: k }, v]),
  );
  counterFrom('qos_broker_adverts_received_total', 'Advertisement and withdrawal frames received from peers.', [], (c) => [[{}, c.stats.advertsReceived]]);
  counterFrom('qos_broker_adverts_accepted_total', 'Received advertisements accepted as the newest of their origin.', [], (c) => [[{}, c.stats.advertsAccepted]]);
  counterFrom('qos_broker_adverts_duplicate_total', 'Received advertisements identical to the one held (normal in flooding).', [], (c) => [[{}, c.stats.advertsDuplicate]]);
  counterFrom('qos_broker_adverts_rejected_total', 'Received advertisements rejected, by reason.', ['reason'], (c) =>
    ADVERT_REJECT_REASONS.map((r) => [{ reason: r }, c.stats.rejected[r]]),
  );
  counterFrom('qos_broker_adverts_originated_total', 'Advertisements this broker signed for its own domain.', [], (c) => [[{}, c.stats.originated]]);
  counterFrom('qos_broker_adverts_aged_out_total', 'Advertisements dropped because they expired.', [], (c) => [[{}, c.stats.agedOut]]);
  counterFrom('qos_broker_peer_sessions_refused_total', 'Peer sessions refused, by notification code.', ['code'], (c) =>
    Object.entries(c.stats.sessionsRefused).map(([k, v]) => [{ code: k }, v]),
  );
  new Gauge({
    name: 'qos_broker_adverts_held',
    help: 'Current advertisements held, one per origin domain.',
    registers: [registry],
    collect() {
      const c = core();
      if (c) this.set(c.adverts().length);
    },
  });
  new Gauge({
    name: 'qos_broker_registrations',
    help: 'Registrations held (exchange) or received from exchanges (provider).',
    registers: [registry],
    collect() {
      const c = core();
      if (c) this.set(c.registrations.size);
    },
  });
  const convergence = new Histogram({
    name: 'qos_broker_flood_convergence_seconds',
    help: 'Time from an advertisement being issued at its origin to its acceptance here.',
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
  const rpc = new Histogram({
    name: 'qos_broker_rpc_duration_seconds',
    help: 'Duration of gRPC calls handled, by RPC and status.',
    labelNames: ['rpc', 'code'],
    buckets: LATENCY_BUCKETS,
    registers: [registry],
  });
  const redis = new Histogram({
    name: 'qos_broker_redis_duration_seconds',
    help: 'Duration of resource store operations on Redis, by operation.',
    labelNames: ['op'],
    buckets: LATENCY_BUCKETS,
    registers: [registry],
  });
  // One read of the store per scrape, shared by the three link gauges.
  let cached: { at: number; rows: Promise<Awaited<ReturnType<ResourceStore['utilisation']>>> } | undefined;
  const rows = () => {
    const store = getStore();
    if (!store) return Promise.resolve([]);
    if (!cached || Date.now() - cached.at > 250) cached = { at: Date.now(), rows: store.utilisation() };
    return cached.rows;
  };
  const linkGauge = (name: string, help: string, value: (r: Awaited<ReturnType<typeof rows>>[number]) => number) =>
    new Gauge({
      name,
      help,
      labelNames: ['link', 'class'],
      registers: [registry],
      async collect() {
        if (!getStore()) return;
        const list = await rows();
        this.reset();
        for (const r of list) this.set({ link: r.link, class: r.cls }, value(r));
      },
    });
  // Prometheus base unit for data is bytes: bit/s from the store are divided by 8.
  linkGauge('qos_broker_link_capacity_bytes_per_second', 'Capacity of each link for each QoS class.', (r) => r.capacityBps / 8);
  linkGauge('qos_broker_link_used_bytes_per_second', 'Bandwidth held or booked on each link for each QoS class in the current slot.', (r) => r.usedBps / 8);
  linkGauge('qos_broker_link_utilisation_ratio', 'Used over capacity of each link for each QoS class in the current slot (0-1).', (r) => r.utilisation);
  const crossTenant = new Counter({
    name: 'qos_broker_northbound_cross_tenant_total',
    help: 'Northbound requests of a customer for another customer\'s resource (answered 404 as if absent), by resource.',
    labelNames: ['resource'],
    registers: [registry],
  });
  const http = new Histogram({
    name: 'qos_broker_northbound_request_duration_seconds',
    help: 'Duration of northbound REST API requests, by route, method and HTTP status.',
    labelNames: ['route', 'method', 'status'],
    buckets: LATENCY_BUCKETS,
    registers: [registry],
  });
  return {
    registry,
    observeCrossTenant: (resource) => crossTenant.inc({ resource }),
    observeHttp: (route, method, status, s) => http.observe({ route, method, status: String(status) }, s),
    observeRpc: (name, code, s) => rpc.observe({ rpc: name, code }, s),
    observeRedis: (op, s) => redis.observe({ op }, s),
    observeConvergence: (s) => convergence.observe(s),
    observeFrame: (kind, s) => rpc.observe({ rpc: `Peering.Session/${kind}`, code: 'OK' }, s),
  };
}

/** A ResourceStore whose async operations report their duration (Redis latency). */
export function timedStore(store: ResourceStore, observe: (op: string, seconds: number) => void): ResourceStore {
  return new Proxy(store, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver) as unknown;
      if (typeof v !== 'function' || prop === 'close') return v;
      return (...args: unknown[]) => {
        const t0 = performance.now();
        const out = (v as (...a: unknown[]) => unknown).apply(target, args);
        if (out instanceof Promise) return out.finally(() => observe(String(prop), (performance.now() - t0) / 1000));
        return out;
      };
    },
  });
}
