// SPDX-License-Identifier: Apache-2.0
// Addresses of an interface (ip addr): added, deleted and listed, IPv4 and IPv6; `nodad` puts
// an IPv6 address to use at once, as a floating address taken over by a new owner must be.
// What the requests carry: rtnl-messages.ts.

import type { Netlink } from './netlink.js';
import * as msg from './rtnl-messages.js';
import { resolveDev, type Dev } from './links.js';
import type { IpFamily } from './rtnl-codec.js';

export type { AddressRow } from './rtnl-messages.js';

export interface AddressSpec extends Omit<msg.InterfaceAddress, 'dev'> {
  dev: string | Dev;
}

/** `ip addr add ADDR/LEN dev DEV [nodad]`: NetlinkError EEXIST if the address is there. */
export function addAddress(nl: Netlink, a: AddressSpec): void {
  nl.change(msg.addAddress({ ...a, dev: resolveDev(nl, a.dev) }));
}

/** `ip addr del ADDR/LEN dev DEV`: NetlinkError EADDRNOTAVAIL if it is not there. */
export function deleteAddress(nl: Netlink, a: AddressSpec): void {
  nl.change(msg.deleteAddress({ ...a, dev: resolveDev(nl, a.dev) }));
}

/** The device's addresses (of one family, or both), as the kernel orders them. */
export function listAddresses(nl: Netlink, dev: string | Dev, family?: IpFamily): msg.AddressRow[] {
  const d = resolveDev(nl, dev);
  return nl.dump(msg.dumpAddresses(family, d)).map(msg.decodeAddress).filter((a) => a.ifindex === d.index && (family === undefined || a.family === family));
}

/** Every address of every interface in the socket's namespace (`ip addr show`). */
export function listAllAddresses(nl: Netlink, family?: IpFamily): msg.AddressRow[] {
  return nl.dump(msg.dumpAddresses(family)).map(msg.decodeAddress).filter((a) => family === undefined || a.family === family);
}
