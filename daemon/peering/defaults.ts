/** Defaults of PeeringCore's options (PeeringOptions documents each), read by the core and the config schema. */
export const PEERING_DEFAULTS = {
  holdTimeS: 90,
  readvertiseThreshold: 0.1,
  readvertiseMinIntervalMs: 1000,
  pollIntervalMs: 1000,
  registrationTtlMs: 300_000,
} as const;
