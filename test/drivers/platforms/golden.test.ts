/**
 * Golden files: every platform renders every fixture policy, compared with
 * test/fixtures/expected/<platform>/<case>.{xml,remove.xml,txt}. Regenerate
 * after a deliberate change with `QB_UPDATE_GOLDEN=1 npx vitest run
 * test/drivers/platforms/golden.test.ts` and review the diff.
 * Every openconfig golden file is validated by yanglint against the upstream
 * OpenConfig models.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { PLATFORMS, platformById } from '../../../drivers/platforms/index.js';
import type { NetconfPayload, Payload } from '../../../drivers/platforms/types.js';
import { assertWellFormed } from '../../../drivers/netconf/xml.js';
import { admitPolicy, type DeviceInventory } from '../../../drivers/policy/index.js';
import { ALL_POLICIES } from '../../fixtures/policies.js';

const EXPECTED = join(import.meta.dirname, '../../fixtures/expected');
const UPDATE = process.env.QB_UPDATE_GOLDEN === '1';
// upstream OpenConfig models, in ../shared beside the repository (as CI checks it out)
const OC_YANG = join(import.meta.dirname, '../../../../shared/yang/openconfig');
const IETF_YANG = '/usr/share/yuma/modules/ietf';

/** The payload as the text kept in golden files. */
function goldenFiles(payload: Payload): Record<string, string> {
  if (payload.transport === 'netconf') return { xml: `${pretty(payload.config)}\n`, 'remove.xml': `${pretty(payload.removeConfig)}\n` };
  return { txt: `# apply\n${payload.apply.join('\n')}\n# undo\n${payload.undo.join('\n')}\n` };
}

/** Indent XML one element per line (golden files must be reviewable). */
function pretty(xml: string): string {
  const out: string[] = [];
  let depth = 0;
  for (const tok of xml.match(/<[^/>][^>]*[^/>]>[^<]*<\/[^>]+>|<[^>]+>/g) ?? []) {
    const closing = tok.startsWith('</');
    const selfClosing = tok.endsWith('/>') || tok.includes('</');
    if (closing) depth--;
    out.push('  '.repeat(Math.max(depth, 0)) + tok);
    if (!closing && !selfClosing) depth++;
  }
  return out.join('\n');
}

const cases = Object.entries(ALL_POLICIES).map(([name, { policy, device }]) => ({ name, policy: admitPolicy(policy, device), device }));
const NETCONF_PLATFORMS = PLATFORMS.filter((p) => p.id !== 'lab_device');

describe.each(NETCONF_PLATFORMS.map((p) => [p.id, p] as const))('%s golden', (id, platform) => {
  test.each(cases.map((c) => [c.name, c] as const))(`${id} golden - %s renders as the golden file`, (name, c) => {
    const files = goldenFiles(platform.render(c.policy));
    for (const [ext, text] of Object.entries(files)) {
      const file = join(EXPECTED, id, `${name}.${ext}`);
      if (UPDATE) {
        mkdirSync(join(EXPECTED, id), { recursive: true });
        writeFileSync(file, text);
      }
      expect(existsSync(file), `${file} is missing: run with QB_UPDATE_GOLDEN=1 and review it`).toBe(true);
      expect(text).toBe(readFileSync(file, 'utf8'));
    }
  });

  test(`${id} golden - NETCONF payloads are well-formed XML (apply and remove)`, async () => {
    if (platform.transport !== 'netconf') return expect(platform.render(cases[0]!.policy).transport).toBe('cli');
    for (const c of cases) {
      const p = platform.render(c.policy) as NetconfPayload;
      await assertWellFormed(p.config, `${id} ${c.name} config`);
      await assertWellFormed(p.removeConfig, `${id} ${c.name} removeConfig`);
      if (platform.loadRpc) await assertWellFormed(platform.loadRpc(p.config), `${id} ${c.name} load rpc`);
    }
  });

  test(`${id} golden - render is pure: the same policy gives the same payload twice`, () => {
    for (const c of cases) expect(platform.render(structuredClone(c.policy))).toEqual(platform.render(c.policy));
  });
});

describe('openconfig golden yanglint', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'qb-oc-'));
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  /** The device's openconfig interfaces (and VLAN subinterfaces) the qos leafrefs point at. */
  function interfacesXml(device: DeviceInventory, vlans: number[]): string {
    const ifs = device.interfaces
      .map(
        (i) =>
          `<interface><name>${i.name}</name><config><name>${i.name}</name><type xmlns:ianaift="urn:ietf:params:xml:ns:yang:iana-if-type">ianaift:ethernetCsmacd</type></config>` +
          (vlans.length ? `<subinterfaces>${vlans.map((v) => `<subinterface><index>${v}</index><config><index>${v}</index></config></subinterface>`).join('')}</subinterfaces>` : '') +
          '</interface>',
      )
      .join('');
    return `<interfaces xmlns="http://openconfig.net/yang/interfaces">${ifs}</interfaces>`;
  }

  test.each(cases.map((c) => [c.name, c] as const))('openconfig golden - %s.xml is valid openconfig-qos for yanglint', (name, c) => {
    const golden = readFileSync(join(EXPECTED, 'openconfig', `${name}.xml`), 'utf8');
    const file = join(tmp, `${name}.xml`);
    writeFileSync(file, `${interfacesXml(c.device, c.policy.classifier.vlan ? [c.policy.classifier.vlan] : [])}\n${golden}`);
    const r = spawnSync('/usr/bin/yanglint', ['-p', OC_YANG, '-p', IETF_YANG, '-t', 'config', join(OC_YANG, 'openconfig-qos.yang'), join(OC_YANG, 'openconfig-qos-types.yang'), join(IETF_YANG, 'iana-if-type@2014-05-08.yang'), file], { encoding: 'utf8' });
    expect(r.stdout + r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  test.each(cases.map((c) => [c.name] as const))('openconfig golden - %s.remove.xml is a valid openconfig-qos edit for yanglint', (name) => {
    const file = join(EXPECTED, 'openconfig', `${name}.remove.xml`);
    const r = spawnSync('/usr/bin/yanglint', ['-p', OC_YANG, '-p', IETF_YANG, '-t', 'edit', join(OC_YANG, 'openconfig-qos.yang'), join(IETF_YANG, 'ietf-netconf@2011-06-01.yang'), file], { encoding: 'utf8' });
    expect(r.stdout + r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  test('openconfig golden - yanglint does refuse a broken payload (the check can fail)', () => {
    const c = cases[0]!;
    const golden = readFileSync(join(EXPECTED, 'openconfig', `${c.name}.xml`), 'utf8').replace('<output-fwd-group>', '<output-fwd-group>no-such-group-');
    const file = join(tmp, 'broken.xml');
    writeFileSync(file, `${interfacesXml(c.device, [])}\n${golden}`);
    const r = spawnSync('/usr/bin/yanglint', ['-p', OC_YANG, '-p', IETF_YANG, '-t', 'config', join(OC_YANG, 'openconfig-qos.yang'), join(OC_YANG, 'openconfig-qos-types.yang'), join(IETF_YANG, 'iana-if-type@2014-05-08.yang'), file], { encoding: 'utf8' });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/leafref|instance/i);
  });
});

test('platform table - every id resolves to its own platform and unknown ids are refused', () => {
  for (const p of PLATFORMS) expect(platformById(p.id)).toBe(p);
  expect(() => platformById('cisco_ios')).toThrow(/unknown platform cisco_ios/);
});
