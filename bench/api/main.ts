/**
 * bench/api: the northbound REST API of a real qos-brokerd (dom-a of the
 * benches' cluster config, its embedded redis-server, the API on loopback)
 * against a bare node:http server answering the same JSON, in the same run.
 *
 * - GET /service: one customer's list (the default page, 100 services) with
 *   10,000 services of that customer in the store (seeded through POST
 *   /serviceOrder; each order fails at once in the background, as no peer
 *   runs, so the store holds 10,000 terminated services);
 * - POST /serviceOrder up to `acknowledged` (the order's 201), by another customer.
 *
 * Closed loop, 50 clients (keep-alive connections), interleaved rounds of
 * broker and bare server; requests/s and p99 per round, ratio per round,
 * the median reported. Also the CPU time per request of each server process
 * (from /proc: qos-brokerd, its redis-server, the bare server), which a
 * loaded machine changes far less than requests/s. The last line is one
 * JSON object.
 *
 *   npm run bench -- api [--clients 50 --seconds 4 --rounds 3 --services 10000]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { ManagementClient } from '../../daemon/management/client.js';
import { makePki } from '../../lab/pki.js';
import { clusterAddresses, domainConfig, median, ownedDirs, quantile, round, spawnDaemon, stopDaemons, type BenchDaemon } from '../daemons.js';
import { freePorts } from '../../lab/netconf-device.js';

const ORD = '/tmf-api/serviceOrdering/v4/serviceOrder';
const SVC = '/tmf-api/serviceInventory/v4/service';
const ORDER = JSON.stringify({
  serviceOrderItem: [
    {
      id: '1',
      action: 'add',
      service: {
        serviceCharacteristic: [
          { name: 'from', value: 'dom-a/dom-a-site' },
          { name: 'to', value: 'dom-z/dom-z-site' },
          { name: 'qosClass', value: 'EF' },
          { name: 'rateMbps', value: 1 },
          { name: 'duration', value: 'PT1H' },
        ],
      },
    },
  ],
});

interface Target {
  port: number;
  key: string;
}

/** One HTTP exchange on a keep-alive agent; resolves with the status and body. */
function exchange(agent: Agent, t: Target, method: string, path: string, body?: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: t.port, method, path, agent, headers: { authorization: `Bearer ${t.key}`, ...(body ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } : {}) } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, body: Buffer.concat(chunks).toString() }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** CPU time (user + system) a process has used, ms (Linux /proc; 10 ms ticks). */
function cpuMs(pid: number): number {
  const st = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = st.slice(st.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) * (1000 / 100);
}

/** The pid of the redis-server child of `parent`. */
function redisChild(parent: number): number {
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const st = readFileSync(`/proc/${d}/stat`, 'utf8');
      const ppid = Number(st.slice(st.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === parent && st.includes('(redis-server)')) return Number(d);
    } catch {
      // gone meanwhile
    }
  }
  throw new Error(`no redis-server child of qos-brokerd (pid ${parent})`);
}

/** `clients` closed loops for `seconds`: requests/s, p50/p99 ms, statuses other than `ok`, CPU ms per request of each of `pids`. */
async function load(t: Target, clients: number, seconds: number, method: string, path: string, ok: number, body?: string, pids: number[] = []) {
  const cpu0 = pids.map(cpuMs);
  const agent = new Agent({ keepAlive: true, maxSockets: clients });
  const lat: number[] = [];
  let bad = 0;
  const end = performance.now() + seconds * 1000;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (performance.now() < end) {
        const s = performance.now();
        const r = await exchange(agent, t, method, path, body);
        lat.push(performance.now() - s);
        if (r.status !== ok) bad++;
      }
    }),
  );
  const wall = (performance.now() - t0) / 1000;
  const cpu = pids.map((p, i) => (cpuMs(p) - cpu0[i]!) / lat.length);
  agent.destroy();
  return { rps: lat.length / wall, p50: quantile(lat, 0.5), p99: quantile(lat, 0.99), bad, cpu };
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { clients: { type: 'string', default: '50' }, seconds: { type: 'string', default: '4' }, rounds: { type: 'string', default: '3' }, services: { type: 'string', default: '10000' } } });
  const clients = Number(values.clients);
  const seconds = Number(values.seconds);
  const rounds = Number(values.rounds);
  const services = Number(values.services);
  const dir = mkdtempSync(join(tmpdir(), 'qb-bench-api-'));
  ownedDirs.add(dir);
  const pki = makePki();
  ownedDirs.add(pki.dir);
  const daemons: BenchDaemon[] = [];
  let bare: ChildProcess | undefined;
  try {
    const addr = await clusterAddresses();
    const [nbPort] = await freePorts('127.0.0.1', 1);
    const config = domainConfig('dom-a', dir, pki, addr, { northbound: { listen: `127.0.0.1:${nbPort}`, 'rate-limit': { 'per-s': 1_000_000, burst: 1_000_000 } } });
    let started: (() => void) | undefined;
    const up = new Promise<void>((r) => (started = r));
    daemons.push(spawnDaemon('dom-a', join(dir, 'dom-a.yaml'), { ...config, log: { level: 'info' } }, (line) => line.includes('"qos-brokerd started"') && started!()));
    await Promise.race([up, new Promise((_, rej) => setTimeout(() => rej(new Error('qos-brokerd did not start within 60 s')), 60_000))]);
    const mgmt = new ManagementClient(`unix:${config['data-dir'] as string}/management.sock`);
    const broker = (key: string): Target => ({ port: nbPort!, key });
    const lister = broker((await mgmt.createApiKey('customer', 'bench-list')).secret);
    const poster = broker((await mgmt.createApiKey('customer', 'bench-order')).secret);

    // ---- seed: `services` orders of one customer through the API, untimed
    const t0 = performance.now();
    const seedAgent = new Agent({ keepAlive: true, maxSockets: clients });
    let next = 0;
    await Promise.all(
      Array.from({ length: clients }, async () => {
        while (next < services) {
          next++;
          const r = await exchange(seedAgent, lister, 'POST', ORD, ORDER);
          if (r.status !== 201) throw new Error(`seeding: POST ${ORD} answered ${r.status}: ${r.body}`);
        }
      }),
    );
    // every seeded order has failed (no peer runs) before the timed part: nothing works in the background
    for (;;) {
      const r = await exchange(seedAgent, lister, 'GET', `${ORD}?state=failed&limit=1&fields=state`);
      const got = JSON.parse(r.body) as unknown[];
      if (r.status === 200 && got.length === 1) {
        const total = await new Promise<number>((resolve, reject) => {
          request({ host: '127.0.0.1', port: nbPort, path: `${SVC}?state=terminated&limit=1&fields=state`, agent: seedAgent, headers: { authorization: `Bearer ${lister.key}` } }, (res) => {
            res.resume();
            res.on('end', () => resolve(Number(res.headers['x-total-count'])));
          }).on('error', reject).end();
        });
        if (total === services) break;
      }
      await new Promise((r) => setTimeout(r, 1000));
    }
    seedAgent.destroy();
    const seedS = (performance.now() - t0) / 1000;
    process.stdout.write(`seeded ${services} services of customer bench-list through POST ${ORD} in ${round(seedS, 1)} s (each order failed in the background: no peer runs)\n`);

    // ---- the reference answers the same JSON
    const listAnswer = await exchange(new Agent(), lister, 'GET', SVC);
    const orderAnswer = await exchange(new Agent(), poster, 'POST', ORD, ORDER);
    const answers = join(dir, 'answers.json');
    writeFileSync(answers, JSON.stringify({ list: JSON.parse(listAnswer.body), order: JSON.parse(orderAnswer.body) }));
    bare = spawn(process.execPath, [join(dirname(fileURLToPath(import.meta.url)), 'bare.js'), answers], { stdio: ['ignore', 'pipe', 'inherit'] });
    const barePort = await new Promise<number>((resolve) => bare!.stdout!.once('data', (d: Buffer) => resolve(Number(d.toString().trim()))));
    const ref: Target = { port: barePort, key: 'none' };
    const brokerPids = [daemons[0]!.proc.pid!, redisChild(daemons[0]!.proc.pid!)];
    const barePids = [bare.pid!];
    process.stdout.write(`GET ${SVC}: ${(JSON.parse(listAnswer.body) as unknown[]).length} services, ${listAnswer.body.length} bytes a page; POST answer ${orderAnswer.body.length} bytes\n`);

    // ---- interleaved rounds
    const rows: Array<Record<string, number>> = [];
    for (let i = 0; i < rounds; i++) {
      const bl = await load(lister, clients, seconds, 'GET', SVC, 200, undefined, brokerPids);
      const rl = await load(ref, clients, seconds, 'GET', SVC, 200, undefined, barePids);
      const bp = await load(poster, clients, seconds, 'POST', ORD, 201, ORDER, brokerPids);
      const rp = await load(ref, clients, seconds, 'POST', ORD, 201, ORDER, barePids);
      const row = {
        listRps: bl.rps, listP99: bl.p99, listP50: bl.p50, listBad: bl.bad, refListRps: rl.rps, refListP99: rl.p99,
        postRps: bp.rps, postP99: bp.p99, postP50: bp.p50, postBad: bp.bad, refPostRps: rp.rps, refPostP99: rp.p99,
        listRatio: bl.rps / rl.rps, postRatio: bp.rps / rp.rps,
        listCpuMs: bl.cpu[0]!, listRedisCpuMs: bl.cpu[1]!, refListCpuMs: rl.cpu[0]!, postCpuMs: bp.cpu[0]!, postRedisCpuMs: bp.cpu[1]!, refPostCpuMs: rp.cpu[0]!,
      };
      rows.push(row);
      process.stdout.write(
        `round ${i + 1}: GET list ${round(bl.rps, 0)}/s p50 ${round(bl.p50)} ms p99 ${round(bl.p99)} ms (bare ${round(rl.rps, 0)}/s p99 ${round(rl.p99)} ms) ${round(row.listRatio)}x; ` +
          `POST ${round(bp.rps, 0)}/s p50 ${round(bp.p50)} ms p99 ${round(bp.p99)} ms (bare ${round(rp.rps, 0)}/s p99 ${round(rp.p99)} ms) ${round(row.postRatio)}x; ` +
          `CPU ms a request: list ${round(row.listCpuMs)} + redis ${round(row.listRedisCpuMs)} (bare ${round(row.refListCpuMs)}), POST ${round(row.postCpuMs)} + redis ${round(row.postRedisCpuMs)} (bare ${round(row.refPostCpuMs)})${bl.bad || bp.bad ? `; unexpected statuses: list ${bl.bad}, post ${bp.bad}` : ''}\n`,
      );
    }
    const med = (k: string) => round(median(rows.map((r) => r[k]!)), 2);
    const result = {
      bench: 'api',
      clients,
      services,
      seconds,
      rounds,
      listRps: med('listRps'), listP99Ms: med('listP99'), refListRps: med('refListRps'), listRatio: med('listRatio'),
      postRps: med('postRps'), postP99Ms: med('postP99'), refPostRps: med('refPostRps'), postRatio: med('postRatio'),
      cpuMsPerRequest: { list: med('listCpuMs'), listRedis: med('listRedisCpuMs'), refList: med('refListCpuMs'), post: med('postCpuMs'), postRedis: med('postRedisCpuMs'), refPost: med('refPostCpuMs') },
      unexpectedStatuses: rows.reduce((s, r) => s + r.listBad! + r.postBad!, 0),
      targets: { listRatioAtLeast: 0.5, p99UnderMs: 20 },
      met: { listRatio: med('listRatio') >= 0.5, listP99: med('listP99') < 20, postP99: med('postP99') < 20 },
    };
    process.stdout.write(`${JSON.stringify(result)}\n`);
  } finally {
    bare?.kill('SIGTERM');
    await stopDaemons(daemons);
  }
}

await main();
