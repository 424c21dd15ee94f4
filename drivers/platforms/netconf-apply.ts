/**
 * Transactional apply and remove for NETCONF platforms (RFC 6241 :candidate
 * and :confirmed-commit):
 *
 *   lock candidate -> discard-changes (start clean) -> edit-config per
 *   payload (or the platform's load RPC) -> commit confirmed with a timeout
 *   -> verify by reading running back -> confirming commit -> unlock.
 *
 * With :confirmed-commit:1.1 the confirmed commit carries a persist id and
 * is confirmed (or cancelled) by it, so a confirmation that comes after the
 * device already rolled back fails instead of committing nothing. (A
 * persisted confirmed commit outlives the session: if the session drops
 * before the confirmation, the device rolls back at the timeout rather than
 * at once.)
 * On any failure before the confirmed commit, discard-changes leaves
 * running untouched. After it, the change is cancelled with
 * `<cancel-commit>` when the server has :confirmed-commit:1.1; with 1.0
 * only, the server rolls the confirmed commit back by itself when the
 * timeout expires (or when this session ends). The lock is always released.
 * Capabilities are checked before anything is sent.
 */
import { randomUUID } from 'node:crypto';
import { parseStringPromise } from 'xml2js';
import type { NetconfClient } from '../netconf/client.js';
import { innerXml } from '../netconf/xml.js';
import { CapabilityNotSupportedError, ProvisioningError, QosBrokerError } from '../errors.js';
import type { ResolvedPolicy } from '../policy/types.js';
import type { NetconfPayload, Platform } from './types.js';

/** Options of one NETCONF apply or remove. */
export interface NetconfApplyOptions {
  /** Seconds the confirmed commit waits for its confirmation before the device rolls it back. @default 60 */
  confirmTimeoutS?: number;
  /** Per-RPC timeout, ms. @default the session's */
  rpcTimeoutMs?: number;
  /**
   * Compare what was read back from running with what was expected; returns
   * the differences ([] when verified). @default leafContainment
   */
  verify?: (expectedConfig: string, runningData: string) => Promise<string[]>;
  /**
   * After the confirmed commit, on failure: `cancel` sends `<cancel-commit>`
   * (needs :confirmed-commit:1.1, else falls back to waiting);
   * `await-rollback` leaves the unconfirmed commit to the device, which rolls
   * it back when confirmTimeoutS expires.
   * @default 'cancel'
   */
  onFailureAfterCommit?: 'cancel' | 'await-rollback';
  /**
   * Persist id of the confirmed commit (with :confirmed-commit:1.1). Give a
   * known one when a process that dies mid-transaction must be able to
   * cancel the pending commit from a new session (`cancelPendingCommit`).
   * @default a random id
   */
  persistId?: string;
}

/** How the transaction ended, for logs and metrics. */
export interface NetconfApplyResult {
  /** Running config after the transaction, as read for verification. */
  verifiedRunning: string;
}

export const NETCONF_APPLY_DEFAULTS = { confirmTimeoutS: 60 } as const;

type Stage = 'lock' | 'discard' | 'edit' | 'commit-confirmed' | 'verify' | 'confirm';

/** Throw CapabilityNotSupportedError for the first capability the platform needs that the device lacks. */
export function checkPlatformCapabilities(client: NetconfClient, platform: Platform): void {
  for (const need of platform.capabilities) {
    const any = typeof need === 'string' ? [need] : need;
    if (!any.some((c) => client.capabilities.has(c))) throw new CapabilityNotSupportedError(`${platform.id} apply`, any.join(' or '));
  }
}

/**
 * The first half of a transaction, for applying to several devices as one:
 * every step up to the confirmed commit and its verification, with the
 * candidate still locked. The caller then confirms it (or cancels it); a
 * confirmed commit that is neither confirmed nor cancelled is rolled back
 * by the device at its timeout.
 */
export interface PreparedTransaction {
  /** Running as read back for verification. */
  readonly verifiedRunning: string;
  /** Confirm the commit and unlock; on failure the commit is cancelled (rolled back) and the error says so. */
  confirm(): Promise<NetconfApplyResult>;
  /** Roll the confirmed commit back now and unlock; says how running ended. */
  cancel(): Promise<string>;
}

async function prepare(
  client: NetconfClient,
  platform: Platform<NetconfPayload>,
  configs: string[],
  prune: boolean,
  verifyFilter: string | undefined,
  expect: (running: string) => Promise<string[]>,
  what: string,
  options: NetconfApplyOptions,
): Promise<PreparedTransaction> {
  checkPlatformCapabilities(client, platform);
  const rpc = options.rpcTimeoutMs ? { timeoutMs: options.rpcTimeoutMs } : {};
  const confirmTimeoutS = options.confirmTimeoutS ?? NETCONF_APPLY_DEFAULTS.confirmTimeoutS;
  let stage: Stage = 'lock';
  try {
    await client.lock('candidate', rpc);
  } catch (err) {
    throw new ProvisioningError('QB_PROVISION_LOCK_FAILED', `${what}: could not lock the candidate of ${client.session.device} (${(err as Error).message}); nothing was changed, retry when the other session is done`, { cause: err });
  }
  let committed = false;
  const persist = client.capabilities.has(':confirmed-commit:1.1') ? (options.persistId ?? `qb-${randomUUID()}`) : undefined;
  const unlock = () => client.unlock('candidate', rpc).catch(() => undefined);
  /** Undo what this transaction did so far; how running ended. */
  const rollBack = async (): Promise<string> => {
    let rollback = 'running was not changed (candidate discarded)';
    await client.discardChanges(rpc).catch(() => undefined);
    if (committed) {
      if (options.onFailureAfterCommit !== 'await-rollback' && client.capabilities.has(':confirmed-commit:1.1')) {
        const cancelled = await client.cancelCommit(persist ? { persistId: persist } : {}, rpc).then(() => true, () => false);
        rollback = cancelled ? 'the confirmed commit was cancelled, running is as before' : `cancel-commit failed: the device already rolled back, or does when the confirm timeout (${confirmTimeoutS} s) expires`;
      } else {
        rollback = `the device rolls the confirmed commit back when its timeout (${confirmTimeoutS} s) expires`;
      }
    }
    return rollback;
  };
  const failed = (err: unknown, rollback: string): ProvisioningError => {
    if (err instanceof ProvisioningError) return new ProvisioningError(err.code, `${err.message}; ${rollback}`, { cause: err.cause ?? err });
    const code = err instanceof QosBrokerError ? err.code : 'QB_UNEXPECTED';
    return new ProvisioningError('QB_PROVISION_APPLY_FAILED', `${what}: ${stage} failed on ${client.session.device} (${code}: ${(err as Error).message}); ${rollback}`, { cause: err });
  };
  let running: string;
  try {
    stage = 'discard';
    await client.discardChanges(rpc);
    stage = 'edit';
    for (const config of oneEdit(platform, configs)) {
      if (platform.loadRpc) await client.rpc(platform.loadRpc(config), { operation: 'load-configuration', ...rpc });
      else await client.editConfig({ target: 'candidate', config }, rpc);
    }
    if (prune) {
      for (const c of platform.pruneWhenEmpty ?? []) {
        const data = await client.getConfig({ source: 'candidate', filter: { type: 'subtree', xml: c.filter } }, rpc);
        const inner = innerXml(data, c.element);
        if (inner !== undefined && inner.trim() === '') await client.editConfig({ target: 'candidate', config: c.removeConfig }, rpc);
      }
    }
    stage = 'commit-confirmed';
    await client.commit({ confirmed: true, confirmTimeoutS, ...(persist ? { persist } : {}) }, rpc);
    committed = true;
    stage = 'verify';
    running = await client.getConfig({ source: 'running', ...(verifyFilter ? { filter: { type: 'subtree', xml: verifyFilter } } : {}) }, rpc);
    const diff = await expect(running);
    if (diff.length) {
      throw new ProvisioningError('QB_PROVISION_VERIFY_FAILED', `${what}: running config of ${client.session.device} does not match after commit: ${diff.slice(0, 5).join('; ')}${diff.length > 5 ? ` (+${diff.length - 5} more)` : ''}`);
    }
  } catch (err) {
    const rollback = await rollBack();
    await unlock();
    throw failed(err, rollback);
  }
  let settled = false;
  return {
    verifiedRunning: running,
    async confirm() {
      if (settled) throw new ProvisioningError('QB_PROVISION_APPLY_FAILED', `${what}: the transaction on ${client.session.device} was already confirmed or cancelled`);
      settled = true;
      stage = 'confirm';
      try {
        // with a persist id the confirming commit fails if the device already
        // rolled back (a plain <commit/> would then commit nothing and succeed)
        await client.commit(persist ? { persistId: persist } : {}, rpc);
        return { verifiedRunning: running };
      } catch (err) {
        throw failed(err, await rollBack());
      } finally {
        await unlock();
      }
    },
    async cancel() {
      if (settled) return 'already settled';
      settled = true;
      try {
        return await rollBack();
      } finally {
        await unlock();
      }
    },
  };
}

/**
 * The edits of a transaction: every config in one when the platform names the
 * wrapper they share (editWrapper) and each has it, else one per config.
 */
export function oneEdit(platform: Platform<NetconfPayload>, configs: string[]): string[] {
  const w = platform.editWrapper;
  if (configs.length < 2 || platform.loadRpc || !w || !configs.every((c) => c.startsWith(w.open) && c.endsWith(w.close))) return configs;
  return [`${w.open}${configs.map((c) => c.slice(w.open.length, c.length - w.close.length)).join('')}${w.close}`];
}

/** A whole transaction: prepared, then confirmed at once. */
async function confirmed(p: Promise<PreparedTransaction>): Promise<NetconfApplyResult> {
  return (await p).confirm();
}

/**
 * Render one policy and run its apply up to the verified confirmed commit;
 * confirm it later, together with the other devices of a segment.
 */
export function prepareApply(client: NetconfClient, platform: Platform<NetconfPayload>, policies: ResolvedPolicy[], options: NetconfApplyOptions = {}): Promise<PreparedTransaction> {
  const configs = policies.map((p) => platform.render(p).config);
  // one policy reads back its own subtree; several, the whole running config once (and it is parsed once: it holds every policy of the device)
  const filter = policies.length === 1 && platform.verifyFilter ? platform.verifyFilter(policies[0]!) : undefined;
  const verify = options.verify;
  const expect = verify ? async (running: string) => (await Promise.all(configs.map((c) => verify(c, running)))).flat() : (running: string) => leafContainmentAll(configs, running);
  return prepare(client, platform, configs, false, filter, expect, `apply of ${platform.id}`, options);
}

/**
 * Cancel a confirmed commit left pending with a known persist id (by a
 * process that died between its confirmed commit and the confirmation): the
 * device rolls it back now instead of at its timeout. Resolves true when one
 * was pending, false when there was none (or the device cannot say).
 */
export async function cancelPendingCommit(client: NetconfClient, persistId: string): Promise<boolean> {
  if (!client.capabilities.has(':confirmed-commit:1.1')) return false;
  return client.cancelCommit({ persistId }).then(
    () => true,
    () => false,
  );
}

/**
 * Apply the payloads (one edit each) as one transaction; verify that every
 * leaf of every payload is in running before confirming.
 */
export function applyNetconf(client: NetconfClient, platform: Platform<NetconfPayload>, payloads: NetconfPayload[], options: NetconfApplyOptions = {}, policy?: ResolvedPolicy): Promise<NetconfApplyResult> {
  const verify = options.verify ?? leafContainment;
  const filter = policy && platform.verifyFilter ? platform.verifyFilter(policy) : undefined;
  return confirmed(prepare(client, platform, payloads.map((p) => p.config), false, filter, async (running) => (await Promise.all(payloads.map((p) => verify(p.config, running)))).flat(), `apply of ${platform.id}`, options));
}

/** Render and apply one policy. */
export function applyPolicy(client: NetconfClient, platform: Platform<NetconfPayload>, policy: ResolvedPolicy, options: NetconfApplyOptions = {}): Promise<NetconfApplyResult> {
  return applyNetconf(client, platform, [platform.render(policy)], options, policy);
}

/** Read back and compare, outside a transaction: the differences, [] when the policy is in place. */
export async function verifyPolicy(client: NetconfClient, platform: Platform<NetconfPayload>, policy: ResolvedPolicy, options: NetconfApplyOptions = {}): Promise<string[]> {
  const filter = platform.verifyFilter?.(policy);
  const running = await client.getConfig({ source: 'running', ...(filter ? { filter: { type: 'subtree' as const, xml: filter } } : {}) });
  return (options.verify ?? leafContainment)(platform.render(policy).config, running);
}

/**
 * Read running once and compare many policies of one device with it (a
 * reconcile of every service a device carries costs one get-config, not one
 * per service): the differences per policy, in order.
 */
export async function verifyPolicies(client: NetconfClient, platform: Platform<NetconfPayload>, policies: ResolvedPolicy[]): Promise<string[][]> {
  const running = await client.getConfig({ source: 'running' });
  const have = new Set(await leafPaths(running));
  return Promise.all(policies.map(async (p) => (await leafPaths(platform.render(p).config)).filter((l) => !have.has(l)).map((l) => `missing ${l}`)));
}

/**
 * Remove policies of one device as one transaction: every removeConfig in the
 * candidate, one confirmed commit, one read-back (none of the policies' list
 * entries is left), one confirmation.
 */
export function removePolicies(client: NetconfClient, platform: Platform<NetconfPayload>, policies: ResolvedPolicy[], options: NetconfApplyOptions = {}): Promise<NetconfApplyResult> {
  const payloads = policies.map((p) => platform.render(p));
  // one policy reads back its own subtree; several, the whole running config once
  const filter = policies.length === 1 ? platform.verifyFilter?.(policies[0]!) : undefined;
  return confirmed(prepare(client, platform, payloads.map((p) => p.removeConfig), true, filter, async (running) => {
    // every non-key leaf apply wrote must be gone; key leaves of shared parents (an interface) may stay
    const have = new Set(await leafPaths(running));
    const isKey = (l: string) => /\[([\w.-]+)=([^\]]*)\]\/\1=\2$/.test(l);
    return (await Promise.all(payloads.map(async (p) => (await leafPaths(p.config)).filter((l) => !isKey(l) && have.has(l)).map((l) => `still present: ${l}`)))).flat();
  }, `remove of ${platform.id}`, options));
}

/** Remove one policy transactionally (removePolicies with one). */
export function removePolicy(client: NetconfClient, platform: Platform<NetconfPayload>, policy: ResolvedPolicy, options: NetconfApplyOptions = {}): Promise<NetconfApplyResult> {
  return removePolicies(client, platform, [policy], options);
}

/** Leaf names that key the lists of every model we render (YANG puts keys first). */
export const LIST_KEY_LEAVES: readonly string[] = ['name', 'id', 'interface-id', 'sequence', 'index', 'type', 'service-id'];

/**
 * The leaves of an XML document as `path=value` lines; an element whose
 * first child is a leaf named in `keys` is a list entry named by it, e.g.
 * `device/qos/policy[name=svc-1]/committed-rate-kbps=1000` (containers such
 * as `device`, whose first leaf is `hostname`, stay unnamed, so a partial
 * expected config and a full read-back give the same paths). Namespaces and
 * attributes are ignored.
 */
export async function leafPaths(xml: string, keys: readonly string[] = LIST_KEY_LEAVES): Promise<string[]> {
  if (!xml.trim()) return [];
  const doc = await parseStringPromise(`<qb-root>${xml}</qb-root>`, { explicitArray: true, tagNameProcessors: [(n: string) => n.replace(/^[^:]+:/, '')] });
  const out: string[] = [];
  const text = (v: unknown): string | undefined => (typeof v === 'string' ? v.trim() : v && typeof v === 'object' && Object.keys(v).every((k) => k === '_' || k === '$') ? String((v as { _?: string })._ ?? '').trim() : undefined);
  const walk = (node: Record<string, unknown>, path: string) => {
    for (const [k, list] of Object.entries(node)) {
      if (k === '$' || k === '_') continue;
      for (const child of list as unknown[]) {
        const t = text(child);
        if (t !== undefined) {
          out.push(`${path}${k}=${t}`);
          continue;
        }
        const obj = child as Record<string, unknown[]>;
        const first = Object.entries(obj).find(([kk]) => kk !== '$' && kk !== '_');
        const keyText = first && keys.includes(first[0]) ? text(first[1][0]) : undefined;
        const seg = first && keyText !== undefined ? `${k}[${first[0]}=${keyText}]` : k;
        walk(obj, `${path}${seg}/`);
      }
    }
  };
  walk((doc['qb-root'] ?? {}) as Record<string, unknown>, '');
  return out;
}

/** Default verify: every leaf of the expected config is in running (extra leaves such as defaults are fine). */
export function leafContainment(expectedConfig: string, runningData: string): Promise<string[]> {
  return leafContainmentAll([expectedConfig], runningData);
}

/** leafContainment of several expected configs against one running config, parsed once. */
export async function leafContainmentAll(expectedConfigs: string[], runningData: string): Promise<string[]> {
  const have = new Set(await leafPaths(runningData));
  return (await Promise.all(expectedConfigs.map((c) => leafPaths(c)))).flat().filter((l) => !have.has(l)).map((l) => `missing ${l}`);
}
