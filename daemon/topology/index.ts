/** The advertised multi-domain graph and path computation over it. */
export * from './types.js';
export { TopologyError, PathInfeasibleError, type InfeasibleReason } from '../errors.js';
export { TopologyGraph, buildTopology, nodeId, type ClassGraph } from './graph.js';
export { computePaths, shortestLatency, PATH_SEARCH_DEFAULTS, type PathSearchOptions } from './paths/index.js';
