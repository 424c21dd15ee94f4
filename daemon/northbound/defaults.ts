/**
 * Defaults of the northbound API's options, read by the config schema (the
 * `northbound` section) and the server, so each number is written once.
 */
export const NORTHBOUND_DEFAULTS = {
  /** Largest request body accepted, bytes. */
  bodyLimitBytes: 65_536,
  /** Requests per second per API key on average (token bucket refill). */
  rateLimitPerS: 50,
  /** Requests an API key may make at once (bucket size). */
  rateLimitBurst: 100,
  /** How long an Idempotency-Key of a POST is remembered, s. */
  idempotencyTtlS: 86_400,
  /** Deadline of one hub callback delivery, ms. */
  hubTimeoutMs: 5000,
} as const;
