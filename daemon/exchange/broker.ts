/**
 * The exchange's brokerage (seed 000's service broker device, claims 2, 4, 6
 * and 10): what a registered provider advertises is checked like any broker
 * checks advertisements (the peering core's table: the origin's key,
 * signature, expiry, newest sequence wins) and kept for path computation; an
 * order a provider hands in is agreed among the providers on the computed
 * path by the same coordinator a provider runs (Quote and Reserve, then
 * Commit), reaching each provider over its own Agreement service at the
 * address it registered; the exchange then signs the contract as a party of
 * role `broker` and returns it. Provisioning calls for a contract it brokered
 * are passed on to the provider named (Relay, RelaySync): the contract itself is the
 * proof of who ordered what, so the exchange keeps no state of its own.
 *
 * The exchange holds no capacity (it has no resource store) and sees only
 * what providers advertise: abstract transits and links, never devices.
 *
 * Who may hand orders in (`exchange.allow-providers`) and whom the exchange
 * may call (`exchange.may-contact`) are read from the running config at each
 * call, so a reload applies to the next one. A refusal of either comes before
 * anything is asked of any provider: nothing is held anywhere.
 */
import type { KeyObject } from 'node:crypto';
import { InvalidArgumentError } from '../../drivers/errors.js';
import { AgreementError, AgreementFailedError, AgreementUnreachableError, ExchangeError, ServiceProvisioningError } from '../errors.js';
import { AgreementCoordinator, type Agreement, type ServiceRequest } from '../agreement/coordinator.js';
import { contractBody, signContract, verifyContract, type SignedContract } from '../agreement/contract.js';
import type { AgreementParticipant } from '../agreement/participant.js';
import { RemoteParticipant, agreementClientOn, callerPin, type Channel } from '../agreement/remote.js';
import type { ExchangePolicyConfig } from '../config/schema.js';
import { rawPublicKey } from '../crypto/keys.js';
import type { Logger } from '../logger.js';
import type { PeeringCore, PeerSpec } from '../peering/peering-core.js';
import { RemoteProvisioner } from '../provisioning/remote.js';
import type { SegmentStatus, SyncReport } from '../provisioning/domain.js';
import type { TopologyGraph } from '../topology/graph.js';
import type { AdvertiseReplyMsg, RelayRequestMsg } from './proto.js';

export interface ExchangeBrokerOptions {
  domain: string;
  /** The exchange's Ed25519 key (its advertisement key): it signs what it brokered with it. Secret. */
  signingKey: KeyObject;
  /** The exchange's peering core: configured peers (their pinned identities), registrations, the advertisement table. */
  core: PeeringCore;
  /** The graph of what the providers advertised. */
  graph: () => TopologyGraph;
  /** Who may use the exchange and whom it may contact, now (the running config). */
  policy: () => ExchangePolicyConfig;
  /** The mutually authenticated channel to a peer at an address (the peering transport's). */
  channelFor: (spec: PeerSpec) => Channel;
  /** Holds asked of providers live this long before Commit, ms. */
  holdTtlMs: number;
  /** Deadline of each Agreement call to a provider, ms. */
  callTimeoutMs: number;
  /** Deadline of a relayed provisioning call, ms. */
  provisionTimeoutMs: number;
  log?: Logger;
}

/** Agreement ids remembered with the provider they were brokered for (a bounded cache: beyond it the oldest are forgotten). */
const REMEMBERED = 4096;

export class ExchangeBroker {
  readonly domain: string;
  readonly publicKey: string;
  private readonly log: Logger;
  /** Agreement id -> the provider it was brokered for: another may not reuse it. */
  private readonly brokeredFor = new Map<string, string>();

  constructor(private readonly opts: ExchangeBrokerOptions) {
    this.domain = opts.domain;
    this.publicKey = rawPublicKey(opts.signingKey);
    this.log = opts.log ?? (() => {});
  }

  /** The configured peer whose pinned identity the caller's certificate is, if any. */
  callerOf(certRaw: Buffer | undefined): string | undefined {
    return callerPin(certRaw, [...this.opts.core.peers.values()].map((r) => r.spec))?.domain;
  }

  /** The caller if it may use the exchange; else QB_EXCHANGE_NOT_ALLOWED. */
  allowed(caller: string | undefined, what: string): string {
    if (caller === undefined) throw new ExchangeError('QB_EXCHANGE_NOT_ALLOWED', `exchange ${this.domain} ${what} only for its configured peers; the caller's certificate is none of their pinned identities`);
    if (!this.opts.policy().allowProviders.includes(caller)) {
      throw new ExchangeError('QB_EXCHANGE_NOT_ALLOWED', `${caller} may not use exchange ${this.domain}: it is not under exchange.allow-providers there`);
    }
    return caller;
  }

  /**
   * A provider's own signed advertisement, checked and kept like one a peer
   * floods (an exchange has no sessions, so it goes no further).
   */
  advertise(bytes: Buffer, withdrawal: boolean, caller: string | undefined): AdvertiseReplyMsg {
    if (caller === undefined) return { accepted: false, reason: 'not-a-peer', message: `exchange ${this.domain} takes advertisements only from its configured peers` };
    let origin: unknown;
    try {
      origin = (JSON.parse(bytes.toString('utf8')) as { envelope?: { origin?: unknown } }).envelope?.origin;
    } catch {
      origin = undefined;
    }
    if (origin !== caller) {
      const message = `${caller} handed exchange ${this.domain} an advertisement of ${JSON.stringify(origin)}: a provider hands in only its own`;
      this.log('warn', 'advertisement refused', { from: caller, reason: 'not-own-advert', origin, message });
      return { accepted: false, reason: 'not-own-advert', message };
    }
    const refusal = this.opts.core.receiveAdvert(bytes, caller, withdrawal ? 'withdrawal' : 'advertisement');
    if (refusal) return { accepted: false, reason: refusal.reason ?? refusal.code, message: refusal.message };
    return { accepted: true, reason: '', message: '' };
  }

  /** The channel to a provider at the address it registered (or configured), if it has one. */
  private channelTo(domain: string): Channel | undefined {
    const rec = this.opts.core.peers.get(domain);
    const address = rec?.spec.address ?? (this.opts.core.registrations.get(domain)?.domain?.peering_address || undefined);
    if (!rec || !address) return undefined;
    return this.opts.channelFor({ ...rec.spec, address });
  }

  private mayContact(domain: string): void {
    if (!this.opts.policy().mayContact.includes(domain)) {
      throw new ExchangeError('QB_EXCHANGE_CONTACT_NOT_ALLOWED', `exchange ${this.domain} may not contact ${domain}: it is not under exchange.may-contact there`);
    }
  }

  /**
   * Broker an agreement for `caller`: the path over what providers
   * advertised, Quote/Reserve/Commit with every provider on it, the
   * exchange's own signature last. The contract's originator is the caller.
   */
  async broker(req: ServiceRequest & { agreementId: string }, certCaller: string | undefined): Promise<Agreement> {
    const caller = this.allowed(certCaller, 'brokers agreements');
    // an endpoint (or a domain asked for) the exchange may not contact: refused before anything is held
    for (const d of new Set([req.from.domain, req.to.domain, ...(req.includeDomains ?? [])])) this.mayContact(d);
    const owner = this.brokeredFor.get(req.agreementId);
    if (owner !== undefined && owner !== caller) {
      throw new AgreementError('QB_AGREEMENT_NOT_OWNER', `agreement ${req.agreementId} at exchange ${this.domain} was brokered for ${owner}; ${caller} may not act on it`);
    }
    this.brokeredFor.delete(req.agreementId);
    this.brokeredFor.set(req.agreementId, caller);
    if (this.brokeredFor.size > REMEMBERED) this.brokeredFor.delete(this.brokeredFor.keys().next().value!);
    const denied = new Set<string>();
    const parts = new Map<string, AgreementParticipant>();
    const participant = (d: string): AgreementParticipant | undefined => {
      if (!this.opts.policy().mayContact.includes(d)) {
        denied.add(d);
        return undefined;
      }
      let p = parts.get(d);
      const key = this.opts.core.table.get(d)?.envelope.key;
      const channel = this.channelTo(d);
      if (!p && key && channel) {
        p = new RemoteParticipant(d, key, agreementClientOn(channel), { callTimeoutMs: this.opts.callTimeoutMs });
        parts.set(d, p);
      }
      return p;
    };
    const coordinator = new AgreementCoordinator(this.domain, this.opts.graph, participant, {
      holdTtlMs: this.opts.holdTtlMs,
      broker: { publicKey: this.publicKey, sign: (c: SignedContract) => signContract(c, this.domain, this.opts.signingKey) },
    });
    try {
      const a = await coordinator.agree({ ...req, originator: caller, viaExchange: undefined });
      this.log('info', 'agreement brokered', { event: 'agreement-brokered', agreement_id: req.agreementId, for: caller, domains: a.path.domains, total_price_minor: contractBody(a.contract).totalPriceMinor });
      return a;
    } catch (err) {
      this.log('info', 'agreement not brokered', { event: 'agreement-refused', agreement_id: req.agreementId, for: caller, code: (err as { code?: string }).code, error: (err as Error).message });
      // every alternative needed a provider the exchange may not contact: say so, not "no agreement"
      if (err instanceof AgreementFailedError && denied.size > 0 && err.refused.every((r) => [...denied].some((d) => r.reason === `no agreement with domain ${d}`))) {
        throw new ExchangeError('QB_EXCHANGE_CONTACT_NOT_ALLOWED', `every path for ${req.agreementId} needs ${[...denied].join(', ')}, which exchange ${this.domain} may not contact (not under exchange.may-contact); nothing was held`, { cause: err });
      }
      throw err;
    }
  }

  /**
   * Pass a provisioning call on to a provider on the path of a contract this
   * exchange brokered for the caller. The provider accepts it from us because
   * the contract it signed names us as its broker.
   */
  async relay(r: RelayRequestMsg, certCaller: string | undefined): Promise<SegmentStatus> {
    const { contract, id, p } = this.brokered(r, certCaller);
    switch (r.op) {
      case 'activate':
        return p.activate(contract, r.rate_mbps || undefined, r.amendment_json ? contractJson('amendment_json', r.amendment_json) : undefined);
      case 'deactivate':
        return p.deactivate(id);
      case 'status':
        return p.status(id);
      default:
        throw new InvalidArgumentError(`BrokeredRelay.op of Relay must be activate, deactivate or status, got ${JSON.stringify(r.op)}`);
    }
  }

  /** The same for check-sync and redeploy (RelaySync): the provider's sync report, as it answered. */
  async relaySync(r: RelayRequestMsg, certCaller: string | undefined): Promise<SyncReport> {
    const { id, p } = this.brokered(r, certCaller);
    switch (r.op) {
      case 'check-sync':
        return p.checkSync(id);
      case 'redeploy':
        return p.redeploy(id);
      default:
        throw new InvalidArgumentError(`BrokeredRelay.op of RelaySync must be check-sync or redeploy, got ${JSON.stringify(r.op)}`);
    }
  }

  /**
   * Who may have what passed on to whom, before anything is sent: the caller
   * may use the exchange, the contract verifies, this exchange brokered it for
   * the caller, the domain carries a segment of it and may be contacted, the
   * agreement id is the contract's or one of its amendments'.
   */
  private brokered(r: RelayRequestMsg, certCaller: string | undefined): { contract: SignedContract; id: string; p: RemoteProvisioner } {
    const caller = this.allowed(certCaller, 'relays provisioning');
    if (!r.contract_json) throw new InvalidArgumentError('BrokeredRelay.contract_json is empty: send the contract the exchange brokered');
    const contract = contractJson('contract_json', r.contract_json);
    verifyContract(contract);
    const body = contractBody(contract);
    const me = body.parties.find((p) => p.domain === this.domain);
    if (!me || me.role !== 'broker' || me.publicKey !== this.publicKey) throw new ExchangeError('QB_EXCHANGE_NOT_BROKERED', `contract ${body.agreementId} was not brokered by exchange ${this.domain}`);
    if (body.originator.domain !== caller) throw new ExchangeError('QB_EXCHANGE_NOT_BROKERED', `contract ${body.agreementId} was brokered for ${body.originator.domain}; ${caller} may not provision it`);
    if (!body.segments.some((s) => s.domain === r.domain)) throw new ServiceProvisioningError('QB_PROVISION_NOT_A_PARTY', `${r.domain} carries no segment of ${body.agreementId}`);
    this.mayContact(r.domain);
    const id = r.agreement_id || body.agreementId;
    if (id !== body.agreementId && !id.startsWith(`${body.agreementId}-boost-`)) throw new ExchangeError('QB_EXCHANGE_NOT_BROKERED', `${id} is neither ${body.agreementId} nor one of its amendments`);
    const channel = this.channelTo(r.domain);
    if (!channel) throw new AgreementUnreachableError(`exchange ${this.domain} has no address for ${r.domain}: it has not registered`);
    this.log('info', 'provisioning relayed', { event: 'provisioning-relayed', agreement_id: id, for: caller, domain: r.domain, op: r.op });
    return { contract, id, p: new RemoteProvisioner(r.domain, channel, this.opts.provisionTimeoutMs) };
  }
}

function contractJson(field: string, text: string): SignedContract {
  try {
    return JSON.parse(text) as SignedContract;
  } catch (err) {
    throw new InvalidArgumentError(`BrokeredRelay.${field} is not JSON: ${(err as Error).message}`);
  }
}
