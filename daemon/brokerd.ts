#!/usr/bin/env node
/**
 * `qos-brokerd`: the broker daemon (roles provider and exchange).
 *
 *   node dist/daemon/brokerd.js --config FILE [--check]
 *
 * Starts the resource store (Redis from the config, or an embedded
 * redis-server under data-dir), the peering core, the gRPC server (Peering,
 * Registry, Health over mutual TLS), /metrics and the loopback admin endpoint.
 * SIGHUP reloads the config by diffing it with the running one (peers added,
 * removed or changed without restart); SIGTERM/SIGINT drain (signed withdrawal,
 * close notifications to peers) and exit. Logs are JSON lines on stdout.
 */
import { parseArgs } from 'node:util';
import type { Server } from 'node:http';
import { Redis } from 'ioredis';
import { QosBrokerError } from '../drivers/errors.js';
import { ConfigError, diffConfig, loadConfigFile, loadMaterial, redactedConfig, redactUrl, type BrokerConfig, type Material } from './config/load.js';
import { createLogger, type JsonLogger } from './config/log.js';
import { PeeringCore } from './peering/peering-core.js';
import { GrpcPeeringTransport, PeeringServer } from './peering/server.js';
import { adminHandler, listenHttp } from './peering/admin.js';
import { createBrokerMetrics, timedStore } from './metrics/index.js';
import { RedisResourceStore } from './state/redis-store.js';
import { startEmbeddedRedis, type EmbeddedRedis } from './state/embedded-redis.js';
import type { ResourceStore } from './state/store.js';
import { AgreementService } from './agreement/service.js';
import { ChainedCaller, RemoteParticipant, addAgreementService, agreementClientOn, relayStreamOf, type AgreementServiceHandle } from './agreement/remote.js';
import { nextHopToward } from './agreement/chain.js';
import { orderDesk } from './agreement/orders.js';
import type { AgreementParticipant } from './agreement/participant.js';
import { buildTopology, type TopologyGraph } from './topology/index.js';
import { AgreementCoordinator } from './agreement/coordinator.js';
import { RecordStore } from './state/records.js';
import { daemonRetentionRules, sweepRecords } from './state/retention.js';
import { DomainProvisioner } from './provisioning/domain.js';
import { SessionPool } from './provisioning/segment.js';
import { RemoteProvisioner, addProvisioningService, localProvisioner, type SegmentProvisioner } from './provisioning/remote.js';
import { Workflow, type OrderRecord } from './workflow/orders.js';
import { BrokerCore } from './core.js';
import { serveManagement } from './management/server.js';
import { ApiKeyStore } from './state/apikeys.js';
import { IdempotencyStore } from './state/idempotency.js';
import { Hub } from './integrations/hub.js';
import { ModifyOrders } from './workflow/modify-orders.js';
import { NORTHBOUND_DEFAULTS } from './northbound/defaults.js';
import { serveNorthbound } from './northbound/server.js';
import { SERVICE_VIEW } from './northbound/tmf.js';
import { ExchangeBroker } from './exchange/broker.js';
import { ExchangeDesk } from './exchange/client.js';
import { addBrokerageService } from './exchange/service.js';

interface Running {
  cfg: BrokerConfig;
  material: Material;
  core: PeeringCore;
  server: PeeringServer;
  transport: GrpcPeeringTransport;
  store?: ResourceStore;
  agreement?: AgreementService;
  /** End the Agreement streams peers hold open to us (shutdown), so the server need not wait for them. */
  closeAgreementStreams?: () => void;
  redis?: Redis;
  embedded?: EmbeddedRedis;
  http: Server[];
  provisioner?: DomainProvisioner;
  /** One NETCONF session per device, reused by every transaction. */
  sessions?: SessionPool;
  /** Removes records past their retention (quotes, qualifications, cleared alarms, ended agreements). */
  sweeper?: NodeJS.Timeout;
  workflow?: Workflow;
  management?: { address: string; stop(): Promise<void> };
  northbound?: { address: string; stop(): Promise<void> };
  hub?: Hub;
  desk?: ExchangeDesk;
}

/**
 * Options of the daemon's Redis connection. No auto-pipelining: it sends the
 * commands of one tick in one write, which pays at saturation (a few per cent
 * more agreements/s with 50 always in flight), but each command then goes
 * through a pipeline of its own, and at the load a provider runs at it cost
 * latency: the p99 at the offered rate was lower without it in every
 * interleaved pair of the agreements bench (figures in bench/README.md).
 */
const REDIS_OPTIONS = { maxRetriesPerRequest: 2 } as const;

function redisClient(url: string): Redis {
  const opts = { ...REDIS_OPTIONS, lazyConnect: false };
  if (url.startsWith('unix://')) return new Redis({ ...opts, path: url.replace(/^unix:\/\//, '') });
  return new Redis(url, opts);
}

async function start(configFile: string, log: JsonLogger): Promise<Running> {
  const cfg = loadConfigFile(configFile);
  log.setLevel(cfg.log.level);
  const material = loadMaterial(cfg);
  log('info', 'config loaded', { file: configFile, config: redactedConfig(cfg) });
  const running: Partial<Running> = { cfg, material, http: [] };
  const metrics = createBrokerMetrics(() => running.core, () => running.store, () => running.provisioner?.measuredRates() ?? []);
  try {
    if (cfg.role === 'provider') {
      if (cfg.redis.embedded) {
        running.embedded = await startEmbeddedRedis(cfg.dataDir, {
          log: ({ msg, ...fields }) => log('info', String(msg), { ...fields, component: 'state' }),
        });
        running.redis = new Redis({ ...REDIS_OPTIONS, path: running.embedded.socketPath });
      } else {
        running.redis = redisClient(cfg.redis.url!);
        log('info', 'using configured Redis', { component: 'state', redis: redactUrl(cfg.redis.url!) });
      }
      running.redis.on('error', (err: Error) => log('warn', 'redis connection error', { component: 'state', error: err.message }));
      const raw = new RedisResourceStore({ domain: cfg.domainId, redis: running.redis, slotMs: cfg.redis.slotMs, keyPrefix: cfg.redis.keyPrefix });
      running.store = timedStore(raw, metrics.observeRedis);
    }
    /** A provider's side of its exchanges (set once the core exists). */
    let desk: ExchangeDesk | undefined;
    const transport = new GrpcPeeringTransport(material.own, Math.min(5000, cfg.peering.holdTimeS * 1000));
    running.transport = transport;
    const core = new PeeringCore({
      role: cfg.role,
      domain: cfg.domainId,
      brokerId: cfg.brokerId,
      signingKey: material.signingKey,
      peers: material.peers,
      originKeys: material.originKeys,
      peeringAddress: cfg.advertiseAddress,
      holdTimeS: cfg.peering.holdTimeS,
      advertLifetimeS: cfg.peering.advertLifetimeS,
      readvertiseThreshold: cfg.peering.readvertiseThreshold,
      readvertiseMinIntervalMs: cfg.peering.readvertiseMinIntervalMs,
      pollIntervalMs: cfg.peering.pollIntervalMs,
      registrationTtlMs: cfg.peering.registrationTtlS * 1000,
      backoff: { initialMs: cfg.peering.backoffInitialMs, maxMs: cfg.peering.backoffMaxMs },
      inventory: cfg.inventory,
      store: running.store,
      transport,
      log: log.child('peering'),
      hooks: { convergence: metrics.observeConvergence, frame: metrics.observeFrame, originated: (a) => desk?.advertise(a) },
    });
    running.core = core;
    const server = new PeeringServer(core, material.own, cfg.listen, metrics.observeRpc);
    running.server = server;
    let post = {};
    if (cfg.role === 'exchange') {
      // the exchange brokers among its providers: what they advertise, their Agreement services, its own signature
      const graph = advertisedGraph(core);
      const broker = new ExchangeBroker({
        domain: cfg.domainId,
        signingKey: material.signingKey,
        core,
        graph: () => graph().graph,
        policy: () => running.cfg!.exchange,
        channelFor: (spec) => transport.channelFor(spec),
        holdTtlMs: cfg.agreement.holdTtlMs,
        callTimeoutMs: cfg.agreement.callTimeoutMs,
        provisionTimeoutMs: cfg.workflow.provisionTimeoutMs,
        log: log.child('exchange'),
      });
      server.extraServices.push({ name: 'qosbroker.v1.Brokerage', add: (s) => addBrokerageService(s, broker, metrics.observeRpc) });
    } else {
      desk = new ExchangeDesk({
        domain: cfg.domainId,
        publicKey: core.publicKeyRaw,
        core,
        channelFor: (spec) => transport.channelFor(spec),
        brokerTimeoutMs: 2 * cfg.agreement.holdTtlMs + cfg.agreement.callTimeoutMs,
        provisionTimeoutMs: cfg.workflow.provisionTimeoutMs,
        log: log.child('exchange'),
      });
      running.desk = desk;
    }
    if (running.store) {
      // agreements: our own domain's participant on the store and advert key, served to peers and used by our coordinator
      const graph = advertisedGraph(core);
      const service = new AgreementService({ store: running.store, signingKey: material.signingKey, graph, inventory: cfg.inventory, log: log.child('agreement'), sweepIntervalMs: cfg.agreement.sweepIntervalMs });
      running.agreement = service;
      const handles: AgreementServiceHandle[] = [];
      running.closeAgreementStreams = () => handles.splice(0).forEach((h) => h.close());
      // a peer we can call: established, with an address from the config or from its exchange registration
      const dialable = (d: string) => {
        const rec = core.peers.get(d);
        if (!rec || rec.state !== 'established') return undefined;
        const address = rec.spec.address || core.registrations.get(d)?.domain?.peering_address || undefined;
        return address ? transport.channelFor({ ...rec.spec, address }) : undefined;
      };
      const originKey = (d: string) => core.table.get(d)?.envelope.key;
      const chainOrigin = { origin: cfg.domainId, signingKey: material.signingKey };
      const agreementChain = { originKey, neighbour: (d: string) => { const ch = dialable(d); return ch ? relayStreamOf(agreementClientOn(ch), d) : undefined; } };
      server.extraServices.push({ name: 'qosbroker.v1.Agreement', add: (s) => handles.push(addAgreementService(s, service, () => [...core.peers.values()].map((r) => r.spec), metrics.observeRpc, agreementChain)) });
      // a domain we have no session with is reached through the neighbours on the path (agreement/chain.ts)
      const participant = (d: string, path?: string[]): AgreementParticipant | undefined => {
        if (d === cfg.domainId) return service;
        const key = originKey(d);
        if (!key) return undefined;
        const opts = { callTimeoutMs: cfg.agreement.callTimeoutMs };
        const ch = dialable(d);
        if (ch) return new RemoteParticipant(d, key, agreementClientOn(ch), opts);
        const first = path ? nextHopToward(path, cfg.domainId, d, (x) => dialable(x) !== undefined) : undefined;
        if (!first) return undefined;
        return new RemoteParticipant(d, key, new ChainedCaller(d, path!, agreementClientOn(dialable(first)!), first, chainOrigin), opts);
      };
      const agreementDesk = orderDesk({ domain: cfg.domainId, graph: () => graph().graph, participant, holdTtlMs: cfg.agreement.holdTtlMs });
      post = { '/v1/quote': agreementDesk['/v1/quote'], '/v1/order': agreementDesk['/v1/order'] };
      // the order path: workflow -> agreement -> provisioning in every domain (ours internal, the others over gRPC)
      // an order's TMF638 service is stored with it, so a list page is a join of stored views
      const records = new RecordStore({ redis: running.redis!, domain: cfg.domainId, keyPrefix: cfg.redis.keyPrefix, views: { order: SERVICE_VIEW } });
      const bookingOf = async (id: string) => (await records.get<{ owner: string; reservations: string[] }>('agreement', id))?.doc;
      service.onCommitted = async (id, caller, reservations, body) => {
        // written only if absent (version 0): a retried Commit finds it there and keeps it, without a read first
        await records.put('agreement', id, 0, { owner: caller, reservations, committedAt: new Date().toISOString(), end: body.window.end }, { score: Date.now(), event: { type: 'agreement-committed', caller, reservations: reservations.length } }).catch((err: unknown) => {
          if ((err as { code?: string }).code !== 'QB_STATE_CONFLICT') throw err;
        });
      };
      const rules = daemonRetentionRules({ recordRetentionMs: cfg.workflow.recordRetentionMs, contractRetentionMs: cfg.workflow.contractRetentionMs });
      let sweeping = false;
      const sweep = () => {
        if (sweeping) return;
        sweeping = true;
        sweepRecords(records, rules, Date.now())
          .then(
            (n) => Object.values(n).some((x) => x > 0) && log('info', 'records past their retention removed', { component: 'state', ...n }),
            (err: unknown) => log('warn', 'record sweep failed', { component: 'state', ...errorFields(err) }),
          )
          .finally(() => (sweeping = false));
      };
      running.sweeper = setInterval(sweep, Math.min(3_600_000, Math.max(1000, Math.floor(cfg.workflow.recordRetentionMs / 4))));
      running.sweeper.unref();
      running.sessions = new SessionPool();
      const provisioner = new DomainProvisioner({ domain: cfg.domainId, records, store: running.store, devices: () => running.cfg!.devices, bookingOf, log: log.child('provisioning'), sessions: running.sessions });
      running.provisioner = provisioner;
      server.extraServices.push({ name: 'qosbroker.v1.Provisioning', add: (s) => addProvisioningService(s, provisioner, () => [...core.peers.values()].map((r) => r.spec), metrics.observeRpc, { originKey, neighbour: dialable }) });
      const local = localProvisioner(provisioner);
      const provisionerFor = (d: string, o?: OrderRecord): SegmentProvisioner | undefined => {
        if (d === cfg.domainId) return local;
        const ch = dialable(d);
        if (ch) return new RemoteProvisioner(d, ch, cfg.workflow.provisionTimeoutMs);
        // a domain we have no session with, on the path of a contract an exchange brokered: through that exchange
        if (o?.request.viaExchange && o.contract) return desk?.provisioner(d, o.request.viaExchange, o.contract);
        // else chained through the neighbours on the order's path
        const path = o?.domains;
        const first = path ? nextHopToward(path, cfg.domainId, d, (x) => dialable(x) !== undefined) : undefined;
        if (!first) return undefined;
        return new RemoteProvisioner(d, undefined, cfg.workflow.provisionTimeoutMs, { ...chainOrigin, path: path!, firstHop: dialable(first)!, firstHopDomain: first });
      };
      const coordinator = new AgreementCoordinator(cfg.domainId, () => graph().graph, participant, { holdTtlMs: cfg.agreement.holdTtlMs, viaExchange: (req) => desk!.agree(req) });
      const workflow = new Workflow({ domain: cfg.domainId, records, coordinator, participant, provisioner: provisionerFor, log: log.child('workflow'), retentionMs: cfg.workflow.contractRetentionMs });
      running.workflow = workflow;
      const prefix = records.base;
      const nb = cfg.northbound;
      const hub = new Hub({ records, redis: running.redis!, prefix, timeoutMs: nb?.hubTimeoutMs ?? NORTHBOUND_DEFAULTS.hubTimeoutMs, allowHosts: nb?.hubAllowHosts ?? [], log: log.child('hub') });
      const brokerCore = new BrokerCore({
        domain: cfg.domainId,
        workflow,
        provisioner,
        records,
        devices: () => running.cfg!.devices,
        apiKeys: new ApiKeyStore(records),
        idempotency: new IdempotencyStore(running.redis!, prefix, nb?.idempotencyTtlS ?? NORTHBOUND_DEFAULTS.idempotencyTtlS),
        hub,
        modifyOrders: new ModifyOrders(records, (id, change, customer) => workflow.modifyOrder(id, change, customer)),
        segments: provisionerFor,
        graph: () => graph().graph,
        peering: core,
        agreements: agreementDesk.desk,
      });
      running.management = await serveManagement(brokerCore, cfg.domainId, cfg.management.listen, metrics.observeRpc);
      if (nb) {
        running.northbound = await serveNorthbound({ core: brokerCore, config: nb, log: log.child('northbound'), onCrossTenant: metrics.observeCrossTenant, observe: metrics.observeHttp });
        running.hub = hub;
        await hub.start();
      }
      service.start();
    }
    if (running.provisioner) {
      // before any peer can reach us: a Deactivate or Activate must not meet a confirmed commit the last process left pending
      const recovered = await running.provisioner.recover();
      if (recovered) log('warn', 'segments interrupted by the last stop were put back', { component: 'provisioning', segments: recovered });
    }
    await server.start(material.peers);
    await core.start();
    running.desk?.start();
    if (running.provisioner) {
      // what drifted on the devices while we were down is put back (in the background: the daemon serves meanwhile)
      void running.provisioner.reconcileActive().catch((err: unknown) => log('error', 'reconcile of active segments failed', errorFields(err)));
      // the measured rate of the services we originated: their counters sampled on our routers
      running.provisioner.measureEvery(cfg.provisioning.measureIntervalMs);
      // orders interrupted by the last stop are resumed in the background (their peers may still be connecting)
      void running.workflow!.start().catch((err: unknown) => log('error', 'order recovery failed', errorFields(err)));
    }
    const listening: Record<string, unknown> = { grpc: cfg.listen, ...(running.management ? { management: running.management.address } : {}), ...(running.northbound ? { northbound: running.northbound.address } : {}) };
    if (cfg.metrics) {
      const m = await listenHttp(cfg.metrics.listen, async (path) =>
        path === '/metrics' ? { status: 200, body: await metrics.registry.metrics(), type: metrics.registry.contentType } : { status: 404, body: { error: 'try /metrics' } },
      );
      running.http!.push(m.server);
      listening.metrics = cfg.metrics.listen;
    }
    if (cfg.admin) {
      const route = adminHandler(() => running.core, () => ({ domain: cfg.domainId, role: cfg.role, brokerId: cfg.brokerId, pid: process.pid }), post);
      const a = await listenHttp(cfg.admin.listen, route);
      running.http!.push(a.server);
      listening.admin = cfg.admin.listen;
    }
    log('info', 'qos-brokerd started', { domain_id: cfg.domainId, role: cfg.role, pid: process.pid, ...listening });
    return running as Running;
  } catch (err) {
    await stop(running, log).catch(() => {});
    throw err;
  }
}

async function reload(r: Running, configFile: string, log: JsonLogger): Promise<void> {
  let cfg: BrokerConfig;
  let material: Material;
  try {
    cfg = loadConfigFile(configFile);
    material = loadMaterial(cfg);
  } catch (err) {
    log('error', 'reload refused: the new config is invalid; keeping the running one', errorFields(err));
    return;
  }
  const d = diffConfig(r.cfg, cfg);
  for (const dom of [...d.peersRemoved, ...d.peersChanged]) r.core.removePeer(dom);
  if (d.ownTlsChanged) r.transport.setOwn(material.own);
  const rebound = await r.server.update(material.peers, material.own);
  for (const dom of [...d.peersAdded, ...d.peersChanged]) {
    const spec = material.peers.find((p) => p.domain === dom)!;
    r.core.addPeer(spec);
    log('info', 'peer added', { peer: dom, address: spec.address ?? null });
  }
  if (d.inventoryChanged && cfg.inventory) r.agreement?.setInventory(cfg.inventory);
  await r.core.updateOptions({
    inventory: d.inventoryChanged ? cfg.inventory : undefined,
    originKeys: d.originKeysChanged ? material.originKeys : undefined,
    readvertiseThreshold: cfg.peering.readvertiseThreshold,
    readvertiseMinIntervalMs: cfg.peering.readvertiseMinIntervalMs,
  });
  log.setLevel(cfg.log.level);
  if (d.needsRestart.length) log('warn', 'some changes take effect only after a restart', { keys: d.needsRestart });
  // keep what needs a restart as it runs
  r.cfg = { ...cfg, ...Object.fromEntries(['role', 'domainId', 'brokerId', 'listen', 'dataDir', 'redis', 'metrics', 'admin', 'agreement', 'northbound', 'management', 'workflow'].map((k) => [k, r.cfg[k as keyof BrokerConfig]])) } as BrokerConfig;
  r.material = material;
  log('info', 'config reloaded', { peers_added: d.peersAdded, peers_removed: d.peersRemoved, peers_changed: d.peersChanged, inventory_changed: d.inventoryChanged, grpc_rebound: rebound });
}

/** The advertised graph (cached until an advertisement changes) and its key. */
function advertisedGraph(core: PeeringCore): () => { graph: TopologyGraph; key: string } {
  let last: { graph: TopologyGraph; key: string } | undefined;
  return () => {
    const ads = core.adverts();
    const key = ads.map((a) => `${a.envelope.origin}:${a.envelope.seq}`).sort().join(',');
    if (last?.key !== key) last = { graph: buildTopology(ads.map((a) => a.envelope.body)), key };
    return last;
  };
}

async function stop(r: Partial<Running>, log: JsonLogger): Promise<void> {
  clearInterval(r.sweeper);
  await r.northbound?.stop();
  await r.hub?.stop();
  await r.management?.stop();
  await r.workflow?.stop();
  await r.provisioner?.stopMeasuring();
  await r.sessions?.close();
  r.agreement?.stop();
  r.desk?.stop();
  r.closeAgreementStreams?.();
  await r.core?.stop();
  await new Promise((res) => setTimeout(res, 150)); // let the withdrawal and close notifications go out
  await r.server?.stop();
  for (const s of r.http ?? []) await new Promise<void>((res) => s.close(() => res()));
  await r.store?.close().catch(() => {});
  r.redis?.disconnect();
  if (r.embedded) await r.embedded.stop();
  log('info', 'qos-brokerd stopped', {});
}

function errorFields(err: unknown): Record<string, unknown> {
  if (err instanceof ConfigError) return { code: err.code, key: err.key, error: err.message };
  if (err instanceof QosBrokerError) return { code: err.code, error: err.message };
  return { error: err instanceof Error ? err.message : String(err) };
}

async function main(): Promise<number> {
  const log = createLogger({ base: {} });
  let args;
  try {
    args = parseArgs({ options: { config: { type: 'string', short: 'c' }, check: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } } });
  } catch (err) {
    process.stderr.write(`qos-brokerd: ${err instanceof Error ? err.message : String(err)}\nusage: qos-brokerd --config FILE [--check]\n`);
    return 2;
  }
  if (args.values.help) {
    process.stdout.write('usage: qos-brokerd --config FILE [--check]\n  --check  validate the config and its key files, then exit\n');
    return 0;
  }
  const file = args.values.config;
  if (!file) {
    process.stderr.write('qos-brokerd: --config FILE is required\n');
    return 2;
  }
  if (args.values.check) {
    try {
      loadMaterial(loadConfigFile(file));
      process.stdout.write(`${file}: ok\n`);
      return 0;
    } catch (err) {
      const e = errorFields(err);
      process.stderr.write(`qos-brokerd: ${String(e.code ?? 'error')}: ${String(e.error)}\n`);
      return 2;
    }
  }
  // One listener per signal for the whole life of the process, acting on the phase it finds:
  // removing a listener and adding another lost a signal that libuv had caught but not yet
  // handed over (a SIGTERM at the end of the start was ignored). While starting, a stop signal
  // exits at once through process.exit, so that the 'exit' hooks stop what was started already
  // (the embedded redis-server; the default action skipped them), and a SIGHUP is kept for
  // when the daemon runs.
  let running: Running | undefined;
  let drain: ((sig: string) => void) | undefined;
  let hupWhileStarting = false;
  let chain = Promise.resolve();
  const reloadNow = (r: Running) => {
    log('info', 'SIGHUP: reloading the config', { file });
    chain = chain.then(() => reload(r, file, log)).catch((err: unknown) => log('error', 'reload failed', errorFields(err)));
  };
  const onStopSignal = (sig: NodeJS.Signals) => {
    if (drain) return drain(sig);
    log('info', `${sig} while starting: exiting`, {});
    process.exit(sig === 'SIGINT' ? 130 : 143);
  };
  process.on('SIGTERM', onStopSignal);
  process.on('SIGINT', onStopSignal);
  process.on('SIGHUP', () => {
    if (running) return reloadNow(running);
    hupWhileStarting = true;
    log('info', 'SIGHUP while starting: the config is reloaded once started', { file });
  });
  try {
    running = await start(file, log);
  } catch (err) {
    log('error', 'qos-brokerd could not start', errorFields(err));
    return err instanceof ConfigError ? 2 : 1;
  }
  const r = running;
  process.on('unhandledRejection', (err) => log('error', 'unhandled rejection', errorFields(err)));
  if (hupWhileStarting) reloadNow(r);
  return new Promise<number>((resolve) => {
    let stopping = false;
    drain = (sig: string) => {
      if (stopping) return;
      stopping = true;
      log('info', `${sig}: draining`, {});
      const force = setTimeout(() => resolve(1), 10_000);
      force.unref();
      void chain.then(() => stop(r, log)).then(
        () => resolve(0),
        (err: unknown) => {
          log('error', 'drain failed', errorFields(err));
          resolve(1);
        },
      );
    };
  });
}

main().then((code) => process.exit(code));
