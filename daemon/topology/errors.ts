import { QosBrokerError } from '../../drivers/errors.js';

/** An advertisement is malformed or contradicts another one. Code `QB_TOPOLOGY_INVALID_ADVERTISEMENT`. */
export class TopologyError extends QosBrokerError {
  /** Origin of the offending advertisement, when known. */
  readonly origin: string | undefined;
  /** Dotted path of the offending field, e.g. `transits[2].classes.EF.loss`. */
  readonly field: string;
  constructor(origin: string | undefined, field: string, message: string) {
    super('QB_TOPOLOGY_INVALID_ADVERTISEMENT', `advertisement${origin ? ` of ${origin}` : ''}: ${field}: ${message}`);
    this.origin = origin;
    this.field = field;
  }
}

/** Why no path satisfies a request. `kind` mirrors the error code. */
export type InfeasibleReason =
  | {
      /** The class is not carried between the endpoints at all (whatever the rate and policy). */
      kind: 'no-route';
      qosClass: string;
    }
  | {
      /** Exclude/allowed-domains policy cuts every route; `blocking` are the domains that would be needed. */
      kind: 'policy';
      blocking: string[];
    }
  | {
      /** Not enough bandwidth: traffic cannot get past `pastDomain`. */
      kind: 'bandwidth';
      qosClass: string;
      rateMbps: number;
      /** Best achievable bottleneck (widest path) under the policy, Mbit/s. */
      bestMbps: number;
      /** Last domain reachable with enough bandwidth on the way to the destination. */
      pastDomain: string;
      /** The too-thin edges leaving the reachable part towards the destination (`a/b -> c/d`). */
      thinEdges: string[];
    }
  | {
      /** Included domains that no path with enough bandwidth can cross (alone, or all together). */
      kind: 'include';
      domains: string[];
    }
  | { kind: 'latency'; bestMs: number; boundMs: number }
  | { kind: 'jitter'; bestMs: number; boundMs: number }
  | { kind: 'loss'; best: number; bound: number }
  | {
      /** Each bound (and include) is achievable alone, but no single path meets all of them. */
      kind: 'bounds-jointly';
      best: { latencyMs: number; jitterMs: number; loss: number };
    }
  | {
      /** The search stopped at its label cap before finding any feasible path. */
      kind: 'search-limit';
      maxLabels: number;
    };

const CODES: Record<InfeasibleReason['kind'], string> = {
  'no-route': 'QB_PATH_NO_ROUTE',
  policy: 'QB_PATH_POLICY',
  bandwidth: 'QB_PATH_NO_BANDWIDTH',
  include: 'QB_PATH_INCLUDE_UNREACHABLE',
  latency: 'QB_PATH_LATENCY_BOUND',
  jitter: 'QB_PATH_JITTER_BOUND',
  loss: 'QB_PATH_LOSS_BOUND',
  'bounds-jointly': 'QB_PATH_BOUNDS_JOINTLY',
  'search-limit': 'QB_PATH_SEARCH_LIMIT',
};

/** No path satisfies the request; `reason` says which bound failed and where. */
export class PathInfeasibleError extends QosBrokerError {
  readonly reason: InfeasibleReason;
  constructor(reason: InfeasibleReason, message: string) {
    super(CODES[reason.kind], message);
    this.reason = reason;
  }
}
