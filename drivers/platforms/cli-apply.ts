/**
 * Apply and remove for CLI platforms (no candidate datastore to fall back
 * on): the undo lines are rendered with the apply lines, before anything is
 * sent; when an apply line fails, every undo line runs (each one best
 * effort: objects the failed apply never created make their undo line fail
 * harmlessly), so the device ends as it was. The channel is injected:
 * `exec` runs one line and reports its exit status and output (an SSH exec
 * channel for linux_tc, an interactive CLI channel for cisco_iosxr and
 * nokia_srlinux).
 */
import { ProvisioningError } from '../errors.js';
import type { CliPayload } from './types.js';

/** Runs one line on the device. `ok` false means the device refused it. */
export type CliExec = (line: string) => Promise<{ ok: boolean; output: string }>;

/** Lines that are comments for every CLI we render (`#`, `!`) are not sent. */
function isComment(line: string): boolean {
  return line.startsWith('#');
}

/** Run the apply lines; on the first failure run the undo lines and throw ProvisioningError naming the line. */
export async function applyCli(exec: CliExec, payload: CliPayload, device = 'device'): Promise<void> {
  for (const line of payload.apply) {
    if (isComment(line)) continue;
    let result: { ok: boolean; output: string };
    try {
      result = await exec(line);
    } catch (err) {
      result = { ok: false, output: (err as Error).message };
    }
    if (!result.ok) {
      const undoErrors = await runUndo(exec, payload);
      throw new ProvisioningError(
        'QB_PROVISION_CLI_LINE_FAILED',
        `${device} refused "${line}": ${result.output.trim() || 'no output'}; the undo lines were run${undoErrors.length ? ` (${undoErrors.length} of them failed, as expected for objects never created)` : ''}`,
      );
    }
  }
}

/** Run every undo line (best effort); returns the lines that failed. */
export async function runUndo(exec: CliExec, payload: CliPayload): Promise<string[]> {
  const failed: string[] = [];
  for (const line of payload.undo) {
    if (isComment(line)) continue;
    try {
      if (!(await exec(line)).ok) failed.push(line);
    } catch {
      failed.push(line);
    }
  }
  return failed;
}

/** Remove what apply installed: every undo line must succeed. */
export async function removeCli(exec: CliExec, payload: CliPayload, device = 'device'): Promise<void> {
  const failed = await runUndo(exec, payload);
  if (failed.length) throw new ProvisioningError('QB_PROVISION_CLI_UNDO_FAILED', `${device} refused ${failed.length} undo line(s) during remove, first: "${failed[0]}"; check the device by hand`);
}
