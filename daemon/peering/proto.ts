/**
 * Loads daemon/proto at run time with @grpc/proto-loader (no code generation).
 * The TypeScript interfaces below mirror qosbroker/v1/peering.proto and
 * grpc/health/v1/health.proto as proto-loader delivers them (keepCase: field
 * names as in the .proto, longs as numbers, enums as strings, oneofs set).
 */
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

/** Mirrors qosbroker.v1.Open. */
export interface OpenMsg {
  domain_id: string;
  broker_id: string;
  public_key: string;
  capabilities: string[];
  hold_time_s: number;
}
/** Mirrors qosbroker.v1.Notification. */
export interface NotificationMsg {
  code: string;
  message: string;
  close: boolean;
  reason?: string;
  origin?: string;
}
/** Mirrors qosbroker.v1.PeerFrame; `kind` names the set field. */
export interface PeerFrame {
  open?: OpenMsg;
  keepalive?: Record<string, never>;
  advertisement?: { signed_advert: Buffer };
  withdrawal?: { signed_advert: Buffer };
  notification?: NotificationMsg;
  kind?: 'open' | 'keepalive' | 'advertisement' | 'withdrawal' | 'notification';
}
/** Mirrors qosbroker.v1.DomainInfo. */
export interface DomainInfoMsg {
  domain_id: string;
  broker_id: string;
  public_key: string;
  peering_address: string;
  borders: string[];
}
/** Mirrors qosbroker.v1.ServiceInfo. */
export interface ServiceInfoMsg {
  classes: string[];
  sites: string[];
  currency: string;
  price_per_mbps_hour: Record<string, number>;
}
/** Mirrors qosbroker.v1.Registration. */
export interface RegistrationMsg {
  domain?: DomainInfoMsg;
  service?: ServiceInfoMsg;
  registered_at_ms?: number;
  expires_at_ms?: number;
  removed?: boolean;
}

/** Where the .proto files are: daemon/proto in the source tree (also when running from dist/). */
export function protoDir(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const candidates = [resolve(here, '../proto'), resolve(here, '../../../daemon/proto')];
  for (const c of candidates) if (existsSync(join(c, 'qosbroker/v1/peering.proto'))) return c;
  throw new Error(`cannot find daemon/proto (looked in ${candidates.join(', ')})`);
}

export interface LoadedProtos {
  peering: grpc.ServiceClientConstructor;
  registry: grpc.ServiceClientConstructor;
  health: grpc.ServiceClientConstructor;
}

let cached: LoadedProtos | undefined;

/** The three services, loaded once. */
export function loadProtos(): LoadedProtos {
  if (cached) return cached;
  const dir = protoDir();
  const def = protoLoader.loadSync(['qosbroker/v1/peering.proto', 'grpc/health/v1/health.proto'], {
    includeDirs: [dir],
    keepCase: true,
    longs: Number,
    enums: String,
    defaults: true,
    oneofs: true,
  });
  const pkg = grpc.loadPackageDefinition(def) as unknown as {
    qosbroker: { v1: { Peering: grpc.ServiceClientConstructor; Registry: grpc.ServiceClientConstructor } };
    grpc: { health: { v1: { Health: grpc.ServiceClientConstructor } } };
  };
  cached = { peering: pkg.qosbroker.v1.Peering, registry: pkg.qosbroker.v1.Registry, health: pkg.grpc.health.v1.Health };
  return cached;
}
