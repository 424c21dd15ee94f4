/**
 * Defaults of the agreement's options, read by the coordinator, the order
 * desk, the Agreement client and service, and the config schema (the
 * `agreement` section), so each number is written once.
 */
import { STORE_DEFAULTS } from '../state/store.js';

export const AGREEMENT_DEFAULTS = {
  /** How long holds live before Commit must come, ms: the store's own default hold. */
  holdTtlMs: STORE_DEFAULTS.holdTtlMs,
  /** Deadline of each Agreement call to a peer, ms. */
  callTimeoutMs: 5000,
  /** Extra attempts of an idempotent call (Reserve, Commit, Abort) whose broker was unreachable. */
  retries: 1,
  /** Time each hop of a chained call keeps for its reply to travel back, ms (daemon/agreement/chain.ts). */
  chainHopMarginMs: 50,
  /** How often expired holds are swept, ms. */
  sweepIntervalMs: 1000,
} as const;
