/**
 * One CLI line per SSH exec channel, for Linux-shell devices (linux_tc lab
 * routers). The line's exit status is printed by the shell after it and read
 * back from the output, rather than taken from the SSH exit-status request:
 * OpenSSH 9.2 in the lab sometimes closed an exec channel without one (about
 * one line in twenty under load), which made a succeeded `tc filter del`
 * look refused.
 */
import { ProtocolError } from '../errors.js';
import type { SshTransport } from '../ssh/transport.js';

const MARK = '__qb_rc=';

/** Result of one line: `ok` when it exited 0; `output` is stdout then stderr. */
export interface LineResult {
  ok: boolean;
  code: number;
  output: string;
}

/** Run one shell line on the device; throws ProtocolError when the status marker is missing. */
export async function execLine(transport: SshTransport, line: string, timeoutMs = 30_000): Promise<LineResult> {
  const r = await transport.exec(`${line}\nprintf '\\n${MARK}%d\\n' "$?"`, timeoutMs);
  const at = r.stdout.lastIndexOf(`\n${MARK}`);
  const m = at >= 0 ? /^\n__qb_rc=(\d+)\n?$/.exec(r.stdout.slice(at)) : null;
  if (!m) {
    throw new ProtocolError('QB_CLI_NO_STATUS', `${transport.label} gave no exit status for "${line}" (output: ${(r.stdout + r.stderr).trim().slice(0, 200) || 'none'})`);
  }
  const code = Number(m[1]);
  return { ok: code === 0, code, output: r.stdout.slice(0, at) + r.stderr };
}
