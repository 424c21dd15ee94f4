/**
 * `qos-broker lab ...`: run a containerlab topology on this machine as network
 * namespaces (lab/runner.ts). Each sub-command is one runner function.
 */
import { parseArgs } from 'node:util';
import { InvalidArgumentError } from '../../drivers/errors.js';
import { LabError } from '../../lab/errors.js';
import { labDown, labExec, labStatus, labTraffic, labUp, type LabOptions } from '../../lab/runner.js';

export const LAB_USAGE = `qos-broker lab <operation> FILE [options]

operations:
  up FILE                      bring the topology up as network namespaces (idempotent);
                               prints the start-up time and how to reach every router
  down FILE                    remove every namespace, link, process and file of the lab
  status FILE [--json]         nodes, management addresses, server processes
  exec FILE NODE -- CMD...     run CMD inside NODE's namespace
  traffic FILE --from NODE --to NODE [--dscp N] [--seconds S] [--json]
                               iperf3 (TCP) from one node to another; prints the measured rate

options (all operations):
  --name NAME                  run the file under another lab name (a second copy)
  --mgmt-subnet CIDR|free      management subnet instead of the file's mgmt.ipv4-subnet;
                               free: up picks a /24 that no route and no other lab uses
  --state-root DIR             where lab state lives (/run/qos-broker-lab as root)

example:
  qos-broker lab up containerlab/two-domain.clab.yml
  qos-broker lab traffic containerlab/two-domain.clab.yml --from host-a --to host-b --dscp 46
  qos-broker lab down containerlab/two-domain.clab.yml
`;

const COMMON = {
  name: { type: 'string' },
  'mgmt-subnet': { type: 'string' },
  'state-root': { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

function out(line: string): void {
  process.stdout.write(line + '\n');
}

function formatRate(bps: number): string {
  return bps >= 1e9 ? `${(bps / 1e9).toFixed(2)} Gbit/s` : `${(bps / 1e6).toFixed(2)} Mbit/s`;
}

function numberArg(flag: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n)) throw new InvalidArgumentError(`${flag} must be a number, got "${v}"`);
  return n;
}

export async function labCommand(argv: string[]): Promise<void> {
  const [op, ...rest] = argv;
  if (op === undefined || op === 'help' || op === '--help' || op === '-h') {
    process.stdout.write(LAB_USAGE);
    if (op === undefined) throw new InvalidArgumentError('lab needs an operation: up, down, status, exec or traffic');
    return;
  }
  // exec: everything after "--" is the command, untouched by option parsing
  const dd = rest.indexOf('--');
  const own = dd >= 0 ? rest.slice(0, dd) : rest;
  const command = dd >= 0 ? rest.slice(dd + 1) : [];
  const { values, positionals } = parseArgs({
    args: own,
    allowPositionals: true,
    options: { ...COMMON, from: { type: 'string' }, to: { type: 'string' }, dscp: { type: 'string' }, seconds: { type: 'string' } },
  });
  if (values.help) {
    process.stdout.write(LAB_USAGE);
    return;
  }
  const file = positionals[0];
  if (!file) throw new InvalidArgumentError(`lab ${op} needs a topology FILE, e.g. lab ${op} containerlab/two-domain.clab.yml`);
  const options: LabOptions = { name: values.name, mgmtSubnet: values['mgmt-subnet'], stateRoot: values['state-root'], log: (l) => out(l) };
  const expectPositionals = (n: number) => {
    if (positionals.length > n) throw new InvalidArgumentError(`lab ${op}: unexpected argument "${positionals[n]}"`);
  };
  switch (op) {
    case 'up': {
      expectPositionals(1);
      const r = await labUp(file, options);
      if (!r.alreadyUp) out(`start-up time: ${(r.startupMs / 1000).toFixed(2)} s`);
      out(`known_hosts: ${r.knownHostsFile}`);
      for (const a of r.routers) {
        const platform = a.platform === a.runsAs ? a.platform : `${a.platform} (lab: ${a.runsAs})`;
        out(`  ${a.node.padEnd(12)} ${(platform + (a.domain ? ` ${a.domain}` : '')).padEnd(20)} ssh/netconf ${a.username}@${a.host}:${a.port}  key ${a.privateKeyFile}`);
      }
      return;
    }
    case 'down':
      expectPositionals(1);
      await labDown(file, options);
      return;
    case 'status': {
      expectPositionals(1);
      const s = await labStatus(file, { ...options, log: undefined });
      if (values.json) {
        out(JSON.stringify(s, null, 2));
        return;
      }
      out(`lab ${s.name}: ${s.state}${s.startupMs ? ` (started in ${(s.startupMs / 1000).toFixed(2)} s)` : ''}, state in ${s.stateDir}`);
      for (const n of s.nodes) {
        const procs = n.processes?.map((p) => `${p.name}:${p.pid}${p.alive ? '' : '(dead)'}`).join(' ') ?? '';
        const mgmt = n.mgmtAddress ? `${n.mgmtAddress} ${n.mgmtReachable ? 'reachable' : 'unreachable'}` : '';
        out(`  ${n.node.padEnd(12)} ${n.role.padEnd(7)} ${n.netns.padEnd(28)} ${n.netnsUp ? 'up  ' : 'down'} ${mgmt} ${procs}`.trimEnd());
      }
      if (s.state !== 'up') process.exitCode = 3;
      return;
    }
    case 'exec': {
      const node = positionals[1];
      if (!node) throw new InvalidArgumentError('lab exec needs FILE NODE -- CMD...');
      if (dd < 0) throw new InvalidArgumentError('lab exec needs "--" before the command, e.g. lab exec FILE a-edge -- ip route');
      expectPositionals(2);
      const r = await labExec(file, node, command, { ...options, stdio: 'inherit' });
      if (r.code !== 0) throw new LabError('QB_LAB_EXEC_FAILED', `"${command.join(' ')}" in ${node} exited with ${r.code}`);
      return;
    }
    case 'traffic': {
      expectPositionals(1);
      if (!values.from || !values.to) throw new InvalidArgumentError('lab traffic needs --from NODE and --to NODE');
      const r = await labTraffic(file, { from: values.from, to: values.to, dscp: numberArg('--dscp', values.dscp), seconds: numberArg('--seconds', values.seconds) }, options);
      if (values.json) out(JSON.stringify(r));
      else out(`${r.from} -> ${r.to} (${r.toAddress}) dscp ${r.dscp}, ${r.seconds} s: ${formatRate(r.receivedBitsPerSecond)} received (${formatRate(r.sentBitsPerSecond)} sent${r.retransmits !== undefined ? `, ${r.retransmits} retransmits` : ''}); as Ethernet frames on the links ${formatRate(r.frameBitsPerSecond)} (MSS ${r.mss}, ${r.headerBytesPerSegment} header bytes a segment)`);
      return;
    }
    default:
      throw new InvalidArgumentError(`unknown lab operation "${op}"; use up, down, status, exec or traffic`);
  }
}
