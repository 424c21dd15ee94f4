/**
 * `qos-broker peers|domains|adverts [--management unix:PATH|HOST:PORT] [--json]`:
 * ask a running qos-brokerd through its Management service (ListPeers,
 * ListDomains, ListAdverts). The address comes from --management, else
 * $QOS_BROKER_MANAGEMENT (the daemon logs it as "management" when it starts).
 * An exchange serves no Management service: `--admin HOST:PORT` reads the same
 * views from a daemon's loopback admin endpoint (admin.listen) instead.
 */
import { parseArgs } from 'node:util';
import { InvalidArgumentError } from '../../drivers/errors.js';
import { AdminError } from '../errors.js';
import { managementClient } from './order.js';
import type { ManagementClient } from '../management/client.js';

interface Parsed {
  management?: string;
  admin?: string;
  json: boolean;
}

function parse(cmd: string, argv: string[]): Parsed | undefined {
  const { values } = parseArgs({ args: argv, options: { management: { type: 'string' }, admin: { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } }, strict: true });
  if (values.help) {
    process.stdout.write(`qos-broker ${cmd} [--management unix:PATH|HOST:PORT | --admin HOST:PORT] [--json]\n  --management  the daemon's management.listen (default $QOS_BROKER_MANAGEMENT)\n  --admin       an exchange's (or any daemon's) admin.listen instead\n  --json        print JSON\n`);
    return undefined;
  }
  if (values.admin !== undefined && values.management !== undefined) throw new InvalidArgumentError('--admin and --management name two daemons: give one');
  if (values.admin !== undefined && !/^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):\d{1,5}$/.test(values.admin)) throw new InvalidArgumentError(`--admin must be host:port (the daemon's admin.listen), got ${JSON.stringify(values.admin)}`);
  return { management: values.management, admin: values.admin, json: values.json ?? false };
}

/** An exchange's views, from its admin endpoint. */
async function fetchAdmin(admin: string, path: string): Promise<Record<string, unknown>> {
  let res: Response;
  try {
    res = await fetch(`http://${admin}${path}`, { signal: AbortSignal.timeout(5000) });
  } catch (err) {
    throw new AdminError(
      'QB_ADMIN_UNREACHABLE',
      `cannot reach qos-brokerd's admin endpoint at ${admin}: ${err instanceof Error ? (err.cause instanceof Error ? err.cause.message : err.message) : String(err)}; is the daemon running with admin.listen set to that address? (use --admin HOST:PORT)`,
      { cause: err },
    );
  }
  const body = (await res.json()) as Record<string, unknown>;
  if (!res.ok) throw new AdminError('QB_ADMIN_ERROR', `admin endpoint ${admin}${path} answered ${res.status}: ${String(body.error ?? '')}`);
  return body;
}

async function ask(o: Parsed, f: (c: ManagementClient) => Promise<Record<string, unknown>>, path: string): Promise<Record<string, unknown>> {
  if (o.admin !== undefined) return fetchAdmin(o.admin, path);
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
  const body = await ask(o, (c) => c.peers(), '/v1/peers');
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
  const body = await ask(o, (c) => c.domains(), '/v1/domains');
  if (o.json) return out(`${JSON.stringify(body, null, 2)}\n`);
  const ds = body.domains as Record<string, unknown>[];
  out(table([['DOMAIN', 'SEQ', 'EXPIRES', 'KEY FROM', 'REGISTERED', 'CLASSES'], ...ds.map((d) => [`${s(d.domain)}${d.self ? ' (self)' : ''}${d.withdrawn ? ' (withdrawn)' : ''}`, s(d.seq), s(d.expiresAt), s(d.keySource), d.registered ? 'yes' : 'no', (d.classes as string[]).join(',') || '-'])]));
}

/** `qos-broker adverts`: the signed advertisements held. */
export async function advertsCommand(argv: string[], out: (t: string) => void = (t) => process.stdout.write(t)): Promise<void> {
  const o = parse('adverts', argv);
  if (!o) return;
  const body = await ask(o, (c) => c.adverts(), '/v1/adverts');
  if (o.json) return out(`${JSON.stringify(body, null, 2)}\n`);
  const ads = body.adverts as { envelope: { origin: string; seq: number; issuedAt: number; expiresAt: number; body: { borders: string[]; transits: unknown[]; links: unknown[] } } }[];
  out(table([['ORIGIN', 'SEQ', 'ISSUED', 'EXPIRES', 'BORDERS', 'TRANSITS', 'LINKS'], ...ads.map((a) => [a.envelope.origin, String(a.envelope.seq), new Date(a.envelope.issuedAt).toISOString(), new Date(a.envelope.expiresAt).toISOString(), a.envelope.body.borders.join(','), String(a.envelope.body.transits.length), String(a.envelope.body.links.length)])]));
}
