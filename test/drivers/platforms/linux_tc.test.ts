/**
 * linux_tc against the real kernel: every golden policy of pe1 is applied
 * with applyCli in a fresh network namespace (veth interfaces named as in
 * the inventory), the HTB class and the u32 filters (the policy's prefixes,
 * DSCP and VLAN, steering to the class's flowid) are there, and remove brings
 * qdiscs, classes and filters back exactly as before. Policies that need tc
 * action modules (remark: act_pedit/act_csum; ingress: act_skbedit, cls_fw)
 * have two tests: applied, when the kernel has the modules; refused naming
 * the line with tc left as before, when it has not. The one that does not
 * apply to this kernel is skipped with the reason (probed once, below).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ProvisioningError } from '../../../drivers/errors.js';
import { applyCli, removeCli, type CliExec } from '../../../drivers/platforms/cli-apply.js';
import { linuxTc, tcId } from '../../../drivers/platforms/linux_tc/index.js';
import { admitPolicy, type ResolvedPolicy } from '../../../drivers/policy/index.js';
import { ALL_POLICIES } from '../../fixtures/policies.js';

const root = process.getuid?.() === 0;
const NS = `qb-tc-${process.pid}`;
const DEVS = ['eth1', 'eth2', 'eth3'];

function sh(line: string, ns = NS): { ok: boolean; output: string } {
  const r = spawnSync('ip', ['netns', 'exec', ns, 'sh', '-c', line], { encoding: 'utf8' });
  return { ok: r.status === 0, output: `${r.stdout}${r.stderr}` };
}
const exec: CliExec = async (line) => sh(line);

/** Every qdisc, class and filter of every interface of the namespace. */
function tcState(): string {
  return DEVS.flatMap((dev) =>
    [`qdisc show dev ${dev}`, `class show dev ${dev}`, `filter show dev ${dev}`, `filter show dev ${dev} ingress`].map((w) => `${w}:\n${sh(`tc ${w} 2>/dev/null`).output}`),
  ).join('\n');
}

/**
 * Can this kernel run the tc actions and classifier that remarking and ingress policies need?
 * Probed once, in a namespace of its own; when it cannot, the reason names what is missing and why.
 */
function probeTcActions(): { ok: boolean; reason: string } {
  const kernel = readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim();
  const ns = `qb-tcprobe-${process.pid}`;
  execFileSync('ip', ['netns', 'add', ns]);
  try {
    execFileSync('ip', ['-n', ns, 'link', 'add', 'probe0', 'type', 'veth', 'peer', 'name', 'probe1']);
    sh('tc qdisc add dev probe0 root handle 1: htb', ns);
    const tries: Array<[string, string, string]> = [
      ['act_pedit', 'NET_ACT_PEDIT', 'tc filter add dev probe0 parent 1: protocol ip prio 1 u32 match u32 0 0 action pedit ex munge ip dsfield set 0 retain 0xfc pipe'],
      ['act_csum', 'NET_ACT_CSUM', 'tc filter add dev probe0 parent 1: protocol ip prio 2 u32 match u32 0 0 action csum ip pipe'],
      ['act_skbedit', 'NET_ACT_SKBEDIT', 'tc filter add dev probe0 parent 1: protocol ip prio 3 u32 match u32 0 0 action skbedit mark 1'],
      ['cls_fw', 'NET_CLS_FW', 'tc filter add dev probe0 parent 1: protocol all prio 4 handle 1 fw classid 1:1'],
    ];
    const missing = tries.map(([mod, opt, line]) => ({ mod, opt, r: sh(line, ns) })).filter((x) => !x.r.ok);
    if (!missing.length) return { ok: true, reason: `kernel ${kernel} has act_pedit, act_csum, act_skbedit and cls_fw` };
    let config = '';
    try {
      config = gunzipSync(readFileSync('/proc/config.gz')).toString();
    } catch {
      /* no /proc/config.gz */
    }
    const set = (opt: string) => new RegExp(`^CONFIG_${opt}=([ym])$`, 'm').exec(config)?.[1];
    const why = !config
      ? existsSync('/usr/sbin/modprobe') || existsSync('/sbin/modprobe')
        ? 'the modules could not be loaded'
        : 'modprobe is missing, so the kernel cannot load them (Debian kmod; .ci/setup installs it)'
      : !set('MODULES')
        ? `${missing.map((m) => `CONFIG_${m.opt} ${set(m.opt) ?? 'is not set'}`).join(', ')}, and the kernel has no loadable-module support (CONFIG_MODULES is not set), so no package can add them`
        : `${missing.map((m) => `CONFIG_${m.opt}=${set(m.opt) ?? 'unset'}`).join(', ')}; the modules could not be loaded`;
    return { ok: false, reason: `kernel ${kernel} cannot run tc ${missing.map((m) => m.mod).join(', ')} ("${missing[0]!.r.output.trim().split('\n')[0]}"): ${why}` };
  } finally {
    spawnSync('ip', ['netns', 'del', ns]);
  }
}

const hex8 = (n: number) => (n >>> 0).toString(16).padStart(8, '0');
const maskOf = (bits: number) => (bits <= 0 ? 0 : bits >= 32 ? 0xffffffff : (0xffffffff << (32 - bits)) >>> 0);

/** The 32-bit words of an address: one for IPv4, four for IPv6. */
function words(addr: string): number[] {
  if (addr.includes('.')) return [addr.split('.').reduce((x, o) => x * 256 + Number(o), 0)];
  const [head, tail] = addr.split('::') as [string, string | undefined];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = [...h, ...Array(8 - h.length - t.length).fill('0'), ...t].map((g) => parseInt(g, 16));
  return [0, 1, 2, 3].map((i) => groups[2 * i]! * 0x10000 + groups[2 * i + 1]!);
}

/** The u32 keys (`value/mask at offset`, as `tc filter show` prints them) of a prefix whose address starts at `at`. */
function prefixKeys(prefix: string, at: number): string[] {
  const [addr, len] = prefix.split('/') as [string, string];
  return words(addr).flatMap((w, i) => {
    const m = maskOf(Number(len) - 32 * i);
    return m ? [`${hex8(w & m)}/${hex8(m)} at ${at + 4 * i}`] : [];
  });
}

/** What the kernel must show for the policy's u32 filters: per filter its pref, flowid (egress) and keys, derived from the policy itself. */
function expectedFilters(p: ResolvedPolicy, flowid: string | undefined): string[] {
  const c = p.classifier;
  const id = tcId(`qb-${p.serviceId}`);
  const all = [...c.sourcePrefixes, ...c.destinationPrefixes];
  const fams = ([4, 6] as const).filter((f) => all.length === 0 || all.some((x) => x.includes(':') === (f === 6)));
  const out: string[] = [];
  for (const f of fams) {
    const of = (list: string[]) => list.filter((x) => x.includes(':') === (f === 6));
    for (const s of of(c.sourcePrefixes).length ? of(c.sourcePrefixes) : [undefined]) {
      for (const d of of(c.destinationPrefixes).length ? of(c.destinationPrefixes) : [undefined]) {
        for (const dscp of c.dscp.length ? c.dscp : [undefined]) {
          const keys = [
            ...(c.vlan !== undefined ? [`${hex8(c.vlan * 0x10000)}/0fff0000 at -4`] : []),
            ...(s ? prefixKeys(s, f === 4 ? 12 : 8) : []),
            ...(d ? prefixKeys(d, f === 4 ? 16 : 24) : []),
            ...(dscp !== undefined ? [f === 4 ? `${hex8((dscp << 2) * 0x10000)}/00fc0000 at 0` : `${hex8((dscp << 2) * 0x100000)}/0fc00000 at 0`] : []),
          ];
          out.push(`pref ${f === 4 ? id : id + 0x8000} flowid ${flowid ?? '-'} ${(keys.length ? keys : ['00000000/00000000 at 0']).sort().join(', ')}`);
        }
      }
    }
  }
  return out.sort();
}

/** The u32 filters `tc filter show` lists, in the form of expectedFilters. */
function shownFilters(output: string): string[] {
  const out: string[] = [];
  let cur: { head: string; keys: string[] } | undefined;
  const flush = () => cur && out.push(`${cur.head} ${cur.keys.sort().join(', ')}`);
  for (const line of output.split('\n')) {
    const node = /^filter .*pref (\d+) u32 .*fh [0-9a-f]+::[0-9a-f]+ (?:.*?\*?flowid (\S+))?/.exec(line);
    if (node) {
      flush();
      cur = { head: `pref ${node[1]} flowid ${node[2] ?? '-'}`, keys: [] };
      continue;
    }
    if (/^filter /.test(line)) {
      flush();
      cur = undefined;
      continue;
    }
    const key = /^\s+match (\S+ at -?\d+)/.exec(line);
    if (key && cur) cur.keys.push(key[1]!);
  }
  flush();
  return out.sort();
}

const actions = root ? probeTcActions() : { ok: false, reason: 'not root: no namespace to probe in' };

describe.skipIf(!root)('linux_tc kernel (needs root for a network namespace)', () => {
  beforeAll(() => {
    execFileSync('ip', ['netns', 'add', NS]);
    for (const dev of DEVS) {
      execFileSync('ip', ['-n', NS, 'link', 'add', dev, 'type', 'veth', 'peer', 'name', `peer-${dev}`]);
      execFileSync('ip', ['-n', NS, 'link', 'set', dev, 'up']);
      execFileSync('ip', ['-n', NS, 'link', 'set', `peer-${dev}`, 'up']);
    }
  });
  afterAll(() => {
    spawnSync('ip', ['netns', 'del', NS]);
  });

  const cases = Object.entries(ALL_POLICIES)
    .filter(([, c]) => c.device.name === 'pe1')
    .map(([name, c]) => {
      const policy = admitPolicy(c.policy, c.device);
      return { name, policy, needsActions: policy.remark || policy.classifier.ingressInterface !== undefined };
    });

  const applied = async (policy: ResolvedPolicy) => {
    const payload = linuxTc.render(policy);
    const before = tcState();
    await applyCli(exec, payload, NS);
    const hex = tcId(`qb-${policy.serviceId}`).toString(16);
    const eg = policy.classifier.egressInterface;
    const ing = policy.classifier.ingressInterface;
    expect(sh(`tc class show dev ${eg}`).output).toMatch(new RegExp(`class htb 1:${hex} .*rate ${policy.rates.committedKbps / 1000}Mbit ceil ${policy.rates.peakKbps / 1000}Mbit`));
    // the u32 filters match the policy's prefixes (and DSCP, VLAN) and steer to the class; an
    // ingress policy marks on its ingress (no flowid) and a fw filter on the egress steers the mark
    const filters = sh(`tc filter show dev ${ing ?? eg} ${ing ? 'ingress' : 'parent 1:'}`).output;
    expect(shownFilters(filters)).toEqual(expectedFilters(policy, ing ? undefined : `1:${hex}`));
    if (ing) {
      expect(filters).toContain('skbedit');
      expect(sh(`tc filter show dev ${eg} parent 1:`).output).toMatch(new RegExp(`fw .*handle 0x${hex} classid 1:${hex}`));
    }
    if (policy.remark) expect(filters).toContain('pedit');
    if (policy.action === 'police') expect(sh(`tc qdisc show dev ${eg}`).output).toContain(`qdisc bfifo ${hex}: parent 1:${hex} limit ${policy.rates.committedBurstBytes}b`);
    // the platform's read-back finds it in place; after remove, absent
    expect(await readBack(policy)).toEqual([]);
    await removeCli(exec, payload, NS);
    expect(tcState()).toBe(before);
    expect(await readBack(policy)).toEqual([expect.stringContaining(`/name=qb-${policy.serviceId}`)]);
  };
  const readBack = async (policy: ResolvedPolicy) => {
    const out: string[] = [];
    for (const line of linuxTc.readBack!.lines(policy)) out.push((await exec(line)).output);
    return linuxTc.readBack!.diffs(policy, out.join('\n'));
  };

  test('linux_tc kernel - read-back names what drifted: a rate changed by hand, a filter deleted', async () => {
    const c = ALL_POLICIES['class-af21']!;
    const policy = admitPolicy({ ...c.policy, remark: false }, c.device);
    const payload = linuxTc.render(policy);
    const before = tcState();
    await applyCli(exec, payload, NS);
    const hex = tcId(`qb-${policy.serviceId}`).toString(16);
    const eg = policy.classifier.egressInterface;
    sh(`tc class change dev ${eg} parent 1: classid 1:${hex} htb rate 1234kbit ceil ${policy.rates.peakKbps}kbit`);
    sh(`tc filter del dev ${eg} parent 1: prio ${tcId(`qb-${policy.serviceId}`)}`);
    const diffs = await readBack(policy);
    expect(diffs).toEqual(expect.arrayContaining([expect.stringMatching(/rate 1234Kbit, expected \d+kbit/), expect.stringMatching(/filter\(s\) into/)]));
    expect(diffs.some((d) => d.includes('/name='))).toBe(false);
    for (const line of payload.undo) await exec(line);
    expect(tcState()).toBe(before);
  });

  test('linux_tc kernel - read-back checks IPv6 prefixes: filters steering another source prefix into the class are named', async () => {
    const policy = admitPolicy(ALL_POLICIES['af41-shape-v6-dscp']!.policy, ALL_POLICIES['af41-shape-v6-dscp']!.device);
    const payload = linuxTc.render(policy);
    const before = tcState();
    await applyCli(exec, payload, NS);
    expect(await readBack(policy)).toEqual([]);
    const prio = tcId(`qb-${policy.serviceId}`) + 0x8000;
    const filters = payload.apply.filter((l) => l.includes(` prio ${prio} `));
    expect(filters.length).toBeGreaterThan(0);
    expect(sh(`tc filter del dev ${policy.classifier.egressInterface} parent 1: prio ${prio}`).ok).toBe(true);
    // the same filters, the source prefix changed by hand to its neighbour
    for (const l of filters) expect(sh(l.replace('match ip6 src 2001:db8:1::/48', 'match ip6 src 2001:db8:9::/48')).ok).toBe(true);
    expect(await readBack(policy)).toEqual([`qb-${policy.serviceId} on ${policy.classifier.egressInterface}: no filter matches source 2001:db8:1::/48`]);
    for (const line of payload.undo) await exec(line);
    expect(tcState()).toBe(before);
  });

  test.for(cases.filter((c) => !c.needsActions))(
    'linux_tc kernel - $name: apply installs the class and u32 filters with the policy\'s prefixes and flowid, remove restores tc state',
    async (c) => applied(c.policy),
  );

  test.for(cases.filter((c) => c.needsActions))(
    'linux_tc kernel - $name (needs tc actions): with the modules in the kernel, applied with its filters and actions, remove restores tc state',
    async (c, ctx) => {
      ctx.skip(!actions.ok, `not this kernel: ${actions.reason}`);
      await applied(c.policy);
    },
  );

  test.for(cases.filter((c) => c.needsActions))(
    'linux_tc kernel - $name (needs tc actions): without the modules in the kernel, apply fails naming the line and leaves tc as before',
    async (c, ctx) => {
      ctx.skip(actions.ok, `not this kernel: ${actions.reason}`);
      expect(actions.reason).toMatch(/cannot run tc /);
      const payload = linuxTc.render(c.policy);
      const before = tcState();
      const err = await applyCli(exec, payload, NS).then(() => undefined, (e: unknown) => e);
      expect(err).toBeInstanceOf(ProvisioningError);
      expect((err as ProvisioningError).message).toMatch(/refused "tc filter add .*action/);
      expect(tcState()).toBe(before);
    },
  );

  test('linux_tc kernel - two policies share the root qdisc and removing one keeps the other', async () => {
    const [a, b] = [ALL_POLICIES['class-af12']!, ALL_POLICIES['class-af21']!].map((c) => ({ ...c, policy: { ...c.policy, remark: false } })).map((c) => linuxTc.render(admitPolicy(c.policy, c.device)));
    const before = tcState();
    await applyCli(exec, a!, NS);
    await applyCli(exec, b!, NS);
    await removeCli(exec, a!, NS);
    const classes = sh('tc class show dev eth2').output;
    expect(classes).toContain(`1:${tcId('qb-svc-class-af21').toString(16)} `);
    expect(classes).not.toContain(`1:${tcId('qb-svc-class-af12').toString(16)} `);
    await removeCli(exec, b!, NS);
    expect(tcState()).toBe(before);
  });

  test('linux_tc kernel - an apply line the kernel refuses runs the undo lines and leaves tc as before', async () => {
    const payload = linuxTc.render(admitPolicy(ALL_POLICIES['class-af22']!.policy, ALL_POLICIES['class-af22']!.device));
    const broken = { ...payload, apply: [...payload.apply, 'tc filter add dev eth2 parent 1: protocol ip prio 7 u32 match ip src 999.0.0.0/8 classid 1:1'] };
    const before = tcState();
    await expect(applyCli(exec, broken, NS)).rejects.toMatchObject({ code: 'QB_PROVISION_CLI_LINE_FAILED' });
    expect(tcState()).toBe(before);
  });
});
