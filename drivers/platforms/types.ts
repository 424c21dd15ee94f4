/**
 * What a platform is: a descriptor (id, transport, capabilities it needs)
 * plus a pure `render(policy) -> payload`. The I/O (apply, verify, remove)
 * is shared per transport: netconf-apply.ts for NETCONF platforms; CLI
 * platforms carry their own undo lines in the payload.
 */
import type { ResolvedPolicy } from '../policy/types.js';

/** What apply needs from a NETCONF device: a candidate and a confirmed commit of either version. */
export const CANDIDATE_CONFIRMED_COMMIT: readonly (string | readonly string[])[] = [':candidate', [':confirmed-commit:1.0', ':confirmed-commit:1.1']];

/** Platform ids, `vendor_os` (also containerlab kinds and lab node kinds). */
export type PlatformId = 'openconfig' | 'juniper_junos' | 'cisco_iosxr' | 'nokia_srlinux' | 'linux_tc' | 'lab_device';

/** A NETCONF payload: the `<config>` content to merge and the one that deletes exactly what it created. */
export interface NetconfPayload {
  transport: 'netconf';
  /** Data-model XML for edit-config (or the vendor's load RPC). */
  config: string;
  /** Data-model XML that removes every node `config` created, nothing else. */
  removeConfig: string;
}

/** A CLI payload: lines to send in order, and the lines that undo them (in the order to send). */
export interface CliPayload {
  transport: 'cli';
  apply: string[];
  undo: string[];
}

export type Payload = NetconfPayload | CliPayload;

/**
 * A policy's traffic counters as the device keeps them: what left through
 * its shaper since the object was created (a re-created object starts at 0).
 */
export interface PolicyCounters {
  /** Bytes sent, as the device counts them (linux_tc: the HTB class, whole frames without FCS). */
  bytes: number;
  packets: number;
  /** Packets the class dropped (queue or policer full). */
  drops: number;
}

/** One platform: data plus a few hooks (STYLE.md, scrapli's platform modules). */
export interface Platform<P extends Payload = Payload> {
  id: PlatformId;
  /** One line for humans: what it renders. */
  description: string;
  transport: P['transport'];
  /**
   * NETCONF capabilities (short names, see drivers/netconf/capabilities.ts)
   * apply needs, every entry required; an entry that is a list is satisfied
   * by any one of its members. Checked before anything is sent. Empty for
   * CLI platforms.
   */
  capabilities: readonly (string | readonly string[])[];
  /** Pure: the same policy always gives the same payload. */
  render(policy: ResolvedPolicy): P;
  /**
   * NETCONF only: wrap `<config>` content into the RPC that loads it when
   * the vendor's semantics differ from plain edit-config (Junos
   * `<load-configuration>`). Absent means `<edit-config>` on candidate.
   */
  loadRpc?(config: string): string;
  /**
   * NETCONF only: non-presence containers apply may have created. Servers
   * such as netconfd keep an emptied container (`<qos/>`), so remove reads
   * each one back from the candidate and removes it when nothing is left in
   * it: running then reads exactly as before the first apply.
   */
  pruneWhenEmpty?: readonly { /** subtree filter selecting the container */ filter: string; /** its local name */ element: string; /** edit that removes it */ removeConfig: string }[];
  /** NETCONF only: subtree filter reading back what `render` writes, for verify. */
  verifyFilter?(policy: ResolvedPolicy): string;
  /**
   * NETCONF only: the wrapper every rendered config and removeConfig of the
   * platform has around its list entry (e.g. `<device …><qos>` … `</qos></device>`).
   * Given, a transaction carrying several policies sends them in one
   * edit-config (open, every entry, close): one round trip, and on servers such
   * as netconfd, whose every edit costs about the size of the whole candidate,
   * one such cost instead of one per policy (bench/README, netconfd-size).
   * Absent: one edit-config per policy.
   */
  editWrapper?: { readonly open: string; readonly close: string };
  /**
   * CLI only: how to read a policy back. `lines` are run on the device (read-only);
   * `diffs` compares their output with the policy: [] when it is in place, one entry
   * containing `/name=` when none of it is there (the policy is absent), otherwise
   * what differs. Absent: the platform cannot be read back (check-sync says unreadable).
   */
  readBack?: { lines(policy: ResolvedPolicy): string[]; diffs(policy: ResolvedPolicy, output: string): string[] };
  /**
   * CLI only: how to read a policy's traffic counters (the capability
   * `counters`). `lines` are run on the device (read-only); `parse` reads
   * their output, undefined when the policy's object is not on the device.
   * Absent: the platform has no counters to read, and nothing is made up.
   */
  counters?: { lines(policy: ResolvedPolicy): string[]; parse(policy: ResolvedPolicy, output: string): PolicyCounters | undefined };
}
