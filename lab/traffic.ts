/**
 * Traffic between lab nodes: iperf3 from one node's namespace to another's.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { InvalidArgumentError } from '../drivers/errors.js';
import { LabError } from './errors.js';
import { nodeOf, requireNetns } from './netns.js';
import { requireRoot, run } from './process.js';
import { labStateDir, resolveLabPlan, type LabOptions } from './state.js';

/** Options of one traffic measurement. */
export interface TrafficOptions {
  /** Sending node (usually a host). */
  from: string;
  /** Receiving node; its first data address is the target. */
  to: string;
  /** DSCP of the packets (0..63). @default 0 */
  dscp?: number;
  /** Duration in seconds. @default 3 */
  seconds?: number;
  /** iperf3 server port inside the receiving namespace. @default 5201 */
  port?: number;
}

export interface TrafficResult {
  from: string;
  to: string;
  toAddress: string;
  dscp: number;
  seconds: number;
  /** Rate the receiver measured, in bit/s. */
  receivedBitsPerSecond: number;
  /** Rate the sender measured, in bit/s. */
  sentBitsPerSecond: number;
  retransmits?: number;
}

/** Measure TCP throughput from one node to another with iperf3 (server in `to`, client in `from`). */
export async function labTraffic(file: string, t: TrafficOptions, options: LabOptions = {}): Promise<TrafficResult> {
  requireRoot('traffic');
  const plan = resolveLabPlan(file, options);
  const dscp = t.dscp ?? 0;
  const seconds = t.seconds ?? 3;
  const port = t.port ?? 5201;
  if (!Number.isInteger(dscp) || dscp < 0 || dscp > 63) throw new InvalidArgumentError(`--dscp must be an integer 0..63, got ${t.dscp}`);
  if (!(seconds > 0 && seconds <= 600)) throw new InvalidArgumentError(`--seconds must be between 0 and 600, got ${t.seconds}`);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new InvalidArgumentError(`port must be 1..65535, got ${t.port}`);
  const from = nodeOf(plan, t.from);
  const to = nodeOf(plan, t.to);
  if (from.name === to.name) throw new InvalidArgumentError('--from and --to must be different nodes');
  if (!to.interfaces.length) throw new InvalidArgumentError(`node ${to.name} has no data interface to receive traffic on`);
  await requireNetns(plan, from);
  await requireNetns(plan, to);
  const toAddress = to.interfaces[0]!.cidr.split('/')[0]!;
  const dir = labStateDir(plan, options);
  const runDir = join(dir, 'traffic');
  mkdirSync(runDir, { recursive: true });
  // the state dir in the server's arguments marks it as the lab's, so down finds it after a crash
  const pidFile = join(runDir, `iperf3-${to.name}-${port}.pid`);
  const server = spawn('ip', ['netns', 'exec', to.netns, 'iperf3', '-s', '-1', '-B', toAddress, '-p', String(port), '-I', pidFile], { stdio: ['ignore', 'pipe', 'pipe'] });
  let serverOut = '';
  server.stdout.on('data', (d: Buffer) => (serverOut += d.toString()));
  server.stderr.on('data', (d: Buffer) => (serverOut += d.toString()));
  try {
    const end = Date.now() + 5000;
    for (;;) {
      const listening = await run('ip', ['netns', 'exec', to.netns, 'ss', '-Hltn', `sport = :${port}`]).catch(() => '');
      if (listening.trim()) break;
      if (server.exitCode !== null || Date.now() > end) {
        throw new LabError('QB_LAB_TRAFFIC_FAILED', `iperf3 server in ${to.name} did not start on ${toAddress}:${port}: ${serverOut.trim()}`);
      }
      await new Promise((r) => setTimeout(r, 20));
    }
    const args = ['netns', 'exec', from.netns, 'iperf3', '-c', toAddress, '-p', String(port), '-t', String(seconds), '-J', '--connect-timeout', '3000'];
    if (dscp) args.push('-S', String(dscp << 2));
    let out: string;
    try {
      out = await run('ip', args, undefined, `iperf3 from ${from.name} to ${to.name}`);
    } catch (err) {
      const msg = (err as Error).message;
      throw new LabError('QB_LAB_TRAFFIC_FAILED', `no traffic from ${from.name} to ${to.name} (${toAddress}): ${msg}`, { cause: err });
    }
    const j = JSON.parse(out) as { error?: string; end?: { sum_received?: { bits_per_second: number }; sum_sent?: { bits_per_second: number; retransmits?: number } } };
    if (j.error || !j.end?.sum_received) throw new LabError('QB_LAB_TRAFFIC_FAILED', `iperf3 from ${from.name} to ${to.name} failed: ${j.error ?? 'no result'}`);
    return {
      from: from.name,
      to: to.name,
      toAddress,
      dscp,
      seconds,
      receivedBitsPerSecond: j.end.sum_received.bits_per_second,
      sentBitsPerSecond: j.end.sum_sent?.bits_per_second ?? 0,
      retransmits: j.end.sum_sent?.retransmits,
    };
  } finally {
    if (server.exitCode === null && server.signalCode === null) {
      await new Promise<void>((r) => {
        const k = setTimeout(() => server.kill('SIGKILL'), 2000);
        server.once('exit', () => {
          clearTimeout(k);
          r();
        });
        server.kill('SIGTERM');
      });
    }
    rmSync(pidFile, { force: true });
  }
}
