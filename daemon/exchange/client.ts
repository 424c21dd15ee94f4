/**
 * A provider's side of its exchanges (the peers it registers with,
 * `exchange: true`): it hands each its signed advertisements as it originates
 * them, hands it an order that asks for it (`viaExchange`) and checks the
 * contract that comes back before the workflow runs the order as usual, and
 * reaches a provider on the path it has no session with through the exchange
 * that brokered the contract (Brokerage.Relay, RelaySync).
 */
import * as grpc from '@grpc/grpc-js';
import { ContractError, ExchangeError } from '../errors.js';
import type { Agreement, ServiceRequest } from '../agreement/coordinator.js';
import { contractBody, verifyContract, type SignedContract } from '../agreement/contract.js';
import { fromGrpcError, type Channel } from '../agreement/remote.js';
import type { SegmentQuote } from '../agreement/participant.js';
import type { Logger } from '../logger.js';
import type { SignedAdvert } from '../peering/advert.js';
import { isWithdrawal, type AdvertBody } from '../peering/origin.js';
import type { PeeringCore, PeerSpec } from '../peering/peering-core.js';
import { statusFromMsg, syncFromMsg, type SegmentProvisioner, type StatusMsg, type SyncMsg } from '../provisioning/remote.js';
import type { SegmentStatus, SyncReport } from '../provisioning/domain.js';
import type { ComputedPath } from '../topology/types.js';
import { brokerageClientOn, requestToMsg, unary, type AdvertiseReplyMsg, type BrokerReplyMsg } from './proto.js';

export interface ExchangeDeskOptions {
  domain: string;
  /** Our Ed25519 key (raw base64): our party of a brokered contract must list it. */
  publicKey: string;
  /** Our peering core: the exchanges among its peers, what it knows of other domains' keys. */
  core: PeeringCore;
  /** The mutually authenticated channel to a peer (the peering transport's). */
  channelFor: (spec: PeerSpec) => Channel;
  /** Deadline of a Broker call: the exchange asks every provider to hold, then to commit, ms. */
  brokerTimeoutMs: number;
  /** Deadline of a relayed provisioning call, ms. */
  provisionTimeoutMs: number;
  log?: Logger;
}

/** How long a refused or failed hand-in of an advertisement waits before it is tried again, ms. */
const ADVERTISE_RETRY_MS = 1000;

export class ExchangeDesk {
  private readonly log: Logger;
  /** The newest advertisement handed to each exchange (older ones are not retried). */
  private readonly latest = new Map<string, SignedAdvert<AdvertBody>>();
  private readonly accepted = new Set<string>();
  /** When each exchange's registration last came up (PeerRecord.since) as we last handed it our advertisement. */
  private readonly handedAt = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly opts: ExchangeDeskOptions) {
    this.log = opts.log ?? (() => {});
  }

  /**
   * Watch the registrations: an exchange we (re-)registered with (it
   * restarted, or the stream broke) is handed our newest advertisement at
   * once, not at our next refresh.
   */
  start(intervalMs = 500): void {
    this.timer = setInterval(() => {
      for (const spec of this.exchanges()) {
        const rec = this.opts.core.peers.get(spec.domain)!;
        const a = this.latest.get(spec.domain);
        if (rec.state !== 'established' || !a || a.envelope.expiresAt <= Date.now() || this.handedAt.get(spec.domain) === rec.since) continue;
        this.handedAt.set(spec.domain, rec.since);
        void this.handIn(spec, a);
      }
    }, intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  /** The exchanges we register with, by domain. */
  private exchange(name: string): PeerSpec | undefined {
    const rec = this.opts.core.peers.get(name);
    return rec?.spec.register && rec.spec.address ? rec.spec : undefined;
  }

  private exchanges(): PeerSpec[] {
    return [...this.opts.core.peers.values()].filter((r) => r.spec.register && r.spec.address).map((r) => r.spec);
  }

  private client(spec: PeerSpec): grpc.Client {
    return brokerageClientOn(this.opts.channelFor(spec));
  }

  /** Hand our new advertisement (or withdrawal) to every exchange; a refusal is retried until a newer one replaces it or it expires. */
  advertise(a: SignedAdvert<AdvertBody>): void {
    for (const spec of this.exchanges()) {
      this.latest.set(spec.domain, a);
      void this.handIn(spec, a);
    }
  }

  private async handIn(spec: PeerSpec, a: SignedAdvert<AdvertBody>): Promise<void> {
    const withdrawal = isWithdrawal(a.envelope.body);
    let why: string;
    try {
      const r = await unary<AdvertiseReplyMsg>(this.client(spec), 'Advertise', { signed_advert: Buffer.from(JSON.stringify(a)), withdrawal }, 5000);
      if (r.accepted) {
        if (!this.accepted.has(spec.domain)) this.log('info', 'advertisement handed to exchange', { exchange: spec.domain, seq: a.envelope.seq });
        this.accepted.add(spec.domain);
        return;
      }
      why = `${r.reason}: ${r.message}`;
    } catch (err) {
      why = (err as Error).message;
    }
    this.accepted.delete(spec.domain);
    this.log('debug', 'advertisement not taken by exchange yet: retrying', { exchange: spec.domain, seq: a.envelope.seq, error: why });
    if (withdrawal || this.opts.core.peers.get(spec.domain)?.spec !== spec) return;
    const t = setTimeout(() => {
      if (this.latest.get(spec.domain) === a && a.envelope.expiresAt > Date.now()) void this.handIn(spec, a);
    }, ADVERTISE_RETRY_MS);
    t.unref();
  }

  /** The agreement of an order handed to its exchange: the contract it returns, checked. */
  async agree(req: ServiceRequest & { agreementId: string }): Promise<Agreement> {
    const name = req.viaExchange!;
    const spec = this.exchange(name);
    if (!spec) {
      const have = this.exchanges().map((s) => s.domain);
      throw new ExchangeError('QB_EXCHANGE_UNKNOWN', `${this.opts.domain} has no exchange ${name} under peers (exchange: true with an address); ${have.length ? `its exchanges: ${have.join(', ')}` : 'it has none'}`);
    }
    let reply: BrokerReplyMsg;
    try {
      reply = await unary<BrokerReplyMsg>(this.client(spec), 'Broker', requestToMsg(req), this.opts.brokerTimeoutMs);
    } catch (err) {
      throw fromGrpcError(err as grpc.ServiceError, name, 'Brokerage.Broker');
    }
    let contract: SignedContract;
    try {
      contract = JSON.parse(reply.contract_json) as SignedContract;
    } catch (err) {
      throw new ExchangeError('QB_EXCHANGE_BAD_CONTRACT', `exchange ${name} returned a contract that is not JSON: ${(err as Error).message}`);
    }
    this.check(contract, req, name);
    this.log('info', 'agreement brokered by exchange', { event: 'agreement-brokered', agreement_id: req.agreementId, exchange: name, domains: contractBody(contract).segments.map((s) => s.domain) });
    return { contract, path: pathOf(contract), quotes: quotesOf(contract), refused: reply.refused.map((reason) => ({ domains: [], reason })) };
  }

  /** The contract must verify, say what we asked, name us as originator and the exchange as its broker, with the keys we know. */
  private check(c: SignedContract, req: ServiceRequest & { agreementId: string }, exchange: string): void {
    verifyContract(c);
    const b = contractBody(c);
    const bad = (what: string): never => {
      throw new ExchangeError('QB_EXCHANGE_BAD_CONTRACT', `exchange ${exchange} returned contract ${b.agreementId}: ${what}`);
    };
    const ep = (e: ServiceRequest['from']) => `${e.domain}/${e.site ?? e.border}`;
    if (b.agreementId !== req.agreementId) bad(`its agreement id is not ${req.agreementId}`);
    if (b.originator.domain !== this.opts.domain || b.originator.customer !== req.customer) bad(`it was ordered by ${b.originator.customer} through ${b.originator.domain}, not ${req.customer} through ${this.opts.domain}`);
    if (b.service.from !== ep(req.from) || b.service.to !== ep(req.to) || b.service.qosClass !== req.qosClass || b.service.rateMbps !== req.rateMbps) bad('its service is not the one asked for');
    if (Date.parse(b.window.start) !== req.start || Date.parse(b.window.end) !== req.end) bad('its window is not the one asked for');
    const broker = b.parties.find((p) => p.role === 'broker');
    if (broker?.domain !== exchange) bad(`its broker is ${broker?.domain ?? 'nobody'}`);
    const me = b.parties.find((p) => p.domain === this.opts.domain);
    if (me && me.publicKey !== this.opts.publicKey) bad(`it lists another key for ${this.opts.domain}`);
    // each party's key as we know it (configured, from a peer's Open, a registration or an advertisement)
    for (const p of b.parties) {
      const core = this.opts.core;
      const known = core.peers.get(p.domain)?.spec.publicKey ?? core.table.get(p.domain)?.envelope.key ?? (core.registrations.get(p.domain)?.domain?.public_key || undefined);
      if (known !== undefined && known !== p.publicKey) {
        throw new ContractError('QB_CONTRACT_UNTRUSTED_KEY', `contract ${b.agreementId} from exchange ${exchange} lists a key for ${p.domain} that is not the one ${this.opts.domain} knows`, { domain: p.domain });
      }
    }
  }

  /**
   * Provisioning of `domain` for a contract `exchange` brokered, through that
   * exchange; undefined when it is not one of our exchanges now.
   */
  provisioner(domain: string, exchange: string, contract: SignedContract): SegmentProvisioner | undefined {
    const spec = this.exchange(exchange);
    if (!spec) return undefined;
    const client = this.client(spec);
    const timeoutMs = this.opts.provisionTimeoutMs + 5000;
    const call = async <M, T>(rpc: 'Relay' | 'RelaySync', req: object, parse: (m: M, domain: string) => T): Promise<T> => {
      let m: M;
      try {
        m = await unary<M>(client, rpc, { domain, ...req }, timeoutMs);
      } catch (err) {
        throw fromGrpcError(err as grpc.ServiceError, exchange, `Brokerage.${rpc} to ${domain}`);
      }
      return parse(m, domain);
    };
    const segment = (req: object) => call<StatusMsg, SegmentStatus>('Relay', req, statusFromMsg);
    const sync = (op: string, agreementId: string) => call<SyncMsg, SyncReport>('RelaySync', { op, contract_json: JSON.stringify(contract), agreement_id: agreementId }, syncFromMsg);
    return {
      domain,
      activate: (c, rateMbps, amendment) => segment({ op: 'activate', contract_json: JSON.stringify(c), rate_mbps: rateMbps ?? 0, amendment_json: amendment ? JSON.stringify(amendment) : '' }),
      deactivate: (agreementId) => segment({ op: 'deactivate', contract_json: JSON.stringify(contract), agreement_id: agreementId }),
      status: (agreementId) => segment({ op: 'status', contract_json: JSON.stringify(contract), agreement_id: agreementId }),
      checkSync: (agreementId) => sync('check-sync', agreementId),
      redeploy: (agreementId) => sync('redeploy', agreementId),
    };
  }
}

/** The path of a brokered contract as the workflow needs it: its domains and segments (the hops stay with the exchange and each provider). */
function pathOf(c: SignedContract): ComputedPath {
  const s = contractBody(c).segments;
  return {
    nodes: [],
    hops: [],
    segments: s.map((x) => ({ domain: x.domain, ingress: x.ingress, egress: x.egress, hops: [] })),
    domains: s.map((x) => x.domain),
    metrics: {
      pricePerMbpsHour: 0,
      latencyMs: s.reduce((t, x) => t + x.latencyMs, 0),
      jitterMs: s.reduce((t, x) => t + x.jitterMs, 0),
      loss: 1 - s.reduce((t, x) => t * (1 - x.lossPct / 100), 1),
      bottleneckMbps: contractBody(c).service.rateMbps,
    },
    score: 0,
  };
}

function quotesOf(c: SignedContract): SegmentQuote[] {
  return contractBody(c).segments.map((x, i) => ({ domain: x.domain, index: i, priceMinor: x.priceMinor, currency: contractBody(c).currency, validUntil: Date.parse(contractBody(c).window.end) }));
}
