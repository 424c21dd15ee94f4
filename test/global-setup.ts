/**
 * Once per test run. Teardown: the port claims of test workers that were
 * stopped without running their exit handlers (lab/netconf-device.ts
 * freePorts) are removed, so a run leaves no claim behind.
 */
import { sweepStaleClaims } from '../lab/netconf-device.js';

export function teardown(): void {
  sweepStaleClaims();
}
