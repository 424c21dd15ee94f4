/**
 * `qos-broker peers|domains|adverts [--management unix:PATH|HOST:PORT] [--json]`:
 * ask a running qos-brokerd through its Management service (ListPeers,
 * ListDomains, ListAdverts). The address comes from --management, else
 * $QOS_BROKER_MANAGEMENT (the daemon logs it as "management" when it starts).
 */
import { parseArgs } from 'node:util';
import { managementClient } from './order.js';
import type { ManagementClient } from '../management/client.js';

interface Parsed {
  management?: string;
  json: boolean;
}

function parse(cmd: string, argv: string[]): Parsed | undefined {
  const { values } = parseArgs({ args: argv, options: { management: { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } }, strict: true });
  if (values.help) {
    process.stdout.write(`qos-broker ${cmd} [--management unix:PATH|HOST:PORT] [--json]\n  --management  the daemon's management.listen (default $QOS_BROKER_MANAGEMENT)\n  --json        print JSON\n`);
    return undefined;
  }
  return { management: values.management, json: values.json ?? false };
}

async function ask(o: Parsed, f: (c: ManagementClient) => Promise<Record<string, unknown>>): Promise<Record<string, unknown>> {
  const c = managementClient(o.management);
  try {
    return await f(c);
  } finally {
    c.close();
  }
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd()).join('\n') + '\n';
}

const s = (v: unknown): string => (v === null || v === undefined ? '-' : String(v));

/** `qos-broker peers`: configured peers and their session state. */
export async function peersCommand(argv: string[], out: (t: string) => void = (t) => process.stdout.write(t)): Promise<void> {
  const o = parse('peers', argv);
  if (!o) return;
  const body = await ask(o, (c) => c.peers());
  if (o.json) return out(`${JSON.stringify(body, null, 2)}\n`);
  const peers = body.peers as Record<string, unknown>[];
  out(`domain ${s(body.domain)}: ${peers.length} peer(s)\n`);
  if (peers.length) {
    out(table([['PEER', 'STATE', 'DIRECTION', 'ADDRESS', 'HOLD', 'SINCE', 'LAST ERROR'], ...peers.map((p) => [s(p.domain), s(p.state), s(p.direction), s(p.address), s(p.holdTimeS), s(p.since), s(p.lastError)])]));
  }
}

/** `qos-broker domains`: known domains (advertised, registered, configured keys). */
export async function domainsCommand(argv: string[], out: (t: string) => void = (t) => process.stdout.write(t)): Promise<void> {
  const o = parse('domains', argv);
  if (!o) return;
  const body = await ask(o, (c) => c.domains());
  if (o.json) return out(`${JSON.stringify(body, null, 2)}\n`);
  const ds = body.domains as Record<string, unknown>[];
  out(table([['DOMAIN', 'SEQ', 'EXPIRES', 'KEY FROM', 'REGISTERED', 'CLASSES'], ...ds.map((d) => [`${s(d.domain)}${d.self ? ' (self)' : ''}${d.withdrawn ? ' (withdrawn)' : ''}`, s(d.seq), s(d.expiresAt), s(d.keySource), d.registered ? 'yes' : 'no', (d.classes as string[]).join(',') || '-'])]));
}

/** `qos-broker adverts`: the signed advertisements held. */
export async function advertsCommand(argv: string[], out: (t: string) => void = (t) => process.stdout.write(t)): Promise<void> {
  const o = parse('adverts', argv);
  if (!o) return;
  const body = await ask(o, (c) => c.adverts());
  if (o.json) return out(`${JSON.stringify(body, null, 2)}\n`);
  const ads = body.adverts as { envelope: { origin: string; seq: number; issuedAt: number; expiresAt: number; body: { borders: string[]; transits: unknown[]; links: unknown[] } } }[];
  out(table([['ORIGIN', 'SEQ', 'ISSUED', 'EXPIRES', 'BORDERS', 'TRANSITS', 'LINKS'], ...ads.map((a) => [a.envelope.origin, String(a.envelope.seq), new Date(a.envelope.issuedAt).toISOString(), new Date(a.envelope.expiresAt).toISOString(), a.envelope.body.borders.join(','), String(a.envelope.body.transits.length), String(a.envelope.body.links.length)])]));
}
