/**
 * The live resource store of one domain: capacity per link and QoS class,
 * usage per link/class/time slot, and reservations that are first held (with
 * an expiry) and then committed (booked), released or aborted.
 *
 * Time is cut into fixed slots of `slotMs`; a reservation for [start, end)
 * occupies every slot that the window touches, so advance reservations
 * ("from 14:00 for 2 hours") are admitted against exactly the slots they use
 * and can never overbook one. Rates and capacities are integers in bit/s;
 * times are integers in ms since the Unix epoch.
 *
 * The Redis implementation is daemon/state/redis-store.ts.
 */
import type { CapacityShortfall } from '../errors.js';

/** Defaults of the resource store's options (RedisStoreOptions documents each). */
export const STORE_DEFAULTS = {
  slotMs: 60_000,
  holdTtlMs: 30_000,
  tombstoneMs: 86_400_000,
  maxSlots: 10_080,
  keyPrefix: 'qb',
} as const;

export type { CapacityShortfall };

/** What a reservation asks for. */
export interface ReservationRequest {
  /**
   * Caller-chosen id, unique per domain (e.g. the agreement id plus the segment).
   * Reserve is idempotent by id: a retried reserve with the same request does
   * not book twice, and an id that was released, aborted or expired cannot be
   * booked again. Letters, digits and `._:/@-`, at most 128 characters.
   */
  id: string;
  /** Links of the domain that the reservation crosses, each at most once. */
  links: string[];
  /** QoS class, e.g. `ef`, `af41`, `be`. */
  cls: string;
  /** Rate in bit/s, a positive integer. */
  rateBps: number;
  /** Window start, ms since the epoch (or a Date). */
  start: number | Date;
  /** Window end (exclusive), after start. */
  end: number | Date;
  /** How long the hold lives unless committed. @default the store's holdTtlMs */
  holdTtlMs?: number;
  /**
   * What the holder needs to act on the reservation later, from any replica or
   * after a restart: stored with the booking in the same atomic step and
   * returned by get() and agreement(). With it, `links` may be empty: a record
   * that books nothing (a party to an agreement with no edge of its own to hold).
   */
  meta?: ReservationMetadata;
}

/** The quote a hold was given, as stored with it. */
export interface HoldQuote {
  /** Price in minor units (cents) of `currency`. */
  priceMinor: number;
  currency: string;
  /** Honoured until then, ms since the epoch. */
  validUntil: number;
}

/** The order (one segment of an agreement) a hold belongs to, as stored with it. */
export interface HoldOrder {
  agreementId: string;
  /** Alternative path of the agreement (0 = best). */
  alternative: number;
  /** Index of the segment on the path. */
  index: number;
  ingress: string;
  egress: string;
  qosClass: string;
  rateMbps: number;
  /** Window, ms since the epoch. */
  start: number;
  end: number;
}

/** Metadata of a reservation (ReservationRequest.meta). */
export interface ReservationMetadata {
  /**
   * Who holds it (the caller's domain). Reserve refuses, with
   * `QB_STATE_OWNER_CONFLICT`, a reservation whose agreement already has live
   * reservations of another owner; the claim is atomic across replicas.
   */
  owner: string;
  /** The order it belongs to; `order.agreementId` is what agreement() indexes it under (same characters as an id). */
  order: HoldOrder;
  /**
   * The quote given for it. A retried reserve of a live hold replaces it (the
   * caller was given a new quote); once committed it no longer changes.
   */
  quote?: HoldQuote;
}

/** Options of commit(). */
export interface CommitOptions {
  /**
   * Commit only if the reservation's agreement index holds exactly this many
   * ids (live and expired; aborted ones leave it), else throw
   * `QB_STATE_AGREEMENT_CHANGED` and change nothing: a caller acting on a
   * cached view of the agreement learns that another replica changed it. Not
   * checked for a booking whose index is gone (agreementTtlMs passed).
   */
  expectAgreementSize?: number;
  /**
   * Keep the agreement index for this long after the commit, ms (a retried
   * commit restarts it); then agreement() no longer finds it, while the
   * booking itself stays until its window is over. @default unchanged
   */
  agreementTtlMs?: number;
}

/** An agreement whose holds expired without a commit (takeAbandoned()). */
export interface AbandonedAgreement {
  agreementId: string;
  /** Its reservations (expired ones carry holdExpiresAt: when they ran out). */
  reservations: Reservation[];
}

/** State of a reservation; `expired`, `released` and `aborted` are tombstones that stop an id being reused. */
export type ReservationState = 'held' | 'committed' | 'released' | 'aborted' | 'expired';

/** A reservation as the store keeps it. */
export interface Reservation {
  id: string;
  state: ReservationState;
  links: string[];
  cls: string;
  rateBps: number;
  /** Window as requested. */
  start: number;
  end: number;
  /** Slot-aligned window that is actually occupied: [slotStart, slotEnd). */
  slotStart: number;
  slotEnd: number;
  /** When the hold expires (held), or expired (expired, while the tombstone lasts), ms since the epoch, by the Redis clock. */
  holdExpiresAt?: number;
  /** What the request carried as ReservationRequest.meta (the latest quote of a retried reserve). */
  meta?: ReservationMetadata;
}

/** Outcome of reserve(): admitted (a hold exists) or rejected (nothing changed). */
export type ReserveResult =
  | {
      admitted: true;
      reservation: Reservation;
      /** True when this id was already held or committed with the same request (a retry). */
      duplicate: boolean;
    }
  | {
      admitted: false;
      /** Per link that lacks room, its first slot without room and how much is missing there. */
      shortfalls: CapacityShortfall[];
    };

/** Capacity of one link for one class. */
export interface LinkCapacity {
  link: string;
  cls: string;
  capacityBps: number;
}

/** Usage of one link/class in one slot. */
export interface SlotUsage {
  slotStart: number;
  slotEnd: number;
  usedBps: number;
}

/** Utilisation of one link/class in the slot containing a given time. */
export interface LinkUtilisation extends LinkCapacity {
  slotStart: number;
  usedBps: number;
  /** usedBps / capacityBps (0 when the capacity is 0 and nothing is used). */
  utilisation: number;
}

/** Result of release() and abort(): the state before the call; `changed` says if capacity was returned. */
export interface CloseResult {
  id: string;
  previous: ReservationState | 'unknown';
  changed: boolean;
}

/** The one interface of the live resource state. */
export interface ResourceStore {
  /** Domain this store belongs to. */
  readonly domain: string;
  /** Slot length in ms. */
  readonly slotMs: number;

  /** Set (or change) the capacity of a link for a class. Existing bookings are kept even if they now exceed it. */
  setCapacity(link: string, cls: string, capacityBps: number): Promise<void>;
  /** Every configured link/class capacity. */
  capacities(): Promise<LinkCapacity[]>;

  /**
   * Admit or reject atomically: holds `rateBps` on every slot of every link
   * only if all have room, otherwise changes nothing and says what is missing.
   * Throws ResourceStoreError for an unknown link or class, an id reused with
   * another request, an id already closed, a window already over, or an
   * agreement of another owner (`QB_STATE_OWNER_CONFLICT`, see
   * ReservationMetadata.owner); InvalidArgumentError for a malformed request.
   * With `meta`, the reservation is also added to its agreement's index.
   */
  reserve(request: ReservationRequest): Promise<ReserveResult>;
  /** Turn a live hold into a booking. Idempotent; throws `QB_STATE_HOLD_EXPIRED` if the hold ran out. */
  commit(id: string, options?: CommitOptions): Promise<Reservation>;
  /** Give back a held or committed reservation. Idempotent. */
  release(id: string): Promise<CloseResult>;
  /**
   * Drop a hold (two-phase abort). Idempotent; aborting an id never seen leaves
   * a tombstone so that a late reserve with that id is refused. Refuses a
   * committed reservation (use release). Release and abort take the id out of
   * its agreement's index.
   */
  abort(id: string): Promise<CloseResult>;
  /** The reservation with this id, including tombstones while they last. */
  get(id: string): Promise<Reservation | undefined>;
  /**
   * Every reservation in an agreement's index (reserved with meta for it and
   * not released or aborted since), with its metadata; `[]` once the index is
   * gone (see CommitOptions.agreementTtlMs). One round trip.
   */
  agreement(agreementId: string): Promise<Reservation[]>;
  /**
   * Agreements with a hold (reserved with meta) that expired without a commit
   * since they were last taken: each agreement once, across every replica of
   * the domain (the first to take it gets it). Expires due holds first.
   * Returns them and how many holds this call expired.
   */
  takeAbandoned(max?: number): Promise<{ expired: number; agreements: AbandonedAgreement[] }>;

  /** Usage of one link/class for every slot of [start, end). */
  usage(link: string, cls: string, start: number | Date, end: number | Date): Promise<SlotUsage[]>;
  /** Utilisation of every link/class in the slot containing `at` (default: now by the store's clock). */
  utilisation(at?: number | Date): Promise<LinkUtilisation[]>;
  /** Return the capacity of every expired hold now; the store also does this lazily on every operation. Returns how many. */
  sweepExpired(): Promise<number>;

  /** Close connections the store opened itself. */
  close(): Promise<void>;
}
