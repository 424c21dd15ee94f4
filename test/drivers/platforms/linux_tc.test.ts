/**
 * linux_tc against the real kernel: every golden policy of pe1 is applied
 * with applyCli in a fresh network namespace (veth interfaces named as in
 * the inventory), the HTB class and filters are there, and remove brings
 * qdiscs, classes and filters back exactly as before. Policies that need tc
 * action modules (remark: act_pedit/act_csum; ingress: act_skbedit, cls_fw)
 * are applied too: where the kernel lacks the modules, apply must fail
 * naming the line and leave tc exactly as before.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ProvisioningError } from '../../../drivers/errors.js';
import { applyCli, removeCli, type CliExec } from '../../../drivers/platforms/cli-apply.js';
import { linuxTc, tcId } from '../../../drivers/platforms/linux_tc/index.js';
import { admitPolicy } from '../../../drivers/policy/index.js';
import { ALL_POLICIES } from '../../fixtures/policies.js';

const root = process.getuid?.() === 0;
const NS = `qb-tc-${process.pid}`;
const DEVS = ['eth1', 'eth2', 'eth3'];

function sh(line: string): { ok: boolean; output: string } {
  const r = spawnSync('ip', ['netns', 'exec', NS, 'sh', '-c', line], { encoding: 'utf8' });
  return { ok: r.status === 0, output: `${r.stdout}${r.stderr}` };
}
const exec: CliExec = async (line) => sh(line);

/** Every qdisc, class and filter of every interface of the namespace. */
function tcState(): string {
  return DEVS.flatMap((dev) =>
    [`qdisc show dev ${dev}`, `class show dev ${dev}`, `filter show dev ${dev}`, `filter show dev ${dev} ingress`].map((w) => `${w}:\n${sh(`tc ${w} 2>/dev/null`).output}`),
  ).join('\n');
}

describe.skipIf(!root)('linux_tc kernel (needs root for a network namespace)', () => {
  let hasActions = false;
  beforeAll(() => {
    execFileSync('ip', ['netns', 'add', NS]);
    for (const dev of DEVS) {
      execFileSync('ip', ['-n', NS, 'link', 'add', dev, 'type', 'veth', 'peer', 'name', `peer-${dev}`]);
      execFileSync('ip', ['-n', NS, 'link', 'set', dev, 'up']);
      execFileSync('ip', ['-n', NS, 'link', 'set', `peer-${dev}`, 'up']);
    }
    // does this kernel have the tc action modules remarking needs?
    sh('tc qdisc add dev peer-eth1 root handle 1: htb');
    hasActions = sh('tc filter add dev peer-eth1 parent 1: protocol ip prio 1 u32 match u32 0 0 action pedit ex munge ip dsfield set 0 retain 0xfc pipe action csum ip pipe').ok
      && sh('tc filter add dev peer-eth1 parent 1: protocol ip prio 2 u32 match u32 0 0 action skbedit mark 1').ok;
    sh('tc qdisc del dev peer-eth1 root');
  });
  afterAll(() => {
    spawnSync('ip', ['netns', 'del', NS]);
  });

  const cases = Object.entries(ALL_POLICIES).filter(([, c]) => c.device.name === 'pe1');
  test.each(cases)('linux_tc kernel - %s: apply installs class and filters, remove restores tc state (or a failed apply leaves it)', async (_, c) => {
    const policy = admitPolicy(c.policy, c.device);
    const payload = linuxTc.render(policy);
    const before = tcState();
    const needsActions = policy.remark || policy.classifier.ingressInterface !== undefined;
    if (needsActions && !hasActions) {
      const err = await applyCli(exec, payload, NS).then(() => undefined, (e: unknown) => e);
      expect(err).toBeInstanceOf(ProvisioningError);
      expect((err as ProvisioningError).message).toMatch(/refused "tc filter add .*action/);
      expect(tcState()).toBe(before);
      return;
    }
    await applyCli(exec, payload, NS);
    const hex = tcId(`qb-${policy.serviceId}`).toString(16);
    const eg = policy.classifier.egressInterface;
    expect(sh(`tc class show dev ${eg}`).output).toMatch(new RegExp(`class htb 1:${hex} .*rate ${policy.rates.committedKbps / 1000}Mbit ceil ${policy.rates.peakKbps / 1000}Mbit`));
    const filterDev = policy.classifier.ingressInterface ?? eg;
    expect(sh(`tc filter show dev ${filterDev} ${policy.classifier.ingressInterface ? 'ingress' : 'parent 1:'}`).output).toContain('u32');
    if (policy.action === 'police') expect(sh(`tc qdisc show dev ${eg}`).output).toContain(`qdisc bfifo ${hex}: parent 1:${hex} limit ${policy.rates.committedBurstBytes}b`);
    await removeCli(exec, payload, NS);
    expect(tcState()).toBe(before);
  });

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
