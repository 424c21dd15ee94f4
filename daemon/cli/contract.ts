/**
 * `qos-broker contract verify FILE [--trust FILE] [--json]`: check every
 * signature of an electronic contract offline (a JWS, docs/contract.md) and
 * print who agreed to what; a changed copy fails naming the field.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { parse as parseYaml } from 'yaml';
import { InvalidArgumentError } from '../../drivers/errors.js';
import { verifyContract } from '../agreement/contract.js';

export const CONTRACT_USAGE = `qos-broker contract verify FILE [--trust FILE] [--json]

  FILE          a signed contract: a JWS in the JSON General Serialization (docs/contract.md)
  --trust FILE  YAML or JSON map of domain id -> Ed25519 public key (PEM or raw base64);
                without it the keys listed in the contract itself are used
  --json        print the summary as JSON`;

function readJsonOrYaml(path: string, what: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new InvalidArgumentError(`cannot read ${what} ${path}: ${(err as Error).message}`);
  }
  try {
    return path.endsWith('.json') ? JSON.parse(text) : parseYaml(text);
  } catch (err) {
    throw new InvalidArgumentError(`${what} ${path} is not valid ${path.endsWith('.json') ? 'JSON' : 'YAML/JSON'}: ${(err as Error).message}`);
  }
}

export async function contractCommand(argv: string[], out: (s: string) => void = (s) => process.stdout.write(s + '\n')): Promise<void> {
  const { values, positionals } = parseArgs({ args: argv, allowPositionals: true, options: { trust: { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } } });
  if (values.help) return out(CONTRACT_USAGE);
  const [op, file] = positionals;
  if (op !== 'verify') throw new InvalidArgumentError(`unknown contract operation "${op ?? ''}"; usage:\n${CONTRACT_USAGE}`);
  if (!file) throw new InvalidArgumentError('contract verify needs the contract FILE');
  let trusted: Record<string, string> | undefined;
  if (values.trust) {
    const t = readJsonOrYaml(values.trust, 'trust file');
    if (!t || typeof t !== 'object' || Array.isArray(t) || Object.values(t).some((v) => typeof v !== 'string')) {
      throw new InvalidArgumentError(`trust file ${values.trust} must map domain ids to public keys (strings)`);
    }
    trusted = t as Record<string, string>;
  }
  const contract = readJsonOrYaml(file, 'contract');
  const summary = verifyContract(contract, trusted);
  if (values.json) return out(JSON.stringify(summary));
  out(`OK: signed by ${summary.signedBy.join(', ')}${summary.selfAsserted ? ' (keys as listed in the contract; pass --trust to pin them)' : ' (keys match the trust file)'}`);
  for (const l of summary.lines) out(l);
}
