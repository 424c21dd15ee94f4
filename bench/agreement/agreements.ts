/**
 * bench/agreement, agreements part: whole agreements (path, Quote, Reserve,
 * Commit on every provider, signed contract) per second and their latency,
 * with 50 orders in flight, across three qos-brokerd processes on loopback
 * (dom-a -> dom-b -> dom-c, mutual TLS, an embedded redis-server each). Orders
 * go to dom-a's admin endpoint (POST /v1/order), whose coordinator reaches
 * dom-b and dom-c over the Agreement gRPC service.
 *
 * Reference, same run, interleaved rounds: the raw gRPC unary round-trip rate
 * (grpc.health.v1.Health/Check to dom-b over the same kind of mTLS channel,
 * the same concurrency). One agreement costs 4 remote calls in 2 sequential
 * phases (Reserve with its Quote, then Commit, at dom-b and dom-c, on one
 * Exchange stream per peer) plus the order's HTTP request, Redis and signing.
 *
 * Then the target as a service level: 300 orders/s offered as seeded Poisson
 * arrivals, at most 50 in flight, latency from when each order was due, timed
 * for 8 s after an untimed 2 s lead-in at the same rate (the steady state, not
 * the aftermath of the saturated closed loop before it). With
 * 50 in flight in a closed loop the p99 cannot be under 50 / rate (Little's
 * law), so that figure is reported as measured, not as the target.
 *
 * Usage: node dist/bench/agreement/agreements.js [--concurrency 50] [--rounds 3] [--seconds 4] [--offered 300]
 * Last line: one JSON object.
 */
import { execFileSync } from 'node:child_process';
import { Agent, request } from 'node:http';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import { loadProtos } from '../../daemon/peering/proto.js';
import { clientCredentials } from '../../daemon/peering/tls.js';
import { makePki, type TestPki } from '../../lab/pki.js';
import { clusterAddresses, converged, DOMAINS, domainConfig, median, ownedDirs, quantile, round, spawnDaemon, stopDaemons, type BenchDaemon } from '../daemons.js';
import { prng } from '../prng.js';

/** The target rate, offered open-loop to measure latency at it. */
const TARGET_PER_S = 300;

export interface AgreementsResult {
  bench: 'agreement-agreements';
  concurrency: number;
  agreements: number;
  failed: number;
  agreements_per_s: number;
  p50_ms: number;
  p99_ms: number;
  grpc_unary_per_s: number;
  grpc_unary_p99_ms: number;
  /** Median over rounds of agreements/s divided by gRPC unary calls/s. */
  ratio_vs_grpc_unary: number;
  /** CPU time per agreement in the closed-loop rounds, ms, per daemon (with its embedded redis-server). */
  cpu_ms_per_agreement: Record<string, number>;
  /** Open loop: agreements/s offered, achieved, and their latency from when each was due. */
  offered_per_s: number;
  offered_achieved_per_s: number;
  offered_p50_ms: number;
  offered_p99_ms: number;
  offered_failed: number;
  /** Closed loop at 50 in flight reaches 300/s, and at 300/s offered the p99 is under 50 ms. */
  target: { agreements_per_s: 300; p99_ms: 50 };
  met: boolean;
}

interface Daemon extends BenchDaemon {
  grpc: string;
  admin: string;
}

async function startCluster(dir: string, pki: TestPki): Promise<Daemon[]> {
  const addr = await clusterAddresses();
  const daemons: Daemon[] = [];
  for (const d of [...DOMAINS].reverse()) {
    const cfg = domainConfig(d, dir, pki, addr);
    // "bench" is the reference client of dom-b
    if (d === 'dom-b') (cfg.peers as unknown[]).push({ 'domain-id': 'bench', 'ca-file': pki.caCert });
    daemons.push({ ...spawnDaemon(d, join(dir, `${d}.yaml`), cfg), ...addr[d] });
  }
  await converged(daemons);
  return daemons;
}

/**
 * Offer `rate` calls/s for `seconds` as a Poisson process (seeded), at most
 * `concurrency` in flight (an arrival that finds them all busy waits for one).
 * Latency is measured from when the call was due, not from when it was sent,
 * so a slow system cannot hide its queue by sending less (coordinated omission).
 */
export async function openLoop(rate: number, concurrency: number, seconds: number, one: () => Promise<boolean>, leadInSeconds = 0): Promise<{ ok: number; failed: number; perS: number; lat: number[] }> {
  const lat: number[] = [];
  let ok = 0;
  let failed = 0;
  const r = prng(4242);
  const due: number[] = [];
  for (let t = 0; ; ) {
    t += (-Math.log(1 - r()) / rate) * 1000;
    if (t >= (leadInSeconds + seconds) * 1000) break;
    due.push(t);
  }
  // the lead-in runs at the same rate but is not timed (a failure in it still counts)
  const from = leadInSeconds * 1000;
  const t0 = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < due.length) {
        const d = due[next++]!;
        const at = t0 + d;
        const wait = at - performance.now();
        if (wait > 0) await new Promise((res) => setTimeout(res, wait));
        if (!(await one())) failed++;
        else if (d >= from) {
          ok++;
          lat.push(performance.now() - at);
        }
      }
    }),
  );
  return { ok, failed, perS: ok / ((performance.now() - t0 - from) / 1000), lat };
}

/** CPU time (user + system, ms) a process and its children (the embedded redis-server) have used so far; Linux /proc. */
export function cpuMs(pid: number): number {
  const ticks = (p: number): number => {
    try {
      // fields after the command name: state is field 3, utime 14, stime 15
      const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      return Number(f[11]) + Number(f[12]);
    } catch {
      return 0;
    }
  };
  let children: number[] = [];
  try {
    children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    // no children file: count the process alone
  }
  return ((ticks(pid) + children.reduce((s, c) => s + ticks(c), 0)) * 1000) / CLOCK_TICKS;
}
const CLOCK_TICKS = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;

/** Run `one` from `concurrency` workers for `seconds`; per-call latency in ms. */
export async function closedLoop(concurrency: number, seconds: number, one: () => Promise<boolean>): Promise<{ ok: number; failed: number; perS: number; lat: number[] }> {
  const lat: number[] = [];
  let ok = 0;
  let failed = 0;
  const t0 = performance.now();
  const end = t0 + seconds * 1000;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < end) {
        const s = performance.now();
        if (await one()) {
          ok++;
          lat.push(performance.now() - s);
        } else failed++;
      }
    }),
  );
  return { ok, failed, perS: ok / ((performance.now() - t0) / 1000), lat };
}

/**
 * POST /v1/order to a daemon's admin endpoint, plain node:http with keep-alive (a lighter load
 * generator than fetch on the same two cores): the status, and the text of a failure only (an
 * agreement's contract is read and dropped: garbage in the load generator is GC pauses that
 * count in every order's latency).
 */
export function orderPoster(admin: string, concurrency: number): { post: (body: unknown) => Promise<{ status: number; text: string }>; close: () => void } {
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
  const [host, port] = [admin.slice(0, admin.lastIndexOf(':')), Number(admin.slice(admin.lastIndexOf(':') + 1))];
  const post = (body: unknown) =>
    new Promise<{ status: number; text: string }>((res, rej) => {
      const data = JSON.stringify(body);
      const req = request({ host, port, path: '/v1/order', method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) } }, (r) => {
        const chunks: Buffer[] = [];
        const ok = r.statusCode === 200;
        r.on('data', (c: Buffer) => void (ok || chunks.push(c)));
        r.on('end', () => res({ status: r.statusCode ?? 0, text: ok ? '' : Buffer.concat(chunks).toString() }));
        r.on('error', rej);
      });
      req.on('error', rej);
      req.end(data);
    });
  return { post, close: () => agent.destroy() };
}

export async function runAgreements(opts: LoadOptions = {}): Promise<AgreementsResult> {
  const concurrency = opts.concurrency ?? 50;
  const offered = opts.offered ?? TARGET_PER_S;
  const rounds = opts.rounds ?? 3;
  const seconds = opts.seconds ?? 4;
  const dir = mkdtempSync(join(tmpdir(), 'qb-bench-agreements-'));
  ownedDirs.add(dir);
  let daemons: Daemon[] = [];
  let client: grpc.Client | undefined;
  let pki: TestPki | undefined;
  try {
    pki = makePki();
    ownedDirs.add(pki.dir);
    daemons = await startCluster(dir, pki);
    const me = pki.domain('bench');
    const a = daemons.find((d) => d.domain === 'dom-a')!;
    const b = daemons.find((d) => d.domain === 'dom-b')!;
    const { health: Health } = loadProtos();
    client = new Health(b.grpc, clientCredentials({ certPem: me.certPem, keyPem: me.keyPem }, { domain: 'dom-b', caPem: pki.caPem }), {
      'grpc.ssl_target_name_override': 'dom-b',
      'grpc.default_authority': 'dom-b',
    });
    const check = (client as unknown as { Check(r: { service: string }, cb: (e: Error | null) => void): void }).Check.bind(client);
    const unary = () => new Promise<boolean>((res) => check({ service: '' }, (e) => res(!e)));
    // one-minute windows spread over 30 days (1-2 slots each), 1 Mbit/s: capacity never runs out
    let n = 0;
    const base = Math.ceil(Date.now() / 60_000) * 60_000 + 3_600_000;
    /** Why orders failed: reason -> count (an HTTP error's code, or the client's own error). */
    const failures = new Map<string, number>();
    const failedWith = (reason: string) => failures.set(reason, (failures.get(reason) ?? 0) + 1);
    const poster = orderPoster(a.admin, concurrency);
    const post = poster.post;
    const order = async () => {
      const start = base + ((n++ * 7919) % 43_200) * 60_000;
      const body = { from: 'dom-a/dom-a-site', to: 'dom-c/dom-c-site', qosClass: 'EF', rateMbps: 1, start, durationMs: 60_000, customer: 'bench' };
      try {
        const { status, text } = await post(body);
        if (status !== 200) {
          let reason = `HTTP ${status}`;
          try {
            const b = JSON.parse(text) as { code?: string; error?: string };
            reason += ` ${b.code ?? ''}: ${(b.error ?? '').slice(0, 300)}`;
          } catch {
            reason += `: ${text.slice(0, 300)}`;
          }
          failedWith(reason);
        }
        return status === 200;
      } catch (err) {
        failedWith(`${(err as NodeJS.ErrnoException).code ?? 'error'}: ${(err as Error).message}`);
        return false;
      }
    };
    await closedLoop(concurrency, 1, unary); // warm-up: channels, JIT, Lua scripts loaded
    await closedLoop(concurrency, 2, order);
    const refs: Awaited<ReturnType<typeof closedLoop>>[] = [];
    const ags: Awaited<ReturnType<typeof closedLoop>>[] = [];
    const ratios: number[] = [];
    const cpu = new Map<string, number>(daemons.map((d) => [d.domain, 0]));
    const benchCpu = { ms: 0 };
    for (let i = 0; i < rounds; i++) {
      const ref = await closedLoop(concurrency, Math.max(1, seconds / 2), unary);
      const before = new Map(daemons.map((d) => [d.domain, cpuMs(d.proc.pid!)]));
      const self0 = process.cpuUsage();
      const ag = await closedLoop(concurrency, seconds, order);
      const self1 = process.cpuUsage(self0);
      benchCpu.ms += (self1.user + self1.system) / 1000;
      for (const d of daemons) cpu.set(d.domain, cpu.get(d.domain)! + cpuMs(d.proc.pid!) - before.get(d.domain)!);
      refs.push(ref);
      ags.push(ag);
      ratios.push(ag.perS / ref.perS);
      console.log(`round ${i + 1}: ${ag.perS.toFixed(0)} agreements/s (p99 ${quantile(ag.lat, 0.99).toFixed(1)} ms, ${ag.failed} failed), gRPC unary ${ref.perS.toFixed(0)}/s (p99 ${quantile(ref.lat, 0.99).toFixed(2)} ms): ratio ${(ag.perS / ref.perS).toFixed(4)}`);
    }
    // the target as a service level: 300 agreements/s offered (Poisson arrivals), at most 50 in flight
    // the steady state at that rate: a 2 s lead-in, untimed, lets the daemons settle after the
    // saturated closed loop (its promoted garbage, a full GC, the AOF catching up) before timing
    const open = await openLoop(offered, concurrency, Math.max(8, (seconds * rounds) / 2), order, 2);
    console.log(`offered ${offered}/s (Poisson, at most ${concurrency} in flight): ${open.perS.toFixed(0)} agreements/s, p50 ${quantile(open.lat, 0.5).toFixed(1)} ms, p99 ${quantile(open.lat, 0.99).toFixed(1)} ms, ${open.failed} failed`);
    const okTotal = ags.reduce((s, x) => s + x.ok, 0);
    const cpuPer = Object.fromEntries([...cpu].map(([d, ms]) => [d, round(ms / okTotal, 3)]));
    console.log(`CPU per agreement (ms, daemon with its redis-server): ${Object.entries(cpuPer).map(([d, ms]) => `${d} ${ms}`).join(', ')}; load generator ${(benchCpu.ms / okTotal).toFixed(3)}`);
    poster.close();
    const reasons = [...failures].sort((x, y) => y[1] - x[1]);
    for (const [reason, n] of reasons.slice(0, 10)) console.log(`failed ${n}x: ${reason}`);
    if (reasons.length > 10) console.log(`failed also for ${reasons.length - 10} other reasons`);
    const lat = ags.flatMap((x) => x.lat);
    const perS = median(ags.map((x) => x.perS));
    const p99 = quantile(lat, 0.99);
    return {
      bench: 'agreement-agreements',
      concurrency,
      agreements: ags.reduce((s, x) => s + x.ok, 0),
      failed: ags.reduce((s, x) => s + x.failed, 0),
      agreements_per_s: round(perS, 1),
      p50_ms: round(quantile(lat, 0.5)),
      p99_ms: round(p99),
      grpc_unary_per_s: round(median(refs.map((x) => x.perS)), 1),
      grpc_unary_p99_ms: round(quantile(refs.flatMap((x) => x.lat), 0.99)),
      ratio_vs_grpc_unary: round(median(ratios), 4),
      cpu_ms_per_agreement: cpuPer,
      offered_per_s: offered,
      offered_achieved_per_s: round(open.perS, 1),
      offered_p50_ms: round(quantile(open.lat, 0.5)),
      offered_p99_ms: round(quantile(open.lat, 0.99)),
      offered_failed: open.failed,
      target: { agreements_per_s: 300, p99_ms: 50 },
      met: perS >= TARGET_PER_S && offered >= TARGET_PER_S && quantile(open.lat, 0.99) < 50 && open.failed === 0,
    };
  } finally {
    client?.close();
    await stopDaemons(daemons);
    rmSync(dir, { recursive: true, force: true });
    pki?.cleanup();
    ownedDirs.clear();
  }
}

/** What both agreement benches take on the command line. */
export interface LoadOptions {
  concurrency?: number;
  rounds?: number;
  seconds?: number;
  offered?: number;
}

/** The command line of an agreement bench (--concurrency --rounds --seconds --offered, each a positive number): runs it and prints its result as the last line. */
export function benchMain(run: (opts: LoadOptions) => Promise<unknown>): void {
  const { values } = parseArgs({ options: { concurrency: { type: 'string' }, rounds: { type: 'string' }, seconds: { type: 'string' }, offered: { type: 'string' } } });
  const num = (v: string | undefined, name: string) => {
    if (v === undefined) return undefined;
    const x = Number(v);
    if (!(x > 0)) throw new Error(`--${name} must be a positive number, got ${v}`);
    return x;
  };
  run({ concurrency: num(values.concurrency, 'concurrency'), rounds: num(values.rounds, 'rounds'), seconds: num(values.seconds, 'seconds'), offered: num(values.offered, 'offered') }).then(
    (r) => console.log(JSON.stringify(r)),
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) benchMain(runAgreements);
