import { join, resolve } from 'node:path';
import { describe, expect, test } from 'vitest';
import { loadLabPlan, planFromDocument, readTopologyFile, type LabPlan } from '../../lab/topology.js';

const DIR = resolve(import.meta.dirname, '../../containerlab');
const TWO = join(DIR, 'two-domain.clab.yml');
const node = (p: LabPlan, n: string) => p.nodes.find((x) => x.name === n)!;

function planOf(doc: unknown) {
  return planFromDocument(doc as Record<string, unknown>, '/x/t.clab.yml');
}
function expectInvalid(doc: unknown, message: RegExp) {
  expect(() => planOf(doc)).toThrow(expect.objectContaining({ code: 'QB_LAB_TOPOLOGY_INVALID', message: expect.stringMatching(message) }));
}
const base = () => ({
  name: 't',
  topology: {
    nodes: { r1: { kind: 'linux', labels: { 'qos-broker.role': 'edge' } }, h1: { kind: 'linux' }, h2: { kind: 'linux' } },
    links: [{ endpoints: ['h1:eth1', 'r1:eth1'] }, { endpoints: ['r1:eth2', 'h2:eth1'] }] as any[],
  },
});

describe('lab topology plan', () => {
  test('topology - two-domain: prefixed namespaces, file interface names, roles, platforms, domains', () => {
    const p = loadLabPlan(TWO);
    expect(p.name).toBe('qb-two-domain');
    expect(p.netnsPrefix).toMatch(/^qbl-qb-two-domain-[0-9a-f]{4}-$/);
    expect(p.nodes.map((n) => n.netns)).toEqual(p.nodes.map((n) => `${p.netnsPrefix}${n.name}`));
    expect(node(p, 'a-border')).toMatchObject({ role: 'border', platform: 'linux_tc', domain: 'domain-a', mgmtAddress: '198.19.2.12', username: 'root' });
    expect(node(p, 'a-border').interfaces).toEqual([
      { name: 'eth1', cidr: '198.18.1.2/30' },
      { name: 'eth2', cidr: '198.18.0.1/30' },
    ]);
    expect(node(p, 'host-a').role).toBe('host');
    expect(node(p, 'host-a').platform).toBeUndefined();
    expect(node(p, 'host-a').mgmtAddress).toBeUndefined();
    expect(p.mgmt).toEqual({ subnet: '198.19.2.0/24', prefixLen: 24, gateway: '198.19.2.1', bridge: `${p.ifPrefix}-mg` });
    expect(p.ifPrefix).toMatch(/^qb[0-9a-f]{6}$/);
  });

  test('topology - shortest-path routes reach every subnet, hosts route through their router', () => {
    const p = loadLabPlan(TWO);
    expect(node(p, 'host-a').routes).toContainEqual({ prefix: '198.18.20.0/24', via: '198.18.10.1', dev: 'eth1' });
    expect(node(p, 'a-border').routes).toContainEqual({ prefix: '198.18.20.0/24', via: '198.18.0.2', dev: 'eth2' });
    expect(node(p, 'a-border').routes).toContainEqual({ prefix: '198.18.10.0/24', via: '198.18.1.1', dev: 'eth1' });
    for (const n of p.nodes) {
      const attached = n.interfaces.length;
      expect(n.routes.length + attached).toBe(p.links.length); // every link subnet is connected or routed
    }
  });

  test('topology - a name override changes every prefix, so two copies never clash', () => {
    const a = loadLabPlan(TWO);
    const b = loadLabPlan(TWO, { name: 'copy2', mgmtSubnet: '198.19.250.0/24' });
    expect(b.netnsPrefix).toMatch(/^qbl-copy2-[0-9a-f]{4}-$/);
    // a lab whose name extends another's does not share its prefix
    const longer = loadLabPlan(TWO, { name: 'qb-two-domain-x' });
    expect(longer.nodes.some((n) => n.netns.startsWith(a.netnsPrefix))).toBe(false);
    expect(b.ifPrefix).not.toBe(a.ifPrefix);
    expect(node(b, 'a-edge').mgmtAddress).toBe('198.19.250.2');
  });

  test('topology - links without addresses get /30s from 198.18.0.0/15; mgmt addresses are allocated', () => {
    const p = planOf(base());
    expect(p.links.map((l) => [l.a.cidr, l.b.cidr])).toEqual([
      ['198.18.0.1/30', '198.18.0.2/30'],
      ['198.18.0.5/30', '198.18.0.6/30'],
    ]);
    expect(node(p, 'r1').mgmtAddress).toMatch(/^198\.19\.\d+\.2$/);
    expect(node(p, 'h1').role).toBe('host');
  });

  test('topology - vendor kinds run as lab routers and keep their platform label', () => {
    const d = base() as any;
    d.topology.nodes.r1 = { kind: 'nokia_srlinux', labels: { 'qos-broker.platform': 'nokia_srlinux', 'qos-broker.domain': 'x' } };
    d.topology.links = [{ endpoints: ['h1:eth1', 'r1:e1-1'] }, { endpoints: ['r1:e1-2', 'h2:eth1'] }];
    const p = planOf(d);
    expect(node(p, 'r1')).toMatchObject({ role: 'core', platform: 'nokia_srlinux', domain: 'x' });
    expect(node(p, 'r1').interfaces.map((i) => i.name)).toEqual(['e1-1', 'e1-2']);
  });

  test('topology - every file in containerlab/ makes a plan', () => {
    for (const f of ['single-router', 'two-domain', 'three-domain']) {
      const p = loadLabPlan(join(DIR, `${f}.clab.yml`));
      expect(p.nodes.filter((n) => n.role !== 'host').every((n) => n.mgmtAddress && n.platform === 'linux_tc')).toBe(true);
    }
    const v = loadLabPlan(join(DIR, 'three-domain-vendors.clab.yml'));
    expect(Object.fromEntries(v.nodes.filter((n) => n.role !== 'host').map((n) => [n.name, `${n.kind}/${n.platform}`]))).toEqual({
      'a-edge': 'nokia_srlinux/nokia_srlinux',
      'a-border': 'nokia_srlinux/nokia_srlinux',
      'b-border1': 'juniper_vjunosrouter/juniper_junos',
      'b-border2': 'juniper_vjunosrouter/juniper_junos',
      'c-border': 'cisco_xrd/cisco_iosxr',
      'c-edge': 'cisco_xrd/cisco_iosxr',
    });
    expect(node(v, 'c-edge').interfaces.map((i) => i.name)).toEqual(['Gi0-0-0-1', 'Gi0-0-0-0']);
  });

  test('topology - bad files are refused with a message naming what to change', () => {
    const withLink = (l: any) => {
      const d = base();
      d.topology.links.push(l);
      return d;
    };
    expectInvalid(withLink({ endpoints: ['r1:eth3', 'nope:eth1'] }), /node "nope" is not defined/);
    expectInvalid(withLink({ endpoints: ['r1:eth3', 'h1:averyveryverylongname'] }), /interface "averyveryverylongname"/);
    expectInvalid(withLink({ endpoints: ['r1:eth1', 'h1:eth2'] }), /interface r1:eth1 is used by two links/);
    expectInvalid(withLink({ endpoints: ['r1:eth3', 'h1:eth2'], ipv4: ['198.18.50.1/30', '198.18.51.2/30'] }), /not in the same subnet/);
    const clash = withLink({ endpoints: ['r1:eth3', 'h1:eth2'], ipv4: ['198.18.0.9/29', '198.18.0.10/29'] });
    clash.topology.links[0].ipv4 = ['198.18.0.1/28', '198.18.0.2/28'];
    expectInvalid(clash, /overlaps the link h1:eth1 - r1:eth1/);
    expectInvalid(withLink({ endpoints: ['r1:eth3', 'h1:eth2'], type: 'macvlan' }), /only veth links/);
    expectInvalid(withLink({ endpoints: ['r1'] }), /exactly two endpoints/);
    const d = base() as any;
    d.topology.nodes.r1.labels['qos-broker.role'] = 'switch';
    expectInvalid(d, /qos-broker.role must be host, edge, border or core/);
    const m = base() as any;
    m.mgmt = { 'ipv4-subnet': '198.19.7.0/24' };
    m.topology.nodes.r1['mgmt-ipv4'] = '198.19.8.5';
    expectInvalid(m, /198\.19\.8\.5 is not inside mgmt.ipv4-subnet 198\.19\.7\.0\/24/);
    expectInvalid({ ...base(), name: 'bad name' }, /"name" must match/);
    expectInvalid({ name: 'x' }, /topology.nodes" is missing/);
  });

  test('topology - a file that is not YAML or not there is a typed error', () => {
    expect(() => readTopologyFile('/nonexistent/x.clab.yml')).toThrow(expect.objectContaining({ code: 'QB_LAB_FILE_UNREADABLE' }));
    expect(() => readTopologyFile(resolve(import.meta.dirname, '../../package.json'))).not.toThrow(); // JSON is YAML
    expect(() => readTopologyFile(resolve(import.meta.dirname, '../../README.md'))).toThrow(expect.objectContaining({ code: 'QB_LAB_TOPOLOGY_INVALID' }));
  });
});
