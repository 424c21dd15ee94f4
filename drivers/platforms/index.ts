/**
 * The one explicit table of platforms. A platform is found by its id in
 * this table, never by building a module path from a string.
 */
import { InvalidArgumentError } from '../errors.js';
import { ciscoIosxr } from './cisco_iosxr/index.js';
import { juniperJunos } from './juniper_junos/index.js';
import { labDevice } from './lab_device/index.js';
import { linuxTc } from './linux_tc/index.js';
import { nokiaSrlinux } from './nokia_srlinux/index.js';
import { openconfig } from './openconfig/index.js';
import type { Platform } from './types.js';

export type { CliPayload, NetconfPayload, Payload, Platform, PlatformId, PolicyCounters } from './types.js';

/** Every platform, in the order of the design document; lab_device is the lab routers' NETCONF side. */
export const PLATFORMS: readonly Platform[] = [openconfig, juniperJunos, ciscoIosxr, nokiaSrlinux, linuxTc, labDevice];

const BY_ID = new Map<string, Platform>(PLATFORMS.map((p) => [p.id, p]));

/** The platform with this id, or InvalidArgumentError listing the known ones. */
export function platformById(id: string): Platform {
  const p = BY_ID.get(id);
  if (!p) throw new InvalidArgumentError(`unknown platform ${id}: use one of ${[...BY_ID.keys()].join(', ')}`);
  return p;
}
