#!/usr/bin/env node
/**
 * `qos-broker`: the command line. Command groups map to core functions;
 * errors print their stable code and a message that says what to change.
 */
import { QosBrokerError } from '../../drivers/errors.js';
import { exitCodeOf } from '../errors.js';
import { deviceCommand } from './device.js';
import { demoCommand } from './demo.js';
import { labCommand } from './lab.js';
import { advertsCommand, domainsCommand, peersCommand } from './broker.js';
import { contractCommand } from './contract.js';
import { agreeCommand, quoteCommand } from './agree.js';
import { devicesCommand, orderCommand } from './order.js';
import { apikeyCommand } from './apikey.js';

const USAGE = `qos-broker <command> [options]

commands:
  device <operation>   drive one NETCONF device (qos-broker device --help)
  demo                 four qos-brokerd providers agree and provision a service; as root on a lab with real traffic (qos-broker demo --help)
  lab <operation>      run a containerlab topology as network namespaces (qos-broker lab --help)
  peers                peers of a running qos-brokerd and their session state (--management ADDR, --json)
  domains              domains a running qos-brokerd knows (--management ADDR, --json)
  adverts              advertisements a running qos-brokerd holds (--management ADDR, --json)
  contract verify FILE check an electronic contract's signatures offline
  quote                priced options for a service (--from D/SITE --to D/SITE --class EF --rate 10M --for 2h)
  agree                the agreement alone (nothing provisioned); writes the signed contract (--out FILE)
  order <operation>    orders of a running provider: create, get, list, modify, terminate, check-sync, redeploy (qos-broker order --help)
  devices              the routers of a running provider (--probe: reachability and capabilities)
  apikey <operation>   API keys of the northbound REST API: create, revoke, list (qos-broker apikey --help)
`;

async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  switch (cmd) {
    case 'device':
      await deviceCommand(rest);
      return 0;
    case 'demo':
      await demoCommand(rest);
      return 0;
    case 'lab':
      await labCommand(rest);
      return 0;
    case 'peers':
      await peersCommand(rest);
      return 0;
    case 'domains':
      await domainsCommand(rest);
      return 0;
    case 'adverts':
      await advertsCommand(rest);
      return 0;
    case 'contract':
      await contractCommand(rest);
      return 0;
    case 'quote':
      await quoteCommand(rest);
      return 0;
    case 'agree':
      await agreeCommand(rest);
      return 0;
    case 'order':
      await orderCommand(rest);
      return Number(process.exitCode ?? 0);
    case 'devices':
      await devicesCommand(rest);
      return 0;
    case 'apikey':
      await apikeyCommand(rest);
      return 0;
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(USAGE);
      return cmd === undefined ? 2 : 0;
    default:
      process.stderr.write(`qos-broker: unknown command "${cmd}"\n\n${USAGE}`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    if (err instanceof QosBrokerError) {
      process.stderr.write(`qos-broker: ${err.code}: ${err.message}\n`);
      process.exit(exitCodeOf(err));
    }
    if (err instanceof Error && 'code' in err && String((err as { code: unknown }).code).startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`qos-broker: ${err.message}\n`);
      process.exit(2);
    }
    process.stderr.write(`qos-broker: unexpected error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
