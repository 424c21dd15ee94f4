/**
 * NETCONF operations as pure request builders: each returns the `<rpc>` body
 * and the capabilities it needs. No I/O here, so every request can be tested
 * as text; client.ts checks the capabilities and sends.
 */
import { InvalidArgumentError } from '../errors.js';
import { NS_NOTIFICATION, NS_WITH_DEFAULTS, escapeXml } from './xml.js';

/** A datastore name, or a URL (needs `:url`). */
export type Datastore = 'running' | 'candidate' | 'startup' | { url: string };

/** A subtree filter (XML) or an XPath filter (needs `:xpath`). */
export type Filter =
  | { type: 'subtree'; xml: string }
  | { type: 'xpath'; select: string; /** prefix → namespace for the expression */ namespaces?: Record<string, string> };

/** with-defaults retrieval mode (RFC 6243). */
export type WithDefaults = 'report-all' | 'report-all-tagged' | 'trim' | 'explicit';

/** A request ready to send: body and the capability it needs (any one of each group). */
export interface Request {
  operation: string;
  body: string;
  /** Each inner list is a set of alternatives; every group must be satisfied. */
  requires: string[][];
}

function datastore(d: Datastore, role: string, requires: string[][]): string {
  if (typeof d === 'object') {
    requires.push([':url']);
    return `<url>${escapeXml(d.url)}</url>`;
  }
  if (d === 'candidate') requires.push([':candidate']);
  else if (d === 'startup') requires.push([':startup']);
  else if (d !== 'running') throw new InvalidArgumentError(`unknown ${role} datastore "${String(d)}": use running, candidate, startup or { url }`);
  return `<${d}/>`;
}

function filterXml(f: Filter | undefined, requires: string[][]): string {
  if (!f) return '';
  if (f.type === 'subtree') return `<filter type="subtree">${f.xml}</filter>`;
  requires.push([':xpath']);
  const ns = Object.entries(f.namespaces ?? {})
    .map(([p, uri]) => ` xmlns:${p}="${escapeXml(uri)}"`)
    .join('');
  return `<filter type="xpath"${ns} select="${escapeXml(f.select)}"/>`;
}

const WITH_DEFAULTS_MODES: readonly string[] = ['report-all', 'report-all-tagged', 'trim', 'explicit'];

function withDefaultsXml(w: WithDefaults | undefined, requires: string[][]): string {
  if (!w) return '';
  if (!WITH_DEFAULTS_MODES.includes(w)) throw new InvalidArgumentError(`with-defaults must be one of ${WITH_DEFAULTS_MODES.join(', ')} (RFC 6243), not "${w}"`);
  requires.push([':with-defaults']);
  return `<with-defaults xmlns="${NS_WITH_DEFAULTS}">${w}</with-defaults>`;
}

export function get(o: { filter?: Filter; withDefaults?: WithDefaults } = {}): Request {
  const requires: string[][] = [];
  return { operation: 'get', body: `<get>${filterXml(o.filter, requires)}${withDefaultsXml(o.withDefaults, requires)}</get>`, requires };
}

export function getConfig(o: { source?: Datastore; filter?: Filter; withDefaults?: WithDefaults } = {}): Request {
  const requires: string[][] = [];
  const src = datastore(o.source ?? 'running', 'source', requires);
  return {
    operation: 'get-config',
    body: `<get-config><source>${src}</source>${filterXml(o.filter, requires)}${withDefaultsXml(o.withDefaults, requires)}</get-config>`,
    requires,
  };
}

/** Options of edit-config (RFC 6241 section 7.2). */
export interface EditConfigOptions {
  /** @default 'candidate' */
  target?: 'running' | 'candidate';
  /** The `<config>` content: XML of the data model. Or a URL (needs `:url`). */
  config: string | { url: string };
  defaultOperation?: 'merge' | 'replace' | 'none';
  /** Needs `:validate`. */
  testOption?: 'test-then-set' | 'set' | 'test-only';
  /** `rollback-on-error` needs `:rollback-on-error`. */
  errorOption?: 'stop-on-error' | 'continue-on-error' | 'rollback-on-error';
}

export function editConfig(o: EditConfigOptions): Request {
  const requires: string[][] = [];
  const target = o.target ?? 'candidate';
  if (target === 'running') requires.push([':writable-running']);
  else if (target === 'candidate') requires.push([':candidate']);
  else throw new InvalidArgumentError(`edit-config target must be running or candidate, not "${String(target)}"`);
  let body = `<edit-config><target><${target}/></target>`;
  if (o.defaultOperation) {
    if (!['merge', 'replace', 'none'].includes(o.defaultOperation)) throw new InvalidArgumentError(`default-operation must be merge, replace or none, not "${o.defaultOperation}"`);
    body += `<default-operation>${o.defaultOperation}</default-operation>`;
  }
  if (o.testOption) {
    if (!['test-then-set', 'set', 'test-only'].includes(o.testOption)) throw new InvalidArgumentError(`test-option must be test-then-set, set or test-only, not "${o.testOption}"`);
    requires.push(o.testOption === 'test-only' ? [':validate:1.1'] : [':validate:1.0', ':validate:1.1']);
    body += `<test-option>${o.testOption}</test-option>`;
  }
  if (o.errorOption) {
    if (!['stop-on-error', 'continue-on-error', 'rollback-on-error'].includes(o.errorOption)) throw new InvalidArgumentError(`error-option must be stop-on-error, continue-on-error or rollback-on-error, not "${o.errorOption}"`);
    if (o.errorOption === 'rollback-on-error') requires.push([':rollback-on-error']);
    body += `<error-option>${o.errorOption}</error-option>`;
  }
  if (typeof o.config === 'object') {
    requires.push([':url']);
    body += `<url>${escapeXml(o.config.url)}</url>`;
  } else {
    body += `<config>${o.config}</config>`;
  }
  return { operation: 'edit-config', body: body + '</edit-config>', requires };
}

export function copyConfig(o: { target: Datastore; source: Datastore | { config: string } }): Request {
  const requires: string[][] = [];
  if (o.target === 'running') requires.push([':writable-running']);
  const target = datastore(o.target, 'target', requires);
  const source = typeof o.source === 'object' && 'config' in o.source ? `<config>${o.source.config}</config>` : datastore(o.source as Datastore, 'source', requires);
  return { operation: 'copy-config', body: `<copy-config><target>${target}</target><source>${source}</source></copy-config>`, requires };
}

export function deleteConfig(o: { target: 'startup' | 'candidate' | { url: string } }): Request {
  if ((o.target as string) === 'running') throw new InvalidArgumentError('delete-config cannot target running (RFC 6241 section 7.4)');
  const requires: string[][] = [];
  return { operation: 'delete-config', body: `<delete-config><target>${datastore(o.target, 'target', requires)}</target></delete-config>`, requires };
}

export function lock(target: 'running' | 'candidate' | 'startup'): Request {
  const requires: string[][] = [];
  return { operation: 'lock', body: `<lock><target>${datastore(target, 'target', requires)}</target></lock>`, requires };
}

export function unlock(target: 'running' | 'candidate' | 'startup'): Request {
  const requires: string[][] = [];
  return { operation: 'unlock', body: `<unlock><target>${datastore(target, 'target', requires)}</target></unlock>`, requires };
}

export function validate(source: Datastore | { config: string } = 'candidate'): Request {
  const requires: string[][] = [[':validate:1.0', ':validate:1.1']];
  const src = typeof source === 'object' && 'config' in source ? `<config>${source.config}</config>` : datastore(source as Datastore, 'source', requires);
  return { operation: 'validate', body: `<validate><source>${src}</source></validate>`, requires };
}

/** Options of commit (RFC 6241 section 8.3 and 8.4). */
export interface CommitOptions {
  /** Confirmed commit: rolls back unless confirmed within confirmTimeoutS. */
  confirmed?: boolean;
  /** Seconds before an unconfirmed commit rolls back. @default 600 (server side) */
  confirmTimeoutS?: number;
  /** Make the confirmed commit survive this session; confirm later with persistId (needs :confirmed-commit:1.1). */
  persist?: string;
  /** Confirm (or extend) a persisted confirmed commit from any session. */
  persistId?: string;
}

export function commit(o: CommitOptions = {}): Request {
  const requires: string[][] = [[':candidate']];
  let body = '<commit>';
  if (o.confirmed) {
    requires.push([':confirmed-commit:1.0', ':confirmed-commit:1.1']);
    body += '<confirmed/>';
    if (o.confirmTimeoutS !== undefined) {
      if (!Number.isInteger(o.confirmTimeoutS) || o.confirmTimeoutS < 1) throw new InvalidArgumentError(`confirm-timeout must be a whole number of seconds >= 1, not ${o.confirmTimeoutS}`);
      body += `<confirm-timeout>${o.confirmTimeoutS}</confirm-timeout>`;
    }
  } else if (o.confirmTimeoutS !== undefined) {
    throw new InvalidArgumentError('confirm-timeout only applies to a confirmed commit (set confirmed)');
  }
  if (o.persist !== undefined) {
    if (!o.confirmed) throw new InvalidArgumentError('persist only applies to a confirmed commit (set confirmed)');
    requires.push([':confirmed-commit:1.1']);
    body += `<persist>${escapeXml(o.persist)}</persist>`;
  }
  if (o.persistId !== undefined) {
    requires.push([':confirmed-commit:1.1']);
    body += `<persist-id>${escapeXml(o.persistId)}</persist-id>`;
  }
  return { operation: 'commit', body: body + '</commit>', requires };
}

export function cancelCommit(o: { persistId?: string } = {}): Request {
  return {
    operation: 'cancel-commit',
    body: o.persistId !== undefined ? `<cancel-commit><persist-id>${escapeXml(o.persistId)}</persist-id></cancel-commit>` : '<cancel-commit/>',
    requires: [[':confirmed-commit:1.1']],
  };
}

export function discardChanges(): Request {
  return { operation: 'discard-changes', body: '<discard-changes/>', requires: [[':candidate']] };
}

export function closeSession(): Request {
  return { operation: 'close-session', body: '<close-session/>', requires: [] };
}

export function killSession(sessionId: number): Request {
  if (!Number.isInteger(sessionId) || sessionId < 1) throw new InvalidArgumentError(`kill-session needs a session id >= 1, not ${sessionId}`);
  return { operation: 'kill-session', body: `<kill-session><session-id>${sessionId}</session-id></kill-session>`, requires: [] };
}

/** Options of create-subscription (RFC 5277). */
export interface SubscriptionOptions {
  /** @default 'NETCONF' */
  stream?: string;
  /** Subtree filter XML. */
  filter?: string;
  /** Replay from this time (needs :notification replay support on the stream). */
  startTime?: string;
  stopTime?: string;
}

export function createSubscription(o: SubscriptionOptions = {}): Request {
  let body = `<create-subscription xmlns="${NS_NOTIFICATION}">`;
  if (o.stream) body += `<stream>${escapeXml(o.stream)}</stream>`;
  if (o.filter) body += `<filter type="subtree">${o.filter}</filter>`;
  if (o.startTime) body += `<startTime>${escapeXml(o.startTime)}</startTime>`;
  if (o.stopTime) {
    if (!o.startTime) throw new InvalidArgumentError('stopTime needs startTime (RFC 5277 section 2.1.1)');
    body += `<stopTime>${escapeXml(o.stopTime)}</stopTime>`;
  }
  return { operation: 'create-subscription', body: body + '</create-subscription>', requires: [[':notification']] };
}
