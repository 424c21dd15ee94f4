import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { describe, expect, test } from 'vitest';

/**
 * The import boundaries of docs/architecture.md, one row each: no file under
 * `from` may import a module whose path (or package name) starts with one of
 * `forbid`, except those listed in `except`.
 */
const RULES: Array<{ from: string; forbid: string[]; except?: string[]; why: string }> = [
  { from: 'drivers/', forbid: ['daemon/', 'lab/'], why: 'drivers know nothing of brokers or the lab' },
  { from: 'lab/', forbid: ['daemon/'], why: 'the lab runs devices; the daemon drives it, not the other way round' },
  {
    from: 'daemon/topology/',
    forbid: ['daemon/state/', 'daemon/peering/', 'daemon/agreement/', 'daemon/provisioning/', 'daemon/config/', 'daemon/cli/', 'drivers/', 'node:fs', 'node:net', 'node:http', 'node:child_process', 'ioredis', '@grpc/'],
    except: ['drivers/errors.ts'],
    why: 'topology is pure: the graph and path computation, no state, peering, agreement or I/O',
  },
  { from: 'daemon/crypto/', forbid: ['daemon/peering/', 'daemon/agreement/', 'daemon/state/', 'daemon/topology/'], why: 'canonical JSON and keys are shared below peering and agreement' },
  { from: 'daemon/state/', forbid: ['daemon/peering/', 'daemon/agreement/', 'daemon/topology/', 'daemon/provisioning/', 'drivers/'], except: ['drivers/errors.ts'], why: 'the resource store knows links, classes and slots, not who books them' },
  { from: 'daemon/rpc/', forbid: ['daemon/', 'drivers/'], except: ['drivers/errors.ts'], why: 'the call multiplexer is generic: it knows ids, deadlines and draining, no message of the broker' },
  { from: 'daemon/peering/', forbid: ['daemon/agreement/', 'daemon/provisioning/'], why: 'peering advertises and floods; agreements are built on it, not in it' },
  { from: 'daemon/agreement/', forbid: ['drivers/', 'daemon/provisioning/'], except: ['drivers/errors.ts'], why: 'agreement reserves and signs; devices are reached by provisioning, driven by the workflow' },
  { from: 'daemon/exchange/', forbid: ['drivers/', 'daemon/state/', 'daemon/workflow/'], except: ['drivers/errors.ts'], why: 'the exchange holds no capacity and reaches no device: it brokers what providers advertise' },
  { from: 'daemon/northbound/', forbid: ['drivers/', 'daemon/provisioning/', 'daemon/state/'], except: ['drivers/errors.ts'], why: 'the northbound reaches devices and state only through the workflow' },
];

const ROOT = join(import.meta.dirname, '..', '..');

/** Every module a source names: static imports and re-exports, `import type`, dynamic `import()`. */
function specifiers(text: string): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(/^\s*(?:import|export)\s[^'"]*?\sfrom\s+['"]([^'"]+)['"]/gm)) out.push(m[1]!);
  for (const m of text.matchAll(/^\s*import\s+['"]([^'"]+)['"]/gm)) out.push(m[1]!);
  for (const m of text.matchAll(/\bimport\(\s*['"]([^'"]+)['"]\s*\)/g)) out.push(m[1]!);
  return out;
}

/** A specifier as a repository path (`daemon/errors.ts`), or as itself for a package or node: module. */
function target(file: string, spec: string): string {
  if (!spec.startsWith('.')) return spec;
  return normalize(join(dirname(file), spec)).replace(/\.js$/, '.ts');
}

/** The imports of `files` (path -> source) that break a rule. */
export function violations(files: Array<{ file: string; text: string }>): string[] {
  const bad: string[] = [];
  for (const { file, text } of files) {
    for (const rule of RULES) {
      if (!file.startsWith(rule.from)) continue;
      for (const spec of specifiers(text)) {
        const to = target(file, spec);
        if (rule.except?.includes(to)) continue;
        if (rule.forbid.some((f) => to.startsWith(f))) bad.push(`${file} imports ${to}: ${rule.why}`);
      }
    }
  }
  return bad;
}

function sources(dir: string): Array<{ file: string; text: string }> {
  return readdirSync(join(ROOT, dir), { withFileTypes: true, recursive: true })
    .filter((d) => d.isFile() && d.name.endsWith('.ts'))
    .map((d) => join(d.parentPath, d.name))
    .map((p) => ({ file: relative(ROOT, p), text: readFileSync(p, 'utf8') }));
}

describe('architecture - import boundaries', () => {
  test('architecture - no import in daemon/, drivers/ or lab/ crosses a forbidden line', () => {
    const files = ['daemon', 'drivers', 'lab'].flatMap(sources);
    expect(files.length).toBeGreaterThan(50);
    expect(violations(files)).toEqual([]);
  });

  test('architecture - the check sees a crossing: static, type-only, re-export and dynamic imports', () => {
    const found = violations([
      { file: 'drivers/ssh/x.ts', text: "import { PeeringCore } from '../../daemon/peering/peering-core.js';" },
      { file: 'drivers/netconf/y.ts', text: "import type {\n  LabPlan,\n} from '../../lab/runner.js';" },
      { file: 'daemon/topology/z.ts', text: "export { RedisResourceStore } from '../state/redis-store.js';\nconst m = await import('../peering/advert.js');" },
      { file: 'daemon/topology/w.ts', text: "import { readFileSync } from 'node:fs';\nimport { InvalidArgumentError } from '../../drivers/errors.js';" },
      { file: 'daemon/agreement/v.ts', text: "import { QosBrokerError } from '../../drivers/errors.js';\nimport { NetconfClient } from '../../drivers/netconf/client.js';" },
    ]);
    expect(found).toEqual([
      'drivers/ssh/x.ts imports daemon/peering/peering-core.ts: drivers know nothing of brokers or the lab',
      'drivers/netconf/y.ts imports lab/runner.ts: drivers know nothing of brokers or the lab',
      'daemon/topology/z.ts imports daemon/state/redis-store.ts: topology is pure: the graph and path computation, no state, peering, agreement or I/O',
      'daemon/topology/z.ts imports daemon/peering/advert.ts: topology is pure: the graph and path computation, no state, peering, agreement or I/O',
      'daemon/topology/w.ts imports node:fs: topology is pure: the graph and path computation, no state, peering, agreement or I/O',
      'daemon/agreement/v.ts imports drivers/netconf/client.ts: agreement reserves and signs; devices are reached by provisioning, driven by the workflow',
    ]);
  });
});
