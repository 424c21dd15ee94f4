/**
 * The caps of the path search (the method is described in index.ts).
 */

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
