/**
 * The gRPC face of the exchange's brokerage (qosbroker.v1.Brokerage): one-line
 * adapters over ExchangeBroker, the caller named by its verified client
 * certificate. Errors travel as gRPC statuses with the stable code in the
 * `qb-code` trailer, as the agreement and provisioning calls do.
 */
import * as grpc from '@grpc/grpc-js';
import { grpcStatusOf } from '../errors.js';
import { toGrpcError } from '../agreement/remote.js';
import { statusToMsg, syncToMsg } from '../provisioning/remote.js';
import type { ExchangeBroker } from './broker.js';
import { loadBrokerageProto, requestFromMsg, type AdvertiseRequestMsg, type BrokerReplyMsg, type BrokerRequestMsg, type RelayRequestMsg } from './proto.js';

type Unary<Req, Res> = (call: grpc.ServerUnaryCall<Req, Res>, cb: grpc.sendUnaryData<Res>) => void;

/** Serve the brokerage of `broker` on a gRPC server (the peering server: same port, same mutual TLS). */
export function addBrokerageService(server: grpc.Server, broker: ExchangeBroker, observe: (rpc: string, code: string, seconds: number) => void = () => {}): void {
  const B = loadBrokerageProto();
  const handle =
    <Req, Res>(rpc: string, run: (req: Req, caller: string | undefined) => Promise<Res>): Unary<Req, Res> =>
    (call, cb) => {
      const t0 = performance.now();
      const caller = broker.callerOf(call.getAuthContext()?.sslPeerCertificate?.raw);
      run(call.request, caller).then(
        (r) => {
          observe(`Brokerage.${rpc}`, 'OK', (performance.now() - t0) / 1000);
          cb(null, r);
        },
        (err: unknown) => {
          observe(`Brokerage.${rpc}`, grpcStatusOf(err), (performance.now() - t0) / 1000);
          cb(toGrpcError(err, broker.domain) as grpc.ServiceError);
        },
      );
    };
  server.addService(B.service, {
    Advertise: handle<AdvertiseRequestMsg, unknown>('Advertise', async (r, caller) => broker.advertise(Buffer.from(r.signed_advert ?? []), !!r.withdrawal, caller)),
    Broker: handle<BrokerRequestMsg, BrokerReplyMsg>('Broker', async (r, caller) => {
      // who asks is checked before what is asked
      broker.allowed(caller, 'brokers agreements');
      const a = await broker.broker(requestFromMsg(r), caller);
      return { contract_json: JSON.stringify(a.contract), domains: a.path.domains, refused: a.refused.map((x) => `[${x.domains.join(' > ')}] ${x.reason}`) };
    }),
    Relay: handle<RelayRequestMsg, unknown>('Relay', async (r, caller) => statusToMsg(await broker.relay(r, caller))),
    RelaySync: handle<RelayRequestMsg, unknown>('RelaySync', async (r, caller) => syncToMsg(await broker.relaySync(r, caller))),
  });
}
