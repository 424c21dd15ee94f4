/**
 * What the bench tests share: running a compiled bench as `npm run bench`
 * does (a child process), and finding what it left behind.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';

// the benches' TMPDIR: their temp dirs and processes are told apart from another run's on this machine
const benchTmp = mkdtempSync(join(tmpdir(), 'qb-bt-'));
afterAll(() => rmSync(benchTmp, { recursive: true, force: true }));
/** The environment a bench runs in (its own TMPDIR). */
export const benchEnv: NodeJS.ProcessEnv = { ...process.env, TMPDIR: benchTmp };

/** Run a compiled bench script; its exit code, its output and the JSON object of its last line. */
export function runBench(script: string, args: string[]): Promise<{ code: number | null; out: string; last: Record<string, any> }> {
  return new Promise((res, rej) => {
    const p = spawn(process.execPath, [script, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: benchEnv });
    let out = '';
    p.stdout.on('data', (c: Buffer) => (out += c.toString()));
    p.stderr.on('data', (c: Buffer) => (out += c.toString()));
    p.on('error', rej);
    p.on('close', (code) => {
      const line = out.trim().split('\n').at(-1) ?? '';
      try {
        res({ code, out, last: JSON.parse(line) as Record<string, any> });
      } catch {
        rej(new Error(`the bench's last line is not JSON (exit ${code}):\n${out.slice(-2000)}`));
      }
    });
  });
}

/** Temp dirs whose name starts with `prefix`. */
export const benchDirs = (prefix: string): string[] => readdirSync(benchTmp).filter((f) => f.startsWith(prefix));

/** Processes whose command line names `prefix` (a bench dir: its daemons' configs, their redis-servers' sockets...). */
export function benchProcesses(prefix: string): string[] {
  const found: string[] = [];
  for (const pid of readdirSync('/proc').filter((f) => /^\d+$/.test(f))) {
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
      if (cmd.includes(`${benchTmp}/${prefix}`)) found.push(`${pid} ${cmd}`);
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

/** The processes matching `prefix` not in `before`, after waiting a little for them to end (a redis-server may outlive its daemon by a moment). */
export async function leftBehind(prefix: string, before: Set<string>): Promise<string[]> {
  let left = benchProcesses(prefix).filter((p) => !before.has(p));
  for (let i = 0; i < 50 && left.length > 0; i++) {
    await new Promise((r) => setTimeout(r, 100));
    left = benchProcesses(prefix).filter((p) => !before.has(p));
  }
  return left;
}
