/**
 * Failpoints: named places in the order path where a daemon can be made to
 * die on purpose (SIGKILL, no clean-up), right after the step before it was
 * persisted, so tests can check that a restart finishes or rolls back every
 * order. Armed only by the environment variable QOS_BROKER_FAILPOINTS (a
 * comma-separated list of names), read once at start; unarmed they cost a
 * set lookup.
 *
 * Names: workflow:reserved (holds made everywhere, before Commit),
 * workflow:committed (contract signed, before provisioning),
 * provisioning:prepared (every device of a segment at a verified confirmed
 * commit, before the confirmations), provisioning:prepared-batch (the same, only in a
 * transaction that carries several segments), provisioning:active (segment active, before the reply);
 * at a provider asked by another (a transit or the last domain): agreement:reserved (its
 * hold made for the caller, before the reply), agreement:committed (its booking committed
 * and recorded, before the reply), agreement:relay-commit (a relay about to hand a Commit
 * on). Test-only relay behaviours are armed the same way and read with failpointArmed:
 * agreement:relay-tamper-quote, agreement:relay-tamper-signature.
 */
const armed = new Set((process.env.QOS_BROKER_FAILPOINTS ?? '').split(',').map((s) => s.trim()).filter(Boolean));

export function failpoint(name: string): void {
  if (armed.has(name)) process.kill(process.pid, 'SIGKILL');
}

/** Whether a failpoint is armed (for test-only behaviours that do not kill the process). */
export function failpointArmed(name: string): boolean {
  return armed.has(name);
}
