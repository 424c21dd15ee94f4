/**
 * `qos-broker apikey <operation>`: API keys of a running provider's
 * northbound REST API, through its Management service.
 *
 *   apikey create --role customer --customer acme [--description TEXT]
 *   apikey create --role operator
 *   apikey revoke ID | apikey list [--customer C]
 */
import { parseArgs } from 'node:util';
import { InvalidArgumentError } from '../../drivers/errors.js';
import { managementClient } from './order.js';

export const APIKEY_USAGE = `qos-broker apikey <operation> [options]   (--management unix:PATH|HOST:PORT, default $QOS_BROKER_MANAGEMENT)

  create --role customer|operator [--customer NAME] [--description TEXT]
                         a new key; printed once (the daemon keeps only its SHA-256)
  revoke ID              the key stops working at once
  list [--customer NAME] keys with role, customer and state (never the secret)
  every operation takes --json`;

export async function apikeyCommand(argv: string[], out: (t: string) => void = (t) => process.stdout.write(t)): Promise<void> {
  const [op, ...rest] = argv;
  const s = { type: 'string' } as const;
  const { values, positionals } = parseArgs({ args: rest, strict: true, allowPositionals: true, options: { role: s, customer: s, description: s, management: s, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } } });
  if (!op || values.help || op === 'help') return out(`${APIKEY_USAGE}\n`);
  const c = managementClient(values.management);
  try {
    switch (op) {
      case 'create': {
        if (!values.role) throw new InvalidArgumentError(`--role customer|operator is required; usage:\n${APIKEY_USAGE}`);
        const r = await c.createApiKey(values.role, values.customer ?? '', values.description ?? '');
        if (values.json) return out(`${JSON.stringify(r, null, 2)}\n`);
        return out(`api key ${r.key.id} (${r.key.role}${r.key.customer ? ` ${r.key.customer}` : ''}); shown only now, keep it:\n${r.secret}\n`);
      }
      case 'revoke': {
        if (positionals.length !== 1) throw new InvalidArgumentError(`qos-broker apikey revoke takes one key id, got ${positionals.length}`);
        const k = await c.revokeApiKey(positionals[0]!);
        return out(values.json ? `${JSON.stringify(k, null, 2)}\n` : `api key ${k.id} revoked at ${k.revoked_at}\n`);
      }
      case 'list': {
        const keys = await c.listApiKeys(values.customer);
        if (values.json) return out(`${JSON.stringify(keys, null, 2)}\n`);
        for (const k of keys) out(`${k.id}  ${k.role.padEnd(8)} ${(k.customer || '-').padEnd(12)} ${k.revoked_at ? `revoked ${k.revoked_at}` : 'active'}  ${k.description}\n`);
        return;
      }
      default:
        throw new InvalidArgumentError(`unknown apikey operation ${JSON.stringify(op)}; usage:\n${APIKEY_USAGE}`);
    }
  } finally {
    c.close();
  }
}
