import { readFileSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, test } from 'vitest';
import { JsonSchemaValidator } from '../../lab/jsonschema.js';
import { readTopologyFile } from '../../lab/topology.js';

const ROOT = resolve(import.meta.dirname, '../..');
const SCHEMA = resolve(ROOT, '../shared/schemas/clab.schema.json');
const DIR = join(ROOT, 'containerlab');
const files = readdirSync(DIR).filter((f) => f.endsWith('.clab.yml'));
const validator = new JsonSchemaValidator(JSON.parse(readFileSync(SCHEMA, 'utf8')));

describe('containerlab topologies', () => {
  test('containerlab - ships two-domain, three-domain and single-router', () => {
    expect(files).toEqual(expect.arrayContaining(['two-domain.clab.yml', 'three-domain.clab.yml', 'single-router.clab.yml']));
  });

  test.each(files)('containerlab - %s validates against clab.schema.json', (f) => {
    expect(validator.validate(readTopologyFile(join(DIR, f)))).toEqual([]);
  });
});

describe('JSON schema validator', () => {
  const good = readTopologyFile(join(DIR, 'two-domain.clab.yml'));
  const mutate = (fn: (d: any) => void) => {
    const d = structuredClone(good) as any;
    fn(d);
    return validator.validate(d);
  };

  test('schema - rejects an unknown node kind', () => {
    const v = mutate((d) => (d.topology.nodes['a-edge'].kind = 'linux_tc'));
    expect(v.some((x) => x.path.startsWith('/topology/nodes/a-edge'))).toBe(true);
  });

  test('schema - rejects an unknown top-level key and a missing topology', () => {
    expect(mutate((d) => (d.nodes = {}))).toContainEqual({ path: '/nodes', message: 'property "nodes" is not allowed here' });
    expect(mutate((d) => delete d.topology)).toContainEqual({ path: '/', message: 'is missing the required property "topology"' });
  });

  test('schema - rejects a bad lab name, an empty label and a malformed mgmt address', () => {
    expect(mutate((d) => (d.name = '-bad name')).map((x) => x.path)).toContain('/name');
    expect(mutate((d) => (d.topology.nodes['a-edge'].labels['qos-broker.domain'] = '')).length).toBeGreaterThan(0);
    expect(mutate((d) => (d.topology.nodes['a-edge']['mgmt-ipv4'] = '198.19.2.300')).length).toBeGreaterThan(0);
  });

  test('schema - rejects a link endpoint without an interface and a bad link address', () => {
    expect(mutate((d) => (d.topology.links[0].endpoints = ['host-a', 'a-edge:eth1'])).length).toBeGreaterThan(0);
    expect(mutate((d) => (d.topology.links[0].ipv4 = ['198.18.10.2', '198.18.10.1/24'])).length).toBeGreaterThan(0);
  });

  test('schema - keywords: oneOf, if/then, const, uniqueItems, not, $ref', () => {
    const s = new JsonSchemaValidator({
      definitions: { port: { type: 'integer', minimum: 1, maximum: 65535 } },
      type: 'object',
      properties: {
        p: { $ref: '#/definitions/port' },
        o: { oneOf: [{ type: 'string' }, { type: 'string', minLength: 2 }] },
        k: { const: 'x' },
        u: { type: 'array', uniqueItems: true },
        n: { not: { type: 'null' } },
      },
      if: { properties: { k: { const: 'x' } }, required: ['k'] },
      then: { required: ['p'] },
    });
    expect(s.validate({ p: 22, o: 'a', k: 'x', u: [1, 2], n: 1 })).toEqual([]);
    expect(s.validate({ p: 0 }).map((x) => x.path)).toEqual(['/p']);
    expect(s.validate({ o: 'ab' })[0]!.message).toMatch(/exactly one/);
    expect(s.validate({ k: 'x' })[0]!.message).toMatch(/required property "p"/);
    expect(s.validate({ u: [1, 1] })[0]!.message).toMatch(/unique/);
    expect(s.validate({ n: null })[0]!.message).toMatch(/not allowed/);
  });

  test('schema - an unsupported keyword is an error, not a silent pass', () => {
    expect(() => new JsonSchemaValidator({ format: 'ipv4' }).validate('x')).toThrow(expect.objectContaining({ code: 'QB_SCHEMA_UNSUPPORTED' }));
  });
});
