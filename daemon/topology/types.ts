/**
 * Shapes of the advertised multi-domain topology and of path requests.
 *
 * A `DomainAdvertisement` is the plain content one provider advertises about its
 * domain. The envelope that makes it trustworthy (sequence number, issue and expiry
 * times, Ed25519 signature of the origin) belongs to peering, which signs and floods
 * it; nothing here depends on that envelope.
 */

/** A QoS class name as advertised, e.g. `EF`, `AF41`, `AF21`, `BE`. Case-sensitive. */
export type QosClass = string;

/** What one directed edge (transit or inter-domain link) offers in one QoS class. */
export interface ClassMetrics {
  /** Bandwidth still available for new reservations in this class, Mbit/s. */
  availableMbps: number;
  /**
   * Bandwidth of this class on the edge, Mbit/s; pricing derives utilisation from it.
   * @default availableMbps (an edge with nothing reserved yet)
   */
  capacityMbps?: number;
  /** One-way latency, milliseconds (additive along a path). */
  latencyMs: number;
  /** Jitter, milliseconds (additive along a path: a conservative bound). */
  jitterMs: number;
  /** Packet loss as a fraction in [0, 1) (a path delivers the product of (1 - loss)). */
  loss: number;
}

/** Per-class metrics keyed by class name. A class missing here is not offered on the edge. */
export type ClassTable = Record<QosClass, ClassMetrics>;

/** A customer site attached to one or more borders of the advertising domain. */
export interface SiteAttachment {
  /** Site id, unique within the domain, e.g. `paris-dc1`. */
  id: string;
  /** Borders the site is attached to (a request from the site may start at any of them). */
  borders: string[];
  /**
   * The site's address prefixes (IPv4 or IPv6 CIDR): a service from or to the site carries the
   * packets from or to them, and every provider's policy classifies by them.
   * @default none (a service carries every packet on its interfaces)
   */
  prefixes?: string[];
}

/** Carriage inside the advertising domain from one of its borders to another. */
export interface TransitAdvertisement {
  /** Ingress border id. */
  from: string;
  /** Egress border id. */
  to: string;
  /**
   * Also offer the reverse direction (to -> from) with the same metrics.
   * @default false
   */
  bidirectional?: boolean;
  classes: ClassTable;
}

/**
 * A link from one of the advertising domain's borders to a border of a peer domain,
 * in the egress direction (this domain -> peer). The peer advertises the other direction.
 * A link whose peer domain or border is not (yet) advertised is ignored.
 */
export interface InterDomainLinkAdvertisement {
  /** Local border id. */
  border: string;
  peerDomain: string;
  peerBorder: string;
  classes: ClassTable;
}

/** What the domain charges for carrying traffic, per class. */
export interface PriceSchedule {
  /** ISO 4217 code, e.g. `EUR`. All domains on a priced path must use the same currency. */
  currency: string;
  /**
   * Price per Mbit/s per hour, per class. The domain charges it once for each segment
   * (entry to exit) a path has in the domain. A class without a price is not sold:
   * the domain carries nothing of it.
   */
  perMbpsHour: Record<QosClass, number>;
}

/** The content of one domain's advertisement (plain data; signed and flooded by peering). */
export interface DomainAdvertisement {
  /** Origin domain id, e.g. `AS64500` or `provider-x`. No `/` (node ids are `domain/border`). */
  origin: string;
  /** Border router ids of the domain. No `/`. */
  borders: string[];
  /** Customer sites and the borders they attach to. @default [] */
  sites?: SiteAttachment[];
  /** Intra-domain carriage between pairs of borders, per class. */
  transits: TransitAdvertisement[];
  /** Egress links to peer domains, per class. */
  links: InterDomainLinkAdvertisement[];
  prices: PriceSchedule;
}

/** Where a path starts or ends: a border of a domain, or a site (any of its borders). */
export interface Endpoint {
  domain: string;
  /** Border id in `domain`. Exactly one of `border` and `site` must be given. */
  border?: string;
  /** Site id in `domain`. */
  site?: string;
}

/**
 * How alternatives are ranked (smaller score first):
 * - `cheapest`: advertised price per Mbit/s-hour of the path;
 * - `lowest-latency`: end-to-end latency;
 * - `balanced`: price / cheapest achievable price + latency / lowest achievable latency,
 *   both achievable values taken over paths with the bandwidth and policy of the request
 *   (a path as cheap as the cheapest and as fast as the fastest scores 2).
 */
export type PathObjective = 'cheapest' | 'lowest-latency' | 'balanced';

/** A request for paths across the advertised graph. */
export interface PathRequest {
  from: Endpoint;
  to: Endpoint;
  qosClass: QosClass;
  /** Rate to carry, Mbit/s; every edge of the path must have this much available in the class. */
  rateMbps: number;
  /** Upper bound on end-to-end latency, ms. @default unbounded */
  maxLatencyMs?: number;
  /** Upper bound on end-to-end jitter, ms. @default unbounded */
  maxJitterMs?: number;
  /** Upper bound on end-to-end loss, fraction in [0, 1). @default unbounded */
  maxLoss?: number;
  /** Domains the path must cross (at most 30). @default [] */
  includeDomains?: string[];
  /** Domains the path must not touch. @default [] */
  excludeDomains?: string[];
  /**
   * Agreements policy: the only domains the path may touch (the requester has agreements
   * with them). The endpoints' domains must be in it. @default every advertised domain
   */
  allowedDomains?: string[];
  /** @default 'cheapest' */
  objective?: PathObjective;
  /** How many alternatives to return, 1..64. @default 3 */
  k?: number;
}

/** One directed edge of a computed path. */
export interface PathHop {
  /** `domain/border` node ids. */
  from: string;
  to: string;
  kind: 'transit' | 'link';
  metrics: ClassMetrics;
}

/** A maximal run of a path inside one domain. */
export interface PathSegment {
  domain: string;
  /** Border where the path enters the domain (its first border for the source domain). */
  ingress: string;
  /** Border where it leaves (its last border for the destination domain). */
  egress: string;
  /** Hops inside the segment plus the link leaving it (if any). */
  hops: PathHop[];
}

/** End-to-end metrics of a path. */
export interface PathMetrics {
  /** Sum of the schedules of the domains crossed (once per segment), per Mbit/s-hour. */
  pricePerMbpsHour: number;
  latencyMs: number;
  jitterMs: number;
  /** 1 - product of (1 - loss) over the hops. */
  loss: number;
  /** Smallest available bandwidth in the class along the path, Mbit/s. */
  bottleneckMbps: number;
}

/** One feasible alternative. */
export interface ComputedPath {
  /** Node ids `domain/border` from source to destination. */
  nodes: string[];
  hops: PathHop[];
  segments: PathSegment[];
  /** Domains crossed in order (a domain appears again if the path re-enters it). */
  domains: string[];
  metrics: PathMetrics;
  /** Value of the objective (smaller is better). */
  score: number;
}

/** Result of a path computation. */
export interface PathResult {
  /** Alternatives ranked best first; never empty (an infeasible request throws). */
  paths: ComputedPath[];
  objective: PathObjective;
  /**
   * True when the search ran to completion: `paths` are then exactly the best
   * non-dominated feasible alternatives. False when a label cap was hit (see `stats`).
   */
  exact: boolean;
  stats: {
    labelsCreated: number;
    labelsSettled: number;
    /** Labels dropped because their node already held `maxLabelsPerNode`. */
    labelsDroppedAtCap: number;
    /** The search stopped at `maxLabels`. */
    hitTotalCap: boolean;
  };
  /** For `balanced`: the normalisers used (cheapest price and lowest latency achievable). */
  balanceReference?: { pricePerMbpsHour: number; latencyMs: number };
}
