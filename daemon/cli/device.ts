/**
 * `qos-broker device ...`: drive one NETCONF device from the shell. Each
 * sub-command is one client operation; results go to stdout, errors to
 * stderr with their code.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { NetconfClient, type NetconfClientOptions } from '../../drivers/netconf/client.js';
import { InvalidArgumentError, TimeoutError } from '../../drivers/errors.js';
import type { Filter, WithDefaults } from '../../drivers/netconf/operations.js';

export const DEVICE_USAGE = `qos-broker device <operation> [options]

operations:
  hello                       print session id, framing and server capabilities
  get                         <get> operational + config data
  get-config                  <get-config> (--source running|candidate|startup)
  edit-config                 --config XML|@FILE [--target candidate|running]
                              [--default-operation merge|replace|none]
                              [--test-option test-then-set|set|test-only]
                              [--error-option stop-on-error|continue-on-error|rollback-on-error]
  copy-config                 --target DS --source DS
  delete-config               --target startup|candidate
  lock | unlock               [--target candidate|running|startup]
  validate                    [--source candidate|running]
  commit                      [--confirmed] [--confirm-timeout S] [--persist ID] [--persist-id ID]
  cancel-commit               [--persist-id ID]
  discard-changes
  kill-session                --session-id N
  subscribe                   [--stream NETCONF] [--count N] [--seconds S]  print notifications

connection:
  --host H  --port P (830)  --user U  --key FILE | --password PW (or env QOS_BROKER_SSH_PASSWORD)
  --known-hosts FILE | --fingerprint SHA256:...   [--trust-on-first-use]
  --hello-settle-ms MS (0; 20 for lab netconfd)  --timeout-ms MS (60000)
filters (get, get-config):  --filter XML|@FILE (subtree)  --xpath EXPR [--ns prefix=uri ...]
                            --with-defaults report-all|report-all-tagged|trim|explicit`;

function readArg(v: string | undefined): string | undefined {
  if (v === undefined) return undefined;
  if (v.startsWith('@')) {
    try {
      return readFileSync(v.slice(1), 'utf8');
    } catch (err) {
      throw new InvalidArgumentError(`cannot read ${v.slice(1)}: ${(err as Error).message}`);
    }
  }
  return v;
}

function int(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v)) throw new InvalidArgumentError(`--${name} must be a whole number, not "${v}"`);
  return Number(v);
}

function positive(name: string, v: number | undefined): number | undefined {
  if (v !== undefined && v < 1) throw new InvalidArgumentError(`--${name} must be at least 1`);
  return v;
}

export async function deviceCommand(argv: string[], out: (s: string) => void = (s) => process.stdout.write(s + '\n')): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      host: { type: 'string' },
      port: { type: 'string' },
      user: { type: 'string' },
      key: { type: 'string' },
      password: { type: 'string' },
      'known-hosts': { type: 'string' },
      fingerprint: { type: 'string', multiple: true },
      'trust-on-first-use': { type: 'boolean' },
      'hello-settle-ms': { type: 'string' },
      'timeout-ms': { type: 'string' },
      source: { type: 'string' },
      target: { type: 'string' },
      config: { type: 'string' },
      filter: { type: 'string' },
      xpath: { type: 'string' },
      ns: { type: 'string', multiple: true },
      'with-defaults': { type: 'string' },
      'default-operation': { type: 'string' },
      'test-option': { type: 'string' },
      'error-option': { type: 'string' },
      confirmed: { type: 'boolean' },
      'confirm-timeout': { type: 'string' },
      persist: { type: 'string' },
      'persist-id': { type: 'string' },
      'session-id': { type: 'string' },
      stream: { type: 'string' },
      count: { type: 'string' },
      seconds: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const operation = positionals[0];
  if (values.help || !operation) {
    out(DEVICE_USAGE);
    if (!operation && !values.help) throw new InvalidArgumentError('no device operation given');
    return;
  }
  if (!values.host) throw new InvalidArgumentError('--host is required');
  if (!values.user) throw new InvalidArgumentError('--user is required');
  const options: NetconfClientOptions = {
    host: values.host,
    port: int('port', values.port) ?? 830,
    username: values.user,
    privateKeyFile: values.key,
    password: values.password ?? process.env.QOS_BROKER_SSH_PASSWORD,
    knownHostsFile: values['known-hosts'],
    fingerprints: values.fingerprint,
    trustOnFirstUse: values['trust-on-first-use'],
    helloSettleMs: int('hello-settle-ms', values['hello-settle-ms']),
    rpcTimeoutMs: positive('timeout-ms', int('timeout-ms', values['timeout-ms'])),
  };
  const filter: Filter | undefined = values.xpath
    ? {
        type: 'xpath',
        select: values.xpath,
        namespaces: Object.fromEntries(
          (values.ns ?? []).map((kv) => {
            const i = kv.indexOf('=');
            if (i < 1) throw new InvalidArgumentError(`--ns must be prefix=uri, not "${kv}"`);
            return [kv.slice(0, i), kv.slice(i + 1)];
          }),
        ),
      }
    : values.filter
      ? { type: 'subtree', xml: readArg(values.filter)! }
      : undefined;
  const withDefaults = values['with-defaults'] as WithDefaults | undefined;
  const known = ['hello', 'get', 'get-config', 'edit-config', 'copy-config', 'delete-config', 'lock', 'unlock', 'validate', 'commit', 'cancel-commit', 'discard-changes', 'kill-session', 'subscribe'];
  if (!known.includes(operation)) throw new InvalidArgumentError(`unknown device operation "${operation}"; one of: ${known.join(', ')}`);
  const client = await NetconfClient.connect(options);
  try {
    switch (operation) {
      case 'hello':
        out(`session-id ${client.sessionId}, framing ${client.session.framing === 'chunked' ? 'base:1.1 chunked' : 'base:1.0 end-of-message'}`);
        for (const c of client.capabilities.list) out(c.uri);
        break;
      case 'get':
        out((await client.get({ filter, withDefaults })).trim());
        break;
      case 'get-config':
        out((await client.getConfig({ source: (values.source as 'running') ?? 'running', filter, withDefaults })).trim());
        break;
      case 'edit-config': {
        const config = readArg(values.config);
        if (!config) throw new InvalidArgumentError('edit-config needs --config XML or --config @FILE');
        await client.editConfig({
          target: (values.target as 'candidate') ?? 'candidate',
          config,
          defaultOperation: values['default-operation'] as 'merge',
          testOption: values['test-option'] as 'set',
          errorOption: values['error-option'] as 'stop-on-error',
        });
        out('ok');
        break;
      }
      case 'copy-config':
        if (!values.target || !values.source) throw new InvalidArgumentError('copy-config needs --target and --source');
        await client.copyConfig({ target: values.target as 'running', source: values.source as 'candidate' });
        out('ok');
        break;
      case 'delete-config':
        if (!values.target) throw new InvalidArgumentError('delete-config needs --target startup|candidate');
        await client.deleteConfig({ target: values.target as 'startup' });
        out('ok');
        break;
      case 'lock':
      case 'unlock':
        await client[operation]((values.target as 'candidate') ?? 'candidate');
        out('ok');
        break;
      case 'validate':
        await client.validate((values.source as 'candidate') ?? 'candidate');
        out('ok');
        break;
      case 'commit':
        await client.commit({
          confirmed: values.confirmed,
          confirmTimeoutS: int('confirm-timeout', values['confirm-timeout']),
          persist: values.persist,
          persistId: values['persist-id'],
        });
        out('ok');
        break;
      case 'cancel-commit':
        await client.cancelCommit({ persistId: values['persist-id'] });
        out('ok');
        break;
      case 'discard-changes':
        await client.discardChanges();
        out('ok');
        break;
      case 'kill-session': {
        const id = int('session-id', values['session-id']);
        if (id === undefined) throw new InvalidArgumentError('kill-session needs --session-id N');
        await client.killSession(id);
        out('ok');
        break;
      }
      case 'subscribe': {
        const count = int('count', values.count) ?? 1;
        const seconds = int('seconds', values.seconds) ?? 30;
        // notifications of one read arrive together: queue them, then print in order
        const queue: string[] = [];
        let wake: (() => void) | undefined;
        const off = client.onNotification((n) => {
          queue.push(n.xml.trim());
          wake?.();
        });
        try {
          await client.createSubscription({ stream: values.stream });
          const end = Date.now() + seconds * 1000;
          for (let i = 0; i < count; i++) {
            while (queue.length === 0) {
              const left = end - Date.now();
              if (left <= 0) throw new TimeoutError('QB_NETCONF_NOTIFICATION_TIMEOUT', `only ${i} of ${count} notifications arrived within ${seconds} s (--seconds)`);
              await new Promise<void>((r) => {
                wake = r;
                setTimeout(r, left);
              });
            }
            out(queue.shift()!);
          }
        } finally {
          off();
        }
        break;
      }
    }
  } finally {
    await client.close();
  }
}
