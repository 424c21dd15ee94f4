/**
 * Process control of the lab: running a command, whether a pid lives, finding
 * and ending the processes of a lab (by its state directory in their command
 * line), probing a TCP port.
 */
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { LabError } from './errors.js';

export function requireRoot(what: string): void {
  if (process.getuid?.() !== 0) {
    throw new LabError('QB_LAB_NEEDS_ROOT', `lab ${what} creates network namespaces and needs root; run it as root (sudo qos-broker lab ${what} FILE)`);
  }
}

/** Run a command; resolves with its output, rejects with a typed error on a non-zero exit. */
export function run(cmd: string, args: string[], input?: string, what?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const c = spawn(cmd, args, { stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    c.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    c.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    c.once('error', (e) => reject(new LabError('QB_LAB_COMMAND_FAILED', `${what ?? cmd}: cannot run ${cmd}: ${e.message}`, { cause: e })));
    c.once('close', (code) => {
      if (code === 0) resolve(out);
      else reject(new LabError('QB_LAB_COMMAND_FAILED', `${what ?? `${cmd} ${args.join(' ')}`} failed (exit ${code}): ${err.trim() || out.trim()}`));
    });
    if (input !== undefined) {
      c.stdin!.on('error', () => undefined); // an early exit is reported by its exit code
      c.stdin!.end(input);
    }
  });
}

/** Is the process running? A zombie (exited, not yet reaped by an init that never reaps) counts as gone. */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^\d+ \(.*\) [ZX]/s.test(stat);
  } catch {
    return false;
  }
}

export function cmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
  } catch {
    return '';
  }
}

/** Processes whose command line names the lab's state directory (sshd, netconfd, iperf3 of this lab). */
export function processesOfStateDir(dir: string): number[] {
  const pids: number[] = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e) || Number(e) === process.pid) continue;
    if (cmdline(Number(e)).includes(`${dir}/`)) pids.push(Number(e));
  }
  return pids;
}

export async function killAll(pids: number[]): Promise<void> {
  const alive = [...new Set(pids)].filter(pidAlive);
  for (const p of alive) {
    try {
      process.kill(p, 'SIGTERM');
    } catch {
      /* gone already */
    }
  }
  const end = Date.now() + 2000;
  while (alive.some(pidAlive) && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
  for (const p of alive.filter(pidAlive)) {
    try {
      process.kill(p, 'SIGKILL');
    } catch {
      /* gone already */
    }
  }
  while (alive.some(pidAlive) && Date.now() < end + 1000) await new Promise((r) => setTimeout(r, 20));
}

export function tcpOpen(host: string, port: number): Promise<boolean> {
  return new Promise((res) => {
    const s = connect({ host, port });
    const t = setTimeout(() => {
      s.destroy();
      res(false);
    }, 1000);
    s.once('connect', () => {
      clearTimeout(t);
      s.destroy();
      res(true);
    });
    s.once('error', () => {
      clearTimeout(t);
      res(false);
    });
  });
}
