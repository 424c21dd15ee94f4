/**
 * The caps and tuning constants of the path search (the method is described in index.ts).
 */
import type { PathObjective } from '../types.js';

/** Caps of one search; see the module comment for what happens when they are hit. */
export interface PathSearchOptions {
  /** Settled labels kept per node. @default 64 */
  maxLabelsPerNode?: number;
  /** Settled labels in total. @default 250_000 */
  maxLabels?: number;
  /**
   * When to compute the jitter and loss lower bounds: `lazy` once the search has settled
   * more labels than 30 % of the nodes the price/latency bound searches settled (plus 32), then
   * restart with them; `eager` before the first label (the restart path, taken at once).
   * Same answers either way.
   * @default 'lazy'
   */
  lazyBounds?: 'lazy' | 'eager';
}

export const PATH_SEARCH_DEFAULTS: Required<PathSearchOptions> = {
  maxLabelsPerNode: 64,
  maxLabels: 250_000,
  lazyBounds: 'lazy',
};

export const EPS = 1e-9;
/** `dominatedIn` parent marker for the answer list: answers are complete, no completion can loop. */
export const RESULTS = -2;
/** Weight of the other metrics in the tie-break key of price objectives. */
export const TIE_WEIGHT = 1e-6;
/** The jitter and loss bound searches run once labels settled reach FACTOR x nodes the first bound searches settled, + MIN. */
export const LAZY_BOUND_FACTOR = 0.3;
export const LAZY_BOUND_MIN = 32;
/**
 * The up-front try of a jitter bound may settle FACTOR x nodes the latency bound search settled (the
 * price search's when there is none), + LAZY_BOUND_MIN. Not the price search's as well: on 100 domains
 * that doubled the try for price objectives and cost more than its pruning saved.
 */
export const EAGER_JITTER_FACTOR = 0.25;
/** Without a jitter (loss) bound, the lazy jitter (loss) bound search may settle FACTOR x nodes the first bound searches settled, + LAZY_BOUND_MIN. */
export const LOSS_BOUND_FACTOR = 0.25;
/** Include-domains (the first ones listed) that get include-aware lower bounds. */
export const INCLUDE_HEURISTIC_MAX = 4;
/** Label cap of the searches that check, on failure, whether include-domains alone are the cause. */
export const INCLUDE_CHECK_MAX_LABELS = 20_000;
export const OBJECTIVES: readonly PathObjective[] = ['cheapest', 'lowest-latency', 'balanced'];
