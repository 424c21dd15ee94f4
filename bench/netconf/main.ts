/**
 * bench/netconf: edit-config + commit pairs per second, p50/p99 per pair and
 * session set-up time against one lab netconfd (behind sshd), measured in
 * one run for:
 *   1. our client (drivers/netconf over ssh2);
 *   2. python3-ncclient (Debian), the usual NETCONF client;
 *   3. the practical ceiling over SSH: OpenSSH `ssh -s netconf` driven with
 *      minimal end-of-message framing;
 *   4. the server's own limit without SSH: the same RPCs written straight
 *      into `netconf-subsystem`.
 * Plus our pipelining: a burst of edit-configs before one commit, and RPCs
 * per second with 8 sessions at once. Last line: one JSON object.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { NetconfClient } from '../../drivers/netconf/client.js';
import { startNetconfDevice, type NetconfDevice } from '../../lab/netconf-device.js';

const HERE = resolve(fileURLToPath(import.meta.url), '..');
const SRC = HERE.replace(/\/dist\/bench\//, '/bench/');
const NS = 'urn:qos-broker:yang:lab-device';
const N = Number(process.env.QB_BENCH_PAIRS ?? 500);
const N_NCCLIENT = Number(process.env.QB_BENCH_NCCLIENT_PAIRS ?? 40);

const edit = (i: number, tag: string) => `<edit-config><target><candidate/></target><config><device xmlns="${NS}"><hostname>${tag}-${i}</hostname></device></config></edit-config>`;
const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(s.length * p))]!;
};
const r1 = (x: number) => Math.round(x * 10) / 10;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Result {
  pairs_per_s: number;
  p50_ms: number;
  p99_ms: number;
  setup_ms?: number;
}

/** One contender: something that does an edit-config + commit pair. */
interface Contender {
  name: string;
  pair(i: number): Promise<void>;
  close(): Promise<void>;
  lat: number[];
  rates: number[];
}

function opts(dev: NetconfDevice) {
  return { host: dev.host, port: dev.port, username: dev.username, privateKeyFile: dev.privateKeyFile, knownHostsFile: dev.knownHostsFile, helloSettleMs: 20, device: 'bench' };
}

async function oursContender(dev: NetconfDevice): Promise<Contender> {
  const c = await NetconfClient.connect(opts(dev));
  return {
    name: 'ours',
    lat: [],
    rates: [],
    pair: async (i) => {
      await c.rpc(edit(i, 'ours'));
      await c.rpc('<commit/>');
    },
    close: () => c.close(),
  };
}

async function oursExtras(dev: NetconfDevice): Promise<{ setup_ms: number; burst_rpcs_per_s: number; sessions8_rpcs_per_s: number }> {
  const setups: number[] = [];
  for (let i = 0; i < 5; i++) {
    const t0 = performance.now();
    const c = await NetconfClient.connect(opts(dev));
    setups.push(performance.now() - t0 - 20); // the settle delay is not set-up work
    await c.close();
  }
  const c = await NetconfClient.connect(opts(dev));
  // pipelining: a burst of 50 edit-configs in flight, then one commit
  const bursts = 10;
  const tb = performance.now();
  for (let b = 0; b < bursts; b++) {
    await Promise.all(Array.from({ length: 50 }, (_, i) => c.rpc(edit(i, `burst${b}`))));
    await c.rpc('<commit/>');
  }
  const burstRate = (bursts * 51) / ((performance.now() - tb) / 1000);
  await c.close();
  // 8 sessions at once, each sequential get-config
  const sessions = await Promise.all(Array.from({ length: 8 }, () => NetconfClient.connect(opts(dev))));
  const per = 100;
  const t8 = performance.now();
  await Promise.all(
    sessions.map(async (s) => {
      for (let i = 0; i < per; i++) await s.rpc(`<get-config><source><running/></source><filter type="subtree"><device xmlns="${NS}"><hostname/></device></filter></get-config>`);
    }),
  );
  const rate8 = (8 * per) / ((performance.now() - t8) / 1000);
  await Promise.all(sessions.map((s) => s.close()));
  return { setup_ms: pct(setups, 0.5), burst_rpcs_per_s: burstRate, sessions8_rpcs_per_s: rate8 };
}

/** A child process speaking NETCONF base:1.0 on stdin/stdout, driven with minimal framing. */
async function eomContender(name: string, child: ChildProcess): Promise<Contender> {
  let buf = '';
  let waiter: ((m: string) => void) | undefined;
  const queue: string[] = [];
  child.stdout!.setEncoding('utf8');
  child.stdout!.on('data', (d: string) => {
    buf += d;
    for (let i = buf.indexOf(']]>]]>'); i >= 0; i = buf.indexOf(']]>]]>')) {
      const m = buf.slice(0, i);
      buf = buf.slice(i + 6);
      if (waiter) {
        const w = waiter;
        waiter = undefined;
        w(m);
      } else queue.push(m);
    }
  });
  const next = () => (queue.length ? Promise.resolve(queue.shift()!) : new Promise<string>((r) => (waiter = r)));
  const send = (s: string) => child.stdin!.write(s + ']]>]]>');
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  child.stdin!.write(`<?xml version="1.0" encoding="UTF-8"?><hello xmlns="urn:ietf:params:xml:ns:netconf:base:1.0"><capabilities><capability>urn:ietf:params:netconf:base:1.0</capability></capabilities></hello>]]>]]>`);
  await next();
  await sleep(20);
  let id = 0;
  const rpc = async (body: string) => {
    send(`<rpc message-id="${++id}" xmlns="urn:ietf:params:xml:ns:netconf:base:1.0">${body}</rpc>`);
    const reply = await next();
    if (!reply.includes('<ok/>')) throw new Error(`${name}: unexpected reply ${reply.slice(0, 300)}`);
  };
  return {
    name,
    lat: [],
    rates: [],
    pair: async (i) => {
      await rpc(edit(i, name));
      await rpc('<commit/>');
    },
    close: async () => {
      send(`<rpc message-id="${++id}" xmlns="urn:ietf:params:xml:ns:netconf:base:1.0"><close-session/></rpc>`);
      child.stdin!.end();
      await Promise.race([exited, sleep(2000)]);
      child.kill();
    },
  };
}

function openssh(dev: NetconfDevice): Promise<Contender> {
  const child = spawn(
    'ssh',
    ['-q', '-p', String(dev.port), '-i', dev.privateKeyFile, '-o', `UserKnownHostsFile=${dev.knownHostsFile}`, '-o', 'StrictHostKeyChecking=yes', '-o', 'BatchMode=yes', '-s', `${dev.username}@${dev.host}`, 'netconf'],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  );
  return eomContender('openssh', child);
}

function subsystem(dev: NetconfDevice): Promise<Contender> {
  const child = spawn('/usr/sbin/netconf-subsystem', [`--ncxserver-sockname=${dev.port}@${join(dev.stateDir, 'ncxserver.sock')}`], {
    stdio: ['pipe', 'pipe', 'inherit'],
    env: { ...process.env, SSH_CONNECTION: `127.0.0.1 40000 127.0.0.1 ${dev.port}`, USER: dev.username },
  });
  return eomContender('subsystem', child);
}

/**
 * Rounds of ROUND pairs per contender, interleaved, so that load from
 * elsewhere on the machine hits every contender alike; the rate of each is
 * the median of its rounds.
 */
async function interleaved(contenders: Contender[], total: number): Promise<Map<string, Result>> {
  const ROUND = 50;
  for (const c of contenders) for (let i = 0; i < 20; i++) await c.pair(i); // warm-up
  for (let done = 0; done < total; done += ROUND) {
    for (const c of contenders) {
      const t0 = performance.now();
      for (let i = 0; i < ROUND; i++) {
        const t = performance.now();
        await c.pair(done + i);
        c.lat.push(performance.now() - t);
      }
      c.rates.push(ROUND / ((performance.now() - t0) / 1000));
    }
  }
  return new Map(contenders.map((c) => [c.name, { pairs_per_s: pct(c.rates, 0.5), p50_ms: pct(c.lat, 0.5), p99_ms: pct(c.lat, 0.99) }]));
}

function ncclient(dev: NetconfDevice): Result {
  const r = spawnSync('/usr/bin/python3', [join(SRC, 'reference.py'), dev.host, String(dev.port), dev.username, dev.privateKeyFile, String(N_NCCLIENT)], { encoding: 'utf8', timeout: 300_000 });
  if (r.status !== 0) throw new Error(`ncclient reference failed: ${r.stderr.slice(-2000)}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!);
}

async function main(): Promise<void> {
  const dev = await startNetconfDevice();
  try {
    console.log(`netconfd on ${dev.host}:${dev.port}; ${N} pairs each in interleaved rounds (ncclient ${N_NCCLIENT})`);
    const contenders = [await oursContender(dev), await openssh(dev), await subsystem(dev)];
    const res = await interleaved(contenders, N);
    for (const c of contenders) await c.close();
    const x = await oursExtras(dev);
    const n = ncclient(dev);
    const o = res.get('ours')!;
    const s = res.get('openssh')!;
    const d = res.get('subsystem')!;
    const line = (name: string, r: Result) => console.log(`${name.padEnd(10)} ${r.pairs_per_s.toFixed(1)} pairs/s, p50 ${r.p50_ms.toFixed(2)} ms, p99 ${r.p99_ms.toFixed(2)} ms${r.setup_ms ? `, set-up ${r.setup_ms.toFixed(0)} ms` : ''}`);
    line('ours', { ...o, setup_ms: x.setup_ms });
    line('openssh', s);
    line('subsystem', d);
    line('ncclient', n);
    console.log(`ours: burst of 50 edit-configs + commit: ${x.burst_rpcs_per_s.toFixed(0)} RPCs/s; 8 sessions at once: ${x.sessions8_rpcs_per_s.toFixed(0)} RPCs/s`);
    const r2 = (v: number) => Math.round(v * 100) / 100;
    console.log(
      JSON.stringify({
        bench: 'netconf',
        ours_per_s: r1(o.pairs_per_s),
        ours_p50_ms: r2(o.p50_ms),
        ours_p99_ms: r2(o.p99_ms),
        ours_setup_ms: r1(x.setup_ms),
        ours_burst_rpcs_per_s: r1(x.burst_rpcs_per_s),
        ours_8_sessions_rpcs_per_s: r1(x.sessions8_rpcs_per_s),
        ncclient_per_s: r2(n.pairs_per_s),
        ncclient_setup_ms: r1(n.setup_ms!),
        openssh_per_s: r1(s.pairs_per_s),
        subsystem_per_s: r1(d.pairs_per_s),
        ratio_vs_ncclient: r1(o.pairs_per_s / n.pairs_per_s),
        ratio_vs_openssh: r2(o.pairs_per_s / s.pairs_per_s),
        ratio_vs_subsystem: r2(o.pairs_per_s / d.pairs_per_s),
        setup_ratio_vs_ncclient: r2(x.setup_ms / n.setup_ms!),
      }),
    );
  } finally {
    await dev.stop();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
