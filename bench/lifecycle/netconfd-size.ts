/**
 * bench/lifecycle/netconfd-size: where a device transaction's time goes on a
 * lab router (netconfd behind sshd, lab_device) as the router fills: with
 * --fill N policies already committed, each step of one transaction carrying
 * --batch policies (lock, discard, the edits, confirmed commit, read-back of
 * running, the parse of it, confirmation) is timed, for N = 0 up to --max in
 * --step steps; then the same N as one-policy transactions, --batch of them,
 * for the per-segment cost without batching. Part of what bench/lifecycle's
 * set-up of many services meets. The batch's policies go in one edit-config
 * as the daemon sends them; --separate-edits sends one per policy instead.
 *
 * Usage: node dist/bench/lifecycle/netconfd-size.js [--max 1000] [--step 250] [--batch 20] [--separate-edits]
 * Last line: one JSON object.
 */
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { NetconfClient } from '../../drivers/netconf/client.js';
import { labDevice } from '../../drivers/platforms/lab_device/index.js';
import { leafContainmentAll, oneEdit, prepareApply } from '../../drivers/platforms/netconf-apply.js';
import { admitPolicy, type DeviceInventory, type ResolvedPolicy } from '../../drivers/policy/index.js';
import { startNetconfDevice } from '../../lab/netconf-device.js';

const NS = 'urn:qos-broker:yang:lab-device';
const INV: DeviceInventory = { name: 'r1', platform: 'lab_device', interfaces: [{ name: 'eth1', speedMbps: 100_000 }] };
const pol = (n: number): ResolvedPolicy =>
  admitPolicy({ serviceId: `svc-size-${n}`, owner: { provider: 'p', customer: 'c' }, device: 'r1', classifier: { egressInterface: 'eth1' }, trafficClass: 'EF', rates: { committedKbps: 1000 }, validity: { start: '2026-01-01T00:00:00Z', end: '2027-01-01T00:00:00Z' } }, INV);

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { max: { type: 'string' }, step: { type: 'string' }, batch: { type: 'string' }, 'separate-edits': { type: 'boolean' } } });
  const separate = values['separate-edits'] === true;
  const max = Number(values.max ?? 1000);
  const step = Number(values.step ?? 250);
  const batch = Number(values.batch ?? 20);
  const dev = await startNetconfDevice();
  const c = await NetconfClient.connect({ host: dev.host, port: dev.port, username: dev.username, privateKeyFile: dev.privateKeyFile, knownHostsFile: dev.knownHostsFile, helloSettleMs: 20 });
  const rows: Array<Record<string, number>> = [];
  try {
    await c.editConfig({ config: `<device xmlns="${NS}"><interfaces><interface><name>eth1</name></interface></interfaces></device>` });
    await c.commit();
    let filled = 0;
    let next = 1_000_000;
    for (let n = 0; n <= max; n += step) {
      // fill up to n (untimed), in transactions of 100
      while (filled < n) {
        const k = Math.min(100, n - filled);
        await (await prepareApply(c, labDevice, Array.from({ length: k }, (_, i) => pol(filled + i)), { confirmTimeoutS: 60 })).confirm();
        filled += k;
      }
      // one transaction of `batch` policies, step by step (what prepareApply does)
      const ps = Array.from({ length: batch }, () => pol(next++));
      const t: Record<string, number> = { policies_on_router: n };
      let t0 = performance.now();
      const lap = (k: string) => {
        const now = performance.now();
        t[k] = Math.round((now - t0) * 10) / 10;
        t0 = now;
      };
      await c.lock('candidate');
      await c.discardChanges();
      lap('lock_discard_ms');
      // as the daemon sends them (one edit-config for all, see Platform.editWrapper), or one per policy with --separate-edits
      const configs = ps.map((p) => labDevice.render(p).config);
      for (const config of separate ? configs : oneEdit(labDevice, configs)) await c.editConfig({ target: 'candidate', config });
      lap('edits_ms');
      await c.commit({ confirmed: true, confirmTimeoutS: 60 });
      lap('commit_confirmed_ms');
      const running = await c.getConfig({ source: 'running' });
      lap('get_config_ms');
      const diffs = await leafContainmentAll(ps.map((p) => labDevice.render(p).config), running);
      lap('parse_verify_ms');
      await c.commit();
      await c.unlock('candidate');
      lap('confirm_unlock_ms');
      if (diffs.length) throw new Error(`verify failed: ${diffs[0]}`);
      t.batch_total_ms = Math.round(Object.entries(t).filter(([k]) => k.endsWith('_ms')).reduce((s, [, v]) => s + v, 0));
      t.running_kb = Math.round(running.length / 1024);
      // the same number of policies, one transaction each
      const s0 = performance.now();
      for (let i = 0; i < batch; i++) await (await prepareApply(c, labDevice, [pol(next++)], { confirmTimeoutS: 60 })).confirm();
      t.singles_total_ms = Math.round(performance.now() - s0);
      filled += 2 * batch;
      rows.push(t);
      console.log(JSON.stringify(t));
    }
  } finally {
    await c.close().catch(() => c.destroy());
    await dev.stop();
  }
  console.log(JSON.stringify({ bench: 'netconfd-size', batch, separate_edits: separate, rows }));
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
