// SPDX-License-Identifier: Apache-2.0
// Interfaces by name and by index, asked over the netlink socket rather than if_nametoindex():
// the socket's namespace is the one that counts, and the thread may be elsewhere.

import { NetlinkError } from '../errors.js';
import type { Netlink } from './netlink.js';
import type { Request } from './netlink-codec.js';
import * as msg from './rtnl-messages.js';
import type { Dev } from './rtnl-messages.js';

export type { Dev } from './rtnl-messages.js';

const ENODEV = 19;

/** The device called `name`; NetlinkError ENODEV naming it when there is none. */
export function linkByName(nl: Netlink, name: string): Dev {
  return { index: oneLink(nl, msg.getLinkByName(name)).index, name };
}

/**
 * Whether `name` is up and has carrier (IFF_UP and IFF_LOWER_UP), asked over netlink: HA's fault
 * check, each heartbeat interval. NetlinkError ENODEV when there is no such device.
 */
export function linkCarrier(nl: Netlink, name: string): boolean {
  const f = oneLink(nl, msg.getLinkByName(name)).flags;
  return (f & msg.IFF_UP) !== 0 && (f & msg.IFF_LOWER_UP) !== 0;
}

/** The name of the device with this index; NetlinkError ENODEV when there is none. */
export function linkName(nl: Netlink, index: number): string {
  return oneLink(nl, msg.getLinkByIndex(index)).name;
}

/** The kernel answers a missing link with ENODEV; an ack without the link is treated alike. */
function oneLink(nl: Netlink, req: Request): msg.LinkRow {
  const [m] = nl.get(req);
  if (m === undefined) throw new NetlinkError(`${req.what} (RTM_GETLINK)`, ENODEV, 'no link in the answer');
  return msg.decodeLink(m);
}

/** A device given by name (looked up now) or already resolved. */
export const resolveDev = (nl: Netlink, dev: string | Dev): Dev => (typeof dev === 'string' ? linkByName(nl, dev) : dev);

/** The device called `name` with its link-layer address (IFLA_ADDRESS), when it has one. */
export function linkWithMac(nl: Netlink, name: string): Dev & { mac?: string } {
  const row = oneLink(nl, msg.getLinkByName(name));
  return { index: row.index, name, ...(row.mac !== undefined ? { mac: row.mac } : {}) };
}
